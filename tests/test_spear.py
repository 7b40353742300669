"""SPEAR's self-imitation (`sparring.training.algorithms.spear`): which turns the buffer keeps, what it replays
and with which advantage, and that the buffer survives a checkpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sparring.config import load_config
from sparring.training.advantages import TurnSample
from sparring.training.algorithms import Context, algorithm_class
from sparring.training.curriculum import Curriculum
from sparring.training.learner import LearnerSample


def spear(*overrides):
    cfg = load_config(None, ["algo.algorithm=spear", "spear.warmup_steps=0", "spear.sil_coef=0.5", *overrides])
    policy = SimpleNamespace(model=None, tokenizer=None)
    return algorithm_class(cfg)(Context(cfg, {}, policy, Curriculum("uniform", ["g/p"])))


def turns(returns_and_advantages):
    scored = [TurnSample("g", "p", k, 0, 1, r, r, advantage=a) for k, (r, a) in enumerate(returns_and_advantages)]
    fresh = [LearnerSample([1, 2], [3 + k], [-1.0], a, role="p") for k, (_, a) in enumerate(returns_and_advantages)]
    return scored, fresh


def step(algorithm, returns_and_advantages):
    scored, fresh = turns(returns_and_advantages)
    algorithm.coef = algorithm.spear.sil_coef
    tokens = {(s.match_id, s.role, s.turn_index): sample for s, sample in zip(scored, fresh)}
    return algorithm.learner_samples(scored, tokens)


def test_the_buffer_keeps_the_best_turns_and_replays_them_against_the_current_baseline():
    algorithm = spear("spear.buffer_size=2", "spear.replay=1")
    assert len(step(algorithm, [(1.0, 0.9), (-1.0, -1.1), (1.0, 0.2), (1.0, 0.5)])) == 4  # nothing to replay yet
    assert [entry.advantage for entry in algorithm.buffer] == [0.9, 0.5]  # positive only, the highest kept
    algorithm.baselines.values[("g", "p")] = 0.2
    batch = step(algorithm, [(-1.0, -1.2)])
    assert [s.advantage for s in batch[1:]] == [pytest.approx(0.5 * (1.0 - 0.2))]  # sil_coef * (R - b), one replay
    assert batch[1].completion_ids == [3]  # the best buffered turn
    algorithm.baselines.values[("g", "p")] = 1.5  # the policy now reaches the buffered wins anyway
    assert len(step(algorithm, [(0.0, -1.5)])) == 1


def test_the_buffer_round_trips_through_a_checkpoint():
    algorithm = spear()
    step(algorithm, [(1.0, 0.7)])
    restored = spear()
    restored.load_state_dict(algorithm.state_dict())
    assert restored.buffer == algorithm.buffer and restored.baselines == algorithm.baselines


def test_the_self_imitation_weight_grows_over_the_warmup():
    algorithm = spear("spear.warmup_steps=4")
    algorithm.scored_samples = lambda played: ([], [], {})
    assert [(algorithm.samples([], s), algorithm.coef)[1] for s in (1, 2, 4, 8)] == [0.125, 0.25, 0.5, 0.5]
