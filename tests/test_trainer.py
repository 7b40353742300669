"""The trainer on a tiny random model: what a step changes, PPO invariants, NaN safety, exact resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import torch

from sparring.config import load_config
from sparring.training.algorithms.policy_gradient import TokenObjective
from sparring.training.learner import Learner, LearnerSample
from sparring.training.metrics import read_metrics
from sparring.training.policy import build_policy
from sparring.training.trainer import train

CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"
TIMING = ("wall_time", "rollout_tokens_per_s", "rollout_turns_per_s", "learner_tokens_per_s", "trained_turns_per_s")
# Same thread count as this process (conftest), so float reductions run in the same order.
ENV = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}


def tiny_cfg(tmp_path, *overrides):
    return load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", *overrides])


def samples(advantages):
    return [LearnerSample([1, 2, 3, 4][: 2 + i % 3], [5, 6, 7][: 1 + i % 3], [-1.0] * (1 + i % 3), a)
            for i, a in enumerate(advantages)]


def make_learner(cfg):
    torch.manual_seed(0)
    model, tokenizer = build_policy(cfg.model)
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False)
    learner.step = partial(learner.step, objective=TokenObjective(cfg.algo))
    return model, learner


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_a_step_changes_only_the_lora_parameters(tmp_path):
    model, learner = make_learner(tiny_cfg(tmp_path))
    before = snapshot(model)
    stats = learner.step(samples([1.0, -1.0, 0.5, -0.5]))
    assert stats["skipped"] == 0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_A" in n for n in changed) and any("lora_B" in n for n in changed)


def test_full_fine_tune_changes_base_weights(tmp_path):
    model, learner = make_learner(tiny_cfg(tmp_path, "model.lora=false", "trainer.lr=1e-3"))
    before = snapshot(model)
    learner.step(samples([1.0, -1.0]))
    assert not torch.equal(model.get_input_embeddings().weight, before["model.embed_tokens.weight"])


def test_ppo_ratio_is_one_and_nothing_clipped_on_the_first_epoch(tmp_path):
    _, learner = make_learner(tiny_cfg(tmp_path, "algo.ppo_epochs=2", "trainer.lr=0.05"))
    stats = learner.step(samples([1.0, -1.0, 2.0, -2.0]))
    assert stats["first_epoch_ratio_mean"] == pytest.approx(1.0, abs=1e-6)
    assert stats["first_epoch_clip_fraction"] == 0.0
    assert stats["clip_fraction"] > 0  # the second epoch did see a moved policy


def test_nan_loss_skips_the_update(tmp_path):
    model, learner = make_learner(tiny_cfg(tmp_path))
    before = snapshot(model)
    stats = learner.step(samples([1.0, float("nan")]))
    assert stats["skipped"] == 1.0 and learner.skipped_updates == 2
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_kl_to_the_lora_base_is_zero_before_any_update(tmp_path):
    _, learner = make_learner(tiny_cfg(tmp_path, "algo.kl_coef=0.1", "algo.ppo_epochs=1"))
    # LoRA B starts at zero, so the adapted policy equals the base: k3 KL is exactly 0.
    assert learner.step(samples([1.0, -1.0]))["kl"] == pytest.approx(0.0, abs=1e-7)


def test_tiny_self_play_run_completes(tmp_path):
    run = train(tiny_cfg(tmp_path))
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(m["matches"] > 0 for m in metrics)
    assert any(k.startswith("win_rate/tic_tac_toe/") for k in metrics[0])
    assert (run / "config.yaml").exists() and (run / "transcripts" / "step_000001.jsonl").exists()
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["step_000002", "step_000003"]  # keep_checkpoints: 2
    assert (run / "checkpoints" / "step_000003" / "model" / "adapter_config.json").exists()


def comparable(metrics):
    return [{k: v for k, v in m.items() if k not in TIMING and not k.startswith("time/")} for m in metrics]


POOL_AND_SEC = ("games.names=[tic_tac_toe, kuhn_poker]", "pool.rule=prioritised", "pool.snapshot_every=1",
                "pool.max_snapshots=2", "pool.fixed=[random]", "curriculum.kind=sec")


MAGNET = ("games.names=[kuhn_poker]", "algo.magnet=ema", "algo.magnet_coef=0.5", "algo.entropy_coef=0.01",
          "trainer.exploitability_every=2", "trainer.keep_best=true", "trainer.average_decay=0.8")


JUDGED = ("games.names=[sneaky_critic, red_team]", "rollout.max_new_tokens=4")


PREFERENCE = ("games.names=[preference]", "preference.tie_break=shorter", "algo.loss=inpo", "algo.inpo_tau=0.05",
              "algo.iterate_every=2", "preference.gap_every=2", "preference.gap_items=2", "trainer.micro_batch=8")


# Legal-move scoring by the policy and by the pool's snapshots.
LEGAL = ("games.names=[kuhn_poker, tic_tac_toe]", "rollout.moves=legal", "pool.rule=uniform", "pool.snapshot_every=2",
         "algo.magnet=uniform", "algo.magnet_coef=0.5")


# Self-imitation: the replay buffer is part of the state a resume restores (legal moves: some turns win).
SPEAR = ("games.names=[kuhn_poker]", "rollout.moves=legal", "algo.algorithm=spear", "spear.warmup_steps=0",
         "spear.replay=8")


# A warm start on labelled critic turns, then self-play with the closed-answer critic: a resume inside the warm
# start draws the same labelled turns.
WARM = ("games.names=[sneaky_critic]", "rollout.moves=legal", "warm_start.steps=3", "warm_start.items=8")


@pytest.mark.parametrize("extra", [(), POOL_AND_SEC, MAGNET, JUDGED, PREFERENCE, LEGAL, SPEAR, WARM],
                         ids=["self-play", "pool-and-sec", "magnet", "judged", "preference", "legal-moves", "spear",
                              "warm-start"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, extra):
    steps = "trainer.steps=5"
    reference = read_metrics(train(tiny_cfg(tmp_path / "a", steps, *extra)))
    run = tmp_path / "b" / "run"
    overrides = [f"trainer.run_dir={run}", steps, *extra]
    command = [sys.executable, "-m", "sparring", "train", str(CONFIG), *(a for o in overrides for a in ("--set", o))]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_metrics(run)) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(read_metrics(run))
    assert 2 <= killed_at < 5, "the run should be killed part-way"
    resumed = subprocess.run([sys.executable, "-m", "sparring", "train", "--resume", str(run)],
                             capture_output=True, text=True, timeout=300, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert comparable(read_metrics(run)) == comparable(reference)
    if extra == POOL_AND_SEC:  # the pool and the curriculum really took part
        assert any(k.startswith("pool/prob/snapshot@") for k in reference[-1])
        assert any(k.startswith("curriculum/prob/kuhn_poker/") for k in reference[-1])
    if extra == JUDGED:  # both judge games really took part, with their judges' metrics
        assert any(k.startswith("win_rate/red_team/") for m in reference for k in m)
        assert any(k.startswith("win_rate/sneaky_critic/") for m in reference for k in m)
    if extra == PREFERENCE:  # ranked pairs really trained, against an iterate refreshed mid-run, and the gap was logged
        assert any(m["preference_terms"] > 0 and m["grad_norm"] > 0 for m in reference)
        assert any(abs(m["logratio_mean"]) > 0 for m in reference if m["step"] > 2)
        assert [m["step"] for m in reference if "preference_gap/mean" in m] == [2, 4]
    if extra == WARM:  # three labelled steps, then self-play
        assert [m.get("warm_start/active", 0.0) for m in reference] == [1.0, 1.0, 1.0, 0.0, 0.0]
    if extra == SPEAR:  # buffered turns were replayed after the first step
        assert any(m["spear/replayed"] > 0 for m in reference)
    if extra == MAGNET:  # the regularisers and the exploitability log really took part
        assert all(m["magnet_kl"] > 0 and m["entropy_coef"] == 0.01 for m in reference if "magnet_kl" in m)
        assert [m["step"] for m in reference if "exploitability/kuhn_poker" in m] == [2, 4]
        assert [m["step"] for m in reference if "exploitability_average/kuhn_poker" in m] == [2, 4]
        assert (run / "best" / "checkpoints").is_dir()


def test_resuming_a_finished_run_says_how_to_continue_it(tmp_path):
    run = train(tiny_cfg(tmp_path, "trainer.steps=2"))
    finished = subprocess.run([sys.executable, "-m", "sparring", "train", "--resume", str(run)],
                              capture_output=True, text=True, env=ENV)
    assert finished.returncode != 0 and finished.stderr.strip().count("\n") == 0
    assert "already run 2 steps" in finished.stderr and "--set trainer.steps=12" in finished.stderr
    longer = subprocess.run([sys.executable, "-m", "sparring", "train", "--resume", str(run), "--set", "trainer.steps=3"],
                            capture_output=True, text=True, env=ENV)
    assert longer.returncode == 0, longer.stderr
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3]


def test_bad_config_field_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sparring", "train", str(CONFIG), "--set", "trainer.lrr=1"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "trainer.lr" in result.stderr


def test_curriculum_sees_every_sample_before_zero_advantages_are_dropped(tmp_path):
    from sparring.training.advantages import RAEBaselines, TurnSample
    from sparring.training.curriculum import Curriculum
    from sparring.training.algorithms.policy_gradient import score_samples

    cfg = tiny_cfg(tmp_path, "curriculum.kind=sec", "curriculum.alpha=1.0")
    curriculum = Curriculum.from_config(cfg.curriculum, ["tic_tac_toe/player_0", "tic_tac_toe/player_1"])
    # player_0: nine draws, then one win. With fresh baselines the draws get A = 0 exactly.
    returns = [0.0] * 9 + [1.0]
    batch = [TurnSample("tic_tac_toe", "player_0", m, 0, 4, r, r) for m, r in enumerate(returns)]
    kept = score_samples(cfg.algo, batch, RAEBaselines(decay=cfg.algo.rae_decay), curriculum)
    assert [s.advantage for s in kept] == [1.0]  # the draws are dropped from the learner's batch...
    assert curriculum.values["tic_tac_toe/player_0"] == pytest.approx(0.1)  # ...but not from the arm's reward

    # An arm whose samples all have advantage 0 loses its value instead of keeping it forever.
    curriculum.values["tic_tac_toe/player_1"] = 5.0
    draws = [TurnSample("tic_tac_toe", "player_1", m, 0, 4, 0.0, 0.0) for m in range(4)]
    assert score_samples(cfg.algo, draws, RAEBaselines(), curriculum) == []
    assert curriculum.values["tic_tac_toe/player_1"] == 0.0


def test_a_fixed_lm_opponent_is_loaded_once_with_the_run_settings_and_its_turns_do_not_count(tmp_path, monkeypatch):
    import sparring.model
    from sparring.training.selfplay import fixed_opponent

    loads = []
    real_load = sparring.model.load_model
    monkeypatch.setattr(sparring.model, "load_model", lambda name: loads.append(name) or real_load(name))
    cfg = tiny_cfg(tmp_path, "rollout.opponent=lm:tiny:3", "rollout.turns_per_step=16", "rollout.temperature=0.7",
                   "rollout.top_p=0.9", "games.template=spiral", "trainer.steps=2", "trainer.transcripts_every=1")
    train(cfg)
    assert loads.count("tiny:3") == 1  # once per run, not once per step
    for step in (1, 2):
        matches = [json.loads(line) for line in (tmp_path / "run" / "transcripts" / f"step_{step:06d}.jsonl").open()]
        policy_turns = sum(1 for m in matches for t in m["turns"] if m["seats"][t["seat"]] == "policy")
        assert policy_turns >= 16  # the opponent's LM turns are not counted toward turns_per_step
        assert all(m["opponent"] == "lm:tiny:3" for m in matches)
    opponent = fixed_opponent(cfg).player
    assert (opponent.template, opponent.temperature, opponent.top_p) == ("spiral", 0.7, 0.9)


def test_each_step_logs_where_its_time_went(tmp_path):
    rows = read_metrics(train(tiny_cfg(tmp_path, "trainer.steps=2", "trainer.save_every=1")))
    parts = ("generation", "rollout_other", "learner", "weight_sync", "evaluation", "checkpoint", "rest")
    for row in rows:
        assert all(row[f"time/{p}"] >= 0 for p in parts)
        assert sum(row[f"time/{p}"] for p in parts) == pytest.approx(row["time/step"])
        assert row["time/generation"] > 0 and row["time/learner"] > 0
        inner = sum(row[f"time/learner.{p}"] for p in ("forward", "backward", "optimizer"))
        assert 0 < inner <= row["time/learner"]
        assert row["trained_turns_per_s"] == pytest.approx(row["samples"] / row["time/step"])
    assert rows[0]["time/checkpoint"] == 0 and rows[1]["time/checkpoint"] > 0  # step 1's save, logged with step 2


def test_the_average_policy_is_an_ema_of_the_lora_weights_saved_as_a_loadable_adapter(tmp_path):
    from safetensors.torch import load_file

    from sparring.model import load_model

    decay = 0.75
    run = train(tiny_cfg(tmp_path, "trainer.steps=1", "trainer.save_every=1", "games.names=[kuhn_poker]",
                         f"trainer.average_decay={decay}", "trainer.exploitability_every=1"))
    checkpoint = run / "checkpoints" / "step_000001"
    policy = load_file(str(checkpoint / "model" / "adapter_model.safetensors"))
    average = load_file(str(checkpoint / "average" / "adapter_model.safetensors"))
    assert set(average) == set(policy)
    moved = [k for k in policy if "lora_B" in k and policy[k].abs().max() > 0]
    assert moved, "one step should move the LoRA B matrices away from their zero init"
    for key in moved:  # B starts at 0, so after one step the average is (1 - decay) * B
        assert torch.allclose(average[key], (1 - decay) * policy[key], atol=1e-7)
    model, _ = load_model(str(checkpoint / "average"))  # lm:PATH loads it like the policy's folder
    assert model.peft_config
    logged = read_metrics(run)[0]
    assert logged["exploitability_average/kuhn_poker"] != logged["exploitability/kuhn_poker"]


def test_exploitability_during_training_reads_the_runs_answer_format(tmp_path):
    from dataclasses import replace

    from sparring.evaluation.exploitability import exploitability, lm_policy
    from sparring.games.base import EVALUATION_RULES
    from sparring.players import make_player

    run = train(tiny_cfg(tmp_path, "games.names=[kuhn_poker]", "games.answer_format=bracket", "trainer.steps=1",
                         "trainer.exploitability_every=1"))
    logged = read_metrics(run)[0]["exploitability/kuhn_poker"]
    player = make_player(f"lm:{run / 'checkpoints' / 'step_000001' / 'model'}")

    def measured(answer_format):
        rules = replace(EVALUATION_RULES, answer_format=answer_format)
        return exploitability("kuhn_poker", lm_policy("kuhn_poker", player, rules=rules))

    assert logged == pytest.approx(measured("bracket"), abs=1e-6)
    assert abs(logged - measured("boxed")) > 1e-4  # the formats really read different strategies


def dropout_policy(tmp_path):
    """A LoRA policy in train mode whose adapters act (B is not 0) through a dropout of 0.5."""
    model, learner = make_learner(tiny_cfg(tmp_path, "model.lora_dropout=0.5", "trainer.micro_batch=8"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)
    return model, learner


def test_exploitability_is_scored_without_dropout_and_the_mode_is_restored(tmp_path):
    from sparring.evaluation.exploitability import exploitability_metrics
    from sparring.model import load_tokenizer
    from sparring.players.lm import LMPlayer

    model, _ = dropout_policy(tmp_path)
    player = LMPlayer(model, load_tokenizer())
    scores = [exploitability_metrics(player, ["kuhn_poker"])["exploitability/kuhn_poker"] for _ in range(3)]
    assert scores[0] == scores[1] == scores[2]
    assert model.training


def test_old_logprobs_are_the_policy_without_dropout(tmp_path):
    from sparring.logprobs import completion_logprobs

    model, learner = dropout_policy(tmp_path)
    batch = sorted(samples([1.0, -1.0, 0.5, -0.5, 1.0, 0.25]), key=lambda s: s.prompt_ids)
    model.eval()
    with torch.no_grad():
        scored = completion_logprobs(model, [s.prompt_ids for s in batch], [s.completion_ids for s in batch])
    model.train()
    for s, row, mask in zip(batch, scored.logprobs, scored.mask):
        s.sampling_logprobs = row[mask.bool()].tolist()  # what the policy samples with: no dropout
    assert learner.step(batch)["logprob_drift"] < 1e-5  # the old log-probs are the sampler's
    assert model.training


def test_a_checkpoint_written_before_the_parts_lifecycle_resumes(tmp_path):
    """Before `training.parts`, the algorithm's state (baselines, magnet, iterate) sat at the top of the trainer
    state; such a checkpoint resumes as if never stopped."""
    reference = read_metrics(train(tiny_cfg(tmp_path / "a", "trainer.steps=2")))
    run = train(tiny_cfg(tmp_path / "b", "trainer.steps=1"))
    path = run / "checkpoints" / "step_000001" / "trainer_state.pt"
    state = torch.load(path, weights_only=False)
    state.update({**state.pop("algorithm"), "iterate": None})  # the old layout
    torch.save(state, path)
    train(tiny_cfg(tmp_path / "b", "trainer.steps=2"), resume=True)
    assert comparable(read_metrics(run)) == comparable(reference)
