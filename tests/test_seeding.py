"""Chance events never depend on the seat, the curriculum's arm or the opponent drawn.

Statistical checks without a model: thousands of match specs from the trainer's `SelfPlay`, the
deal read off each match's engine state, chi-square tests at p > 0.001.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from sparring.config import load_config
from sparring.games import make_game
from sparring.players.fixed import RandomPlayer
from sparring.seeding import stream_seed
from sparring.training.curriculum import Curriculum, game_arms
from sparring.training.pool import OpponentPool
from sparring.training.selfplay import SelfPlay, fixed_opponent

GAMES = ("kuhn_poker", "liars_dice")
FACES = {"kuhn_poker": 3, "liars_dice": 6}

SETUPS = {
    "self-play with SEC": ["pool.rule=latest", "curriculum.kind=sec"],
    "uniform pool with a fixed player": ["pool.rule=uniform", "pool.fixed=[random]", "curriculum.kind=sec"],
    "fixed opponent": ["rollout.opponent=random"],
}


def deals(overrides: list[str], steps: int = 24, per_step: int = 80) -> list[dict]:
    """One record per match spec: game, arm, opponent, learning seats and each seat's chance outcome."""
    cfg = load_config(None, ["model.name=tiny", f"games.names={list(GAMES)}", *overrides])
    games = {name: make_game(name) for name in GAMES}
    curriculum = Curriculum.from_config(cfg.curriculum, game_arms(games.values()))
    # Unequal arm probabilities, as a trained SEC bandit has them.
    curriculum.values.update(zip(curriculum.arms, [2.0, 0.0, 1.0, -1.0]))
    pool = OpponentPool.from_config(cfg.pool, seed=cfg.trainer.seed)
    fixed = fixed_opponent(cfg)
    policy = RandomPlayer()
    records = []
    for step in range(1, steps + 1):
        seats = SelfPlay(cfg, policy, pool, curriculum, games, step, fixed)
        for i in range(per_step):
            spec = seats.spec(i)
            state = spec.game.new_match(spec.seed, spec.rules).engine_state
            records.append({"game": spec.game.name, "arm": spec.meta["arm"], "opponent": spec.meta["opponent"],
                            "learning": spec.meta["learning_seats"], "deal": state.history()[:2]})
    return records


def assert_uniform(outcomes: list[int], faces: int, what: str) -> None:
    counts = np.bincount(outcomes, minlength=faces)
    assert len(outcomes) >= 300, what
    assert chisquare(counts).pvalue > 1e-3, f"{what}: {counts.tolist()} is not uniform"


def assert_independent(labels: list[str], outcomes: list[int], faces: int, what: str) -> None:
    kinds = sorted(set(labels))
    if len(kinds) < 2:
        return
    table = np.array([np.bincount([o for l, o in zip(labels, outcomes) if l == k], minlength=faces) for k in kinds])
    assert chi2_contingency(table).pvalue > 1e-3, f"{what} depends on it: {dict(zip(kinds, table.tolist()))}"


@pytest.mark.parametrize("setup", list(SETUPS))
def test_each_seat_is_dealt_uniformly_whatever_arm_and_opponent_were_drawn(setup):
    records = deals(SETUPS[setup])
    assert len(records) >= 1500
    for game in GAMES:
        mine = [r for r in records if r["game"] == game]
        for seat in (0, 1):
            outcomes = [r["deal"][seat] for r in mine]
            assert_uniform(outcomes, FACES[game], f"{setup}: {game} seat {seat}")
            assert_independent([r["arm"] for r in mine], outcomes, FACES[game], f"{setup}: {game} seat {seat} vs arm")
            assert_independent([r["opponent"] for r in mine], outcomes, FACES[game],
                               f"{setup}: {game} seat {seat} vs opponent")
        # The policy's own seat (the arm's seat when it plays a fixed player or a snapshot).
        policy_cards = [r["deal"][min(r["learning"])] for r in mine]
        assert_uniform(policy_cards, FACES[game], f"{setup}: {game} learning seat")


def test_fixed_player_seeds_are_not_match_seeds():
    seeds = {stream_seed(0, "match", step, group) for step in range(1, 20) for group in range(64)}
    players = {stream_seed(0, "players", step, k) for step in range(1, 20) for k in range(2)}
    assert not seeds & players
    assert len(seeds) == 19 * 64


def test_streams_refuse_a_wrong_number_of_parts():
    with pytest.raises(ValueError, match="takes 2 index parts"):
        stream_seed(0, "match", 3)
    with pytest.raises(ValueError, match="unknown random stream"):
        stream_seed(0, "deal", 3, 4)


def test_a_fixed_opponent_draws_both_seats_for_the_policy():
    records = deals(SETUPS["fixed opponent"], steps=4, per_step=100)
    seats = Counter(min(r["learning"]) for r in records)
    assert set(seats) == {0, 1} and min(seats.values()) > 120  # the uniform curriculum seats it on both sides
