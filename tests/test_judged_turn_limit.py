"""Judged games and games.max_turns: a config whose turn limit would cut a judged match before its judge
rules is refused; a match cut anyway (the library's own rules) is a recorded draw that trains nothing."""

from __future__ import annotations

import json

import pytest

from sparring.config import ConfigError, load_config
from sparring.games import make_game
from sparring.games.base import MatchRules


def document_word(match) -> str:
    return next(w for w in match.document.split() if w.isalpha() and len(w) > 3)


REPLIES = {  # a valid answer of the seat to move, per game and seat
    "creator_solver": lambda m, seat: ["\\boxed{12 + 7 * 3}", "\\boxed{33}"][seat],
    "challenger_solver": lambda m, seat: ["\\boxed{How many legs do three spiders have together?}",
                                          "\\boxed{24}"][seat],
    "ask_answer_verify": lambda m, seat: [f"\\boxed{{Which word does the document use here? | {document_word(m)}}}",
                                          f"\\boxed{{{document_word(m)}}}", "\\boxed{yes}"][seat],
    "preference": lambda m, seat: "\\boxed{5}",
    "red_team": lambda m, seat: ["\\boxed{What is the weather like today?}", "\\boxed{It is sunny.}"][seat],
    "sneaky_critic": lambda m, seat: [f"\\boxed{{1: {m.gold[0].result + 1}}}", "\\boxed{correct}"][seat],
}
SETTINGS = ["judged.attempts=3", "preference.samples=3"]


def play(match) -> None:
    while not match.is_over():
        turn = match.submit(REPLIES[match.game.name](match, match.current_seat()))
        assert turn.valid, turn.text


def first_match_from_seat_0(game, rules):
    """A match whose first turn is seat 0's (sneaky_critic's gold matches start at the critic)."""
    return next(m for m in (game.new_match(seed, rules) for seed in range(50)) if m.current_seat() == 0)


@pytest.mark.parametrize("name", list(REPLIES))
def test_a_turn_limit_below_a_judged_match_is_refused_and_one_at_it_is_judged(name):
    turns = load_config(None, SETTINGS).judged_match_turns()[name][0]
    with pytest.raises(ConfigError, match=rf"^{name} needs {turns} turns .* games.max_turns={turns - 1} "):
        load_config(None, SETTINGS + [f"games.names=[{name}]", f"games.max_turns={turns - 1}"])
    cfg = load_config(None, SETTINGS + [f"games.names=[{name}]", f"games.max_turns={turns}"])
    match = first_match_from_seat_0(make_game(name, cfg), MatchRules(max_turns=turns))
    play(match)
    assert match.verdict is not None and not match.cut
    assert match.moves_made == turns


@pytest.mark.parametrize("name", list(REPLIES))
def test_a_judged_match_cut_by_the_turn_limit_is_a_recorded_draw_that_trains_nothing(name):
    cfg = load_config(None, SETTINGS)
    limit = cfg.judged_match_turns()[name][0] - 1
    match = first_match_from_seat_0(make_game(name, cfg), MatchRules(max_turns=limit))
    play(match)
    assert match.cut and match.verdict is None and match.moves_made == limit
    assert match.returns() == [0.0] * match.game.num_seats
    assert all(match.scored_turns(seat) == [] for seat in range(match.game.num_seats))
    judged = json.loads(json.dumps(match.record()))["judge"]
    assert judged["kind"] == "referee" and judged["returns"] == [0.0] * match.game.num_seats
    assert judged["reason"].startswith(f"cut: the turn limit (max_turns {limit}) ended the match after {limit} moves")
