"""The opponent pool: cap, sampling rules, snapshots that play as the policy did, checkpoints."""

from __future__ import annotations

import copy
import io
from collections import Counter

import numpy as np
import pytest
import torch

from sparring.config import ModelConfig
from sparring.errors import SparringError
from sparring.games import make_game
from sparring.games.answer import format_answer
from sparring.players.lm import LMPlayer
from sparring.training.policy import build_policy
from sparring.training.pool import (
    OPPONENT_ADAPTER,
    SELF,
    OpponentPool,
    SnapshotPlayer,
    adapter_snapshot,
    opponent_adapter,
    score,
    seating,
)


@pytest.fixture(scope="module")
def lora(tiny):
    """(model, tokenizer): a copy of the tiny model with rank-4 LoRA adapters, as build_policy makes them.

    Copying the session's tiny model saves loading the tokenizer again (seconds on a busy machine).
    """
    from peft import LoraConfig, get_peft_model

    cfg = ModelConfig(name="tiny", lora=True, lora_r=4)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_targets), task_type="CAUSAL_LM")
    model = get_peft_model(copy.deepcopy(tiny[0]), lora)
    model.train()
    return model, tiny[1]


def test_the_fixture_matches_build_policy(lora):
    built, _ = build_policy(ModelConfig(name="tiny", lora=True, lora_r=4))
    assert built.peft_config["default"].to_dict() == lora[0].peft_config["default"].to_dict()


def observations() -> list:
    """Tic-tac-toe observations: the opening position and a few after one or two moves."""
    game = make_game("tic_tac_toe")
    out = [game.new_match(0).observe()]
    for first, second in [(4, None), (0, 3), (8, 1)]:
        match = game.new_match(0)
        match.submit(format_answer(str(first), "boxed"))
        if second is not None:
            match.submit(format_answer(str(second), "boxed"))
        out.append(match.observe())
    return out


def perturb(model, seed: int, scale: float = 0.5) -> None:
    """Add seeded noise to the trainable adapter (as a training step would)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * scale)


def trainable_state(model) -> dict:
    return {n: (p.detach().clone(), p.requires_grad) for n, p in model.named_parameters() if "lora_" in n
            and f".{OPPONENT_ADAPTER}." not in n}


def assert_same_state(model, before: dict) -> None:
    after = trainable_state(model)
    assert after.keys() == before.keys()
    for name, (value, flag) in before.items():
        assert torch.equal(after[name][0], value), name
        assert after[name][1] == flag, name


def fake_weights(value: float = 0.0) -> dict:
    return {"w": torch.full((2,), value)}


def pool_with(rule: str, steps=(), fixed=("random",), **kwargs) -> OpponentPool:
    pool = OpponentPool(rule, max_snapshots=3, fixed=list(fixed), seed=0, **kwargs)
    for step in steps:
        pool.snapshots[step] = fake_weights(step)  # no model needed for sampling tests
    return pool


# ----------------------------------------------------------------------------- membership and sampling


def test_cap_drops_the_oldest_snapshot(lora):
    model, _ = lora
    pool = OpponentPool("uniform", max_snapshots=2, fixed=[], seed=0)
    for step in (10, 20, 30):
        assert pool.add_snapshot(step, model) == f"snapshot@{step}"
    assert list(pool.snapshots) == [20, 30]
    assert pool.ids() == ["self", "snapshot@20", "snapshot@30"]
    pool.record("snapshot@20", "win")
    pool.add_snapshot(40, model)
    assert list(pool.snapshots) == [30, 40]
    assert "snapshot@20" not in pool.win_rates  # a dropped snapshot's win rate goes with it


def test_latest_is_pure_self_play():
    pool = pool_with("latest", steps=(10, 20))
    rng = np.random.default_rng(0)
    assert all(pool.sample(rng) is SELF for _ in range(50))
    assert pool.probabilities() == {"self": 1.0}
    assert pool.opponent("random").player.name == "random"  # fixed players exist, the rule just skips them


def test_uniform_is_roughly_uniform_over_self_snapshots_and_fixed():
    pool = pool_with("uniform", steps=(10, 20))
    rng = np.random.default_rng(1)
    counts = Counter(pool.sample_id(rng) for _ in range(4000))
    assert set(counts) == {"self", "snapshot@10", "snapshot@20", "random"}
    for n in counts.values():
        assert abs(n / 4000 - 0.25) < 0.03
    no_self = pool_with("uniform", steps=(10,), include_self=False)
    assert set(no_self.probabilities()) == {"snapshot@10", "random"}
    assert pool_with("uniform", fixed=(), include_self=False).ids() == ["self"]  # empty pool: self-play


def test_prioritised_prefers_the_opponents_the_policy_beats_least():
    pool = pool_with("prioritised", steps=(10, 20))
    target = {"random": "win", "snapshot@10": "loss", "snapshot@20": "draw"}  # self keeps its 0.5 prior
    for opponent, result in target.items():
        for _ in range(60):
            pool.record(opponent, result)
    rates = {i: pool.win_rate(i) for i in pool.ids()}
    assert rates["random"] > 0.99 and rates["snapshot@10"] < 0.01 and rates["snapshot@20"] == pytest.approx(0.5)
    probs = pool.probabilities()
    weights = {i: (1 - w) ** 2 for i, w in rates.items()}
    for i, p in probs.items():
        assert p == pytest.approx(weights[i] / sum(weights.values()))
    rng = np.random.default_rng(2)
    counts = Counter(pool.sample_id(rng) for _ in range(2000))
    assert counts["snapshot@10"] > counts["snapshot@20"] > counts["random"]
    assert counts["snapshot@20"] == pytest.approx(counts["self"], rel=0.25)
    assert abs(counts["snapshot@10"] / 2000 - probs["snapshot@10"]) < 0.04


def test_prioritised_is_uniform_when_the_policy_beats_everyone():
    pool = pool_with("prioritised", steps=(10,), include_self=False)
    for _ in range(500):
        pool.record("snapshot@10", "win")
        pool.record("random", 1.0)
    assert pool.probabilities() == {"snapshot@10": 0.5, "random": 0.5}


def test_record_scores_and_ema():
    assert [score(x) for x in ("win", "draw", "loss", 1.0, 0.0, -1.5, 0.5)] == [1, 0.5, 0, 1, 0.5, 0, 1]
    pool = pool_with("prioritised")
    pool.record("random", "loss")
    assert pool.win_rate("random") == pytest.approx(0.9 * 0.5)
    pool.record("random", "win")
    assert pool.win_rate("random") == pytest.approx(0.9 * 0.45 + 0.1)
    assert pool.games["random"] == 2
    pool.record("snapshot@99", "win")  # not in the pool: ignored
    assert "snapshot@99" not in pool.win_rates


def test_seating_semantics():
    policy, other = object(), object()
    from sparring.training.pool import Opponent

    assert seating(SELF, policy, 2, 1) == ([policy, policy], [0, 1])
    assert seating(Opponent("random", other), policy, 2, 1) == ([other, policy], [1])


def test_bad_configuration_is_one_line_error(lora):
    with pytest.raises(SparringError, match="rule"):
        OpponentPool("fictitious", 2, [], 0)
    with pytest.raises(SparringError, match="distinct"):
        OpponentPool("uniform", 2, ["random", "random"], 0)
    full = torch.nn.Linear(2, 2)
    with pytest.raises(SparringError, match="need LoRA"):
        OpponentPool("uniform", 2, [], 0).add_snapshot(1, full)
    pool = OpponentPool("uniform", 2, [], 0)
    pool.add_snapshot(1, lora[0])
    with pytest.raises(SparringError, match="bind"):
        pool.opponent("snapshot@1")


# ----------------------------------------------------------------------------- snapshots play as the policy did


def test_snapshot_plays_like_the_policy_at_its_step(lora):
    model, tokenizer = lora
    obs = observations()
    policy = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=10, name="policy")
    perturb(model, seed=1)  # a trained-looking adapter, different from the base model
    then = policy.act_batch(obs)

    pool = OpponentPool("uniform", max_snapshots=2, fixed=[], seed=0)
    pool.bind(policy)
    pool.add_snapshot(5, model)
    perturb(model, seed=2)  # training moves on
    now = policy.act_batch(obs)
    assert [a.text for a in now] != [a.text for a in then]

    before = trainable_state(model)
    opponent = pool.opponent("snapshot@5")
    assert isinstance(opponent.player, SnapshotPlayer) and opponent.player.batched
    played = opponent.player.act_batch(obs)
    assert [a.text for a in played] == [a.text for a in then]
    assert all(set(a.extra) == {"num_tokens", "stop", "opponent"} for a in played)  # nothing to learn from

    exact = SnapshotPlayer.from_policy(policy, pool.snapshots[5], "snapshot@5", keep_tokens=True).act_batch(obs)
    for a, b in zip(exact, then):
        assert a.extra["completion_ids"] == b.extra["completion_ids"]
        assert a.extra["logprobs"] == pytest.approx(b.extra["logprobs"], abs=1e-5)

    # The trainable adapter is active again, with the same weights and requires_grad.
    assert model.active_adapter == "default"
    assert_same_state(model, before)
    assert [a.text for a in policy.act_batch(obs)] == [a.text for a in now]
    assert pool.tokens_generated == sum(a.extra["num_tokens"] for a in played)


def test_adapter_is_restored_on_exceptions(lora, monkeypatch):
    model, tokenizer = lora
    policy = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=4)
    weights = adapter_snapshot(model)
    before = trainable_state(model)

    def boom(self, observations):
        assert model.active_adapter == OPPONENT_ADAPTER
        raise RuntimeError("generate failed")

    monkeypatch.setattr(LMPlayer, "act_batch", boom)
    with pytest.raises(RuntimeError, match="generate failed"):
        SnapshotPlayer.from_policy(policy, weights, "snapshot@1").act_batch(observations()[:1])
    assert model.active_adapter == "default"
    assert_same_state(model, before)

    with pytest.raises(SparringError, match="does not match"):
        with opponent_adapter(model, {"nope": torch.zeros(1)}):
            pass
    assert model.active_adapter == "default"
    assert_same_state(model, before)


def test_snapshot_slot_does_not_move_the_sampling_rng(lora):
    from sparring.training.pool import remove_opponent_adapter

    model, _ = lora
    remove_opponent_adapter(model)
    assert OPPONENT_ADAPTER not in model.peft_config
    state = torch.get_rng_state()
    with opponent_adapter(model, adapter_snapshot(model)):
        pass
    assert torch.equal(state, torch.get_rng_state())
    remove_opponent_adapter(model)
    assert list(model.peft_config) == ["default"]


# ----------------------------------------------------------------------------- checkpoints


def test_state_dict_round_trip_restores_the_pool_exactly(lora):
    model, _ = lora
    pool = OpponentPool("prioritised", max_snapshots=3, fixed=["random"], seed=3)
    for step in (10, 20):
        perturb(model, seed=step, scale=0.01)
        pool.add_snapshot(step, model)
    for result in ("win", "loss", "draw"):
        pool.record("snapshot@10", result)
    pool.record("random", "win")
    pool.sample_id()  # move the fallback RNG

    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    buffer.seek(0)
    restored = OpponentPool("latest", max_snapshots=1, fixed=[], seed=0)
    restored.load_state_dict(torch.load(buffer, weights_only=False))

    assert restored.rule == "prioritised" and restored.max_snapshots == 3 and restored.fixed == ["random"]
    assert list(restored.snapshots) == [10, 20]
    for step, weights in pool.snapshots.items():
        assert weights.keys() == restored.snapshots[step].keys()
        assert all(torch.equal(weights[k], restored.snapshots[step][k]) for k in weights)
    assert restored.win_rates == pool.win_rates and restored.games == pool.games
    assert restored.probabilities() == pool.probabilities()
    assert [restored.sample_id() for _ in range(20)] == [pool.sample_id() for _ in range(20)]
    assert restored.metrics() == pool.metrics()
