"""Fixed players against known facts: minimax never loses, CFR approximates Nash on Kuhn."""

import pyspiel
import pytest
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability, expected_game_score

from sparring.evaluation.arena import run_arena
from sparring.errors import SparringError
from sparring.games import make_game
from sparring.players import make_player
from sparring.players.fixed import HumanPlayer, cfr_policy


def tabular(game_name, table):
    game = pyspiel.load_game(game_name)
    policy = policy_lib.TabularPolicy(game)
    for info, probs in table.items():
        row = policy.policy_for_key(info)
        row[:] = 0
        for action, p in probs.items():
            row[action] = p
    return game, policy


def test_cfr_kuhn_is_near_nash():
    game, policy = tabular("kuhn_poker", cfr_policy("kuhn_poker", 1000))
    assert exploitability.exploitability(game, policy) < 0.01
    value = expected_game_score.policy_value(game.new_initial_state(), [policy, policy])[0]
    assert value == pytest.approx(-1 / 18, abs=0.005)


def test_cfr_beats_random_on_kuhn():
    result = run_arena(make_game("kuhn_poker"), (make_player("cfr"), make_player("random", seed=1)), 2000)
    overall = next(r for r in result.rows() if r["player"] == "cfr:1000" and r["seat"] == "all")
    assert overall["mean_return_low"] > 0


def test_minimax_never_loses_tic_tac_toe():
    result = run_arena(make_game("tic_tac_toe"), (make_player("minimax"), make_player("random", seed=3)), 200)
    minimax = next(r for r in result.rows() if r["player"] == "minimax" and r["seat"] == "all")
    assert minimax["matches"] == 200 and minimax["loss"] == 0 and minimax["win"] > 0.5


def test_mcts_beats_random_on_connect_four():
    result = run_arena(make_game("connect_four"), (make_player("mcts:50"), make_player("random", seed=3)), 6)
    mcts = next(r for r in result.rows() if r["player"] == "mcts:50" and r["seat"] == "all")
    assert mcts["win"] >= 5 / 6


def test_human_is_asked_again_after_an_illegal_move():
    answers = iter(["raise", "BET"])
    shown = []
    human = HumanPlayer(read=lambda _prompt: next(answers), write=shown.append)
    match = make_game("kuhn_poker").new_match(0)
    assert match.submit(human.act(match.observe())).move == "bet"
    assert any("'raise' is not a legal move" in line for line in shown)


def test_bad_player_names():
    with pytest.raises(SparringError, match="unknown player 'randon'.*random"):
        make_player("randon")
    with pytest.raises(SparringError, match="whole number"):
        make_player("mcts:lots")
    match = make_game("textarena_tictactoe").new_match(0)
    with pytest.raises(SparringError, match="needs an OpenSpiel game"):
        make_player("minimax").act(match.observe())


MCTS_ON_KUHN = "sparring: error: mcts searches the whole game state, so on kuhn_poker it would see what its seat may not"


def test_mcts_is_refused_on_a_game_with_hidden_information_by_arena_and_play(capsys):
    from sparring.cli import main

    assert main(["arena", "kuhn_poker", "mcts", "random", "--matches", "2"]) == 2
    assert main(["play", "kuhn_poker", "--opponent", "mcts:10", "--seat", "1"]) == 2  # mcts moves first
    assert [line[:len(MCTS_ON_KUHN)] for line in capsys.readouterr().err.splitlines()] == [MCTS_ON_KUHN] * 2
    with pytest.raises(SparringError, match="on leduc_poker it would see"):
        run_arena(make_game("leduc_poker"), (make_player("random"), make_player("mcts:10")), 2)


@pytest.mark.parametrize("setting", ["rollout.opponent=mcts", "pool.fixed=[random, mcts:50]"])
def test_a_run_with_mcts_on_a_game_with_hidden_information_is_refused_before_any_model_loads(setting, tmp_path):
    from sparring.config import load_config
    from sparring.training.trainer import train

    cfg = load_config(None, ["model.name=/no/such/model", "games.names=[tic_tac_toe, kuhn_poker]", setting,
                             f"trainer.run_dir={tmp_path}"])
    with pytest.raises(SparringError, match="^mcts searches the whole game state, so on kuhn_poker"):
        train(cfg)
