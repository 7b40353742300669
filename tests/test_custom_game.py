"""A game written outside the package (examples/custom_game.py): registered through a config's
games.modules, played by a fixed player, trained for a step on the tiny model."""

import json
from pathlib import Path

import pytest

from sparring.config import load_config
from sparring.errors import SparringError
from sparring.games import LanguageGame, import_game_modules, make_game, register_game
from sparring.training.metrics import read_metrics
from sparring.training.trainer import train

ROOT = Path(__file__).parents[1]
EXAMPLE = str(ROOT / "examples" / "custom_game.py")
CONFIG = ROOT / "configs" / "tiny_test.yaml"


def test_the_example_game_plays_by_its_rules():
    import_game_modules([EXAMPLE])
    match = make_game("guess_number").new_match(seed=3)
    secret = match.secret
    hint = match.observe().prompt
    assert ("even" in hint) == (secret % 2 == 0) and ("above" in hint) == (secret > 2)
    match.submit(f"\\boxed{{{5 - secret}}}")  # 5 - s is never s for s in 1..4: a wrong guess
    assert match.is_over() and match.returns() == [-1.0]
    right = make_game("guess_number").replay(3, [f"\\boxed{{{secret}}}"])
    assert right.returns() == [1.0]


def test_a_step_of_self_play_on_the_example_game(tmp_path):
    cfg = load_config(CONFIG, [f"games.modules=[{EXAMPLE}]", "games.names=[guess_number]", "trainer.steps=1",
                               "trainer.final_eval_matches=0", f"trainer.run_dir={tmp_path / 'run'}"])
    run = train(cfg)
    row = read_metrics(run)[0]
    assert row["samples"] > 0 and "mean_return/guess_number/guesser" in row
    records = [json.loads(line) for line in (run / "transcripts" / "step_000001.jsonl").read_text().splitlines()]
    for record in records:  # each prompt hints at the seed's number; each return is the judge's (or the referee's)
        secret = make_game("guess_number").new_match(record["seed"]).secret
        prompt, move = record["turns"][-1]["prompt"], record["turns"][-1]["move"]
        assert ("is even" in prompt) == (secret % 2 == 0) and ("and above 2" in prompt) == (secret > 2)
        expected = -1.5 if move is None else (1.0 if int(move) == secret else -1.0)
        assert record["returns"] == [expected]
    mean = sum(r["returns"][0] for r in records) / len(records)
    assert row["mean_return/guess_number/guesser"] == pytest.approx(mean)


def test_registering_badly_is_one_line():
    with pytest.raises(SparringError, match="'kuhn_poker' is a built-in game name"):
        register_game("kuhn_poker", LanguageGame)
    register_game("misnamed", lambda: make_game("kuhn_poker"))
    with pytest.raises(SparringError, match="must return a LanguageGame named 'misnamed'"):
        make_game("misnamed")
    with pytest.raises(SparringError, match="games.modules: cannot import no/such_file.py"):
        import_game_modules(["no/such_file.py"])


def test_sparring_games_lists_a_registered_game_only_with_its_module():
    import os
    import subprocess
    import sys

    def listing(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "sparring", "games", *args], capture_output=True, text=True,
                              check=True, env={**os.environ, "COLUMNS": "200"}).stdout

    assert "guess_number" in listing("--modules", EXAMPLE)
    assert "guess_number" not in listing()
