"""Sneaky generator vs critic (SPC), as a game: one seat plants an error, the other must find it.

    game = make_game("sneaky_critic")
    match = game.new_match(seed=3)     # an arithmetic item from reasoning-gym, and a coin flip

Items are reasoning-gym arithmetic problems (`TASKS`: ``chain_sum``, ``basic_arithmetic``) whose
gold solution this module writes step by step from the item's expression: one line per operation,
``Step k: a op b = r``, in the order Python evaluates them, then ``Answer: r``.

A match is one of two kinds, drawn from its seed (`SneakyCriticGame.gold_share` of them gold):

* **gold**: the critic (seat 1) sees the untouched gold solution; the sneaky seat does not play.
  So a critic that always cries "wrong" loses half its matches.
* **sneaky**: the sneaky seat (seat 0) sees the problem and the gold solution and plants one wrong
  result, ``\\boxed{STEP: VALUE}`` (``\\boxed{2: 47}``). Its solution is the gold one with that step's
  result replaced and every later step carried on from the wrong value (an error that propagates,
  as a real one does). Then the critic sees that solution.

The critic answers ``\\boxed{N}`` (the first wrong step) or ``\\boxed{correct}``: a closed set, which
`legal_moves` lists, so under ``rollout.moves: legal`` the critic chooses among them by its own
probabilities (it cannot miss the format) while the sneaky seat still writes. Referee (invalid
moves, refereed by the match rules): a sneaky answer that names no step in range, keeps the gold
value (unchanged) or is not an integer is a format loss; a critic answer that is neither a step in
range nor ``correct``, or a text with two different answers, likewise.

Labelled turns (`SneakyCriticGame.labelled_turn`, a warm start's data): the critic's turn of a training
match, gold or carrying a `planted_error`, with the rule's first wrong step as its label.

The judge (`FirstErrorJudge` by default) reads the solution the critic saw,
recomputes every step's arithmetic and finds the first wrong step itself; the critic is right when
it names exactly that step, or says ``correct`` when there is none. Returns, zero-sum: critic +1 /
-1; the sneaky seat the opposite in a sneaky match, 0 in a gold one. An invalid answer gets the match
rules' invalid returns (its seat the penalty, the other seat the bonus), except that the sneaky seat
of a gold match, which never plays, gets 0 then too. The verdict and its reason are in every match
record.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from typing import Any, Sequence

from sparring.errors import SparringError
from sparring.games.answer import ANSWER_FORMATS, format_answer, single_answer
from sparring.games.base import TRAINING_RULES, Match, MatchRules, Observation
from sparring.games.judged import JudgedGame, JudgedMatch, judge_record
from sparring.judges.protocol import MatchJudge, Verdict

TASKS: dict[str, dict[str, Any]] = {
    "chain_sum": {"min_terms": 3, "max_terms": 4, "max_digits": 2},
    "basic_arithmetic": {"min_terms": 3, "max_terms": 4, "max_digits": 2, "operators": ["+", "-", "*"],
                         "allow_parentheses": False, "allow_negation": False},
}
TRAIN_SEED, EVAL_SEED, SIZE = 0, 15_015, 10_000
OPERATORS = {ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul)}
CORRECT = "correct"
_PLANT = re.compile(r"^\s*(?:step\s*)?(\d{1,3})\s*[:,=]\s*(-?\d{1,12})\s*$", re.IGNORECASE)
_STEP = re.compile(r"^\s*(?:step\s*)?(\d{1,3})\s*\.?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    left: int
    op: str
    right: int
    result: int

    def text(self, number: int) -> str:
        return f"Step {number}: {self.left} {self.op} {self.right} = {self.result}"


def solution_steps(expression: str, plant: tuple[int, int] | None = None) -> list[Step]:
    """The steps of `expression` (integers with + - *), in evaluation order. With ``plant = (k,
    value)`` step k (1-based) states `value` and every later step computes from it."""
    steps: list[Step] = []

    def evaluate(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -evaluate(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            left, right = evaluate(node.left), evaluate(node.right)
            symbol, apply = OPERATORS[type(node.op)]
            result = apply(left, right)
            if plant is not None and len(steps) + 1 == plant[0]:
                result = plant[1]
            steps.append(Step(left, symbol, right, result))
            return result
        raise SparringError(f"sneaky_critic: not an integer expression with + - *: {expression!r}")

    evaluate(ast.parse(expression, mode="eval").body)
    return steps


def arithmetic_datasets(tasks: Sequence[str], dataset_seed: int, max_digits: int | None = None) -> dict[str, Any]:
    """One reasoning-gym dataset of `SIZE` items per task in `TASKS` (numbers of at most `max_digits` digits
    when given, else the task's own); a seed of its own per task (two generators on one seed write the same
    expressions)."""
    import reasoning_gym

    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise SparringError(f"arithmetic tasks must be among {list(TASKS)}, got {list(tasks)}")
    if max_digits is not None and not 1 <= max_digits <= 4:
        raise SparringError(f"sneaky_critic max_digits must be between 1 and 4, got {max_digits}")
    digits = {} if max_digits is None else {"max_digits": max_digits}
    return {t: reasoning_gym.create_dataset(t, seed=dataset_seed + k, size=SIZE, **{**TASKS[t], **digits})
            for k, t in enumerate(tasks)}


def planted_error(gold: Sequence[Step], rng: Any) -> tuple[int, int]:
    """A fixed planter's error: a step drawn at random (1-based), its result moved by 1 to 10 either way."""
    step = int(rng.integers(len(gold)))
    delta = int(rng.integers(1, 11)) * (1 if rng.random() < 0.5 else -1)
    return step + 1, gold[step].result + delta


def render(steps: Sequence[Step]) -> str:
    return "\n".join([*(s.text(k) for k, s in enumerate(steps, 1)), f"Answer: {steps[-1].result}"])


_LINE = re.compile(r"^Step (\d+): (-?\d+) ([-+*]) (-?\d+) = (-?\d+)$")
_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def first_wrong_step(solution: str) -> int | None:
    """The number of the first ``Step k: a op b = r`` line whose arithmetic is wrong, or None."""
    for line in solution.splitlines():
        found = _LINE.match(line.strip())
        if found:
            number, left, op, right, result = found.groups()
            if _APPLY[op](int(left), int(right)) != int(result):
                return int(number)
    return None


class FirstErrorJudge:
    """The rule judge of sneaky_critic (zero-sum: critic +1 / -1, the sneaky seat the opposite when
    it played, 0 when the critic saw a gold solution)."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        label = first_wrong_step(match.shown_text())
        said = match.critic_answer
        right = said == ("correct" if label is None else str(label))
        critic = 1.0 if right else -1.0
        sneaky = 0.0 if match.is_gold else -critic
        truth = "every step is right" if label is None else f"step {label} is the first wrong step"
        reason = f"{truth}; the critic said {said}: {'right' if right else 'wrong'}"
        return Verdict((sneaky, critic), reason, {"first_error": label, "critic_said": said, "critic_right": right})


class SneakyCriticGame(JudgedGame):
    name = "sneaky_critic"
    description = "SPC: a sneaky seat plants one wrong step in an arithmetic solution, a critic finds it"
    roles = ("sneaky", "critic")
    labelled_roles = ("critic",)
    rules_text = ("A solution to an arithmetic problem is shown step by step. The sneaky player may change one "
                  "step's result so that the critic misses it; the critic names the first wrong step, or says "
                  "the solution is correct.")

    def __init__(self, tasks: Sequence[str] = tuple(TASKS), gold_share: float = 0.5, dataset_seed: int = TRAIN_SEED,
                 judge: MatchJudge | None = None, max_digits: int = 2):
        if not 0.0 <= gold_share <= 1.0:
            raise SparringError(f"sneaky_critic gold_share must be in [0, 1], got {gold_share}")
        self.tasks, self.gold_share, self.dataset_seed = tuple(tasks), gold_share, dataset_seed
        self.max_digits = max_digits
        self.datasets = arithmetic_datasets(self.tasks, dataset_seed, max_digits)
        self._judge = judge

    def for_run(self, options: Any = None) -> SneakyCriticGame:
        """This game with a run's `judged` settings (its gold share; the judge is the rule)."""
        settings = getattr(options, "judged", None)
        if settings is None:
            return self
        if settings.judge != "rule":
            raise SparringError(f"sneaky_critic is judged by its rule (the critic seat is the model judge); "
                                f"judged.judge {settings.judge!r} does not apply")
        return SneakyCriticGame(self.tasks, settings.gold_share, max_digits=settings.max_digits)

    def default_judge(self) -> MatchJudge:
        return FirstErrorJudge()

    def item(self, seed: int) -> tuple[str, dict[str, Any]]:
        task = self.tasks[seed % len(self.tasks)]
        return task, self.datasets[task][(seed // len(self.tasks)) % SIZE]

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> SneakyCriticMatch:
        if rules.answer_format not in ANSWER_FORMATS:
            raise SparringError(f"unknown answer format {rules.answer_format!r}")
        return SneakyCriticMatch(self, seed, rules)

    def labelled_turn(self, seed: int, rules: MatchRules = TRAINING_RULES) -> tuple[Observation, str]:
        """The critic's turn of match `seed`: its solution gold, or carrying a `planted_error` (drawn from the
        match's own RNG); the label is the rule's answer, the first wrong step or ``correct``."""
        match = self.new_match(seed, rules)
        if not match.is_gold:
            step, value = planted_error(match.gold, match.rng)
            match.submit(format_answer(f"{step}: {value}", rules.answer_format))
        label = first_wrong_step(match.shown_text())
        return match.observe(), CORRECT if label is None else str(label)

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        return critic_metrics([m for m in matches if isinstance(m, SneakyCriticMatch)])


def critic_metrics(matches: Sequence[SneakyCriticMatch]) -> dict[str, float]:
    """How the critic did against the rule judge's labels, ProcessBench style: accuracy on erroneous
    solutions (the exact first wrong step), on correct ones, and F1 their harmonic mean (a critic
    answer that is not a valid answer counts as wrong); how often the sneaky seat wrote a valid plant
    and how often it fooled the critic; how often the critic's verdict agreed with the rule's."""
    reviewed = [m for m in matches if any(t.seat == 1 for t in m.turns)]
    right = {id(m): m.verdict is not None and m.verdict.labels["critic_right"] for m in reviewed}
    erroneous = [m for m in reviewed if not m.is_gold]
    correct = [m for m in reviewed if m.is_gold]
    sneaky_turns = [t for m in matches for t in m.turns if t.seat == 0]
    critic_turns = [t for m in matches for t in m.turns if t.seat == 1]
    out: dict[str, float] = {}
    if sneaky_turns:
        out["sneaky/valid_rate"] = sum(t.valid for t in sneaky_turns) / len(sneaky_turns)
    if critic_turns:
        out["critic/format_rate"] = sum(t.valid for t in critic_turns) / len(critic_turns)
    if erroneous:
        out["critic/acc_erroneous"] = sum(right[id(m)] for m in erroneous) / len(erroneous)
        out["sneaky/win_rate"] = 1.0 - out["critic/acc_erroneous"]
    if correct:
        out["critic/acc_correct"] = sum(right[id(m)] for m in correct) / len(correct)
    if erroneous and correct:
        a, b = out["critic/acc_erroneous"], out["critic/acc_correct"]
        out["critic/f1"] = 0.0 if a + b == 0 else 2 * a * b / (a + b)
    judged = [m for m in reviewed if m.verdict is not None]
    if judged:
        out["critic/agreement_with_rule"] = sum(right[id(m)] for m in judged) / len(judged)
    return out


class SneakyCriticMatch(JudgedMatch):
    game: SneakyCriticGame

    def __init__(self, game: SneakyCriticGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.task, self.entry = game.item(seed)
        self.expression = self.entry["metadata"]["expression"]
        self.gold = solution_steps(self.expression)
        self.is_gold = bool(self.rng.random() < game.gold_share)
        self.shown: list[Step] | None = self.gold if self.is_gold else None
        self.critic_answer: str | None = None

    # -- engine ----------------------------------------------------------------------------
    def _engine_seat(self) -> int | None:
        if self.verdict is not None:
            return None
        return 1 if self.shown is not None else 0

    def legal_moves(self) -> list[str]:
        """The critic's closed set of answers (each step, then ``correct``); the sneaky seat's plant is open."""
        if self._engine_seat() != 1:
            return []
        return [*(str(k) for k in range(1, len(self.shown) + 1)), CORRECT]

    def parse(self, text: str) -> str | None:
        answer = single_answer(text, self.rules.answer_format)
        if answer is None:
            return None
        return self._parse_plant(answer) if self._engine_seat() == 0 else self._parse_verdict(answer)

    def _parse_plant(self, answer: str) -> str | None:
        found = _PLANT.match(answer)
        if not found:
            return None
        step, value = int(found.group(1)), int(found.group(2))
        if not 1 <= step <= len(self.gold) or value == self.gold[step - 1].result:
            return None  # out of range, or unchanged
        return f"{step}: {value}"

    def _parse_verdict(self, answer: str) -> str | None:
        if answer in (CORRECT, "no error", "none"):
            return CORRECT
        found = _STEP.match(answer)
        if found and 1 <= int(found.group(1)) <= len(self.shown):
            return str(int(found.group(1)))
        return None

    def _engine_apply(self, move: str) -> None:
        if self._engine_seat() == 0:
            step, value = (int(x) for x in move.split(":"))
            self.shown = solution_steps(self.expression, plant=(step, value))
        else:
            self.critic_answer = move
            self.verdict = self.game.judge.verdict(self)

    def _invalid_returns(self, seat: int) -> list[float]:
        """The match rules' invalid returns, except that the sneaky seat of a gold match, which has no
        turn, gets 0 whatever the critic writes."""
        returns = super()._invalid_returns(seat)
        return [0.0, returns[1]] if self.is_gold else returns

    # -- text ------------------------------------------------------------------------------
    def shown_text(self) -> str:
        return render(self.shown)

    def observation_text(self, seat: int) -> str:
        problem = f"Problem: {self.entry['question'].strip()}"
        if seat == 0:
            example = format_answer(f"{len(self.gold)}: {self.gold[-1].result + 7}", self.rules.answer_format)
            return "\n".join([problem, "Correct solution:", render(self.gold),
                              f"Change one step's result to a wrong number so that the critic misses it. Answer "
                              f"with the step and the wrong number, e.g. {example}."])
        answers = f"{format_answer('N', self.rules.answer_format)} for step N, or {format_answer(CORRECT, self.rules.answer_format)}"
        return "\n".join([problem, "Solution:", self.shown_text(),
                          f"Check every step. Answer {answers} if every step is right."])

    def record(self) -> dict[str, Any]:
        return {**super().record(), "task": self.task, "expression": self.expression, "kind":
                "gold" if self.is_gold else "sneaky", "gold_solution": render(self.gold),
                "shown_solution": None if self.shown is None else self.shown_text(),
                "judge": judge_record(self, self.verdict)}
