"""The curriculum: uniform and SEC arm sampling, TD(0) values, arm rewards, checkpoints."""

from __future__ import annotations

import json
import math
import types
from collections import Counter

import numpy as np
import pytest

from sparring.training.advantages import TurnSample
from sparring.training.curriculum import Curriculum, arm_rewards, game_arms, split_arm
from sparring.errors import SparringError

ARMS = ["kuhn_poker/player_0", "kuhn_poker/player_1", "tic_tac_toe/player_0", "tic_tac_toe/player_1"]


def sample(game: str, role: str, advantage: float, match_id: int = 0) -> TurnSample:
    return TurnSample(game=game, role=role, match_id=match_id, turn_index=0, num_tokens=3, reward=0.0,
                      seat_return=0.0, advantage=advantage)


def test_arm_rewards_is_mean_absolute_advantage_per_game_and_role():
    samples = [sample("kuhn_poker", "player_0", 1.0), sample("kuhn_poker", "player_0", -0.5),
               sample("kuhn_poker", "player_1", -2.0), sample("tic_tac_toe", "player_1", 0.0)]
    assert arm_rewards(samples) == {"kuhn_poker/player_0": 0.75, "kuhn_poker/player_1": 2.0,
                                    "tic_tac_toe/player_1": 0.0}
    assert arm_rewards([]) == {}


def test_arms_of_games():
    games = [types.SimpleNamespace(name="kuhn_poker", roles=("player_0", "player_1")),
             types.SimpleNamespace(name="tic_tac_toe", roles=("player_0", "player_1"))]
    assert game_arms(games) == ARMS
    assert split_arm("kuhn_poker/player_1") == ("kuhn_poker", "player_1")
    with pytest.raises(SparringError, match="game/role"):
        split_arm("kuhn_poker")


def test_td0_values_match_hand_computation():
    cur = Curriculum("sec", ARMS, alpha=0.3, tau=0.5)
    cur.update({"kuhn_poker/player_0": 1.0, "tic_tac_toe/player_0": 0.2})
    assert cur.values == pytest.approx({"kuhn_poker/player_0": 0.3, "kuhn_poker/player_1": 0.0,
                                        "tic_tac_toe/player_0": 0.06, "tic_tac_toe/player_1": 0.0})
    cur.update({"kuhn_poker/player_0": 0.5, "kuhn_poker/player_1": 2.0})  # tic_tac_toe arms keep their Q
    expected = {"kuhn_poker/player_0": 0.3 * 0.5 + 0.7 * 0.3, "kuhn_poker/player_1": 0.6,
                "tic_tac_toe/player_0": 0.06, "tic_tac_toe/player_1": 0.0}
    assert cur.values == pytest.approx(expected)
    weights = {a: math.exp(q / 0.5) for a, q in expected.items()}
    probs = cur.probabilities()
    assert probs == pytest.approx({a: w / sum(weights.values()) for a, w in weights.items()})
    metrics = cur.metrics()
    assert metrics["curriculum/value/kuhn_poker/player_1"] == pytest.approx(0.6)
    assert metrics["curriculum/prob/kuhn_poker/player_1"] == pytest.approx(probs["kuhn_poker/player_1"])


def test_probabilities_are_numerically_stable():
    cur = Curriculum("sec", ["a/x", "b/x"], alpha=1.0, tau=1e-3)
    cur.update({"a/x": 1000.0, "b/x": 999.0})
    probs = cur.probabilities()
    assert all(math.isfinite(p) for p in probs.values())
    assert probs["a/x"] == pytest.approx(1.0) and sum(probs.values()) == pytest.approx(1.0)


def test_sec_learns_to_prefer_the_arm_with_larger_advantages():
    """A bandit: the hard arm's samples always carry |A| = 1, the others' |A| = 0.1."""
    cur = Curriculum("sec", ARMS, alpha=0.5, tau=0.2)
    rng = np.random.default_rng(0)
    hard = "tic_tac_toe/player_1"
    history = [cur.probabilities()[hard]]
    for step in range(8):
        picked = [cur.sample(rng) for _ in range(16)]
        samples = [sample(*split_arm(a), advantage=(1.0 if a == hard else 0.1) * (-1) ** k, match_id=k)
                   for k, a in enumerate(picked)]
        cur.update(arm_rewards(samples))
        history.append(cur.probabilities()[hard])
    assert history[0] == pytest.approx(0.25)
    assert history[-1] > 0.9
    assert history[-1] > history[2] > history[0]
    counts = Counter(cur.sample(rng) for _ in range(500))
    assert counts.most_common(1)[0][0] == hard


def test_uniform_stays_uniform():
    cur = Curriculum("uniform", ARMS)
    cur.update({ARMS[0]: 5.0, ARMS[1]: 0.1})
    assert cur.values[ARMS[0]] == pytest.approx(2.5)  # values are tracked for logging
    assert cur.probabilities() == {a: 0.25 for a in ARMS}
    rng = np.random.default_rng(0)
    counts = Counter(cur.sample(rng) for _ in range(4000))
    assert all(abs(n / 4000 - 0.25) < 0.03 for n in counts.values())


def test_state_round_trip():
    cur = Curriculum("sec", ARMS, alpha=0.25, tau=0.7)
    cur.update({ARMS[2]: 1.5, ARMS[3]: 0.25})
    state = json.loads(json.dumps(cur.state_dict()))  # plain data
    restored = Curriculum("uniform", ["other/x"])
    restored.load_state_dict(state)
    assert restored.state_dict() == cur.state_dict()
    assert restored.probabilities() == cur.probabilities()
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [restored.sample(a) for _ in range(30)] == [cur.sample(b) for _ in range(30)]


def test_bad_configuration_is_one_line_error():
    with pytest.raises(SparringError, match="kind"):
        Curriculum("bandit", ARMS)
    with pytest.raises(SparringError, match="tau"):
        Curriculum("sec", ARMS, tau=0)
    with pytest.raises(SparringError, match="alpha"):
        Curriculum("sec", ARMS, alpha=0)
    with pytest.raises(SparringError, match="unknown arm"):
        Curriculum("sec", ARMS).update({"chess/white": 1.0})
