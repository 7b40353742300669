"""Task games (the Absolute Zero family): one model proposes a task, then solves it; a code
executor judges. sparring writes these rules; the returns come from the judge.

A match of ``propose_solve`` has two seats, ``proposer`` then ``solver``, and one task type drawn
from the match's seed:

* deduction: the solver sees a program and a call, and answers what the call returns;
* abduction: the solver sees a program and a result, and answers arguments that produce it;
* induction: the solver sees some calls with their results and the proposer's message, and answers
  a program; it is graded on every call, the hidden ones included.

The proposer sees `TaskSettings.references` tasks from the game's buffer (seeded with the identity
program) and writes a new one in the answer box: the program, then one ``>>> f(ARGS)`` line per
call (one for deduction and abduction, at least `induction_calls` for induction), then for
induction a ``# message`` line. The judge (`sparring.judges.code_judge`) runs it twice in the
sandbox: the proposal is valid if it passes the static check, runs within the limits, returns plain
values and is deterministic. A valid task enters the buffer (newest first, capped) and the solver
then answers `attempts` times, each attempt its own turn, each graded 1 or 0 by the judge.

Returns: each solver attempt scores 1 / 0; the proposer scores the learnability ``1 - acc`` when
``0 < acc < 1`` and 0 otherwise, ``acc`` being the solver's success rate over the attempts. An
answer with nothing in the answer box is a format error (``format_penalty``, AZR -1); a well-formed
proposal the judge refuses scores ``invalid_penalty`` (AZR -0.5) and ends the match. Every turn's
verdict and its reason is in the match record: bad input is recorded and penalised, never raised.

Programs never run in this process: the game parses text and compares literals
(`sparring.judges.literals`); everything that executes goes through the judge.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from sparring.games.base import TRAINING_RULES, BufferedGame, LanguageGame, Match, MatchRules, Turn
from sparring.judges.code_judge import default_code_judge
from sparring.judges.literals import FUNCTION, literal_args, literal_value, same_value

TASK_TYPES = ("deduction", "abduction", "induction")
ROLES = ("proposer", "solver")
ALLOWED_IMPORTS = "math, itertools, functools, collections, heapq, bisect, string, re, operator"
_CALL = re.compile(rf"^>>>\s*{FUNCTION}\((?P<args>.*)\)\s*$")
MAX_SHOWN_OUTPUT = 300  # a result longer than this (as text) makes a task invalid: prompts stay short


@dataclass(frozen=True)
class Task:
    """A program, the argument texts of some calls of its ``f``, their results (reprs), a message."""

    program: str
    calls: tuple[str, ...]
    outputs: tuple[str, ...]
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"program": self.program, "calls": list(self.calls), "outputs": list(self.outputs),
                "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(data["program"], tuple(data["calls"]), tuple(data["outputs"]), data.get("message", ""))

    def proposal_text(self, task_type: str) -> str:
        """The task written the way a proposer writes one."""
        calls = self.calls if task_type == "induction" else self.calls[:1]
        lines = [self.program.rstrip(), *(f">>> {FUNCTION}({args})" for args in calls)]
        if task_type == "induction" and self.message:
            lines.append(f"# {self.message}")
        return "\n".join(lines)


IDENTITY = Task("def f(x):\n    return x", ("'Hello World'", "3", "[1, 2]"), ("'Hello World'", "3", "[1, 2]"),
                "f returns its argument unchanged")


@dataclass(frozen=True)
class TaskSettings:
    """The rules of a task game (the `tasks` section of a run config has the same fields)."""

    task_types: tuple[str, ...] = TASK_TYPES
    references: int = 3  # buffer tasks shown to the proposer
    attempts: int = 4  # solver attempts per valid task (acc is measured over them)
    induction_calls: int = 4  # calls an induction proposal must give (half shown, half hidden)
    format_penalty: float = -1.0
    invalid_penalty: float = -0.5
    buffer_size: int = 1024
    workers: int = 2  # sandbox processes at once
    cpu_seconds: int = 2
    wall_seconds: float = 5.0
    memory_mb: int = 256

    @classmethod
    def from_options(cls, options: Any) -> TaskSettings:
        """Settings from any object with some of these fields as attributes (e.g. a TasksConfig)."""
        if options is None:
            return cls()
        values = {f.name: getattr(options, f.name) for f in dataclasses.fields(cls) if hasattr(options, f.name)}
        if "task_types" in values:
            values["task_types"] = tuple(values["task_types"])
        settings = cls(**values)
        unknown = set(settings.task_types) - set(TASK_TYPES)
        if unknown or not settings.task_types:
            raise ValueError(f"task types must be among {TASK_TYPES}, got {list(settings.task_types)}")
        if settings.attempts < 1 or settings.induction_calls < 2:
            raise ValueError("tasks need attempts >= 1 and induction_calls >= 2")
        return settings


class CallResult(Protocol):
    outputs: tuple[str, ...] | None
    reason: str


class TaskJudge(Protocol):
    """What a task game needs from a judge (`sparring.judges.code_judge.CodeJudge` is one)."""

    def run_calls(self, jobs: list[tuple[str, list[str]]], repeat: int = 1) -> Sequence[CallResult]: ...


class TaskBuffer:
    """Valid tasks, newest first, at most `capacity`; seeded with the identity program."""

    def __init__(self, capacity: int = 1024, seed: Sequence[Task] = (IDENTITY,)):
        self.capacity = capacity
        self.seed_tasks = tuple(seed)
        self.tasks: list[Task] = list(self.seed_tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def add(self, task: Task) -> bool:
        """Put a task first (a task already there moves first); False when it was already there."""
        known = task in self.tasks
        if known:
            self.tasks.remove(task)
        self.tasks.insert(0, task)
        del self.tasks[self.capacity:]
        return not known

    def sample(self, rng, k: int) -> list[Task]:
        """Up to k distinct tasks drawn uniformly with `rng` (a numpy Generator)."""
        k = min(k, len(self.tasks))
        return [self.tasks[int(i)] for i in rng.choice(len(self.tasks), size=k, replace=False)]

    def state_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "tasks": [t.to_dict() for t in self.tasks]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.capacity = int(state["capacity"])
        self.tasks = [Task.from_dict(t) for t in state["tasks"]]


def _closing_positions(text: str, open_char: str, close_char: str) -> dict[int, int]:
    """Each opening character's position -> the position of the character that closes it (unclosed ones
    are absent; a closer with nothing open is ignored). One pass over the text's brackets."""
    closes: dict[int, int] = {}
    open_at: list[int] = []
    for found in re.finditer(f"[{re.escape(open_char + close_char)}]", text):
        if found.group() == open_char:
            open_at.append(found.start())
        elif open_at:
            closes[open_at.pop()] = found.start()
    return closes


def extract_box(text: str, answer_format: str) -> str | None:
    """The content of the last complete answer (``\\boxed{...}`` or ``[...]``), nested braces or
    brackets allowed; None when there is none. Linear in the text's length, however many answers
    it opens and never closes."""
    opener, open_char, close_char = ("\\boxed{", "{", "}") if answer_format == "boxed" else ("[", "[", "]")
    closes = _closing_positions(text, open_char, close_char)
    complete = [(found.end(), closes[found.end() - 1]) for found in re.finditer(re.escape(opener), text)
                if found.end() - 1 in closes]
    if not complete:
        return None
    # bracket answers: the first complete one (code holds brackets of its own)
    start, end = complete[-1] if answer_format == "boxed" else complete[0]
    return text[start:end]


@dataclass
class Proposal:
    """A proposer's answer split into its parts, or the reason it is malformed."""

    program: str = ""
    calls: list[str] = field(default_factory=list)
    message: str = ""
    error: str = ""  # "": well-formed


def split_proposal(content: str) -> Proposal:
    """Program lines, then ``>>> f(ARGS)`` lines, then ``# message`` lines."""
    lines = content.strip("\n").split("\n")
    first_call = next((i for i, line in enumerate(lines) if line.lstrip().startswith(">>>")), None)
    if first_call is None:
        return Proposal(error="no '>>> f(...)' line after the program")
    program = "\n".join(lines[:first_call]).rstrip()
    calls, message = [], []
    for line in lines[first_call:]:
        stripped = line.strip()
        if not stripped:
            continue
        found = _CALL.match(stripped)
        if found:
            calls.append(found["args"].strip())
        elif stripped.startswith("#"):
            message.append(stripped.lstrip("#").strip())
        else:
            return Proposal(error=f"a line after the calls is neither a call nor a # message: {stripped[:60]}")
    if not program.strip():
        return Proposal(error="no program before the calls")
    return Proposal(program, calls, " ".join(message))


class TaskMatch(Match):
    """One proposal and its solver attempts (or, for evaluation, attempts at a given task)."""

    game: TaskGame

    def __init__(self, game: TaskGame, seed: int, rules: MatchRules, given: Task | None = None,
                 task_type: str | None = None, attempts: int | None = None):
        super().__init__(game, seed, rules)
        settings = game.settings
        self.task = task_type or settings.task_types[int(self.rng.integers(len(settings.task_types)))]
        self.attempts = attempts or settings.attempts
        self.references = [] if given else game.buffer.sample(self.rng, settings.references)
        self.proposal: Task | None = given
        self.proposed = given is None  # False: an evaluation match on a given task
        self.phase = "solve" if given else "propose"
        self.verdicts: dict[int, dict[str, Any]] = {}  # turn index -> {"reward", "correct", "reason"}
        self.proposer_return = 0.0
        self.judged_valid: bool | None = None  # the proposal's verdict (None: given, or not yet judged)

    # -- the referee's view ----------------------------------------------------------------
    def _engine_seat(self) -> int | None:
        return {"propose": 0, "solve": 1}.get(self.phase)

    def legal_moves(self) -> list[str]:
        return []  # open-ended answers: parsed by `parse`, judged by the judge

    def _engine_apply(self, move: str) -> None:  # `submit` is overridden; moves never reach here
        raise NotImplementedError

    def _engine_returns(self) -> list[float]:
        solver = [v["reward"] for i, v in self.verdicts.items() if self.turns[i].seat == 1]
        return [self.proposer_return, sum(solver) / len(solver) if solver else 0.0]

    def parse(self, text: str) -> str | None:
        return extract_box(text, self.rules.answer_format)

    def submit(self, text: str, prompt: str | None = None, **extra: Any) -> Turn:
        seat = self.current_seat()
        if seat is None:
            raise RuntimeError("submit() on a match that is over")
        turn = Turn(seat, prompt if prompt is not None else self.prompt(seat), text, self.parse(text), dict(extra))
        self.turns.append(turn)
        self.moves_made += 1
        if seat == 0:
            self._judge_proposal(len(self.turns) - 1)
        elif len(self.attempt_turns()) == self.attempts:
            self._judge_attempts()
        return turn

    def attempt_turns(self) -> list[int]:
        return [i for i, t in enumerate(self.turns) if t.seat == 1]

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """Each solver attempt is its own trajectory with its own 1 / 0 (or penalty)."""
        if seat != 1:
            return super().scored_turns(seat)
        return [([self.turns[i]], self.verdicts[i]["reward"]) for i in self.attempt_turns()]

    # -- judging ---------------------------------------------------------------------------
    def _verdict(self, index: int, reward: float, correct: bool, reason: str) -> None:
        self.verdicts[index] = {"reward": reward, "correct": correct, "reason": reason}

    def _judge_proposal(self, index: int) -> None:
        settings, content = self.game.settings, self.turns[index].move
        parts = split_proposal(content) if content is not None else Proposal(error="no answer in the answer format")
        wanted = (settings.induction_calls, None) if self.task == "induction" else (1, 1)
        if not parts.error and (len(parts.calls) < wanted[0] or (wanted[1] and len(parts.calls) > wanted[1])):
            parts.error = (f"{self.task} needs {'at least ' if wanted[1] is None else ''}{wanted[0]} "
                           f"call{'s' if wanted[0] > 1 else ''}, got {len(parts.calls)}")
        if not parts.error and self.task == "induction" and not parts.message:
            parts.error = "induction needs a '# message' line for the solver"
        if parts.error:
            self.turns[index].move = None  # a format error: an invalid move in the referee's sense
            self._end_proposal(index, settings.format_penalty, parts.error)
            return
        reason = next((f"arguments are not Python literals: {a[:60]}" for a in parts.calls if literal_args(a) is None), "")
        if not reason and len(set(parts.calls)) < len(parts.calls):
            reason = "the same call twice"
        if not reason:
            run = self.game.judge.run_calls([(parts.program, parts.calls)], repeat=2)[0]
            reason = run.reason if run.outputs is None else ""
            if not reason and any(len(out) > MAX_SHOWN_OUTPUT for out in run.outputs):
                reason = f"a result is longer than {MAX_SHOWN_OUTPUT} characters"
        if reason:
            self._end_proposal(index, settings.invalid_penalty, reason)
            return
        self.proposal = Task(parts.program, tuple(parts.calls), tuple(run.outputs), parts.message)
        self.judged_valid = True
        self.game.buffer.add(self.proposal)
        self._verdict(index, 0.0, True, "valid task")
        self.phase = "solve"

    def _end_proposal(self, index: int, penalty: float, reason: str) -> None:
        self.judged_valid = False
        self.proposer_return = penalty
        self._verdict(index, penalty, False, reason)
        self.phase = "over"

    def _judge_attempts(self) -> None:
        task, settings = self.proposal, self.game.settings
        jobs, pending = [], []
        for i in self.attempt_turns():
            answer = self.turns[i].move
            if answer is None:
                self._verdict(i, settings.format_penalty, False, "no answer in the answer format")
            elif self.task == "deduction":
                right = same_value(answer, task.outputs[0])
                reason = "right" if right else ("wrong" if literal_value(answer)[0] else "not a Python literal")
                self._verdict(i, float(right), right, reason)
            elif self.task == "abduction" and literal_args(answer) is None:
                self._verdict(i, 0.0, False, "arguments are not Python literals")
            else:
                program, calls = (task.program, [answer.strip()]) if self.task == "abduction" else (answer, list(task.calls))
                jobs.append((program, calls))
                pending.append(i)
        for i, run in zip(pending, self.game.judge.run_calls(jobs) if jobs else []):
            expected = task.outputs[:1] if self.task == "abduction" else task.outputs
            if run.outputs is None:
                self._verdict(i, 0.0, False, run.reason)
            else:
                right = all(same_value(a, b) for a, b in zip(run.outputs, expected))
                self._verdict(i, float(right), right, "right" if right else "wrong results")
        if self.judged_valid:
            acc = sum(self.verdicts[i]["correct"] for i in self.attempt_turns()) / self.attempts
            self.proposer_return = 1.0 - acc if 0.0 < acc < 1.0 else 0.0
        self.phase = "over"

    def accuracy(self) -> float | None:
        """The solver's success rate over its attempts, once judged."""
        attempts = self.attempt_turns()
        if not attempts or self.phase != "over":
            return None
        return sum(self.verdicts[i]["correct"] for i in attempts) / len(attempts)

    # -- prompts ---------------------------------------------------------------------------
    def prompt(self, seat: int) -> str:
        return "\n".join([*self.header(seat), self.observation_text(seat)])

    def _box(self, example: str) -> str:
        return f"\\boxed{{{example}}}" if self.rules.answer_format == "boxed" else f"[{example}]"

    def observation_text(self, seat: int) -> str:
        return self._proposer_text() if seat == 0 else self._solver_text()

    def _proposer_text(self) -> str:
        lines = [f"Propose a new {self.task} task. Reference tasks:"]
        for k, ref in enumerate(self.references, 1):
            lines += [f"Task {k}:", ref.proposal_text(self.task)]
        what = {
            "deduction": "then one line '>>> f(ARGUMENTS)'. The solver must say what that call returns",
            "abduction": "then one line '>>> f(ARGUMENTS)'. The solver sees the result and must find arguments "
                         "that give it",
            "induction": f"then at least {self.game.settings.induction_calls} lines '>>> f(ARGUMENTS)' and one line "
                         "'# MESSAGE' that hints at what f does. The solver sees half of the calls with their "
                         "results and must write f",
        }[self.task]
        lines.append(
            f"Write a different task in the same form: a Python function f, {what}. Arguments are Python "
            f"literals. f must be deterministic; allowed imports: {ALLOWED_IMPORTS}. A good task is neither "
            "trivial nor impossible."
        )
        # A whole worked answer, not a placeholder: a 135M model copies "\\boxed{...}" literally.
        example = self.references[0].proposal_text(self.task)
        lines.append(f"Answer with the whole task inside the box, in the form of this example:\n{self._box(example)}")
        return "\n".join(lines)

    def _solver_text(self) -> str:
        task = self.proposal
        if self.task == "deduction":
            return (f"Program:\n{task.program}\nWhat does {FUNCTION}({task.calls[0]}) return? "
                    f"Answer with the value as a Python literal, e.g. {self._box('[1, 2]')}.")
        if self.task == "abduction":
            return (f"Program:\n{task.program}\nFind arguments for which {FUNCTION} returns {task.outputs[0]}. "
                    f"Answer with the arguments as Python literals, e.g. {self._box('3')}.")
        shown = (len(task.calls) + 1) // 2
        pairs = "\n".join(f"{FUNCTION}({a}) == {o}" for a, o in zip(task.calls[:shown], task.outputs[:shown]))
        return (f"Some calls of an unknown function {FUNCTION} and their results:\n{pairs}\n"
                f"Hint: {task.message}\nWrite {FUNCTION}; it must also be right on calls you do not see. "
                f"Answer with the code, e.g. {self._box('def f(x):  return x')}.")

    def record(self) -> dict[str, Any]:
        record = super().record()
        record["task"] = self.task
        record["proposal"] = self.proposal.to_dict() if self.proposal else None
        for i, turn in enumerate(record["turns"]):
            turn["judge"] = self.verdicts.get(i)
        return record


class TaskGame(BufferedGame, LanguageGame):
    """``propose_solve``: deduction, abduction and induction tasks over small Python programs."""

    name = "propose_solve"
    description = "Propose a Python task, then solve it (Absolute Zero); a sandboxed executor judges."
    roles = ROLES
    open_moves = True  # a proposal or an answer is free text, judged, not picked from a list
    fixed_players_play = False
    rules_text = (
        "The proposer writes a small deterministic Python function f with calls of it, as a task for the "
        "solver; a code executor checks the task. The solver then answers: what a call returns (deduction), "
        "arguments that give a result (abduction), or the function itself from some calls (induction). "
        "The executor grades each answer 1 or 0. The proposer scores most when the solver succeeds sometimes "
        "but not always."
    )

    def __init__(self, settings: TaskSettings = TaskSettings(), judge: TaskJudge | None = None):
        self.settings = settings
        self.buffer = TaskBuffer(settings.buffer_size)
        self._judge = judge

    @property
    def judge(self) -> TaskJudge:
        """The judge; by default a code judge over a sandbox with the settings' limits, built on first use."""
        if self._judge is None:
            self._judge = default_code_judge(self.settings)
        return self._judge

    def for_run(self, options: Any = None) -> TaskGame:
        """A fresh game for one run: its own buffer and judge, settings from `options` (a run config's
        `tasks` section, or a whole run config)."""
        return TaskGame(TaskSettings.from_options(getattr(options, "tasks", options)))

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> TaskMatch:
        return TaskMatch(self, seed, rules)

    def solve_match(self, task: Task, task_type: str, seed: int, rules: MatchRules = TRAINING_RULES,
                    attempts: int = 1) -> TaskMatch:
        """A match that starts at the solver, on a given task (evaluation on a fixed task set)."""
        return TaskMatch(self, seed, rules, given=task, task_type=task_type, attempts=attempts)

    def step_metrics(self, matches: Sequence[Match]) -> dict[str, float]:
        """Proposal validity, buffer size, solver accuracy per task type, mean learnability."""
        mine = [m for m in matches if isinstance(m, TaskMatch) and m.is_over()]
        proposed = [m for m in mine if m.proposed]
        metrics: dict[str, float] = {f"{self.name}/buffer_size": float(len(self.buffer))}
        if proposed:
            valid = [m for m in proposed if m.judged_valid]
            metrics[f"{self.name}/proposal_valid_rate"] = len(valid) / len(proposed)
            metrics[f"{self.name}/proposal_format_error_rate"] = sum(
                m.turns[0].move is None for m in proposed) / len(proposed)
            if valid:
                metrics[f"{self.name}/learnability_mean"] = sum(m.proposer_return for m in valid) / len(valid)
        correct: dict[str, list[float]] = defaultdict(list)
        for m in mine:
            if m.accuracy() is not None:
                correct[m.task].append(m.accuracy())
        for task_type, accs in sorted(correct.items()):
            metrics[f"{self.name}/solver_accuracy/{task_type}"] = sum(accs) / len(accs)
        return metrics
