"""Task games on the real sandboxed judge: proposals, solver attempts, rewards, the buffer."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.games import make_game
from sparring.games.task_games import (IDENTITY, Task, TaskBuffer, TaskGame, TaskSettings, extract_box,
                                       split_proposal)
from sparring.evaluation.task_eval import evaluate_tasks, heldout_tasks
from sparring.judges.code_judge import CodeJudge
from sparring.players.base import Action, Player
from sparring.judges.sandbox import Limits, Sandbox


@pytest.fixture(scope="module")
def judge():
    sandbox = Sandbox(Limits(cpu_seconds=1, wall_seconds=2.0), workers=2, uid_base=62100)
    yield CodeJudge(sandbox)
    sandbox.close()


def game_of(judge, task_type, **settings):
    return TaskGame(TaskSettings(task_types=(task_type,), attempts=4, **settings), judge=judge)


def box(text):
    return "\\boxed{" + text + "}"


DOUBLE = "def f(x):\n    return x * 2"


def test_answers_are_read_with_nested_braces():
    assert extract_box("\\boxed{def f(x): return {x: [1]}} then", "boxed") == "def f(x): return {x: [1]}"
    assert extract_box("\\boxed{a} \\boxed{b}", "boxed") == "b"
    assert extract_box("\\boxed{def f(x): return {x", "boxed") is None
    assert extract_box("[def f(x): return [x]] [2]", "bracket") == "def f(x): return [x]"
    parts = split_proposal(DOUBLE + "\n>>> f(3)\n>>> f('a', 2)\n# doubles")
    assert (parts.program, parts.calls, parts.message, parts.error) == (DOUBLE, ["3", "'a', 2"], "doubles", "")
    assert split_proposal(DOUBLE).error and split_proposal(">>> f(1)").error


def by_definition(text, answer_format):
    """extract_box's contract spelled out: from each opener, the shortest span whose brackets balance;
    the last such answer in the boxed format, the first in the bracket format."""
    opener, pair = ("\\boxed{", "{}") if answer_format == "boxed" else ("[", "[]")
    answers = []
    for start in (k for k in range(len(text)) if text.startswith(opener, k)):
        depth = 0
        for end in range(start + len(opener) - 1, len(text)):
            depth += (text[end] == pair[0]) - (text[end] == pair[1])
            if depth == 0:
                answers.append(text[start + len(opener):end])
                break
    return (answers[-1] if answer_format == "boxed" else answers[0]) if answers else None


def test_unbalanced_and_nested_answers_read_as_their_definition_says():
    assert extract_box("} \\boxed{a {b} c} \\boxed{d", "boxed") == "a {b} c"
    assert extract_box("\\boxed{x \\boxed{y} z}", "boxed") == "y"  # the inner answer opens last
    assert extract_box("\\boxed{{}", "boxed") is None
    assert extract_box("] [[a] [b]", "bracket") == "a"
    rng = np.random.default_rng(0)
    pieces = ["\\boxed{", "{", "}", "[", "]", "a", " "]
    for _ in range(400):
        text = "".join(rng.choice(pieces, size=int(rng.integers(0, 14))))
        for answer_format in ("boxed", "bracket"):
            assert extract_box(text, answer_format) == by_definition(text, answer_format), (text, answer_format)


def test_a_hostile_text_of_unclosed_answers_is_read_whole():
    # 100 KB of openers that never close (the old scan took seconds on 20 KB; benchmarks/answer_parsing.py)
    hostile = "\\boxed{" * 14_000
    assert extract_box(hostile, "boxed") is None
    assert extract_box(hostile + "42}", "boxed") == "42"
    assert extract_box("[" * 100_000 + "]", "bracket") == ""
    assert extract_box("\\boxed{" + "{" * 50_000 + "}" * 50_000 + "}", "boxed") == "{" * 50_000 + "}" * 50_000


def test_deduction_rewards_each_attempt_and_the_proposer_by_learnability(judge):
    game = game_of(judge, "deduction")
    match = game.new_match(seed=0)
    assert "Task 1:" in match.prompt(0) and ">>> f('Hello World')" in match.prompt(0)
    match.submit(box(DOUBLE + "\n>>> f(21)"))
    assert match.current_seat() == 1 and "What does f(21) return?" in match.prompt(1)
    for answer in (box("42"), box("41"), box(" 42 "), "I think it is 42"):
        match.submit(answer)
    assert match.is_over()
    assert [r for _, r in match.scored_turns(1)] == [1.0, 0.0, 1.0, -1.0]
    assert match.accuracy() == 0.5
    assert match.returns() == [0.5, pytest.approx(0.25)]  # learnability 1 - 0.5; the solver's mean
    assert match.scored_turns(0)[0][1] == 0.5
    assert game.buffer.tasks[0] == Task(DOUBLE, ("21",), ("42",), "")
    record = match.record()
    assert record["task"] == "deduction" and record["turns"][-1]["judge"]["reason"] == "no answer in the answer format"


@pytest.mark.parametrize("answers, proposer", [(["42"] * 4, 0.0), (["0"] * 4, 0.0)], ids=["all-right", "all-wrong"])
def test_a_task_always_or_never_solved_teaches_the_proposer_nothing(judge, answers, proposer):
    match = game_of(judge, "deduction").new_match(seed=0)
    match.submit(box(DOUBLE + "\n>>> f(21)"))
    for answer in answers:
        match.submit(box(answer))
    assert match.returns()[0] == proposer


def test_abduction_runs_the_solvers_arguments_in_the_sandbox(judge):
    match = game_of(judge, "abduction").new_match(seed=1)
    match.submit(box("def f(a, b):\n    return a * b\n>>> f(3, 4)"))
    assert "returns 12" in match.prompt(1)
    for answer in (box("6, 2"), box("12, 1"), box("5"), box("__import__('os')")):
        match.submit(answer)
    reasons = [match.verdicts[i]["reason"] for i in match.attempt_turns()]
    assert [r for _, r in match.scored_turns(1)] == [1.0, 1.0, 0.0, 0.0]
    assert "TypeError" in reasons[2] and reasons[3] == "arguments are not Python literals"
    assert match.returns()[0] == 0.5


def test_an_abduction_answer_cannot_smuggle_code_after_its_arguments(judge):
    match = game_of(judge, "abduction").new_match(seed=1)
    match.submit(box("def f(a, b):\n    return a * b\n>>> f(3, 4)"))
    # f(6, 2) is right; what follows would turn the graded expression into something else.
    for answer in ("6, 2).__add__((0", "6, 2) or (1", "1, 1).real.__add__((11", "6, 2"):
        match.submit(box(answer))
    assert [r for _, r in match.scored_turns(1)] == [0.0, 0.0, 0.0, 1.0]


def test_induction_grades_the_solvers_program_on_hidden_calls(judge):
    match = game_of(judge, "induction").new_match(seed=2)
    match.submit(box("def f(x):\n    return x * x\n>>> f(2)\n>>> f(3)\n>>> f(4)\n>>> f(5)\n# squares"))
    prompt = match.prompt(1)
    assert "f(2) == 4" in prompt and "f(3) == 9" in prompt and "f(5)" not in prompt and "squares" in prompt
    memorised = "def f(x):\n    return {2: 4, 3: 9}[x]"
    for answer in (box("def f(x):\n    return x ** 2"), box(memorised), box("import os\ndef f(x):\n    return x"),
                   box("def f(x):\n    while True:\n        pass")):
        match.submit(answer)
    verdicts = [match.verdicts[i] for i in match.attempt_turns()]
    assert [v["reward"] for v in verdicts] == [1.0, 0.0, 0.0, 0.0]
    assert "KeyError" in verdicts[1]["reason"] and "os" in verdicts[2]["reason"] and "timeout" in verdicts[3]["reason"]
    assert match.returns()[0] == 0.75


@pytest.mark.parametrize("proposal, penalty, reason", [
    ("I do not know", -1.0, "no answer"),
    (box("just some words"), -1.0, "no '>>> f(...)' line"),
    (box(DOUBLE + "\n>>> f(1)\n>>> f(2)"), -1.0, "needs 1 call"),
    (box("import os\ndef f(x):\n    return os.getcwd()\n>>> f(1)"), -0.5, "not allowed: os"),
    (box("def f(x):\n    while True:\n        pass\n>>> f(1)"), -0.5, "timeout"),
    (box("def f(x):\n    return 1 // x\n>>> f(0)"), -0.5, "ZeroDivisionError"),
    (box("def f(s):\n    return list(set(s))\n>>> f('abcdefghijklmnopqrstuvwxyz')"), -0.5, "not deterministic"),
    (box("def f(x):\n    return x\n>>> f(open('x'))"), -0.5, "not Python literals"),
    (box("def f(x):\n    return 'x' * 10**6\n>>> f(1)"), -0.5, "output_limit"),
    (box(DOUBLE + "\n>>> f(__import__('os').getpid()).__add__(0)"), -0.5, "not Python literals"),
    # The old results marker printed by the program itself, then an exit before f is ever called.
    (box("print('=== sparring results ===')\nprint([1])\nraise SystemExit\ndef f(x):\n    return x\n>>> f(1)"),
     -0.5, "ended before f returned"),
    (box("print('=== sparring results ===')\nprint([['x']])\nraise SystemExit\ndef f(x):\n    return x\n>>> f(1)"),
     -0.5, "ended before f returned"),
], ids=["not-boxed", "not-code", "two-calls", "banned-import", "hangs", "crashes", "nondeterministic",
        "code-as-argument", "huge-result", "code-after-the-call", "forged-marker-int", "forged-marker-list"])
def test_a_bad_proposal_is_penalised_and_recorded_never_raised(judge, proposal, penalty, reason):
    game = game_of(judge, "deduction")
    match = game.new_match(seed=3)
    match.submit(proposal)
    assert match.is_over() and match.returns() == [penalty, 0.0]
    assert reason in match.record()["turns"][0]["judge"]["reason"]
    assert match.scored_turns(1) == [] and len(game.buffer) == 1  # only the identity program


def test_the_buffer_is_newest_first_capped_and_restorable():
    buffer = TaskBuffer(capacity=3)
    tasks = [Task(f"def f(x):\n    return x + {k}", ("1",), (str(1 + k),)) for k in range(4)]
    for task in tasks:
        buffer.add(task)
    assert buffer.tasks == [tasks[3], tasks[2], tasks[1]]
    assert not buffer.add(tasks[1]) and buffer.tasks[0] == tasks[1]
    restored = TaskBuffer(capacity=99)
    restored.load_state_dict(buffer.state_dict())
    assert restored.tasks == buffer.tasks and restored.capacity == 3
    drawn = buffer.sample(np.random.default_rng(0), 5)
    assert len(drawn) == 3 and len(set(drawn)) == 3


def test_each_run_gets_a_fresh_game_and_the_metrics_count_this_steps_matches(judge):
    first, second = make_game("propose_solve"), make_game("propose_solve")
    assert first is not second and first.buffer.tasks == [IDENTITY]
    game = game_of(judge, "deduction")
    good, bad = game.new_match(seed=0), game.new_match(seed=1)
    good.submit(box(DOUBLE + "\n>>> f(2)"))
    for answer in ("4", "4", "5", "5"):
        good.submit(box(answer))
    bad.submit("no box")
    metrics = game.step_metrics([good, bad])
    assert metrics == {"propose_solve/buffer_size": 2.0, "propose_solve/proposal_valid_rate": 0.5,
                       "propose_solve/proposal_format_error_rate": 0.5, "propose_solve/learnability_mean": 0.5,
                       "propose_solve/solver_accuracy/deduction": 0.5}


def test_a_given_task_starts_at_the_solver(judge):
    game = game_of(judge, "abduction")
    match = game.solve_match(Task(DOUBLE, ("4",), ("8",)), "abduction", seed=0, attempts=1)
    assert match.current_seat() == 1 and "returns 8" in match.prompt(1)
    match.submit(box("4"))
    assert match.is_over() and match.accuracy() == 1.0 and match.returns()[0] == 0.0


def test_settings_come_from_any_object_and_are_checked():
    class Options:
        task_types = ["induction"]
        attempts = 2

    assert TaskSettings.from_options(Options()) == TaskSettings(task_types=("induction",), attempts=2)
    Options.task_types = ["poetry"]
    with pytest.raises(ValueError, match="poetry"):
        TaskSettings.from_options(Options())


class Oracle(Player):
    """Answers every held-out task right: reads the task off the match it is shown."""

    name = "oracle"

    def act_batch(self, observations):
        answers = []
        for obs in observations:
            match, task = obs.match, obs.match.proposal
            answer = {"deduction": task.outputs[0], "abduction": task.calls[0], "induction": task.program}[match.task]
            answers.append(Action(box(answer)))
        return answers


def test_the_held_out_set_scores_a_perfect_solver_perfectly():
    tasks = heldout_tasks()
    assert {t for t, _ in tasks} == {"deduction", "abduction", "induction"} and len(tasks) == 24
    rows = {r["task_type"]: r for r in evaluate_tasks(Oracle(), concurrency=8)}
    assert set(rows) == {"deduction", "abduction", "induction", "all"}
    assert rows["all"]["tasks"] == 24 and all(r["accuracy"] == 1.0 for r in rows.values())


def test_random_cannot_play_a_task_game_and_says_so():
    from sparring.errors import SparringError
    from sparring.games import make_game
    from sparring.players.fixed import RandomPlayer

    match = make_game("propose_solve").new_match(0)
    with pytest.raises(SparringError, match="random cannot play propose_solve: it lists no legal moves"):
        RandomPlayer().act(match.observe())
