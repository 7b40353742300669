"""creator_solver (eva) with its rule judge: hand-computed returns, hostile variants, the buffer, a run."""

from __future__ import annotations

import json
import re

import pytest

from sparring.checkpoint import load_trainer_state
from sparring.config import load_config
from sparring.games import make_game
from sparring.games.creator_solver import CreatorSolverGame, VariantBuffer, integer_answer, variant_value
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.trainer import train, turn_samples

LM = {"prompt_ids": [1, 2], "completion_ids": [3], "logprobs": [-0.5]}  # what an LM turn carries
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def box(text: str) -> str:
    return "\\boxed{" + text + "}"


def play(match, variant: str, answers: list[str], **extra):
    match.submit(box(variant), **extra)
    for answer in answers:
        match.submit(answer, **extra)
    return match


@pytest.mark.parametrize("kind, creator", [("max_min", 1.0), ("max_mean", 0.5)])
def test_returns_by_hand(kind, creator):
    game = CreatorSolverGame(attempts=4, kind=kind)
    match = play(game.new_match(0), "12 + 3 * 4", [box("24"), box(" 24 "), box("7"), "no answer at all"])
    assert [r for _, r in match.scored_turns(1)] == [1.0, 1.0, 0.0, 0.0]
    assert match.returns() == [creator, 0.5]
    judge = match.record()["judge"]
    assert judge["value"] == 24 and "right 2 of 4" in judge["reason"]
    assert match.record()["turns"][4]["move"] == ""  # no answer: recorded as such, graded wrong
    assert game.buffer.entries == [("12 + 3 * 4", creator)]


def test_each_solver_attempt_is_its_own_trajectory_in_the_trainer():
    match = play(CreatorSolverGame(attempts=3).new_match(5), "7 * (8 - 6)", [box("14"), box("15"), box("14")], **LM)
    spec = MatchSpec(match.game, [None, None], 5, match.rules, {"learning_seats": [0, 1], "group": 0})
    samples, tokens = turn_samples([PlayedMatch(spec, match)])
    by_role = {role: [s.seat_return for s in samples if s.role == role] for role in ("creator", "solver")}
    assert by_role == {"creator": [1.0], "solver": [1.0, 0.0, 1.0]}
    assert len({s.match_id for s in samples}) == 4 and len(tokens) == 4


def test_the_prompts_show_no_answer_to_copy():
    match = CreatorSolverGame().new_match(6)
    creator_prompt = match.observe().prompt
    match.submit(box("(15 + 4) * 3"))
    solver_prompt = match.observe().prompt
    assert match.seed_expression in creator_prompt and "(15 + 4) * 3" in solver_prompt
    assert [variant_value(b) for b in BOXED.findall(creator_prompt)] == [None]
    assert [integer_answer(b) for b in BOXED.findall(solver_prompt)] == [None] and "57" not in solver_prompt


def test_a_variant_everyone_solves_or_nobody_solves_teaches_nothing_and_is_not_kept():
    game = CreatorSolverGame(attempts=3)
    solved = play(game.new_match(1), "(2 + 3) * 4", [box("20")] * 3)
    failed = play(game.new_match(2), "(2 + 3) * 4", [box("21")] * 3)
    assert solved.returns() == [0.0, 1.0] and failed.returns() == [0.0, 0.0]
    assert game.buffer.entries == []


@pytest.mark.parametrize("variant", ["__import__('os')", "2 ** 999999", "1234 + 1", "x" * 10_000, "7",
                                     "999 * 999 * 999", "1 + " * 2500 + "1", "1 + 1 + 1 + 1 + 1 + 1 + 1 + 1", "1 / 2", "(1, 2)"])
def test_hostile_variants_are_format_losses(variant):
    match = CreatorSolverGame().new_match(3)
    match.submit(box(variant))
    assert match.is_over() and match.returns() == [-1.5, 0.5]
    assert "format loss" in match.record()["judge"]["reason"]


def test_two_different_answers_or_the_seed_itself_are_format_losses():
    game = CreatorSolverGame()
    two = game.new_match(4)
    two.submit(box("1 + 2") + box("3 + 4"))
    copy = game.new_match(4)
    copy.submit(box(copy.seed_expression))
    bracketed = game.new_match(4)
    bracketed.submit(box(f"(({bracketed.seed_expression.replace(' ', '')}))"))
    assert two.returns() == copy.returns() == bracketed.returns() == [-1.5, 0.5]
    assert variant_value("(1 + 2) * -3") == -9 and variant_value("1 +") is None


def test_the_buffer_keeps_the_most_informative_newest_first_and_round_trips():
    buffer = VariantBuffer(size=3)
    for expression, score in [("a", 0.5), ("b", 1.0), ("c", 0.5), ("d", 0.25), ("e", 1.0)]:
        buffer.add(expression, score)
    assert buffer.entries == [("e", 1.0), ("b", 1.0), ("c", 0.5)]
    buffer.add("b", 0.25)
    buffer.add("(e)", 0.5)  # the same problem as "e": it replaces it
    assert buffer.entries == [("(e)", 0.5), ("c", 0.5), ("b", 0.25)]
    restored = VariantBuffer(size=1)
    restored.load_state_dict(json.loads(json.dumps(buffer.state_dict())))
    assert restored.entries == buffer.entries and restored.size == 3


def test_a_quarter_of_the_seeds_come_from_a_non_empty_buffer():
    game = CreatorSolverGame()
    assert all(game.new_match(s).source != "buffer" for s in range(50))
    game.buffer.add("5 * 6 - 7", 1.0)
    share = sum(game.new_match(s).source == "buffer" for s in range(400)) / 400
    assert 0.18 < share < 0.32


def test_run_settings_reach_the_game():
    game = make_game("creator_solver", load_config(None, ["judged.attempts=6", "judged.informativeness=max_mean"]))
    assert (game.attempts, game.kind) == (6, "max_mean")
    assert make_game("creator_solver") is not make_game("creator_solver")  # each run its own buffer


def test_a_tiny_run_logs_verdicts_and_checkpoints_the_buffer(tmp_path, monkeypatch):
    for_run = CreatorSolverGame.for_run

    def with_a_kept_variant(self, options=None):  # the run's game starts with one variant in its buffer
        game = for_run(self, options)
        game.buffer.add("5 * 6 - 7", 0.75)
        return game

    monkeypatch.setattr(CreatorSolverGame, "for_run", with_a_kept_variant)
    cfg = load_config("configs/tiny_test.yaml", [f"trainer.run_dir={tmp_path / 'run'}", "games.names=[creator_solver]",
                                                 "trainer.steps=1", "rollout.max_new_tokens=4"])
    run = train(cfg)
    records = [json.loads(line) for line in (run / "transcripts" / "step_000001.jsonl").read_text().splitlines()]
    finished = [r for r in records if r["returns"] is not None]
    assert finished and all(r["judge"]["kind"] in ("rule", "referee") and r["judge"]["returns"] == r["returns"]
                            and r["judge"]["reason"] for r in finished)
    assert all(r["seed_expression"] == "5 * 6 - 7" for r in records if r["source"] == "buffer")
    saved = load_trainer_state(run / "checkpoints" / "step_000001")["games"]["creator_solver"]["buffer"]
    kept = {r["variant"] for r in finished if r["judge"].get("informativeness", 0) > 0}
    assert saved["size"] == 256 and {e for e, _ in saved["entries"]} == kept | {"5 * 6 - 7"}


@pytest.mark.parametrize("kind", ["max_min", "max_mean"])
def test_an_independent_script_recomputes_the_logged_returns(tmp_path, kind, load_script):
    recompute = load_script("recompute_judged_returns")
    game = CreatorSolverGame(attempts=3, kind=kind)
    records = []
    for seed in range(24):
        variant = ["(4 + 5) * 3", "10 - -2", "bad variant", "7 * 8 - 6"][seed % 4]
        match = game.new_match(seed)
        match.submit(box(variant))
        if not match.is_over():
            for k in range(3):
                match.submit(box(["27", "12", "50", "x"][(seed + k) % 4]))
        records.append(json.dumps(match.record()))
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "step_000001.jsonl").write_text("\n".join(records) + "\n")
    (tmp_path / "config.yaml").write_text("games: {answer_format: boxed, invalid_penalty: -1.5, invalid_bonus: 0.5}\n"
                                          f"judged: {{informativeness: {kind}}}\n")
    assert recompute.main(tmp_path) == 0
    assert len({tuple(json.loads(r)["returns"]) for r in records}) >= 3
