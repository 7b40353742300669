"""TextArena's multi-player games (Liar's Dice, Secret Mafia): engine returns, teams, hidden information,
replay and move checking."""

import random

import numpy as np
import pytest

from sparring.errors import SparringError
from sparring.games import make_game
from sparring.games.answer import format_answer
from sparring.games.textarena_games import _textarena

DICE_MATCHES = {2: 80, 3: 160, 4: 80, 5: 80}  # 400 Liar's Dice matches
MAFIA_MATCHES = {6: 120, 7: 60, 8: 60}  # 240 Secret Mafia matches


def play_random(match, rng):
    """Random legal moves to the end; returns (answer texts, the actions TextArena received)."""
    texts, actions = [], []
    while not match.is_over():
        obs = match.observe()
        move = obs.legal_moves[rng.integers(len(obs.legal_moves))]
        actions.append(match.engine_action(move))
        texts.append("Let me think. " + format_answer(move, obs.answer_format))
        turn = match.submit(texts[-1])
        assert turn.move == move
    return texts, actions


def engine_rewards(game, seed, actions):
    """The rewards a fresh raw TextArena environment gives for these actions from the match's seed."""
    outer = random.getstate()
    try:
        env = _textarena().make(game.env_id)
        env.reset(num_players=game.num_seats, seed=int(np.random.default_rng(seed).integers(2**63)))
        for action in actions:
            assert not env.state.done
            env.step(action)
        assert env.state.done
        return [float(env.state.rewards[s]) for s in range(game.num_seats)]
    finally:
        random.setstate(outer)


def matches(name, counts):
    rng = np.random.default_rng(7)
    for seats, count in counts.items():
        game = make_game(f"{name}@{seats}")
        for seed in range(count):
            match = game.new_match(seed)
            texts, actions = play_random(match, rng)
            yield game, match, texts, actions


@pytest.fixture(scope="module")
def dice_matches():
    return list(matches("textarena_liars_dice", DICE_MATCHES))


@pytest.fixture(scope="module")
def mafia_matches():
    return list(matches("textarena_mafia", MAFIA_MATCHES))


@pytest.mark.parametrize("which", ["dice_matches", "mafia_matches"])
def test_returns_are_the_engines(which, request):
    played = request.getfixturevalue(which)
    outcomes = set()
    for game, match, _, actions in played:
        assert match.invalid_seats() == set() and match._final_returns is None  # the engine ended it
        assert match.returns() == engine_rewards(game, match.seed, actions)
        outcomes.add(tuple(match.returns()))
    assert len(outcomes) > 5  # different seats win


def test_liars_dice_returns_rank_the_seats_and_sum_to_zero(dice_matches):
    for game, match, _, _ in dice_matches:
        n = game.num_seats
        assert sorted(match.returns()) == pytest.approx(list(np.linspace(-1, 1, n)))
        assert sum(match.returns()) == pytest.approx(0)


def test_mafia_teams_share_returns_and_oppose(mafia_matches):
    winners = set()
    for game, match, _, _ in mafia_matches:
        teams, returns = match.teams(), match.returns()
        assert sorted(set(teams)) == [0, 1]
        assert teams.count(1) == max(1, round(game.num_seats * 0.25))
        by_team = {t: {r for r, tt in zip(returns, teams) if tt == t} for t in (0, 1)}
        assert len(by_team[0]) == len(by_team[1]) == 1  # identical within a team
        assert by_team[0].pop() == -by_team[1].pop() in (1.0, -1.0)  # zero-sum between teams
        winners.add(returns[teams.index(1)])
    assert winners == {1.0, -1.0}  # both teams win some


def test_liars_dice_prompt_shows_own_dice_only():
    match = make_game("textarena_liars_dice@4").new_match(3)
    rng = np.random.default_rng(0)
    for _ in range(12):
        if match.is_over():
            break
        seat = match.current_seat()
        prompt = match.prompt(seat)
        rolls = match.ta_state.game_state["dice_rolls"]
        saved = {s: list(d) for s, d in rolls.items()}
        for other in rolls:
            if other != seat:
                rolls[other] = [7 - d for d in rolls[other]]  # any other seat's dice: a different roll
        assert match.prompt(seat) == prompt
        rolls[seat] = [7 - d for d in rolls[seat]]
        assert match.prompt(seat) != prompt
        rolls.update(saved)
        obs = match.observe()
        match.submit(format_answer(obs.legal_moves[rng.integers(len(obs.legal_moves))], "boxed"))


def test_mafia_secrets_stay_with_those_told(mafia_matches):
    seen = set()
    for game, match, _, _ in mafia_matches:
        mafia = set(match.mafia)
        for turn in match.turns:
            role = match.role(turn.seat)
            if turn.seat not in mafia:
                assert "fellow Mafia" not in turn.prompt and "(Mafia only)" not in turn.prompt
                assert not any(f"player_{m}, Mafia" in turn.prompt for m in mafia)
            assert ("you investigated" in turn.prompt) <= (role == "Detective")
            assert ("you protected" in turn.prompt) <= (role == "Doctor")
        seen.update(t.prompt.count("you investigated") for t in match.turns if match.role(t.seat) == "Detective")
    assert max(seen) >= 2  # the Detective keeps every result it learned


def test_villager_prompt_does_not_depend_on_the_others_roles():
    match = make_game("textarena_mafia").new_match(11)
    rng = np.random.default_rng(1)
    checked = 0
    while not match.is_over():
        seat = match.current_seat()
        roles = match.env.player_roles
        if roles[seat] == "Villager":
            prompt = match.prompt(seat)
            mafioso = next(s for s in match.mafia)
            other = next(s for s in range(6) if s not in (seat, mafioso) and roles[s] != "Mafia")
            roles[mafioso], roles[other] = roles[other], roles[mafioso]
            assert match.prompt(seat) == prompt
            roles[mafioso], roles[other] = roles[other], roles[mafioso]
            checked += 1
        obs = match.observe()
        match.submit(format_answer(obs.legal_moves[rng.integers(len(obs.legal_moves))], "boxed"))
    assert checked > 3


@pytest.mark.parametrize("which", ["dice_matches", "mafia_matches"])
def test_replay_reproduces_a_match(which, request):
    for game, match, texts, _ in request.getfixturevalue(which)[:10]:
        again = game.replay(match.seed, texts)
        assert [(t.seat, t.prompt, t.move) for t in again.turns] == [(t.seat, t.prompt, t.move) for t in match.turns]
        assert again.returns() == match.returns()


def test_seat_counts_outside_the_engines_range_are_one_line_errors():
    for name in ("textarena_mafia@5", "textarena_mafia@16", "textarena_liars_dice@1"):
        with pytest.raises(SparringError, match="is played by"):
            make_game(name)


def test_liars_dice_moves_are_checked_before_the_engine():
    match = make_game("textarena_liars_dice").new_match(0)
    assert match.parse("\\boxed{Call}") is None  # no bid to call yet
    assert match.parse("\\boxed{Bid: 10, 2}") is None  # 9 dice in play
    assert match.parse("\\boxed{Bid: 2, 7}") is None
    assert match.parse("\\boxed{[bid: 2,  5]}") == "Bid: 2, 5"
    match.submit("\\boxed{Bid: 2, 5}")
    assert match.parse("\\boxed{Bid: 2, 5}") is None and match.parse("\\boxed{Bid: 3, 4}") is None
    assert match.parse("\\boxed{Bid: 2, 6}") == "Bid: 2, 6" and match.parse("\\boxed{call}") == "Call"
    turn = match.submit("\\boxed{Bid: 1, 6}")
    assert not turn.valid and match.is_over() and match.returns() == [0.5, -1.5, 0.5]


def test_mafia_moves_are_checked_before_the_engine():
    match = make_game("textarena_mafia").new_match(2)
    assert match.phase == "Night-Mafia"
    seat, mafia = match.current_seat(), match.mafia
    partner = next(m for m in mafia if m != seat)
    assert match.parse(f"\\boxed{{player_{partner}}}") is None  # not a target TextArena lists
    villager = next(s for s in range(6) if s not in mafia)
    assert match.parse(f"\\boxed{{player_{villager}}}") == f"player_{villager}"
    turn = match.submit("\\boxed{nobody}")
    assert not turn.valid and match.is_over()
    returns = match.returns()
    assert all(returns[m] == -1.5 for m in mafia) and all(returns[s] == 0.5 for s in range(6) if s not in mafia)
