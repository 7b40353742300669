"""Hanabi and Tiny Hanabi through OpenSpiel: returns are the engine's, shared by every seat, and no
seat's prompt shows its own cards."""

import re

import numpy as np
import pyspiel
import pytest

from sparring.errors import SparringError
from sparring.evaluation.arena import run_arena
from sparring.games import make_game
from sparring.games.hanabi import COLOURS, parse_observation
from sparring.players import make_player
from sparring.players.fixed import RandomPlayer


def play(match, players):
    while not match.is_over():
        obs = match.observe()
        match.submit(players[obs.seat].act(obs))
    return match


@pytest.mark.parametrize("name, matches", [("tiny_hanabi", 2000), ("hanabi", 200), ("hanabi@3", 200), ("hanabi@5", 100)])
def test_returns_are_the_engines_and_shared_by_every_seat(name, matches):
    game = make_game(name)
    engine = pyspiel.load_game(*(("hanabi", {"players": game.num_seats}) if name.startswith("hanabi") else (name,)))
    scores = set()
    rules_player = make_player("hanabi_rules")
    for seed in range(matches):
        # random teams (who lose every life: score 0) and, on Hanabi, rule-based teams (who score)
        smart = name.startswith("hanabi") and seed % 2
        players = [rules_player if smart else RandomPlayer(seed * 7 + s) for s in range(game.num_seats)]
        match = play(game.new_match(seed), players)
        replayed = engine.new_initial_state()
        for action in match.engine_state.history():  # chance outcomes and moves, as the engine recorded them
            replayed.apply_action(action)
        assert replayed.is_terminal()
        assert match.returns() == list(replayed.returns())
        assert len(set(match.returns())) == 1  # one team, one score
        scores.add(match.returns()[0])
    assert len(scores) > 1  # the check saw more than one score


def test_hanabi_prompt_hides_own_cards_and_shows_partners():
    game = make_game("hanabi@3")
    rng = np.random.default_rng(0)
    for seed in range(30):
        match = game.new_match(seed)
        while not match.is_over():
            seat = match.current_seat()
            prompt = match.observe().prompt
            state = match.engine_state
            hands = str(state).split("Hands:")[1].split("Deck size")[0].split("-----")  # the full, hidden-free state
            own = re.findall(r"\b([RYGWB]\d) \|\|", hands[seat])
            own_section = prompt.split("Your hand")[1].split("'s hand:")[0]
            for card in own:
                assert f"{COLOURS[card[0]]} {card[1]} (" not in own_section
                assert card not in own_section
            for offset in (1, 2):
                partner = (seat + offset) % 3
                listed = prompt.split(f"player_{partner}'s hand:")[1].split("'s hand:")[0]
                for card in re.findall(r"\b([RYGWB]\d) \|\|", hands[partner]):
                    assert f"{COLOURS[card[0]]} {card[1]} (they know" in listed
            moves = match.legal_moves()
            match.submit("\\boxed{" + moves[rng.integers(len(moves))] + "}")


def test_tiny_hanabi_player_1_sees_the_action_not_the_card():
    game = make_game("tiny_hanabi")
    match = game.new_match(4)
    match.submit("\\boxed{a2}")
    text = match.observation_text(1)
    assert "player_0 chose a2" in text
    assert f"Your card: d{match.engine_state.history()[1]}." in text
    assert text.count("d0") + text.count("d1") == 1  # only its own card, never player_0's


def test_hint_names_are_absolute_seats():
    match = make_game("hanabi@4").new_match(0)
    seat = match.current_seat()
    hinted = {m.split()[1] for m in match.legal_moves() if m.startswith("hint")}
    assert hinted == {f"player_{s}" for s in range(4) if s != seat}


def test_parse_observation_reads_tokens_and_hands():
    match = make_game("hanabi@3").new_match(2)
    seen = parse_observation(match.engine_state.observation_string(0))
    assert (seen.lives, seen.hints, seen.deck) == (3, 8, 50 - 15)
    assert [len(h) for h in seen.hands] == [5, 5, 5]
    assert all(c.card is None for c in seen.hands[0]) and all(c.card for c in seen.hands[1])


def test_rule_player_beats_random_team_and_plays_every_seat():
    game = make_game("hanabi")
    rules_player, random_player = make_player("hanabi_rules"), make_player("random", seed=1)
    smart = run_arena(game, [rules_player, rules_player], 20)
    mixed = run_arena(game, [rules_player, random_player], 20)
    smart_score = smart.tallies[(0, None)].summary()["mean_return"]
    assert smart_score > 5 > mixed.tallies[(0, None)].summary()["mean_return"]
    assert {seat for (_, seat) in mixed.tallies if isinstance(seat, int)} == {0, 1}


def test_wrong_player_count_is_one_line():
    with pytest.raises(SparringError, match="2 to 5 players, not 6"):
        make_game("hanabi").with_seats(6)
    with pytest.raises(SparringError, match="tiny_hanabi is played by 2 players"):
        make_game("tiny_hanabi").with_seats(3)
    with pytest.raises(SparringError, match="kuhn_poker is played by 2 players, not 3"):
        make_game("kuhn_poker@3")
