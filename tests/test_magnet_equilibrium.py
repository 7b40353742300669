"""The exact fixed point of the uniform magnet (sparring.evaluation.magnet_equilibrium) on Kuhn Poker."""

import math

import pyspiel
import pytest
from open_spiel.python import policy as policy_lib

from sparring.evaluation.magnet_equilibrium import conditional_action_values, magnet_equilibrium

PASS, BET = 0, 1


@pytest.fixture(scope="module")
def kuhn():
    return pyspiel.load_game("kuhn_poker")


def test_conditional_values_under_uniform_play_match_hand_computed_ones(kuhn):
    uniform = policy_lib.TabularPolicy(kuhn)
    values = conditional_action_values(kuhn, uniform)
    king, jack = uniform.state_lookup["2"], uniform.state_lookup["0"]  # player 0's first decision
    # King bets: called half the time (+2) or folded to (+1). King passes: the opponent passes (+1) or
    # bets, and then the King calls (+2) or folds (-1) half the time each.
    assert values[king, BET] == pytest.approx(1.5)
    assert values[king, PASS] == pytest.approx(0.5 * 1 + 0.5 * (0.5 * 2 + 0.5 * -1))
    assert values[jack, BET] == pytest.approx(0.5 * -2 + 0.5 * 1)


def test_a_weak_magnet_leaves_a_near_equilibrium_and_a_strong_one_near_uniform(kuhn):
    weak, strong = magnet_equilibrium(kuhn, 0.2), magnet_equilibrium(kuhn, 100.0)
    assert weak.residual < 1e-6 and strong.residual < 1e-6  # both are fixed points
    assert weak.exploitability < 0.05
    assert strong.exploitability == pytest.approx(11 / 24, abs=0.01)  # uniform play: 11/24


def test_the_fixed_point_is_the_softmax_of_its_own_values(kuhn):
    found = magnet_equilibrium(kuhn, 0.5)
    values = conditional_action_values(kuhn, found.policy)
    probs = found.policy.action_probability_array
    for row in range(len(probs)):  # two legal moves everywhere in Kuhn: p(bet) = sigmoid(dQ / coef)
        gap = (values[row, BET] - values[row, PASS]) / 0.5
        assert probs[row, BET] == pytest.approx(1 / (1 + math.exp(-gap)), abs=1e-9)


def test_a_coefficient_that_is_not_positive_is_refused(kuhn):
    with pytest.raises(ValueError, match="must be positive"):
        magnet_equilibrium(kuhn, 0.0)


@pytest.mark.parametrize("args, words", [(["nogame", "1"], "unknown OpenSpiel game"),
                                         (["kuhn_poker", "0"], "must be positive")])
def test_the_script_answers_bad_input_with_one_line(args, words):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "magnet_fixed_point.py"
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert words in done.stderr.strip().splitlines()[-1]
