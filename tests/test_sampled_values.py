"""Sampled action values (algo.advantage=sampled): the step's own returns, no game tree."""

from __future__ import annotations

import json

import numpy as np
import pyspiel
import pytest

from sparring.config import ConfigError, load_config
from sparring.evaluation.action_values import action_values
from sparring.training.exact import state_value
from sparring.training.learner import LearnerSample
from sparring.training.sampled import SampledValues
from tests.test_exact_advantages import random_policy


def play_kuhn(engine: pyspiel.Game, policy, rng: np.random.Generator, table: SampledValues, ids: dict[str, int]) -> None:
    """One Kuhn match under a tabular policy, every decision a visit of its information state."""
    state = engine.new_initial_state()
    decisions = []
    while not state.is_terminal():
        if state.is_chance_node():
            actions, probs = zip(*state.chance_outcomes())
        else:
            key = state.information_state_string()
            row = policy.action_probabilities(state)
            actions, probs = tuple(row), tuple(row.values())
            decisions.append((state.current_player(), key, probs))
        action = int(rng.choice(actions, p=probs))
        if not state.is_chance_node():
            decisions[-1] += (actions, action)
        state.apply_action(action)
    returns = state.returns()
    for seat, key, probs, actions, action in decisions:
        sample = LearnerSample([ids.setdefault(key, len(ids))], [0], [0.0], 0.0)
        table.add(sample, [str(a) for a in actions], list(probs), str(action), returns[seat])


def test_sampled_advantages_estimate_the_exact_ones_without_bias():
    """Under a fixed random policy on Kuhn, each information state's sampled Q(s, a) - V(s) from 60 000 matches
    lies within four standard errors of the tree's exact value, at every state and move (the mean return of
    the visits that played a at s weighs each history as the exact value does)."""
    engine = pyspiel.load_game("kuhn_poker")
    policy = random_policy(engine, seed=3)
    exact = action_values(engine, policy)
    table, ids, rng = SampledValues(), {}, np.random.default_rng(0)
    for _ in range(60_000):
        play_kuhn(engine, policy, rng, table, ids)
    assert len(table.questions) == 12
    checked = 0
    for key, index in ids.items():
        question = table.questions[((index,), ("0", "1"))]
        q = exact[key]
        v = state_value(dict(enumerate(question.probs)), q)
        # the standard error of Q(s, a) - V(s): returns in Kuhn are at most 2 chips from their mean
        visits = min(question.counts)
        for k, sampled in enumerate(question.advantages()):
            assert sampled == pytest.approx(q[k] - v, abs=4 * 2 * 2 / np.sqrt(visits)), (key, k)
            checked += 1
    assert checked == 24


def test_a_move_never_sampled_at_a_question_gets_no_advantage():
    """One visit compares nothing: its own move's value is V, so every advantage is 0; with both moves
    sampled, V weighs the moves' mean returns by the played probabilities."""
    table = SampledValues()
    sample = LearnerSample([1, 2], [3], [0.0], 0.0)
    table.add(sample, ["call", "raise"], [0.25, 0.75], "raise", 2.0)
    assert table.questions[((1, 2), ("call", "raise"))].advantages() == [0.0, 0.0]
    table.add(sample, ["call", "raise"], [0.25, 0.75], "call", -1.0)
    table.add(sample, ["call", "raise"], [0.25, 0.75], "raise", 4.0)
    v = 0.25 * -1.0 + 0.75 * 3.0
    assert table.questions[((1, 2), ("call", "raise"))].advantages() == pytest.approx([-1.0 - v, 3.0 - v])
    [merged] = table.state_samples()
    assert merged.answer_probs == [0.25, 0.75] and merged.answer_advantages == pytest.approx([-1.0 - v, 3.0 - v])
    assert table.metrics() == {"sampled/questions": 1.0, "sampled/compared_share": 1.0, "sampled/visits": 3.0}


def sampled_run(tmp_path, game: str, extra: list[str]):
    from sparring.training.trainer import train

    cfg = load_config(None, ["model.name=tiny", f"games.names=[{game}]", "rollout.moves=legal",
                             "rollout.turns_per_step=16", "rollout.concurrency=16", "trainer.steps=2",
                             "algo.advantage=sampled", "algo.magnet=uniform", "algo.magnet_coef=0.5",
                             "trainer.lr=0.01", f"trainer.run_dir={tmp_path}/run", "trainer.final_eval_matches=0",
                             *extra])
    train(cfg)
    return [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]


def test_a_sampled_mmd_run_trains_one_sample_per_question_reached(tmp_path):
    rows = sampled_run(tmp_path, "kuhn_poker", ["algo.loss=mmd", "algo.exact_states=all", "algo.ppo_epochs=3", "algo.minibatches=2",
                                                "trainer.exploitability_every=1", "trainer.lr=0.0001"])
    for row in rows:
        assert 1 <= row["samples"] == row["sampled/questions"] <= 12  # Kuhn's 12 states, whatever the matches
        assert row["sampled/visits"] >= 16  # every decision of the step's matches is a visit
        assert row["last_epoch_loss"] < row["first_epoch_loss"]
    assert rows[0]["exploitability/kuhn_poker"] != rows[1]["exploitability/kuhn_poker"]


def test_sampled_values_train_a_game_whose_tree_is_never_walked(tmp_path):
    """Liar's Dice is not a game sparring can walk (no exploitability): sampled values still train it."""
    rows = sampled_run(tmp_path, "liars_dice", ["algo.loss=ppo"])
    assert all(row["grad_norm"] > 0 and row["sampled/visits"] >= 16 for row in rows)


@pytest.mark.parametrize("overrides, words", [
    (["rollout.moves=free"], "rollout.moves=legal"),
    (["games.names=[spy]", "games.max_turns=30"], "open-ended moves"),
    (["algo.loss=mmd"], "exact_states=all"),
])
def test_sampled_config_errors_name_the_setting(tmp_path, overrides, words):
    from sparring.training.trainer import train

    cfg = load_config(None, ["model.name=tiny", "games.names=[kuhn_poker]", "rollout.moves=legal",
                             "algo.advantage=sampled", f"trainer.run_dir={tmp_path}/run", *overrides])
    with pytest.raises(ConfigError, match=words):
        train(cfg)
