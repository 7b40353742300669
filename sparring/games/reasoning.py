"""Reasoning tasks from reasoning-gym as one-seat language games (the solver answers one item).

    game = reasoning_game("chain_sum")           # the training items: dataset seed TRAIN_SEED
    match = game.new_match(seed=7)               # item 7 % size
    match.submit("\\boxed{12}")                  # parsed answer "12", return = the task's own score

A task is a procedural generator from the PyPI package ``reasoning-gym`` (offline: every default
task builds its items from a seed, nothing is downloaded). Each match is one item; its only seat
(role ``solver``) writes an answer in the run's format (``\\boxed{...}`` or ``[...]``), the
content of the last such answer is handed to the package's own scorer
(``dataset.score_answer(answer, entry)``), and that score (0..1, partial credit where the task
gives it) is the seat's return. A text holding no answer in the format is an invalid move,
refereed by the match rules like any game's.

Items: a game reads item ``seed % size`` of ``create_dataset(task, seed=dataset_seed, size=size)``.
Training uses ``TRAIN_SEED``; the transfer suite evaluates on ``EVAL_SEED``, a different stream of
the same generator (small tasks can still repeat an item by chance).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sparring.errors import SparringError, unknown_name_error
from sparring.games.answer import extract_answer, format_answer
from sparring.games.base import TRAINING_RULES, LanguageGame, Match, MatchRules

__all__ = ["DEFAULT_TASKS", "EVAL_SEED", "PREFIX", "TASK_CONFIGS", "TRAIN_SEED", "ReasoningGame",
           "ReasoningMatch", "known_tasks", "reasoning_game", "check_tasks", "task_prompt"]

PREFIX = "reasoning:"
TRAIN_SEED = 0
EVAL_SEED = 15_015
TRAIN_SIZE = 100_000

# Defaults a 135M-1B model can sometimes solve: the generators' knobs turned down to short items.
TASK_CONFIGS: dict[str, dict[str, Any]] = {
    "chain_sum": {"min_terms": 2, "max_terms": 3, "max_digits": 2},
    "basic_arithmetic": {"min_terms": 2, "max_terms": 3, "max_digits": 2, "operators": ["+", "-", "*"],
                         "allow_parentheses": False, "allow_negation": False},
    "leg_counting": {"min_animals": 1, "max_animals": 2, "max_instances": 3},
    "letter_counting": {"min_words": 3, "max_words": 6},
    "spell_backward": {"min_word_len": 3, "max_word_len": 5},
    "word_sorting": {"min_words": 3, "max_words": 4},
    "propositional_logic": {},
    "countdown": {"min_numbers": 3, "max_numbers": 3, "max_value": 20, "min_target": 10, "max_target": 60},
}
DEFAULT_TASKS: tuple[str, ...] = tuple(TASK_CONFIGS)


@cache
def known_tasks() -> tuple[str, ...]:
    """Every task name reasoning-gym registers."""
    from reasoning_gym.factory import DATASETS

    return tuple(sorted(DATASETS))


def check_tasks(names: list[str]) -> list[str]:
    """The names, or a one-line error naming the first unknown one and the closest known names."""
    known = known_tasks()
    for name in names:
        if name not in known:
            raise unknown_name_error("reasoning task", name, list(known))
    if len(set(names)) != len(names):
        raise SparringError(f"reasoning tasks listed twice: {names}")
    return list(names)


class ReasoningGame(LanguageGame):
    """One reasoning-gym task as a one-seat game: a match is item ``seed % size`` of the dataset."""

    roles = ("solver",)
    is_task = True
    open_moves = True  # an answer is free text, scored by the task, not picked from a list

    def __init__(self, task: str, dataset_seed: int = TRAIN_SEED, size: int = TRAIN_SIZE,
                 config: dict[str, Any] | None = None):
        import reasoning_gym

        check_tasks([task])
        if size < 1:
            raise SparringError(f"a reasoning task needs at least one item, got size {size}")
        self.task = task
        self.name = f"{PREFIX}{task}"
        self.description = f"reasoning-gym task {task}: one answer, scored by the package's own scorer"
        self.rules_text = "Answer the question."
        self.config = dict(TASK_CONFIGS.get(task, {}) if config is None else config)
        self.dataset_seed = dataset_seed
        self.size = size
        try:
            self.dataset = reasoning_gym.create_dataset(task, seed=dataset_seed, size=size, **self.config)
        except (TypeError, ValueError, AssertionError) as error:
            raise SparringError(f"reasoning task {task!r} rejects its config {self.config}: {error}") from None

    def entry(self, index: int) -> dict[str, Any]:
        """Item ``index % size``: question, reference answer (None when the task has many), metadata."""
        return self.dataset[index % self.size]

    def score(self, answer: str | None, entry: dict[str, Any]) -> float:
        """The package's own score of an answer (the content of the answer marks, or None)."""
        return float(self.dataset.score_answer(answer, entry))

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> ReasoningMatch:
        return ReasoningMatch(self, seed, rules)


class ReasoningMatch(Match):
    """One item: the solver's single answer ends it, with the task's score as its return."""

    game: ReasoningGame

    def __init__(self, game: ReasoningGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.entry = game.entry(seed)
        self.answer: str | None = None
        self.score: float | None = None

    def _engine_seat(self) -> int | None:
        return 0 if self.score is None else None

    def legal_moves(self) -> list[str]:
        return []  # open-ended: any answer in the format is a move

    def parse(self, text: str) -> str | None:
        answer = extract_answer(text, self.rules.answer_format)
        return None if answer is None else answer.strip()

    def _engine_apply(self, move: str) -> None:
        self.answer = move
        self.score = self.game.score(move, self.entry)

    def _engine_returns(self) -> list[float]:
        return [float(self.score)]

    def observation_text(self, seat: int) -> str:
        return self.entry["question"].strip()

    def prompt(self, seat: int) -> str:
        return task_prompt(self.observation_text(seat), self.rules.answer_format, bool(self._failed_attempts))

    def record(self) -> dict[str, Any]:
        return {**super().record(), "reference_answer": self.entry.get("answer"), "score": self.score}


@cache
def task_prompt(question: str, answer_format: str, failed: bool = False) -> str:
    """A question with the answer format to use (and, after a reply without one, a reminder). The format is
    shown empty: with ``\\boxed{answer}`` SmolLM2-135M wrote the word "answer" in most replies."""
    lines = [question, f"Give your final answer as {format_answer('', answer_format)}."]
    if failed:
        lines.append("Your previous reply held no answer in that format.")
    return "\n".join(lines)


def reasoning_game(task: str) -> ReasoningGame:
    """The training game ``reasoning:TASK`` (dataset seed TRAIN_SEED, the default config)."""
    return ReasoningGame(task)
