"""creator_solver (eva) with its rule judge: hand-computed returns, hostile variants, the buffer, a run."""

from __future__ import annotations

import json
import re

import pytest

from sparring.checkpoint import load_trainer_state
from sparring.config import load_config
from sparring.games import make_game
from sparring.games.creator_solver import (CreatorSolverGame, VariantBuffer, integer_answer, same_problem, simplified,
                                           variant_value)
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.algorithms.policy_gradient import turn_samples
from sparring.training.trainer import train

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
    for expression, score in [("1 + 2", 0.5), ("3 * 4", 1.0), ("5 - 6", 0.5), ("7 * 8", 0.25), ("9 + 10", 1.0)]:
        buffer.add(expression, score)
    assert buffer.entries == [("9 + 10", 1.0), ("3 * 4", 1.0), ("5 - 6", 0.5)]
    buffer.add("3 * 4", 0.25)
    buffer.add("(10 + 9) * 1", 0.5)  # the same problem as "9 + 10": it replaces it
    assert buffer.entries == [("(10 + 9) * 1", 0.5), ("5 - 6", 0.5), ("3 * 4", 0.25)]
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


# --- Adversarial variants: what a creator might write to earn informativeness without a new problem. ---

SEED_0 = "15 - 43 - 75 - 72"  # the seed problem of match 0 (reasoning-gym chain_sum, dataset seed 0)
FORMAT_LOSS = [-1.5, 0.5]  # creator, solver: the match rules' invalid returns


def seed_0_match(game=None):
    match = (game or CreatorSolverGame()).new_match(0)
    assert match.source == "chain_sum" and match.seed_expression == SEED_0
    return match


@pytest.mark.parametrize("variant", [
    "12 + 3 # the answer is 15",     # a comment, whose text the solver would be shown
    "12 + 3 #",
    "0x1F + 2",                      # hex, octal, binary: integers to Python, not decimal arithmetic
    "0o17 * 2",
    "0b101 - 1",
    "1_2 + 3",                       # an underscore inside a number
    "000 + 12",                      # Python reads 000 as 0; no leading zeros
    "007 + 1",
    "9**9**9",                       # must be refused without computing it
    "2 ** 3 + 1",
    "12 + 3\x00",                    # NUL
    "１２ + 3",                       # fullwidth digits
    "12 \u2212 3",                   # the Unicode minus sign
    "12 +\u200b 3",                  # a zero-width space
    "12 + 3 / 1",                    # division is not in the rule
    "+7 * 3",                        # unary plus is not in the rule
    "1e3 + 1", "1.5 * 2", "True + 1", "12 + 3 if 1 else 0", "[12] * 3",
    "12 + 3 or 12 * 3",              # a hedge between two problems
    "(" * 50_000 + "1 + 2" + ")" * 50_000,  # 100k characters
])
def test_anything_but_decimal_integer_arithmetic_is_a_format_loss(variant):
    match = CreatorSolverGame().new_match(3)
    match.submit(box(variant))
    assert match.is_over() and match.returns() == FORMAT_LOSS
    assert variant_value(variant) is None


@pytest.mark.parametrize("copy", [
    SEED_0 + " + 0", "(" + SEED_0 + ") * 1", "1 * (" + SEED_0 + ") - 0", "0 + " + SEED_0,
    "-(-(" + SEED_0 + "))", "((15)) - ((43)) - (75) - 72", "15-43-75-72",
    "-72 - 75 - 43 + 15",            # the same terms in another order
    "15 - (43 + 75 + 72)",           # regrouped
    "15 - 43 - (75 + 72) * 1",       # regrouped, times 1
    "15 + -43 + -75 + -72",          # subtraction written as adding a negative
    SEED_0 + " + 5 - 5",             # a term and its opposite
    SEED_0 + " + 0 * 7",             # a product with a 0 factor
])
def test_a_trivial_identity_of_the_seed_is_a_copy_and_a_format_loss(copy):
    match = seed_0_match()
    match.submit(box(copy))
    assert variant_value(copy) == 15 - 43 - 75 - 72 and same_problem(copy, SEED_0)
    assert match.is_over() and match.returns() == FORMAT_LOSS


@pytest.mark.parametrize("variant, value", [
    ("15 - 43 - 75 - 73", -176), ("15 - 43 - 75 + 72", -31), ("(15 - 43 - 75 - 72) * 2", -350),
    ("15 - 43 * 75 - 72", -3282), ("15 - (43 - 75) - 72", -25),
])
def test_a_variant_that_changes_the_problem_is_played(variant, value):
    match = play(seed_0_match(CreatorSolverGame(attempts=2)), variant, [box(str(value)), box(str(value + 1))])
    assert match.returns() == [1.0, 0.5] and match.verdict.labels["value"] == value


def test_a_trivial_identity_of_a_buffered_variant_replaces_it_in_the_buffer():
    game = CreatorSolverGame(attempts=2)
    for variant in ("3 * (4 + 5)", "(5 + 4) * 3 * 1", "0 + 3 * (4 + 5)"):
        play(game.new_match(1), variant, [box("27"), box("26")])
    assert game.buffer.entries == [("0 + 3 * (4 + 5)", 1.0)]


def test_what_simplified_undoes_and_what_it_keeps():
    assert simplified("(2 + 3) * 1") == simplified("3 + 2") == simplified("--(3 + 2) - 0") == ("+", (2, 3))
    assert simplified("-2 * 3") == simplified("2 * -3") == simplified("-(3 * 2)") == ("-", ("*", (2, 3)))
    assert simplified("-5 * -9 * 7") == simplified("5 * 9 * 7") != simplified("-5 * 9 * 7")
    # distributing or computing is not undone: three problems of value 14
    assert len({simplified("2 * (3 + 4)"), simplified("2 * 3 + 2 * 4"), simplified("14")}) == 3


def test_nested_parentheses_are_redundant_and_cost_nothing():
    nested = "(" * 55 + "1 + 2" + ")" * 55
    assert len(nested) <= 120 and variant_value(nested) == 3 and same_problem(nested, "2 + 1")


@pytest.mark.parametrize("answers, solver_rewards", [
    ([box("-84"), box(" -84. ")], [1.0, 1.0]),
    ([box("84"), box("-84")], [0.0, 1.0]),                           # the sign counts
    ([box("-84") + box("-85"), box("-84")], [0.0, 1.0]),             # two answers are none
    ([box("-84 or -85"), box("about -84")], [0.0, 0.0]),             # hedges
    ([box("-84") + " or maybe " + box("-84"), box("-084")], [1.0, 1.0]),  # one answer, twice; a leading 0
    ([box("\u221284"), box("-84\x00")], [0.0, 0.0]),                 # Unicode minus; NUL
    ([box("-8\u200b4"), box("-84.0")], [0.0, 0.0]),                  # zero-width space; a decimal point
    (["-84", box("9" * 100_000)], [0.0, 0.0]),                       # no box; 100k digits
    (["\\boxed{" * 20_000 + "-84}", box("-84")], [1.0, 1.0]),        # 140k characters of openers, then -84
])
def test_solver_answers_are_graded_exactly(answers, solver_rewards):
    match = play(CreatorSolverGame(attempts=2).new_match(2), "(15 - 43) * 3", answers)
    assert match.verdict.labels["value"] == -84
    assert [r for _, r in match.scored_turns(1)] == solver_rewards
    assert match.returns() == [max(solver_rewards) - min(solver_rewards), sum(solver_rewards) / 2]
