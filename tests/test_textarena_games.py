import random
import re

import numpy as np
import pytest

from sparring.games.answer import format_answer
from sparring.games.base import EVALUATION_RULES, MatchRules
from sparring.games.textarena_games import (
    TEXTARENA_GAMES,
    EngineRejectedMove,
    NegotiationMatch,
    SimpleNegotiation,
    TicTacToeMatch,
)

TTT = TEXTARENA_GAMES["textarena_tictactoe"]
NEG = TEXTARENA_GAMES["textarena_negotiation"]
BOXED, BRACKET = MatchRules(answer_format="boxed"), MatchRules(answer_format="bracket")


def legal_line(prompt: str) -> list[str]:
    line = next(line for line in prompt.splitlines() if line.startswith("Choose one move: "))
    return re.findall(r"\\boxed\{([^{}]*)\}", line)


def play_random(match, rng, garbage=0.0):
    """Play legal moves (or, with probability `garbage`, a non-move) until the match ends."""
    texts = []
    while not match.is_over():
        obs = match.observe()
        if rng.random() < garbage:
            text = "I pass"
        else:
            move = obs.legal_moves[rng.integers(len(obs.legal_moves))]
            text = "Thinking... " + format_answer(move, obs.answer_format)
        texts.append(text)
        match.submit(text)
    return texts


def free_cells(match: TicTacToeMatch) -> list[str]:
    board = match.ta_state.game_state["board"]
    return [str(i) for i in range(9) if board[i // 3][i % 3] == ""]


def test_registry_names_and_roles():
    assert set(TEXTARENA_GAMES) == {"textarena_tictactoe", "textarena_negotiation"}
    for name, game in TEXTARENA_GAMES.items():
        assert game.name == name and game.roles == ("player_0", "player_1") and game.rules_text


def test_tictactoe_prompt_lists_exactly_the_free_cells():
    match = TTT.new_match(0)
    for text in ["\\boxed{4}", "\\boxed{0}", "\\boxed{8}"]:
        obs = match.observe()
        assert obs.legal_moves == free_cells(match) == legal_line(obs.prompt)
        match.submit(text)
    obs = match.observe()
    assert obs.seat == 1
    assert obs.legal_moves == legal_line(obs.prompt) == ["1", "2", "3", "5", "6", "7"]
    board = obs.prompt.split("Board (free cells show their number):\n")[1].split("\nChoose one move")[0]
    assert board == " X | 1 | 2\n---+---+---\n 3 | O | 5\n---+---+---\n 6 | 7 | O"
    assert "You play X; player_0 plays O" in obs.prompt


@pytest.mark.parametrize("rules", [BOXED, BRACKET])
def test_tictactoe_every_legal_move_parses_in_both_formats(rules):
    match = TTT.new_match(1, rules)
    match.submit(format_answer("4", rules.answer_format))
    for move in match.legal_moves():
        assert match.parse(format_answer(move, rules.answer_format)) == move
        assert match.parse(f"Let me think. {format_answer(move, rules.answer_format)} ") == move
    assert match.parse(format_answer("4", rules.answer_format)) is None  # occupied


@pytest.mark.parametrize(
    "rules, near_misses",
    [
        (BOXED, ["\\boxed{44}", "\\boxed{four}", "\\boxed{4", "", "4", "[4]", "\\boxed{}", "\\boxed{9}"]),
        (BRACKET, ["[44]", "44", "four", "[four]", "[4", "", "4", "\\boxed{4}", "[]", "[-1]"]),
    ],
)
def test_tictactoe_near_misses_are_invalid(rules, near_misses):
    for text in near_misses:
        match = TTT.new_match(2, rules)
        assert match.parse(text) is None, text
        turn = match.submit(text)
        assert not turn.valid and match.is_over() and match.closed
        assert match.returns() == [rules.invalid_penalty, rules.invalid_bonus]
        assert match.ta_state.turn == 0  # TextArena never saw it


def test_tictactoe_random_play_is_zero_sum():
    rng = np.random.default_rng(7)
    outcomes = set()
    for seed in range(50):
        rules = EVALUATION_RULES if seed % 2 else MatchRules(answer_format="bracket")
        match = TTT.new_match(seed, rules)
        play_random(match, rng, garbage=0.03)
        returns = match.returns()
        assert match.closed
        if match.invalid_seats():
            (bad,) = match.invalid_seats()
            assert returns[bad] == rules.invalid_penalty and returns[1 - bad] == rules.invalid_bonus
            outcomes.add("invalid")
        else:
            assert sum(returns) == 0 and set(returns) <= {-1.0, 0.0, 1.0}
            outcomes.add(tuple(returns))
            # TextArena's verdict matches the final board
            assert match.ta_state.rewards == {0: returns[0], 1: returns[1]}
    assert {(1.0, -1.0), (-1.0, 1.0), "invalid"} <= outcomes


def test_tictactoe_win_and_draw_scripted():
    win = TTT.replay(3, ["\\boxed{0}", "\\boxed{3}", "\\boxed{1}", "\\boxed{4}", "\\boxed{2}"])
    assert win.is_over() and win.returns() == [1.0, -1.0]
    draw = TTT.replay(3, [f"\\boxed{{{c}}}" for c in [4, 0, 2, 6, 3, 5, 1, 7, 8]])
    assert draw.is_over() and draw.returns() == [0.0, 0.0]


# --- negotiation -------------------------------------------------------------------------------


def test_negotiation_uses_short_variant_with_real_turn_count():
    assert NEG.env_id == "SimpleNegotiation-v0-short-raw"
    assert NEG.total_moves == 7 and "7 moves" in NEG.rules_text
    match = NEG.new_match(0)
    texts = play_random(match, np.random.default_rng(0))
    assert len(texts) == 7 and match.moves_made == 7


@pytest.mark.parametrize(
    "rules, text",
    [
        (BOXED, "I'd like wood. \\boxed{Offer: 2 Wheat, 1 Ore -> 3 Wood}"),
        (BOXED, "\\boxed{ offer :2 wheat,1   ORE->3wood }"),
        (BOXED, "\\boxed{[Offer: 2 Wheat, 1 Ore -> 3 Wood]}"),
        (BRACKET, "Deal? [Offer: 2 Wheat, 1 Ore -> 3 Wood]"),
        (BRACKET, "[offer: 1 wheat, 1 WHEAT, 1 ore -> 3 Wood]"),
    ],
)
def test_negotiation_offer_is_canonical_and_reaches_textarena(rules, text):
    match = NEG.new_match(4, rules)
    turn = match.submit(text)
    assert turn.move == "Offer: 2 Wheat, 1 Ore -> 3 Wood"
    assert match.standing_offer() == {
        "from_player": 0,
        "to_player": 1,
        "offered_resources": {"Wheat": 2, "Ore": 1},
        "requested_resources": {"Wood": 3},
    }
    assert match.ta_state.logs[-2] == (0, "[Offer: 2 Wheat, 1 Ore -> 3 Wood]")  # what TextArena got
    obs = match.observe()
    assert "Standing offer: from player_0: you would get 2 Wheat, 1 Ore and give 3 Wood." in obs.prompt
    assert "player_0: Offer: 2 Wheat, 1 Ore -> 3 Wood" in obs.prompt
    assert "I'd like" not in obs.prompt and "Deal?" not in obs.prompt  # talk stays private
    assert "Accept" in obs.legal_moves


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{Offer: 3 Gold -> 1 Wood}",  # unknown resource
        "\\boxed{Offer: 3 Wheat -> 1 Wood, 2 Gold}",
        "\\boxed{Offer: 0 Wheat -> 1 Wood}",
        "\\boxed{Offer: 3 Wheat}",
        "\\boxed{Offer: 3 Wheat -> }",
        "\\boxed{Offer: Wheat -> Wood}",
        "\\boxed{Offer: 3 Wheat -> 1 Wood -> 2 Ore}",
        "\\boxed{Offer 3 Wheat -> 1 Wood}",
        "\\boxed{Offer: 999 Wheat -> 1 Wood}",  # more than it holds
        "\\boxed{Accept}",  # no standing offer
        "\\boxed{Accepted}",
        "\\boxed{[Deny}",
        "[Deny]",  # wrong answer format
        "Hello, shall we trade?",
        "",
    ],
)
def test_negotiation_bad_moves_are_invalid_and_never_reach_textarena(text):
    match = NEG.new_match(4)
    assert match.parse(text) is None
    match.submit(text)
    assert match.is_over() and match.returns() == [-1.5, 0.5]
    assert match.ta_state.turn == 0 and match.standing_offer() is None


def test_negotiation_accept_rules():
    match = NEG.new_match(5)
    match.submit("\\boxed{Offer: 1 Wheat -> 1 Ore}")
    assert match.parse("\\boxed{deny}") == "Deny" and match.parse("\\boxed{ ACCEPT }") == "Accept"
    match.submit("\\boxed{Deny}")
    # TextArena keeps the offer standing after a Deny; its maker may not accept it
    assert match.standing_offer()["from_player"] == 0
    assert match.parse("\\boxed{Accept}") is None and "Accept" not in match.legal_moves()
    match.submit("\\boxed{Deny}")
    assert match.parse("\\boxed{Accept}") == "Accept"
    # an offer asking for more than the other seat holds cannot be accepted
    too_much = match.holdings(0)["Ore"] + 1
    match.submit(f"\\boxed{{Offer: 1 Wheat -> {too_much} Ore}}")
    assert match.parse("\\boxed{Accept}") is None and "Accept" not in match.legal_moves()


def test_negotiation_scripted_match_to_the_end_is_zero_sum():
    match = NEG.new_match(6)
    before = [match.holdings(0), match.holdings(1)]
    script = [
        "\\boxed{Offer: 2 Wheat -> 1 Ore}",
        "ok \\boxed{Accept}",
        "\\boxed{Deny}",
        "\\boxed{Offer: 1 Sheep -> 2 Wood}",
        "\\boxed{Accept}",
        "\\boxed{Deny}",
        "\\boxed{Deny}",
    ]
    for text in script:
        assert match.submit(text).valid, text
    assert match.is_over() and match.closed and match.moves_made == 7
    after = [match.holdings(0), match.holdings(1)]
    assert after[0]["Wheat"] == before[0]["Wheat"] - 2 and after[0]["Ore"] == before[0]["Ore"] + 1
    assert after[1]["Sheep"] == before[1]["Sheep"] - 1 and after[1]["Wood"] == before[1]["Wood"] + 2
    returns = match.returns()
    assert sum(returns) == 0 and set(returns) <= {-1.0, 0.0, 1.0}
    change = [match.ta_state.game_state["inventory_value"][s]["change"] for s in (0, 1)]
    assert np.sign(change[0] - change[1]) == returns[0]


def test_negotiation_random_play_with_the_listed_moves():
    rng = np.random.default_rng(3)
    for seed in range(12):
        match = NEG.new_match(seed, BRACKET if seed % 2 else BOXED)
        play_random(match, rng)
        assert not match.invalid_seats()
        returns = match.returns()
        assert sum(returns) == 0 and set(returns) <= {-1.0, 0.0, 1.0}


def test_negotiation_deals_depend_on_the_seed():
    a, b, c = NEG.new_match(11), NEG.new_match(11), NEG.new_match(12)
    assert a.ta_state.game_state == b.ta_state.game_state
    assert a.ta_state.game_state != c.ta_state.game_state


def test_negotiation_other_variant():
    game = SimpleNegotiation("SimpleNegotiation-v0")
    assert game.total_moves == 11 and "6 for player_0" in game.rules_text


# --- replay, randomness, engine rejections ------------------------------------------------------


@pytest.mark.parametrize("game", [TTT, NEG])
def test_replay_reproduces_a_match(game):
    for seed in range(4):
        match = game.new_match(seed)
        texts = play_random(match, np.random.default_rng(seed), garbage=0.05)
        again = game.replay(seed, texts)
        assert again.record() == match.record()
        assert again.ta_state.game_state == match.ta_state.game_state
        assert again.ta_state.logs == match.ta_state.logs


def test_global_random_state_untouched():
    random.seed(1234)
    expected = [random.random() for _ in range(500)]
    random.seed(1234)
    seen = []
    rng = np.random.default_rng(0)
    for game in (TTT, NEG, SimpleNegotiation("SimpleNegotiation-v0")):
        for seed in range(3):
            match = game.new_match(seed)
            seen.append(random.random())
            while not match.is_over():
                obs = match.observe()
                move = obs.legal_moves[rng.integers(len(obs.legal_moves))]
                match.submit(format_answer(move, obs.answer_format))
                seen.append(random.random())
    assert 30 < len(seen) < 500
    assert seen == expected[: len(seen)]


def test_match_does_not_depend_on_global_random():
    random.seed(1)
    a = NEG.new_match(9)
    random.seed(2)
    b = NEG.new_match(9)
    assert a.ta_state.game_state == b.ta_state.game_state


def test_engine_rejection_is_an_invalid_move(monkeypatch):
    match = TTT.new_match(0)
    match.submit("\\boxed{4}")
    monkeypatch.setattr(TicTacToeMatch, "parse", lambda self, text: "4")  # let an occupied cell through
    turn = match.submit("\\boxed{4}")
    assert not turn.valid and turn.seat == 1
    assert match.is_over() and match.returns() == [0.5, -1.5]
    assert "already occupied" in match.engine_rejection
    assert issubclass(EngineRejectedMove, RuntimeError)


def test_negotiation_prompt_shows_own_resources_and_values_only():
    match = NEG.new_match(8)
    prompt = match.observe().prompt
    held, values = match.holdings(0), match.values(0)
    for name in ["Wheat", "Wood", "Sheep", "Brick", "Ore"]:
        assert f"  {name}: {held[name]} x {values[name]}" in prompt
    assert "This is move 1 of 7." in prompt and "Standing offer: none." in prompt
    for move in match.legal_moves():
        assert match.parse(format_answer(move, "boxed")) == move
    assert prompt.count("Your resources") == 1 and "player_1's" not in prompt
    assert isinstance(match, NegotiationMatch)
