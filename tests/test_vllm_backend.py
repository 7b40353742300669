"""The vLLM engine against the HF reference on the tiny model: same greedy text, log-probs a
teacher-forced HF forward reproduces, the same updated policy after a learner step and a push,
and a seeded training run that resumes exactly. One engine for the module (start-ups are slow)."""

import sys
from pathlib import Path

import pytest
import torch

from sparring.config import load_config
from sparring.errors import SparringError
from sparring.games import make_game
from sparring.logprobs import sequence_logprobs
from sparring.players.lm import LMPlayer
from sparring.training.algorithms.policy_gradient import TokenObjective
from sparring.training.learner import Learner, LearnerSample
from sparring.training.metrics import read_metrics
from sparring.training.policy import build_policy
from sparring.training.trainer import train

pytest.importorskip("vllm")
CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"


def observations(n=8):
    games = [make_game("kuhn_poker"), make_game("tic_tac_toe")]
    return [games[i % 2].new_match(i).observe() for i in range(n)]


@pytest.fixture(scope="module")
def policy():
    """(model, tokenizer, vLLM backend) of a LoRA policy on the tiny model."""
    from sparring.backends.vllm import VLLMBackend

    cfg = load_config(CONFIG)
    torch.manual_seed(0)
    model, tokenizer = build_policy(cfg.model)
    with torch.no_grad():  # LoRA B starts at zero: make the adapters matter before the first push
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    backend = VLLMBackend(model, tokenizer)
    backend.sync()
    return model, tokenizer, backend


def assert_same_greedy(model, tokenizer, backend):
    hf = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=6).act_batch(observations())
    vl = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=6, backend=backend).act_batch(observations())
    for a, b in zip(hf, vl):
        assert a.text == b.text and a.extra["completion_ids"] == b.extra["completion_ids"]
        assert a.extra["stop"] == b.extra["stop"]
        assert torch.allclose(torch.tensor(a.extra["logprobs"]), torch.tensor(b.extra["logprobs"]), atol=1e-4)
    return vl


def test_greedy_text_and_logprobs_equal_hf(policy):
    assert_same_greedy(*policy)


def test_sampled_logprobs_equal_a_teacher_forced_hf_forward(policy):
    model, tokenizer, backend = policy
    torch.manual_seed(1)
    actions = LMPlayer(model, tokenizer, temperature=0.7, max_new_tokens=6, backend=backend).act_batch(observations())
    assert len({tuple(a.extra["completion_ids"]) for a in actions}) > 1  # really sampled
    with torch.no_grad():
        forced = sequence_logprobs(model, [a.extra["prompt_ids"] for a in actions],
                                   [a.extra["completion_ids"] for a in actions], temperature=0.7)
    for action, expected in zip(actions, forced):
        assert torch.allclose(torch.tensor(action.extra["logprobs"]), expected, atol=1e-4)


def test_after_a_learner_step_and_a_push_vllm_serves_the_updated_policy(policy):
    model, tokenizer, backend = policy
    cfg = load_config(CONFIG, ["trainer.lr=0.05"])
    before = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=6, backend=backend).act_batch(observations())
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False)
    batch = [LearnerSample(a.extra["prompt_ids"], a.extra["completion_ids"], a.extra["logprobs"], 1.0 - 2 * (i % 2))
             for i, a in enumerate(before)]
    learner.step(batch, objective=TokenObjective(cfg.algo))
    backend.sync()
    after = assert_same_greedy(model, tokenizer, backend)
    def changed(a, b):
        return a.extra["completion_ids"] != b.extra["completion_ids"] or not torch.allclose(
            torch.tensor(a.extra["logprobs"]), torch.tensor(b.extra["logprobs"]), atol=1e-3)

    assert any(changed(a, b) for a, b in zip(before, after))  # the push carried new weights, not the old ones


def test_a_vllm_run_resumes_exactly(tmp_path):
    def cfg(run, steps):
        return load_config(CONFIG, [f"trainer.run_dir={tmp_path / run}", "rollout.backend=vllm",
                                    f"trainer.steps={steps}", "games.names=[kuhn_poker]"])

    def comparable(rows):
        return [{k: v for k, v in r.items() if not k.startswith("time/") and "per_s" not in k and k != "wall_time"}
                for r in rows]

    whole = read_metrics(train(cfg("whole", 2)))
    train(cfg("split", 1))
    resumed = read_metrics(train(cfg("split", 2), resume=True))
    assert len(whole) == 2 and comparable(resumed) == comparable(whole)
    assert whole[0]["samples"] > 0 and whole[1]["time/weight_sync"] > 0


def test_missing_vllm_is_one_line_error(monkeypatch):
    from sparring.backends.vllm import VLLMBackend

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(SparringError, match="rollout.backend=vllm needs vLLM"):
        VLLMBackend(None, None)
