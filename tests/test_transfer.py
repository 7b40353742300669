"""The transfer suite, reasoning tasks as one-seat games, and alternating training phases."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sparring.config import ConfigError, load_config
from sparring.errors import SparringError
from sparring.evaluation.stats import paired_delta, sign_test
from sparring.evaluation.transfer import TransferSettings, held_out_games, measure, transfer
from sparring.games import make_game
from sparring.games.base import EVALUATION_RULES, TRAINING_RULES
from sparring.games.reasoning import DEFAULT_TASKS, EVAL_SEED, ReasoningGame, check_tasks
from sparring.players.lm import LMPlayer

CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"


def boxed(text):
    return "\\boxed{" + text + "}"


@pytest.mark.parametrize("task", DEFAULT_TASKS)
def test_match_returns_are_the_packages_own_scores(task):
    game = ReasoningGame(task, EVAL_SEED, 8)
    for index in range(4):
        entry = game.entry(index)
        right = entry["answer"]
        if right is None:  # propositional_logic: any valid conclusion; a premise is one
            right = entry["metadata"]["premises"][0]
        for text, answer in ((boxed(right), right), (boxed("zzz 0"), "zzz 0"), ("no answer marks", None)):
            match = game.new_match(index, EVALUATION_RULES)
            match.submit(text)
            own = game.dataset.score_answer(answer, entry)
            if answer is None:
                assert match.invalid_seats() == {0}  # no answer in the format: an invalid move
            else:
                assert match.returns() == [own]
        if entry["answer"] is not None:
            assert game.dataset.score_answer(entry["answer"], entry) == 1.0
        assert game.dataset.score_answer("zzz 0", entry) < 1.0


def test_reasoning_match_prompt_answer_format_and_registry():
    game = make_game("reasoning:chain_sum")
    assert game.roles == ("solver",) and game.is_task and game.name == "reasoning:chain_sum"
    match = game.new_match(3, TRAINING_RULES)
    assert match.entry["question"] in match.prompt(0) and "\\boxed{}" in match.prompt(0)
    match.submit(boxed(" " + match.entry["answer"] + " "))
    assert match.is_over() and match.returns() == [1.0]
    bracket = ReasoningGame("chain_sum").new_match(3, EVALUATION_RULES.__class__(answer_format="bracket"))
    bracket.submit(f"[{bracket.entry['answer']}]")
    assert bracket.returns() == [1.0]


def test_unknown_task_is_one_line_with_the_closest_names():
    with pytest.raises(SparringError, match=r"unknown reasoning task 'chain_summ' \(closest: chain_sum"):
        check_tasks(["chain_summ"])
    with pytest.raises(SparringError, match="chain_sum"):
        make_game("reasoning:chainsum")
    result = subprocess.run([sys.executable, "-m", "sparring", "eval", "tiny", "--suite", "transfer",
                             "--tasks", "letter_countin"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "letter_counting" in result.stderr


def test_default_tasks_generate_without_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for task in DEFAULT_TASKS:
        game = ReasoningGame(task, EVAL_SEED + 1, 4)
        assert all(game.entry(i)["question"] for i in range(4))


def test_held_out_games_are_the_first_class_games_the_run_did_not_train_on():
    from sparring.games import first_class_games

    cfg = load_config(CONFIG, ["games.names=[kuhn_poker, tic_tac_toe, reasoning:chain_sum]"])
    held_out = held_out_games(cfg.games.names)
    assert "kuhn_poker" not in held_out and "tic_tac_toe" not in held_out
    # propose_solve and the judge games list no legal moves: fixed opponents cannot play them, so they
    # are no held-out games
    unplayable = {name for name, game in first_class_games().items() if not game.fixed_players_play}
    assert {"propose_solve", "sneaky_critic", "red_team"} <= unplayable
    assert set(held_out) == set(first_class_games()) - {"kuhn_poker", "tic_tac_toe"} - unplayable
    assert "leduc_poker" in held_out and "spy" in held_out


def test_sign_test_and_paired_delta():
    assert sign_test([0, 0, 0]) == 1.0
    assert sign_test([1] * 6) == pytest.approx(2 / 64)  # McNemar exact: 6 discordant pairs, all one way
    assert sign_test([1, -1, 1, -1]) == 1.0
    delta = paired_delta([1, 1, 0, 1], [0, 1, 0, 0])
    assert delta["delta"] == 0.5 and delta["delta_low"] < 0.5 < delta["delta_high"]
    with pytest.raises(ValueError):
        paired_delta([1.0], [1.0, 0.0])


@pytest.mark.parametrize("greedy", [True, False], ids=["greedy", "sampled"])
def test_a_model_compared_with_itself_has_a_delta_of_exactly_zero(tiny, greedy):
    model, tokenizer = tiny
    settings = TransferSettings(tasks=("chain_sum",), items=6, games=("kuhn_poker",), matches=4, greedy=greedy,
                                task_tokens=6, game_tokens=4)
    first = measure(LMPlayer(model, tokenizer, name="a"), settings)
    again = measure(LMPlayer(model, tokenizer, name="b"), settings)
    assert first.keys() == again.keys() and ("task", "chain_sum", "", "solver") in first
    for key, unit in first.items():
        assert unit.texts == again[key].texts  # same items, same answers, token for token
        assert paired_delta(unit.values, again[key].values) == {"delta": 0.0, "delta_low": 0.0, "delta_high": 0.0,
                                                                "p_value": 1.0}
    if not greedy:  # sampling really happened: the six answers are not one repeated text
        assert len(set(first[("task", "chain_sum", "", "solver")].texts)) > 1


def test_another_model_answers_differently(tiny):
    from sparring.model import tiny_model

    model, tokenizer = tiny
    other, _ = tiny_model(seed=1)
    settings = TransferSettings(tasks=("chain_sum",), items=4, task_tokens=6)
    mine = measure(LMPlayer(model, tokenizer), settings)[("task", "chain_sum", "", "solver")]
    theirs = measure(LMPlayer(other, tokenizer), settings)[("task", "chain_sum", "", "solver")]
    assert mine.texts != theirs.texts


def test_suite_end_to_end_on_the_tiny_model_writes_eval_jsonl(tmp_path):
    cfg = load_config(CONFIG, ["games.names=[tic_tac_toe]"])
    report = transfer("tiny", cfg, tasks=["chain_sum", "letter_counting"], items=4, games=["kuhn_poker"], matches=4,
                      task_tokens=6, run_dir=tmp_path, step=3)
    kinds = {(r["kind"], r["name"], r["seat"]) for r in report.rows}
    assert kinds == {("task", "chain_sum", "solver"), ("task", "letter_counting", "solver"),
                     ("game", "kuhn_poker", "player_0"), ("game", "kuhn_poker", "player_1"),
                     ("game", "kuhn_poker", "all")}
    for row in report.rows:
        assert row["reference"] == "lm:tiny" and row["delta"] == 0.0  # the run's initial model is itself
        assert 0 <= row["rate_low"] <= row["rate"] <= row["rate_high"] <= 1
    all_seats = next(r for r in report.rows if r["seat"] == "all")
    assert all_seats["n"] == 4 and all_seats["opponent"] == "random"
    saved = [json.loads(line) for line in (tmp_path / "eval.jsonl").open()]
    assert len(saved) == len(report.rows) and all(r["step"] == 3 and r["suite"] == "transfer" for r in saved)


def test_cli_transfer_prints_the_table(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sparring", "eval", "tiny", "--suite", "transfer", "--tasks",
                             "chain_sum", "--items", "2", "--games", "tic_tac_toe", "--matches", "2",
                             "--task-tokens", "4", "--reference", "lm:tiny"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "chain_sum" in result.stdout and "tic_tac_toe vs random" in result.stdout and "delta" in result.stdout


def test_bad_suite_settings_are_one_line_errors():
    with pytest.raises(SparringError, match="at least one item"):
        TransferSettings(tasks=("chain_sum",), items=0)
    with pytest.raises(SparringError, match="positive temperature"):
        TransferSettings(greedy=False, temperature=0.0)
    with pytest.raises(SparringError, match="one seat"):
        from sparring.evaluation.evaluate import evaluate

        evaluate("random", ["reasoning:chain_sum"], opponents=["random"], matches=2)


def test_one_seat_reasoning_game_trains_for_two_steps(tmp_path):
    from sparring.training.metrics import read_metrics
    from sparring.training.trainer import train

    cfg = load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", "games.names=[reasoning:chain_sum]",
                               "trainer.steps=2", "trainer.final_eval_matches=2", "trainer.eval_every=1"])
    run = train(cfg)
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["matches"] >= 8 and "mean_return/reasoning:chain_sum/solver" in m for m in metrics)
    assert "baseline/reasoning:chain_sum/solver" in metrics[0] and metrics[0]["samples"] > 0
    assert metrics[0]["skipped"] == 0  # a learner update happened
    assert not (run / "eval.jsonl").exists()  # no arena games: the game evaluations are skipped, not crashed
    record = json.loads((run / "transcripts" / "step_000001.jsonl").open().readline())
    assert record["seats"] == ["policy"] and record["reference_answer"] is not None


def test_phases_alternate_between_self_play_and_verifiable_reward(tmp_path):
    from sparring.training.metrics import read_metrics
    from sparring.training.trainer import train

    cfg = load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", "games.names=[tic_tac_toe, reasoning:chain_sum]",
                               "curriculum.phases=[[tic_tac_toe], [reasoning:chain_sum]]", "curriculum.phase_steps=1",
                               "trainer.steps=3"])
    played = [{k.split("/")[1] for k in m if k.startswith("mean_return/")} for m in read_metrics(train(cfg))]
    assert played == [{"tic_tac_toe"}, {"reasoning:chain_sum"}, {"tic_tac_toe"}]


def test_phases_must_name_the_runs_games():
    with pytest.raises(ConfigError, match=r"curriculum.phases\[1\]"):
        load_config(CONFIG, ["curriculum.phases=[[tic_tac_toe], [kuhn_poker]]"])
    with pytest.raises(ConfigError, match="phase_steps"):
        load_config(CONFIG, ["curriculum.phases=[[tic_tac_toe]]", "curriculum.phase_steps=0"])


def test_compare_refuses_configs_with_different_budgets(tmp_path):
    from sparring.training.compare import load_configs

    other = tmp_path / "other.yaml"
    other.write_text(CONFIG.read_text().replace("steps: 3", "steps: 4"))
    with pytest.raises(SparringError, match=r"differ in trainer.steps \(4 vs 3\)"):
        load_configs([CONFIG, other], [], tmp_path)
    configs = load_configs([CONFIG, other], ["trainer.steps=2"], tmp_path)
    assert [c.trainer.run_dir for c in configs.values()] == [str(tmp_path / "tiny_test"), str(tmp_path / "other")]


def test_compare_rows_pair_each_config_with_the_first_on_the_same_items():
    from sparring.training.compare import compare_rows

    suite = dict(tasks=["chain_sum"], items=3, games=["kuhn_poker"], matches=2, task_tokens=4, reference="lm:tiny")
    reports = {"a": transfer("tiny", **suite), "b": transfer("tiny:1", **suite)}
    rows = compare_rows(reports)
    assert [(r["config"], r["unit"], r["seat"]) for r in rows][:2] == [("a", "chain_sum", "solver"),
                                                                        ("b", "chain_sum", "solver")]
    for row in rows:
        assert ("vs_first_delta" in row) == (row["config"] == "b")
        if row["config"] == "b":
            assert row["vs_first_delta"] == pytest.approx(row["mean"] - next(
                r["mean"] for r in rows if r["config"] == "a" and (r["unit"], r["seat"]) == (row["unit"], row["seat"])))


def test_plot_run_draws_the_transfer_suite_across_checkpoints(tmp_path):
    from sparring.evaluation.plots import plot_run

    for step in (2, 4):
        transfer("tiny", tasks=["chain_sum"], items=2, games=["kuhn_poker"], matches=2, task_tokens=4,
                 reference="lm:tiny", run_dir=tmp_path, step=step)
    written = plot_run(tmp_path)
    assert tmp_path / "plots" / "transfer.png" in written and (tmp_path / "plots" / "transfer.png").stat().st_size > 0


def test_a_held_out_game_that_deals_roles_per_match_gets_a_unit_per_dealt_role(tiny):
    model, tokenizer = tiny
    settings = TransferSettings(tasks=(), games=("spy",), matches=4, game_tokens=4)
    units = measure(LMPlayer(model, tokenizer), settings)
    seats = [seat for (_, _, _, seat) in units]
    assert seats[-1] == "all" and seats[:-1] and set(seats[:-1]) <= {"civilian", "spy"}  # roles dealt, not seats
    assert sum(len(units[key].values) for key in units if key[3] != "all") == len(units[("game", "spy", "random", "all")].values) == 4


def test_a_hit_in_a_team_game_is_a_win_of_the_players_team(tiny, monkeypatch):
    """The evaluated seat is played by a random player here so that the cooperative team scores; a
    hit is then a positive shared score, which no seat alone ever has (every seat gets it)."""
    import sparring.evaluation.transfer as transfer_module
    from sparring.evaluation.evaluate import evaluate

    monkeypatch.setattr(transfer_module, "evaluate", lambda player, *args, **kwargs: evaluate("random", *args, **kwargs))
    settings = TransferSettings(tasks=(), games=("tiny_hanabi",), matches=8)
    unit = measure(LMPlayer(*tiny), settings)[("game", "tiny_hanabi", "random", "all")]
    assert unit.hits == [value > 0 for value in unit.values] and any(unit.hits)
