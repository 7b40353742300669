"""Each first-class OpenSpiel game's rules text says what its engine does.

Every test quotes a sentence of the prompt's rules and plays it out on the engine, with chance
outcomes chosen by hand and moves named the way the prompt names them (the game's own view).
"""

from __future__ import annotations

import pytest

from sparring.games import make_game


def engine_play(name: str, script: list):
    """The engine state after `script`: ints are chance outcomes, strings are moves by prompt name."""
    game = make_game(name)
    state = game.engine.new_initial_state()
    for step in script:
        if state.is_chance_node():
            assert isinstance(step, int), f"chance node, got move {step!r}"
            state.apply_action(step)
        else:
            moves = {game.view.move_name(state, a): a for a in state.legal_actions()}
            assert step in moves, (step, list(moves))
            state.apply_action(moves[step])
    return state


def test_liars_dice_six_is_wild():
    assert "a 6 is wild: it counts as every face (a bid on face 6 counts only 6s)" in make_game("liars_dice").rules_text
    # chance outcome k is face k + 1: player_0 rolls a 2, player_1 a 6
    assert engine_play("liars_dice", [1, 5, "2-2", "Liar"]).returns() == [1.0, -1.0]  # true: the caller loses
    assert engine_play("liars_dice", [1, 5, "2-3", "Liar"]).returns() == [-1.0, 1.0]  # only the 6 is a 3
    assert engine_play("liars_dice", [1, 5, "2-6", "Liar"]).returns() == [-1.0, 1.0]  # the 2 is no 6
    assert engine_play("liars_dice", [5, 5, "2-6", "Liar"]).returns() == [1.0, -1.0]


def test_liars_dice_bids_must_rise():
    game = make_game("liars_dice")
    assert "more dice, or as many dice of a higher face" in game.rules_text
    state = engine_play("liars_dice", [0, 0, "1-3"])
    assert [game.view.move_name(state, a) for a in state.legal_actions()] == [
        "1-4", "1-5", "1-6", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "Liar"]


@pytest.mark.parametrize("script, expected", [
    ([2, 1, "pass", "pass"], [1.0, -1.0]),  # King beats Queen at showdown: the ante
    ([0, 2, "bet", "bet"], [-2.0, 2.0]),  # a called bet: ante and bet go to the higher card
    ([0, 2, "bet", "pass"], [1.0, -1.0]),  # after a bet, pass folds
    ([1, 0, "pass", "bet", "pass"], [-1.0, 1.0]),
])
def test_kuhn_higher_card_takes_the_pot_and_pass_folds_after_a_bet(script, expected):
    text = make_game("kuhn_poker").rules_text
    assert "Jack < Queen < King" in text and "after a bet, bet calls and pass folds" in text
    assert engine_play("kuhn_poker", script).returns() == expected


def test_leduc_pair_with_the_public_card_beats_a_higher_card():
    text = make_game("leduc_poker").rules_text
    assert "A pair with the public card wins, else the higher card" in text
    # cards 0-1 are Jacks, 2-3 Queens, 4-5 Kings. player_0: a Jack, player_1: a King.
    pair = engine_play("leduc_poker", [0, 4, "call", "call", 1, "call", "call"])  # public: the other Jack
    assert pair.returns() == [1.0, -1.0]
    high = engine_play("leduc_poker", [0, 4, "call", "call", 2, "call", "call"])  # public: a Queen
    assert high.returns() == [-1.0, 1.0]


def test_leduc_prompt_says_whether_the_public_card_pairs_yours():
    view = make_game("leduc_poker").view
    before = engine_play("leduc_poker", [0, 4, "call"])
    assert "Public card: not shown yet." in view.observation(before, 1)
    paired = engine_play("leduc_poker", [0, 4, "call", "call", 1, "raise"])  # public: the other Jack; pot 2 + 4
    assert ("Your card: Jack. Public card: Jack (a pair with yours). Pot: 6. Round 1 betting: call, call. "
            "Round 2 betting: raise.") == view.observation(paired, 0)
    assert "Your card: King. Public card: Jack (no pair)." in view.observation(paired, 1)


def test_tic_tac_toe_three_in_a_row_wins_and_a_full_board_draws():
    assert "three in a row, column or diagonal wins" in make_game("tic_tac_toe").rules_text
    assert engine_play("tic_tac_toe", ["0", "3", "4", "5", "8"]).returns() == [1.0, -1.0]  # diagonal
    draw = engine_play("tic_tac_toe", ["0", "1", "2", "4", "3", "5", "7", "6", "8"])
    assert draw.is_terminal() and draw.returns() == [0.0, 0.0]


def test_connect_four_pieces_fall_and_four_in_a_row_wins():
    game = make_game("connect_four")
    assert "it falls to the lowest free row. Four in a row in any direction wins" in game.rules_text
    state = engine_play("connect_four", ["3"])
    assert game.view.observation(state, 1).splitlines()[-1].split()[3] == "x"  # bottom row, column 3
    assert engine_play("connect_four", ["0", "1", "0", "1", "0", "1", "0"]).returns() == [1.0, -1.0]


def test_strategy_table_groups_leduc_states_by_round_raise_and_hand(load_script):
    script = load_script("strategy_table")
    assert script.leduc_group(engine_play("leduc_poker", [0, 4])) == ("1", "no raise to face", "Jack")
    assert script.leduc_group(engine_play("leduc_poker", [0, 4, "raise"])) == ("1", "faces a raise", "King")
    assert script.leduc_group(engine_play("leduc_poker", [0, 4, "call", "call", 1, "raise"])) == (
        "2", "faces a raise", "higher card")  # player_1's King over the public Jack
    assert script.leduc_group(engine_play("leduc_poker", [0, 4, "call", "call", 1])) == ("2", "no raise to face", "pair")


def test_strategy_table_summary_on_kuhn_is_a_one_line_error():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "strategy_table.py"
    done = subprocess.run([sys.executable, str(script), "default", "--summary"], capture_output=True, text=True)
    assert done.returncode == 2 and "--game leduc_poker" in done.stderr.strip().splitlines()[-1]
