"""The command line as a user meets it."""

import json

from sparring.cli import main


def test_unknown_game_is_one_line_and_exit_2(capsys):
    assert main(["arena", "kuhn", "random", "random", "--matches", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "kuhn_poker" in err


def test_unknown_player_is_one_line_and_exit_2(capsys):
    assert main(["arena", "kuhn_poker", "cfrr", "random"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cfr" in err


def test_arena_writes_transcripts(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert main(["arena", "tic_tac_toe", "minimax", "random", "--matches", "6", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6
    assert {tuple(r["seats"]) for r in records} == {("minimax", "random"), ("random", "minimax")}
    first = records[0]
    assert first["game"] == "tic_tac_toe" and sum(first["returns"]) == 0
    assert all({"prompt", "text", "move"} <= set(turn) for turn in first["turns"])
    assert "Wilson" in capsys.readouterr().out


def test_games_lists_first_class_games(capsys):
    assert main(["games"]) == 0
    out = capsys.readouterr().out
    for name in ("tic_tac_toe", "kuhn_poker", "leduc_poker", "connect_four", "liars_dice"):
        assert name in out


def test_a_checkpoints_average_policy_resolves_to_its_run_and_step(tmp_path):
    from sparring.cli.eval import resolve_target
    from sparring.config import load_config, save_config

    run = tmp_path / "run"
    checkpoint = run / "checkpoints" / "step_000010"
    for folder in ("model", "average"):
        (checkpoint / folder).mkdir(parents=True)
    save_config(load_config(None, ["trainer.seed=7"]), run / "config.yaml")
    target = resolve_target(str(checkpoint / "average"))
    assert target.spec == f"lm:{checkpoint / 'average'}"
    assert (target.run_dir, target.step, target.config.trainer.seed) == (run, 10, 7)
    assert resolve_target(str(checkpoint)).spec == f"lm:{checkpoint / 'model'}"


def test_libraries_are_quiet_unless_verbose(monkeypatch, capsys):
    import os

    from sparring.progress import verbose

    for name in ("SPARRING_VERBOSE", "TORCH_CPP_LOG_LEVEL", "VLLM_LOGGING_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["games"]) == 0
    assert not verbose() and os.environ["TORCH_CPP_LOG_LEVEL"] == "ERROR"
    monkeypatch.delenv("TORCH_CPP_LOG_LEVEL")
    assert main(["games", "--verbose"]) == 0
    assert verbose() and os.environ["VLLM_LOGGING_LEVEL"] == "INFO" and "TORCH_CPP_LOG_LEVEL" not in os.environ
