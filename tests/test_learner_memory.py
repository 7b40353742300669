"""The learner's batches: memory by tokens (`trainer.micro_batch_tokens` cuts micro-batches by what their forward
pass holds) and updates by parts (`algo.minibatches` splits a step into several optimiser updates)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from sparring.config import ConfigError, load_config
from sparring.logprobs import pass_tokens
from sparring.training.algorithms.policy_gradient import TokenObjective
from sparring.training.algorithms.preference import PreferenceObjective
from sparring.training.learner import Learner, LearnerSample
from sparring.training.policy import build_policy
from sparring.training.trainer import check_games


def test_pass_tokens_count_the_prompt_tree_and_each_distinct_row_by_hand():
    prompts = [[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 5]]
    completions = [[7], [8, 9], [8, 9]]  # the last row repeats the second: it runs once
    # shared: the prefix [1, 2, 3] once, 2 distinct tails of 1, 2 distinct rows of (4 + 2) context and completion
    assert pass_tokens(prompts, completions) == 3 + 2 * 1 + 2 * (4 + 2)
    assert pass_tokens(prompts, completions, share_prefix=False) == 3 * (4 + 2)  # every row whole
    # identical prompts still keep one token of their own in the per-row pass
    assert pass_tokens([[1, 2, 3]] * 2, [[7], [8]]) == 2 + 1 * 1 + 2 * (3 + 1)


def learner(tmp_path, *overrides) -> tuple[torch.nn.Module, Learner]:
    cfg = load_config(None, ["model.name=tiny", "model.lora_r=4", "algo.ppo_epochs=1", "algo.loss=reinforce",
                             "algo.magnet=uniform", "algo.magnet_coef=0.5", "trainer.max_grad_norm=1e9",
                             "trainer.lr=0", f"trainer.run_dir={tmp_path}", *overrides])
    torch.manual_seed(0)
    model, _ = build_policy(cfg.model)
    learn = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False)
    learn.step = partial(learn.step, objective=TokenObjective(cfg.algo))
    return model, learn


def batch() -> list[LearnerSample]:
    """Six turns on three information states of different lengths, two legal answers each."""
    prompts = [[1, 2, 3, 4], [1, 2, 3, 5, 6, 7], [1, 2, 9, 9, 9, 9, 9, 9]]
    return [LearnerSample(prompts[k % 3], [40, 41, 42][: 1 + k % 2], [-1.0] * (1 + k % 2), advantage,
                          legal_answers=[[40, 41], [50, 41]])
            for k, advantage in enumerate((1.0, -1.0, 0.5, 0.0, -0.3, 0.8))]


def chunk_tokens(chunk: list[LearnerSample]) -> int:
    rows = [(s.prompt_ids, s.completion_ids) for s in chunk] + [(s.prompt_ids, a) for s in chunk for a in s.legal_answers]
    return pass_tokens([p for p, _ in rows], [c for _, c in rows])


def test_a_token_budget_cuts_micro_batches_that_fit_it(tmp_path):
    _, whole = learner(tmp_path, "trainer.micro_batch=64")
    assert len(whole.micro_batches(batch())) == 1
    unbudgeted = chunk_tokens(batch())
    _, budgeted = learner(tmp_path, "trainer.micro_batch=64", f"trainer.micro_batch_tokens={unbudgeted // 2}")
    samples = batch()
    chunks = budgeted.micro_batches(samples)
    assert len(chunks) > 1
    assert sorted(id(s) for c in chunks for s in c) == sorted(id(s) for s in samples)  # each sample once
    assert all(chunk_tokens(c) <= unbudgeted // 2 for c in chunks if len(c) > 1)
    _, tight = learner(tmp_path, "trainer.micro_batch=64", "trainer.micro_batch_tokens=1")
    assert [len(c) for c in tight.micro_batches(batch())] == [1] * 6  # a sample over the budget goes alone


@pytest.mark.parametrize("aggregation", ["token_mean", "constant"])
def test_the_budget_changes_the_cut_not_the_gradient(tmp_path, aggregation):
    def gradient(*overrides: str) -> list[torch.Tensor]:
        model, learn = learner(tmp_path, f"algo.aggregation={aggregation}", "trainer.micro_batch=64", *overrides)
        learn.step(batch())
        return [p.grad for p in model.parameters() if p.requires_grad]

    whole, cut = gradient(), gradient("trainer.micro_batch_tokens=40")
    scale = max(float(w.abs().max()) for w in whole)
    assert scale > 1e-4
    assert max(float((c - w).abs().max()) for c, w in zip(cut, whole)) < 1e-5 * scale


def test_preference_groups_stay_whole_under_a_budget(tmp_path):
    _, learn = learner(tmp_path, "trainer.micro_batch=64", "trainer.micro_batch_tokens=1", "algo.magnet=none",
                       "algo.magnet_coef=0")
    samples = [LearnerSample([1, 2, 3 + g], [40 + k], [-1.0], 0.0, group=g, preference=(0.5, 0.5))
               for g in range(3) for k in range(2)]
    parts = PreferenceObjective(learn.algo).parts(learn, samples)
    assert [[len(chunk) for chunk in part] for part in parts] == [[2, 2, 2]]


def test_a_negative_budget_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="micro_batch_tokens >= 0"):
        load_config(None, ["trainer.micro_batch_tokens=-1"])


def test_minibatches_keep_a_prompts_samples_together_and_deal_prompts_in_turn(tmp_path):
    _, split = learner(tmp_path, "algo.minibatches=2")
    samples = batch()
    parts = split.minibatches(samples)
    assert sorted(id(s) for p in parts for s in p) == sorted(id(s) for s in samples)  # each sample once
    prompts = [sorted({tuple(s.prompt_ids) for s in p}) for p in parts]
    # three distinct prompts in sorted order, dealt out in turn: the first and the third, then the second
    assert prompts == [[(1, 2, 3, 4), (1, 2, 9, 9, 9, 9, 9, 9)], [(1, 2, 3, 5, 6, 7)]]
    _, many = learner(tmp_path, "algo.minibatches=5")
    assert len(many.minibatches(samples)) == 3  # never an empty part


def test_each_minibatch_is_one_update_equal_to_a_step_on_that_part_alone(tmp_path):
    settings = ("trainer.lr=0.05", "algo.ppo_epochs=1")
    split_model, split = learner(tmp_path, "algo.minibatches=2", *settings)
    split.step(batch())
    assert split.updates == 2
    one_model, one = learner(tmp_path, *settings)  # the same initial weights (seed 0)
    for part in split.minibatches(batch()):
        one.step(part)
    for (name, a), b in zip(split_model.named_parameters(), one_model.parameters()):
        if a.requires_grad:
            assert torch.allclose(a, b, atol=1e-6), name
    moved = [(a - b).abs().max() for a, b in zip(split_model.parameters(), learner(tmp_path)[0].parameters())
             if a.requires_grad]
    assert max(moved) > 1e-3  # the updates did move the adapter


def test_epochs_times_minibatches_updates_and_the_config_errors(tmp_path):
    _, split = learner(tmp_path, "algo.minibatches=3", "algo.ppo_epochs=2", "trainer.lr=0.01")
    stats = split.step(batch())
    assert split.updates == 6 and stats["skipped"] == 0
    with pytest.raises(ConfigError, match="minibatches"):
        load_config(None, ["model.name=tiny", f"trainer.run_dir={tmp_path}", "algo.minibatches=0"])
    with pytest.raises(ConfigError, match="minibatches"):  # the preference algorithm's own check
        check_games(load_config(None, ["algo.minibatches=2", "algo.loss=sppo"]), {})
