"""Creator vs solver (eva): a creator evolves problems for a solver, rewarded for informative ones.

    game = make_game("creator_solver")
    match = game.new_match(seed=4)     # a seed problem: a buffer variant or a reasoning-gym item

A match starts from a seed problem: with probability `BUFFER_SHARE` (eva's 25%) one of the game's
buffered variants (drawn from the match's seed), else a reasoning-gym arithmetic item (``chain_sum``,
``basic_arithmetic``). The creator (seat 0) sees the seed's expression and writes a variant,
``\\boxed{EXPRESSION}``: decimal integers of at most 3 digits (no leading zeros) with ``+ - *``, parentheses
and spaces, nothing else (no comment, no ``0x``/``0o``/``0b`` literal, no ``_`` in a number, no ``**``), 1 to
`MAX_OPERATIONS` operations, every intermediate result within `MAX_MAGNITUDE`, not the seed itself.
Anything else is a format loss (the match rules' invalid returns). The seed again is one: a variant is a
copy when its simplified form (`simplified`) is the seed's, so ``seed + 0``, ``seed * 1``, ``--seed``,
extra parentheses or the seed's terms or factors in another order are copies too. The expression is parsed
with `ast` and computed by `solution_steps`; nothing is evaluated as code.

The solver (seat 1) then answers "What is EXPRESSION?" `attempts` times, each attempt its own turn
and its own scored trajectory: 1 when its answer is the value, else 0 (a reply without an answer is
simply wrong). The rule judge (`ArithmeticJudge`) computes the value and grades
the attempts; the creator's return is the informativeness of its variant over the solver's rewards,
``max - min`` (eva's default) or ``max - mean`` (`informativeness`). Variants with informativeness
above 0 enter the buffer (most informative first, newest first on ties, `buffer_size` of them,
saved in checkpoints); a variant already there is replaced, so a creator that repeats itself does
not fill it with copies. Settings come from the run config's ``judged`` section.

The prompts show the answer format with placeholders (``\\boxed{EXPRESSION}``, ``\\boxed{N}``), never a
concrete expression or number, which a small model copies: with ``(12 + 7) * 3`` and ``42`` as examples
(commit 198766a, ``configs/creator_solver.yaml``), by step 6 SmolLM2-135M's creator wrote the example
in 15 of 16 matches and its solver answered 42 in 59 of 64 attempts, none right.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Sequence

from sparring.errors import SparringError
from sparring.games.answer import format_answer, single_answer
from sparring.games.base import TRAINING_RULES, BufferedGame, Match, MatchRules, Turn
from sparring.games.judged import JudgedGame, JudgedMatch, judge_record, turn_trajectories
from sparring.games.sneaky_critic import TASKS, TRAIN_SEED, arithmetic_datasets, solution_steps
from sparring.judges.protocol import MatchJudge, Verdict

BUFFER_SHARE = 0.25
MAX_OPERATIONS, MAX_DIGITS, MAX_MAGNITUDE, MAX_EXPRESSION_CHARS = 6, 3, 10**6, 120
INFORMATIVENESS = ("max_min", "max_mean")
_INTEGER = re.compile(r"^\s*(-?\d{1,12})\s*\.?\s*$")
# All a variant may be written with. Python reads more as an integer (0x1F, 0o17, 0b11, 1_0, 000) and skips
# a comment, whose text the solver would then be shown; none of it gets past this.
_VARIANT_TEXT = re.compile(rf"(?:[-+*() ]|(?<![0-9])(?:0|[1-9][0-9]{{0,{MAX_DIGITS - 1}}})(?![0-9]))+")

# A simplified expression: an int, ("+", terms), ("*", factors) or ("-", product), the negated product.
Form = Any


def variant_value(text: str) -> int | None:
    """The value of a creator's expression when it is a well-formed variant (see the module doc)."""
    if len(text) > MAX_EXPRESSION_CHARS or not _VARIANT_TEXT.fullmatch(text):
        return None
    try:
        steps = solution_steps(text)
    except (SyntaxError, SparringError):
        return None
    if not 1 <= len(steps) <= MAX_OPERATIONS or any(abs(s.result) > MAX_MAGNITUDE for s in steps):
        return None
    return steps[-1].result


def simplified(expression: str) -> Form:
    """The problem an expression (integers, + - *, parentheses) poses, with its trivial identities undone.

    Parentheses that change nothing are gone (`ast`); a sum is its signed terms, sorted, without 0 terms
    and without a term that its opposite cancels (``a - (b - c)`` is ``a - b + c``, ``a + 5 - 5`` is ``a``);
    a product is its sign and its factors, sorted, without 1 factors, and 0 if a factor is 0; ``--a``
    is ``a``. Nothing is computed beyond that: ``2 * (3 + 4)``, ``2 * 3 + 2 * 4`` and ``14`` are three problems.
    """
    return _form(ast.parse(expression, mode="eval").body)


def same_problem(a: str, b: str) -> bool:
    """Whether two expressions are one problem: the same `simplified` form."""
    return simplified(a) == simplified(b)


def _form(node: ast.AST) -> Form:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _negated(_form(node.operand))
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = _form(node.right)
        return _sum([_form(node.left), right if isinstance(node.op, ast.Add) else _negated(right)])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _product([_form(node.left), _form(node.right)])
    raise SparringError(f"creator_solver: not an integer expression with + - *: {ast.unparse(node)!r}")


def _negated(form: Form) -> Form:
    if isinstance(form, int):
        return -form
    kind, inner = form
    if kind == "+":
        return _sum([_negated(term) for term in inner])
    return inner if kind == "-" else ("-", form)


def _sum(terms: list[Form]) -> Form:
    flat = [t for term in terms for t in (term[1] if _is(term, "+") else [term]) if t != 0]
    kept: list[Form] = []
    for term in flat:
        opposite = _negated(term)
        if opposite in kept:
            kept.remove(opposite)
        else:
            kept.append(term)
    if len(kept) <= 1:
        return kept[0] if kept else 0
    return ("+", tuple(sorted(kept, key=repr)))


def _product(factors: list[Form]) -> Form:
    negative, flat = False, []
    for factor in factors:
        if _is(factor, "-") or (isinstance(factor, int) and factor < 0):
            negative, factor = not negative, _negated(factor)
        flat.extend(factor[1] if _is(factor, "*") else [factor])
    if 0 in flat:
        return 0
    kept = sorted((f for f in flat if f != 1), key=repr)
    product = kept[0] if len(kept) == 1 else ("*", tuple(kept)) if kept else 1
    return _negated(product) if negative else product


def _is(form: Form, kind: str) -> bool:
    return isinstance(form, tuple) and form[0] == kind


def informativeness(rewards: Sequence[float], kind: str) -> float:
    """eva's informativeness of a prompt: max - min (or max - mean) of the solver's rewards on it."""
    top = max(rewards)
    return top - (min(rewards) if kind == "max_min" else sum(rewards) / len(rewards))


class VariantBuffer:
    """The most informative variants, best first (newest first on ties), at most `size` of them; a
    variant added again (`same_problem`) replaces its old entry."""

    def __init__(self, size: int):
        self.size = size
        self.entries: list[tuple[str, float]] = []

    def add(self, expression: str, score: float) -> None:
        self.entries = [(expression, score), *(e for e in self.entries if not same_problem(e[0], expression))]
        self.entries.sort(key=lambda entry: -entry[1])  # stable: the newest stays first among equals
        del self.entries[self.size:]

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "entries": [list(e) for e in self.entries]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.entries = state["size"], [(e, float(s)) for e, s in state["entries"]]


class ArithmeticJudge:
    """The rule judge of creator_solver: computes the variant's value, grades each solver attempt 1 / 0,
    and gives the creator the informativeness of its variant over those grades."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        value = variant_value(match.variant)
        rewards = [1.0 if integer_answer(answer) == value else 0.0 for answer in match.attempt_answers()]
        score = informativeness(rewards, match.game.kind)
        reason = (f"{match.variant} = {value}; the solver was right {int(sum(rewards))} of {len(rewards)} times; "
                  f"informativeness ({match.game.kind}) {score:g}")
        solver = sum(rewards) / len(rewards)
        return Verdict((score, solver), reason, {"value": value, "rewards": rewards, "informativeness": score})


class CreatorSolverGame(BufferedGame, JudgedGame):
    name = "creator_solver"
    description = "eva: a creator writes variants of arithmetic problems, rewarded when the solver's attempts disagree"
    roles = ("creator", "solver")
    rules_text = ("The creator writes a new arithmetic problem from a seed problem; the solver answers it several "
                  "times. The creator scores when the solver's answers are sometimes right and sometimes wrong.")

    def __init__(self, attempts: int = 4, kind: str = "max_min", buffer_size: int = 256,
                 tasks: Sequence[str] = tuple(TASKS), dataset_seed: int = TRAIN_SEED, judge: MatchJudge | None = None):
        if attempts < 2:
            raise SparringError(f"creator_solver needs at least 2 solver attempts, got {attempts}")
        if kind not in INFORMATIVENESS:
            raise SparringError(f"informativeness must be one of {INFORMATIVENESS}, got {kind!r}")
        self.attempts, self.kind, self.tasks, self.dataset_seed = attempts, kind, tuple(tasks), dataset_seed
        self.datasets = arithmetic_datasets(self.tasks, dataset_seed)
        self.buffer = VariantBuffer(buffer_size)
        self._judge = judge

    def for_run(self, options: Any = None) -> CreatorSolverGame:
        """A fresh game for one run (its own, empty buffer), with the run config's `judged` settings
        (without them, this game's)."""
        settings = getattr(options, "judged", None)
        if settings is None:
            return CreatorSolverGame(self.attempts, self.kind, self.buffer.size, self.tasks, self.dataset_seed,
                                     self._judge)
        if settings.judge != "rule":
            raise SparringError(f"creator_solver is judged by its rule; judged.judge {settings.judge!r} does not apply")
        return CreatorSolverGame(settings.attempts, settings.informativeness, settings.buffer_size, self.tasks,
                                 self.dataset_seed)

    def default_judge(self) -> MatchJudge:
        return ArithmeticJudge()

    def seed_problem(self, rng: Any, seed: int) -> tuple[str, str]:
        """(where it came from, expression) for a match: a buffered variant or a reasoning-gym item."""
        if self.buffer.entries and rng.random() < BUFFER_SHARE:
            return "buffer", self.buffer.entries[int(rng.integers(len(self.buffer.entries)))][0]
        task = self.tasks[seed % len(self.tasks)]
        return task, self.datasets[task][(seed // len(self.tasks)) % len(self.datasets[task])]["metadata"]["expression"]

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> CreatorSolverMatch:
        return CreatorSolverMatch(self, seed, rules)

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        played = [m for m in matches if isinstance(m, CreatorSolverMatch)]
        creator_turns = [t for m in played for t in m.turns if t.seat == 0]
        judged = [m.verdict.labels for m in played if m.verdict is not None]
        out: dict[str, float] = {"creator/buffer_size": float(len(self.buffer.entries))}
        if creator_turns:
            out["creator/valid_rate"] = sum(t.valid for t in creator_turns) / len(creator_turns)
        if judged:
            out["creator/informativeness"] = sum(v["informativeness"] for v in judged) / len(judged)
            rewards = [r for v in judged for r in v["rewards"]]
            out["solver/accuracy"] = sum(rewards) / len(rewards)
        return out


class CreatorSolverMatch(JudgedMatch):
    game: CreatorSolverGame

    def __init__(self, game: CreatorSolverGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.source, self.seed_expression = game.seed_problem(self.rng, seed)
        self.variant: str | None = None

    def _engine_seat(self) -> int | None:
        if self.verdict is not None:
            return None
        return 0 if self.variant is None else 1

    def parse(self, text: str) -> str | None:
        answer = single_answer(text, self.rules.answer_format)
        if self._engine_seat() == 1:
            return answer if answer is not None else ""  # an attempt without an answer is just wrong
        if answer is None or variant_value(answer) is None or same_problem(answer, self.seed_expression):
            return None
        return answer

    def attempt_answers(self) -> list[str]:
        return [t.move for t in self.turns if t.seat == 1]

    def _engine_apply(self, move: str) -> None:
        if self.variant is None:
            self.variant = move
            return
        if len(self.attempt_answers()) == self.game.attempts:
            self.verdict = self.game.judge.verdict(self)
            if self.verdict.labels["informativeness"] > 0:
                self.game.buffer.add(self.variant, self.verdict.labels["informativeness"])

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """Each solver attempt is its own trajectory, with its own 1 / 0."""
        if seat != 1 or self.verdict is None:
            return super().scored_turns(seat)
        return turn_trajectories(self, 1, self.verdict.labels["rewards"])

    def observation_text(self, seat: int) -> str:
        if seat == 0:
            return (f"Seed problem: {self.seed_expression}\nWrite a new problem like it: an arithmetic expression "
                    f"with integers of at most 3 digits, + - * and parentheses, at most {MAX_OPERATIONS} operations, "
                    f"that the solver gets right only some of the time. Answer with the expression alone, "
                    f"{format_answer('EXPRESSION', self.rules.answer_format)}.")
        return f"What is {self.variant}? Answer with the integer alone, {format_answer('N', self.rules.answer_format)}."

    def record(self) -> dict[str, Any]:
        return {**super().record(), "source": self.source, "seed_expression": self.seed_expression,
                "variant": self.variant, "judge": judge_record(self, self.verdict)}


def integer_answer(text: str) -> int | None:
    """The integer a solver's answer states, or None."""
    found = _INTEGER.match(text)
    return int(found.group(1)) if found else None
