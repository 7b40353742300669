"""The glue between engines and text: prompts, parsing, referee rules, seeding, Kuhn scoring."""

import random
import re

import pyspiel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparring.errors import SparringError
from sparring.games import MatchRules, make_game
from sparring.games.answer import format_answer, parse_move
from sparring.players.fixed import RandomPlayer

OPENSPIEL_FIRST_CLASS = ["tic_tac_toe", "kuhn_poker", "leduc_poker", "connect_four", "liars_dice"]


def play_randomly(match, seed=0):
    player = RandomPlayer(seed)
    while not match.is_over():
        match.submit(player.act(match.observe()))
    return match


@pytest.mark.parametrize("name", OPENSPIEL_FIRST_CLASS + ["openspiel:breakthrough"])
def test_prompt_lists_exactly_the_legal_moves(name):
    game = make_game(name)
    for seed in range(5):
        match = game.new_match(seed)
        player = RandomPlayer(seed)
        while not match.is_over():
            obs = match.observe()
            listed = next(line for line in obs.prompt.splitlines() if line.startswith("Choose one move: "))
            assert re.findall(r"\\boxed\{([^{}]*)\}", listed) == obs.legal_moves
            assert len(obs.legal_moves) == len(match.engine_state.legal_actions())
            match.submit(player.act(obs))


@pytest.mark.parametrize("name", OPENSPIEL_FIRST_CLASS)
def test_parser_accepts_every_legal_move_in_both_formats(name):
    match = make_game(name).new_match(1)
    moves = match.legal_moves()
    for move in moves:
        for fmt in ("boxed", "bracket"):
            assert parse_move(f"I think so. {format_answer(move, fmt)}", moves, fmt) == move
            assert parse_move(format_answer(f"  {move.upper()} ", fmt), moves, fmt) == move
            assert parse_move("\n" + format_answer(move.replace(" ", "  "), fmt), moves, fmt) == move


def test_parser_rejects_near_misses():
    moves = ["pass", "bet"]
    for text in ["bet", "\\boxed{bets}", "\\boxed{be}", "\\boxed{bet", "[bet]", "\\boxed{}", "\\boxed{pass bet}", ""]:
        assert parse_move(text, moves, "boxed") is None, text
    assert parse_move("[b]", moves, "bracket") is None
    assert parse_move("\\boxed{bet}", moves, "bracket") is None
    # The last answer counts: a corrected answer is the answer.
    assert parse_move("\\boxed{bet} no, \\boxed{pass}", moves, "boxed") == "pass"
    assert parse_move("\\boxed{pass} then \\boxed{fold}", moves, "boxed") is None


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["boxed", "bracket"]))
def test_parser_never_crashes_and_never_invents_a_move(text, fmt):
    moves = ["pass", "bet", "0", "2-6", "Liar"]
    assert parse_move(text, moves, fmt) in moves + [None]


def test_kuhn_returns_are_chips_and_match_openspiel():
    """SPIRAL's own Kuhn engine pays 31% of wins to the player with fewer chips; ours is OpenSpiel's."""
    game = make_game("kuhn_poker")
    engine = pyspiel.load_game("kuhn_poker")
    for seed in range(3000):
        match = play_randomly(game.new_match(seed), seed)
        returns = match.returns()
        assert sum(returns) == 0
        replayed = engine.new_initial_state()
        for action in match.state.history():
            replayed.apply_action(action)
        assert returns == replayed.returns()
        # Chips: the winner gains exactly what the loser put in the pot.
        bets = match.state.history()[2:]
        loser_in = 1 + sum(1 for i, a in enumerate(bets) if a == 1 and i % 2 == returns.index(min(returns)))
        assert max(returns) == loser_in


def test_same_seed_same_match_and_replay_reproduces():
    game = make_game("leduc_poker")
    first = play_randomly(game.new_match(42), seed=7)
    again = game.replay(42, [t.text for t in first.turns])
    assert again.state.history() == first.state.history()
    assert again.returns() == first.returns()
    other_seeds = {tuple(game.new_match(s).state.history()) for s in range(20)}
    assert len(other_seeds) > 1  # seeds do change the deal


def test_matches_do_not_touch_global_random():
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    play_randomly(make_game("liars_dice").new_match(5))
    assert [random.random() for _ in range(3)] == expected


def test_invalid_move_penalty_ends_the_match():
    match = make_game("kuhn_poker").new_match(0, MatchRules(invalid_penalty=-1.5, invalid_bonus=0.5))
    turn = match.submit("I fold, probably")
    assert not turn.valid and turn.text == "I fold, probably"
    assert match.is_over() and match.returns() == [-1.5, 0.5]
    assert match.invalid_seats() == {0}


def test_invalid_move_retry_then_penalty():
    match = make_game("kuhn_poker").new_match(0, MatchRules(invalid_move="retry", retries=2,
                                                             invalid_penalty=-1.0, invalid_bonus=1.0))
    match.submit("hmm")
    assert not match.is_over() and match.current_seat() == 0
    assert "previous answer named no legal move" in match.observe().prompt
    match.submit("\\boxed{bet}")
    assert match.current_seat() == 1
    for _ in range(3):
        match.submit("nope")
    assert match.returns() == [1.0, -1.0]
    assert len(match.turns) == 5


def test_turn_cap_is_a_draw():
    match = make_game("connect_four").new_match(0, MatchRules(max_turns=4))
    for column in "0101":
        match.submit(f"\\boxed{{{column}}}")
    assert match.is_over() and match.returns() == [0.0, 0.0]


def test_unknown_game_names_the_closest():
    with pytest.raises(SparringError, match="unknown game 'kuhn'.*kuhn_poker"):
        make_game("kuhn")
    with pytest.raises(SparringError, match="not a two-player turn-based"):
        make_game("openspiel:goofspiel")
