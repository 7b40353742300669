"""Challenger vs solver (R-Zero): the challenger asks questions the solver answers right about half the time.

    game = make_game("challenger_solver")
    match = game.new_match(seed=4)     # an example question of one reasoning-gym task

The challenger (seat 0) sees one reasoning-gym item of a task (drawn from the seed, `tasks`) as an example
of the kind of question to write, and writes a new question, ``\\boxed{QUESTION}``: at least
`MIN_WORDS` words (`question_words`), at most `MAX_QUESTION_CHARS` characters, not the example itself (up
to case, spacing, punctuation and the other spellings `letters_and_digits` folds). Anything else is a
format loss (the match rules' invalid returns): R-Zero's validity.

The solver (seat 1) then answers the question `attempts` times, each attempt its own turn and its own
vote (`vote`: spellings of one answer are one vote; a reply without an answer, an answer without a letter
or digit, or the prompt's placeholder ``ANSWER`` in any case or punctuation is an empty vote). No rule
knows the answer of a question the model wrote, so the judge (`MajorityVoteJudge`)
takes the solver's most common vote as the label and ``p`` = its share of the attempts (0 when no attempt
answered). The challenger's return is R-Zero's uncertainty ``1 - 2|p - 1/2|`` (= ``2 min(p, 1 - p)``),
minus `duplicate_penalty` when the question is a near-duplicate, clamped at 0 as R-Zero does
(`challenger_reward`). A near-duplicate's `similarity` to one of the last `buffer_size` valid questions
(saved in checkpoints) is at least `duplicate_threshold`: the Jaccard similarity of the two texts'
character 3-grams, taken over their letters and digits only, so invisible characters, hyphens or spaces
inside words and changes of case or punctuation leave it at 1, and a typo costs at most three 3-grams.
The solver learns only from learnable questions, ``low <= p <= high`` (R-Zero:
0.3 and 0.8): each attempt is its own trajectory, 1 when it gave the majority answer, else 0. On any
other question the solver's turns train nothing (its return is then the share of attempts that agree
with the majority, for the logs).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any, Sequence

from sparring.errors import SparringError
from sparring.games.answer import format_answer, single_answer
from sparring.games.base import TRAINING_RULES, BufferedGame, Match, MatchRules, Turn
from sparring.games.judged import JudgedGame, JudgedMatch, judge_record, turn_trajectories
from sparring.judges.protocol import MatchJudge, Verdict
from sparring.judges.text_forms import fold, letters_and_digits

TASKS = ("chain_sum", "basic_arithmetic", "leg_counting", "letter_counting")
MIN_WORDS, MAX_QUESTION_CHARS, NGRAM = 3, 400, 3
PLACEHOLDER = "ANSWER"  # what the solver's prompt shows in the answer marks
_DECORATION = " .,;:!?*_`'\""  # what may surround one answer without changing it: "12.", "**12**", "'blue'"


def question_words(text: str) -> list[str]:
    """The text's words: its runs between white space that hold a Latin letter or digit once folded, so
    invisible characters between letters do not make one word several."""
    return [word for word in fold(text).split() if letters_and_digits(word)]


def char_ngrams(text: str) -> set[str]:
    """The character `NGRAM`-grams of the text's letters and digits (`letters_and_digits`); the whole of
    them when there are fewer."""
    plain = letters_and_digits(text)
    return {plain[k:k + NGRAM] for k in range(max(1, len(plain) - NGRAM + 1))} if plain else set()


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' character 3-gram sets (1.0 for two texts without letters or digits)."""
    x, y = char_ngrams(a), char_ngrams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def vote(answer: str | None) -> str:
    """An attempt's answer as a vote: folded (`fold`: width, case, invisible characters, look-alike letters),
    spacing collapsed, `_DECORATION` stripped from its ends. "" (an empty vote) for no answer, for one
    without a Latin letter or digit, and for the prompt's placeholder in any case, spacing or punctuation,
    which SmolLM2-135M's solvers agreed on often enough to make it the majority label."""
    if answer is None or letters_and_digits(answer) in ("", letters_and_digits(PLACEHOLDER)):
        return ""
    return " ".join(fold(answer).split()).strip(_DECORATION)


def challenger_reward(p: float, penalty: float) -> float:
    """R-Zero's challenger reward: the uncertainty 1 - 2|p - 1/2| less the repetition penalty, clamped at 0."""
    return max(0.0, 1.0 - 2.0 * abs(p - 0.5) - penalty)


def majority(answers: Sequence[str]) -> tuple[str | None, float]:
    """The most common non-empty answer (the first seen among equals) and its share of all answers."""
    votes = Counter(a for a in answers if a)
    if not votes:
        return None, 0.0
    label, count = max(votes.items(), key=lambda item: item[1])
    return label, count / len(answers)


class QuestionBuffer:
    """The last `size` valid questions, newest last: what a new question is compared with."""

    def __init__(self, size: int):
        self.size = size
        self.entries: deque[str] = deque(maxlen=size)

    def nearest(self, question: str) -> float:
        """The highest similarity of the question to a buffered one (0.0 when the buffer is empty)."""
        return max((similarity(question, q) for q in self.entries), default=0.0)

    def add(self, question: str) -> None:
        self.entries.append(question)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "entries": list(self.entries)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = state["size"]
        self.entries = deque(state["entries"], maxlen=self.size)


class MajorityVoteJudge:
    """The judge of challenger_solver: no rule knows the answer to a question the model wrote, so the
    solver's most common answer is the label; the challenger gets 1 - 2|p - 1/2| (p that answer's share)
    less the duplicate penalty, clamped at 0; each attempt 1 when it gave the label (see the module's
    docstring)."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        game = match.game
        answers = match.attempt_answers()
        label, p = majority(answers)
        rewards = [1.0 if label is not None and answer == label else 0.0 for answer in answers]
        penalty = game.duplicate_penalty if match.duplicate else 0.0
        challenger = challenger_reward(p, penalty)
        low, high = game.learnable
        learnable = label is not None and low <= p <= high
        reason = (f"majority answer {label!r} in {int(sum(rewards))} of {len(answers)} attempts (p = {p:g}); "
                  f"{'learnable' if learnable else 'not learnable'}; "
                  + (f"a near-duplicate (similarity {match.nearest:.2f}), penalty {penalty:g}" if match.duplicate
                     else f"new (similarity {match.nearest:.2f})"))
        labels = {"label": label, "p": p, "rewards": rewards, "learnable": learnable, "duplicate": match.duplicate}
        return Verdict((challenger, sum(rewards) / len(rewards)), reason, labels)


class ChallengerSolverGame(BufferedGame, JudgedGame):
    name = "challenger_solver"
    description = "R-Zero: a challenger writes questions, rewarded when the solver's majority answer holds about half the time"
    roles = ("challenger", "solver")
    rules_text = ("The challenger writes a new question like an example; the solver answers it several times. "
                  "The challenger scores when the solver's answers agree about half of the time.")

    def __init__(self, attempts: int = 4, buffer_size: int = 256, duplicate_threshold: float = 0.6,
                 duplicate_penalty: float = 0.5, learnable: tuple[float, float] = (0.3, 0.8),
                 tasks: Sequence[str] = TASKS, judge: MatchJudge | None = None):
        if attempts < 2:
            raise SparringError(f"challenger_solver needs at least 2 solver attempts, got {attempts}")
        if not 0 <= learnable[0] <= learnable[1] <= 1:
            raise SparringError(f"the learnable band needs 0 <= low <= high <= 1, got {list(learnable)}")
        if not 0 < duplicate_threshold <= 1 or buffer_size < 1:
            raise SparringError(f"challenger_solver needs 0 < duplicate_threshold <= 1 and buffer_size >= 1, got "
                                f"{duplicate_threshold} and {buffer_size}")
        self.attempts, self.tasks, self.learnable = attempts, tuple(tasks), learnable
        self.duplicate_threshold, self.duplicate_penalty = duplicate_threshold, duplicate_penalty
        self.buffer = QuestionBuffer(buffer_size)
        self._judge = judge

    def for_run(self, options: Any = None) -> ChallengerSolverGame:
        """A fresh game for one run (its own, empty buffer), with the run config's `judged` settings
        (without them, this game's)."""
        s = getattr(options, "judged", None)
        if s is None:
            return ChallengerSolverGame(self.attempts, self.buffer.size, self.duplicate_threshold,
                                        self.duplicate_penalty, self.learnable, self.tasks, self._judge)
        if s.judge != "rule":
            raise SparringError(f"challenger_solver is judged by the solver's majority vote; judged.judge {s.judge!r} "
                                "does not apply")
        return ChallengerSolverGame(s.attempts, s.buffer_size, s.duplicate_threshold, s.duplicate_penalty,
                                    (s.learnable_low, s.learnable_high), self.tasks)

    def default_judge(self) -> MatchJudge:
        return MajorityVoteJudge()

    def example(self, seed: int) -> tuple[str, str]:
        """(task, question) of the reasoning-gym item a match shows its challenger."""
        from sparring.games.reasoning import reasoning_game

        task = self.tasks[seed % len(self.tasks)]
        return task, reasoning_game(task).entry(seed // len(self.tasks))["question"].strip()

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> ChallengerSolverMatch:
        return ChallengerSolverMatch(self, seed, rules)

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        """Question validity, duplicate rate, the majority share p, how many questions were learnable,
        and how often the solver's attempts agreed with their majority."""
        played = [m for m in matches if isinstance(m, ChallengerSolverMatch)]
        asked = [t for m in played for t in m.turns if t.seat == 0]
        judged = [m.verdict.labels for m in played if m.verdict is not None]
        out: dict[str, float] = {"challenger/buffer_size": float(len(self.buffer.entries))}
        if asked:
            out["challenger/valid_rate"] = sum(t.valid for t in asked) / len(asked)
        if judged:
            n = len(judged)
            out["challenger/duplicate_rate"] = sum(v["duplicate"] for v in judged) / n
            out["challenger/majority_share"] = sum(v["p"] for v in judged) / n
            out["challenger/learnable_rate"] = sum(v["learnable"] for v in judged) / n
            rewards = [r for v in judged for r in v["rewards"]]
            out["solver/majority_agreement"] = sum(rewards) / len(rewards)
        return out


class ChallengerSolverMatch(JudgedMatch):
    game: ChallengerSolverGame

    def __init__(self, game: ChallengerSolverGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.example_task, self.example_question = game.example(seed)
        self.question: str | None = None
        self.nearest = 0.0  # the question's highest similarity to the buffer when it was asked

    def _engine_seat(self) -> int | None:
        if self.verdict is not None:
            return None
        return 0 if self.question is None else 1

    def parse(self, text: str) -> str | None:
        if self._engine_seat() == 1:
            return vote(single_answer(text, self.rules.answer_format))
        question = single_answer(text, self.rules.answer_format, fold=False)
        if (question is None or len(question_words(question)) < MIN_WORDS or len(question) > MAX_QUESTION_CHARS
                or letters_and_digits(question) == letters_and_digits(self.example_question)):
            return None
        return question

    def attempt_answers(self) -> list[str]:
        return [t.move for t in self.turns if t.seat == 1]

    @property
    def duplicate(self) -> bool:
        return self.nearest >= self.game.duplicate_threshold

    def _engine_apply(self, move: str) -> None:
        if self.question is None:
            self.question = move
            self.nearest = self.game.buffer.nearest(move)
            self.game.buffer.add(move)
            return
        if len(self.attempt_answers()) == self.game.attempts:
            self.verdict = self.game.judge.verdict(self)

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """Each solver attempt of a learnable question is its own trajectory; other questions train no solver turn."""
        if seat != 1 or self.verdict is None:
            return super().scored_turns(seat)
        if not self.verdict.labels["learnable"]:
            return []
        return turn_trajectories(self, 1, self.verdict.labels["rewards"])

    def observation_text(self, seat: int) -> str:
        if seat == 0:
            return (f"An example question:\n{self.example_question}\nWrite a new question of this kind, with one "
                    f"short answer, that a solver gets right only some of the time. Answer with the question alone, "
                    f"{format_answer('QUESTION', self.rules.answer_format)}.")
        return f"{self.question}\nAnswer with the answer alone, {format_answer(PLACEHOLDER, self.rules.answer_format)}."

    def record(self) -> dict[str, Any]:
        return {**super().record(), "example_task": self.example_task, "example": self.example_question, "question": self.question,
                "nearest": self.nearest, "judge": judge_record(self, self.verdict)}
