"""Questioner, responder, verifier (SPELL, Multi-Agent Evolve): one model asks, answers and checks.

    game = make_game("ask_answer_verify")
    match = game.new_match(seed=4)     # a document of `passages` passages from the corpus

Sources: the corpus is a list of passages. The built-in one (`builtin_passages`) holds the rules text of
every game sparring registers (the registry hands them to the game it builds, `game_rules`) and
reasoning-gym items written out with their answers; `judged.corpus` names a folder of ``.txt`` files
instead (each blank-line separated paragraph a passage). A match's document is `passages` passages
drawn from its seed: the document-length curriculum (SPELL) starts at one and adds a passage each time
the responder's mean reward over the last `promote_window` judged matches reaches `promote_accuracy`, up
to `max_passages` (the level is saved in checkpoints).

1. The questioner (seat 0) reads the document and writes ``\\boxed{QUESTION | ANSWER}``: a question of at
   least `MIN_WORDS` words and its reference answer, which must appear in the document word for word
   (`contains`: words up to case and punctuation, numbers exactly as written, with their sign, decimal
   point and commas, as whole tokens: ``-84`` is not in a document that says ``84``, ``84`` is not in
   one that says ``84.0``, ``-84`` or ``1845``, ``1000`` is not in one that says ``1,000``), at most
   `MAX_ANSWER_WORDS` words. Anything else is a format loss.
2. The responder (seat 1) reads the document and the question and answers `attempts` times,
   ``\\boxed{ANSWER}`` (a reply without one is an empty answer).
3. The verifier (seat 2) is shown the question, the reference answer and one attempt per turn (`attempts`
   turns) and says ``\\boxed{yes}`` or ``\\boxed{no}`` (anything else is no verdict): a closed set, which
   `legal_moves` lists, so under ``rollout.moves: legal`` it chooses between them by its own probabilities.

Labelled turns (`AskAnswerVerifyGame.labelled_turn`, a warm start's data) come from the corpus's passages that
state a question and its integer answer (``QUESTION\nAnswer: X.``, as the built-in corpus writes reasoning-gym items):
on that one passage, the questioner's turn with ``QUESTION | X``, the responder's with ``X``, and the verifier's,
shown ``X`` or a wrong number, with the rule's ``yes`` or ``no``.

The rule check (`rule_label`) decides an attempt where it can: a reference answer that is a number
written with digits (`as_number`) is matched numerically (``84.0`` and ``+84`` are right for ``84``; a
hedge such as ``84 or 85``, ``nan`` or ``8e1`` is wrong), one of at most `EXACT_WORDS` words exactly
(up to case and punctuation); a longer one has no rule label. Rewards (`SpellJudge`),
each attempt and each verdict its own trajectory:

* responder: per attempt, 1 / 0 by the rule label where there is one, else by the verifier's verdict;
* verifier: per verdict with a rule label, 1 when it agrees with the label, else 0 (no verdict is
  wrong); a verdict without a rule label trains nothing;
* questioner: ``exp(-(p - 1/2)^2 / (2 SIGMA^2))``, p the responder's mean reward (SPELL's Gaussian
  difficulty reward: highest for questions answered right half of the time).

`step_metrics` scores the verifier against the rule labels every step: accuracy, the labels' base rate
(a verifier that always says yes scores exactly that), balanced accuracy (it scores 0.5) and yes rate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from sparring.errors import SparringError
from sparring.games.answer import format_answer, single_answer, words
from sparring.games.base import TRAINING_RULES, Match, MatchRules, Observation, Turn
from sparring.games.judged import JudgedGame, JudgedMatch, judge_record, turn_trajectories
from sparring.judges.protocol import MatchJudge, Verdict

MIN_WORDS, MAX_ANSWER_WORDS, EXACT_WORDS, MAX_QUESTION_CHARS = 3, 8, 3, 400
SIGMA = 0.2
VERDICTS = ("yes", "no")
PASSAGE_TASKS, PASSAGES_PER_TASK = ("leg_counting", "chain_sum"), 16
_STATED = re.compile(r"^(?P<question>.+)\nAnswer: (?P<answer>[^\n]+?)\.?$", re.DOTALL)  # a passage with its answer
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)")
# A number with its sign (where no word char precedes it), decimals and commas, as long as it runs; else a word.
_TOKEN = re.compile(r"(?<!\w)[-+]?(?:\d+(?:[.,]\d+)*|\.\d+)(?!\w)|\w+")


@cache
def builtin_passages(game_rules: tuple[str, ...]) -> tuple[str, ...]:
    """The built-in corpus: the games' rules texts, then reasoning-gym items with their answers."""
    from sparring.games.reasoning import reasoning_game

    items = [reasoning_game(task).entry(k) for task in PASSAGE_TASKS for k in range(PASSAGES_PER_TASK)]
    return game_rules + tuple(f"{item['question'].strip()}\nAnswer: {item['answer']}." for item in items)


@cache
def stated_passages(passages: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The passages that state a question and its integer answer: (passage, question, answer), the question
    being the passage's last line before the answer."""
    found = [(p, m["question"].strip().splitlines()[-1].strip(), m["answer"].strip())
             for p in passages if (m := _STATED.match(p))]
    return [(p, q, a) for p, q, a in found if _INTEGER.fullmatch(a) and len(words(q)) >= MIN_WORDS]


@cache
def folder_passages(folder: str) -> tuple[str, ...]:
    """The paragraphs (blank-line separated) of the folder's .txt files, files in name order."""
    path = Path(folder)
    if not path.is_dir():
        raise SparringError(f"judged.corpus={folder!r} is not a folder of .txt files")
    paragraphs = [p.strip() for file in sorted(path.glob("*.txt")) for p in file.read_text().split("\n\n")]
    found = tuple(p for p in paragraphs if p)
    if not found:
        raise SparringError(f"judged.corpus={folder!r} holds no .txt file with text")
    return found


def as_number(text: str) -> float | None:
    """The text's value when it is one number written with digits (a sign, commas between groups of three,
    a decimal point; a full stop after it), else None: ``nan``, ``1e3``, ``8_4`` and ``84,85`` are not."""
    written = text.strip().rstrip(".")
    return float(written.replace(",", "")) if _NUMBER.fullmatch(written) else None


def rule_label(answer: str, reference: str) -> bool | None:
    """Whether the answer matches the reference by rule: numerically when the reference is a number,
    exactly (words, up to case and punctuation) when it has at most `EXACT_WORDS` words; else None."""
    number = as_number(reference)
    if number is not None:
        return as_number(answer) == number
    if len(words(reference)) <= EXACT_WORDS:
        return words(answer) == words(reference)
    return None


def wrong_answer(answer: str, rng: Any) -> str:
    """An attempt the rule marks wrong: the (integer) answer moved by 1 to 10 either way."""
    return str(int(answer) + int(rng.integers(1, 11)) * (1 if rng.random() < 0.5 else -1))


def difficulty_reward(p: float) -> float:
    """SPELL's questioner reward: a Gaussian in the responder's accuracy p, 1 at p = 1/2."""
    return math.exp(-((p - 0.5) ** 2) / (2 * SIGMA**2))


def tokens(text: str) -> list[str]:
    """The text's words, case-folded, punctuation dropped, except that a number keeps its sign, decimal point
    and commas (``-84``, ``84.0``, ``1,000`` are each one token, none of them ``84``)."""
    return _TOKEN.findall(text.casefold())


def contains(document: str, answer: str) -> bool:
    """Whether the answer's tokens occur in the document's tokens, in a row: its words up to case and
    punctuation, its numbers exactly as written (``-84`` is not in a document that says ``84`` or ``1845``)."""
    doc, ans = tokens(document), tokens(answer)
    return bool(ans) and any(doc[k:k + len(ans)] == ans for k in range(len(doc) - len(ans) + 1))


class SpellJudge:
    """The judge of ask_answer_verify (SPELL's rewards, see the module's docstring): each answer
    right or wrong by the rule check where it applies, else by the verifier's verdict; the verifier 1 / 0 for
    agreeing with the rule (None, untrained, without one); the questioner the Gaussian difficulty reward."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        answers, verdicts = match.seat_moves(1), match.seat_moves(2)
        labels = [rule_label(answer, match.reference) for answer in answers]
        responder = [float(label if label is not None else said == "yes") for label, said in zip(labels, verdicts)]
        verifier = [None if label is None else float(said != "" and label == (said == "yes"))
                    for label, said in zip(labels, verdicts)]
        p = sum(responder) / len(responder)
        checked = [v for v in verifier if v is not None]
        agreement = sum(checked) / len(checked) if checked else 0.0
        reason = (f"reference {match.reference!r}; the responder was right {int(sum(responder))} of {len(responder)} "
                  f"times ({sum(label is not None for label in labels)} decided by rule); the verifier agreed with the "
                  f"rule {int(sum(checked))} of {len(checked)} times")
        return Verdict((difficulty_reward(p), p, agreement), reason,
                       {"rule_labels": labels, "verdicts": verdicts, "responder_rewards": responder,
                        "verifier_rewards": verifier})


class AskAnswerVerifyGame(JudgedGame):
    name = "ask_answer_verify"
    labelled_roles = ("questioner", "responder", "verifier")
    description = "SPELL: a questioner asks about a document, a responder answers, a verifier checks the answer"
    roles = ("questioner", "responder", "verifier")
    rules_text = ("The questioner asks a question about a document and gives its answer; the responder answers it "
                  "several times; the verifier says whether each answer matches the questioner's.")

    def __init__(self, attempts: int = 4, max_passages: int = 4, promote_accuracy: float = 0.6,
                 promote_window: int = 16, corpus: str | None = None, judge: MatchJudge | None = None,
                 game_rules: Callable[[], tuple[str, ...]] | None = None):
        if attempts < 1 or max_passages < 1 or promote_window < 1:
            raise SparringError(f"ask_answer_verify needs attempts, max_passages and promote_window >= 1, got "
                                f"{attempts}, {max_passages}, {promote_window}")
        self.attempts, self.max_passages, self.corpus = attempts, max_passages, corpus
        self.game_rules = game_rules  # ``NAME: RULES`` of every registered game, for the built-in corpus
        self.promote_accuracy, self.promote_window = promote_accuracy, promote_window
        if corpus is not None:
            folder_passages(corpus)  # a bad folder fails when the run starts, not at its first match
        self.level = 1  # passages per document: the curriculum's state
        self.recent: list[float] = []  # the responder's mean reward in judged matches at this level
        self._judge = judge

    def for_run(self, options: Any = None) -> AskAnswerVerifyGame:
        """A fresh game for one run (curriculum at one passage), with the run config's `judged` settings."""
        s = getattr(options, "judged", None)
        if s is None:
            return AskAnswerVerifyGame(self.attempts, self.max_passages, self.promote_accuracy, self.promote_window,
                                       self.corpus, self._judge, self.game_rules)
        if s.judge != "rule":
            raise SparringError(f"ask_answer_verify is judged by its own verifier seat and the rule check; "
                                f"judged.judge {s.judge!r} does not apply")
        return AskAnswerVerifyGame(s.attempts, s.max_passages, s.promote_accuracy, s.promote_window, s.corpus,
                                   game_rules=self.game_rules)

    @property
    def passages(self) -> tuple[str, ...]:
        """The corpus (built on first use: the built-in one asks the registry, which holds this game, for the rules)."""
        if self.corpus is not None:
            return folder_passages(self.corpus)
        if self.game_rules is None:
            raise SparringError("ask_answer_verify's built-in corpus holds the registered games' rules: build the "
                                "game with make_game, or name a folder in judged.corpus")
        return builtin_passages(self.game_rules())

    def default_judge(self) -> MatchJudge:
        return SpellJudge()

    def labelled_turn(self, seed: int, rules: MatchRules = TRAINING_RULES) -> tuple[Observation, str]:
        """A questioner's, responder's or verifier's turn (by `seed`) on a passage that states its question and
        answer (`stated_passages`), with the move the rule says is right there."""
        stated = stated_passages(self.passages)
        if not stated:
            raise SparringError("ask_answer_verify: no passage of the corpus states a question and its answer "
                                "(QUESTION, then a line 'Answer: X.'), so there are no labelled turns")
        match = self.new_match(seed, rules)
        passage, question, answer = stated[int(match.rng.integers(len(stated)))]
        match.document = passage
        seat = int(match.rng.integers(3))
        if seat == 0:
            return match.observe(), f"{question} | {answer}"
        match.submit(format_answer(f"{question} | {answer}", rules.answer_format))
        if seat == 1:
            return match.observe(), answer
        attempt = answer if match.rng.random() < 0.5 else wrong_answer(answer, match.rng)
        for _ in range(self.attempts):
            match.submit(format_answer(attempt, rules.answer_format))
        return match.observe(), VERDICTS[0] if rule_label(attempt, answer) else VERDICTS[1]

    def document(self, rng: Any) -> str:
        picked = rng.choice(len(self.passages), size=min(self.level, len(self.passages)), replace=False)
        return "\n\n".join(self.passages[int(k)] for k in picked)

    def record_accuracy(self, accuracy: float) -> None:
        """The curriculum: one more passage per document once the window's mean accuracy is high enough."""
        self.recent.append(accuracy)
        if len(self.recent) >= self.promote_window:
            if sum(self.recent) / len(self.recent) >= self.promote_accuracy and self.level < self.max_passages:
                self.level += 1
            self.recent = []

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> AskAnswerVerifyMatch:
        return AskAnswerVerifyMatch(self, seed, rules)

    def state_dict(self) -> dict[str, Any]:
        return {"level": self.level, "recent": list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.level, self.recent = state["level"], list(state["recent"])

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        played = [m for m in matches if isinstance(m, AskAnswerVerifyMatch)]
        return {"curriculum/passages": float(self.level), **spell_metrics(played)}


def spell_metrics(matches: Sequence[AskAnswerVerifyMatch]) -> dict[str, float]:
    """Question validity, document length, responder accuracy, and the verifier scored against the rule labels."""
    asked = [t for m in matches for t in m.turns if t.seat == 0]
    judged = [m.verdict.labels for m in matches if m.verdict is not None]
    out: dict[str, float] = {}
    if asked:
        out["questioner/valid_rate"] = sum(t.valid for t in asked) / len(asked)
        out["questioner/document_chars"] = sum(len(m.document) for m in matches) / len(matches)
    if not judged:
        return out
    rewards = [r for v in judged for r in v["responder_rewards"]]
    out["responder/accuracy"] = sum(rewards) / len(rewards)
    verdicts = [said for v in judged for said in v["verdicts"]]
    out["verifier/yes_rate"] = sum(said == "yes" for said in verdicts) / len(verdicts)
    scored = [(label, reward) for v in judged for label, reward in zip(v["rule_labels"], v["verifier_rewards"])
              if label is not None]
    out["verifier/labelled_share"] = len(scored) / len(verdicts)
    if scored:
        out["verifier/accuracy"] = sum(reward for _, reward in scored) / len(scored)
        out["verifier/base_rate"] = sum(label for label, _ in scored) / len(scored)
        by_label = [[reward for label, reward in scored if label is want] for want in (True, False)]
        if all(by_label):
            out["verifier/balanced_accuracy"] = sum(sum(b) / len(b) for b in by_label) / 2
    return out


class AskAnswerVerifyMatch(JudgedMatch):
    game: AskAnswerVerifyGame

    def __init__(self, game: AskAnswerVerifyGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.document = game.document(self.rng)
        self.question: str | None = None
        self.reference: str | None = None

    def legal_moves(self) -> list[str]:
        """The verifier's closed set of verdicts; the question and the answers are open."""
        return list(VERDICTS) if self._engine_seat() == 2 else []

    def seat_moves(self, seat: int) -> list[str]:
        return [t.move for t in self.turns if t.seat == seat and t.move is not None]

    def _engine_seat(self) -> int | None:
        if self.verdict is not None:
            return None
        if self.question is None:
            return 0
        return 1 if len(self.seat_moves(1)) < self.game.attempts else 2

    def parse(self, text: str) -> str | None:
        seat = self._engine_seat()
        if seat == 1:
            answer = single_answer(text, self.rules.answer_format, fold=False)
            return answer if answer is not None else ""  # an attempt without an answer is just wrong
        if seat == 2:
            verdict = single_answer(text, self.rules.answer_format)
            return verdict if verdict in VERDICTS else ""  # no verdict: wrong whatever the label
        written = single_answer(text, self.rules.answer_format, fold=False)
        question, bar, reference = (written or "").rpartition("|")
        question, reference = question.strip(), reference.strip()
        if (not bar or len(words(question)) < MIN_WORDS or len(question) > MAX_QUESTION_CHARS
                or not 1 <= len(words(reference)) <= MAX_ANSWER_WORDS or not contains(self.document, reference)):
            return None
        return f"{question} | {reference}"

    def _engine_apply(self, move: str) -> None:
        if self.question is None:
            question, _, self.reference = move.rpartition(" | ")
            self.question = question
        elif len(self.seat_moves(2)) == self.game.attempts:
            self.verdict = self.game.judge.verdict(self)
            self.game.record_accuracy(self.verdict.returns[1])

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """Each attempt and each verdict is its own trajectory; a verdict without a rule label trains nothing."""
        if seat == 0 or self.verdict is None:
            return super().scored_turns(seat)
        key = "responder_rewards" if seat == 1 else "verifier_rewards"
        return turn_trajectories(self, seat, self.verdict.labels[key])

    def observation_text(self, seat: int) -> str:
        if seat == 0:
            return (f"Document:\n{self.document}\n\nAsk a question about the document and give its answer, a few "
                    f"words copied from the document: {format_answer('QUESTION | ANSWER', self.rules.answer_format)}.")
        if seat == 1:
            return (f"Document:\n{self.document}\n\nQuestion: {self.question}\nAnswer with a few words, "
                    f"{format_answer('ANSWER', self.rules.answer_format)}.")
        attempt = self.seat_moves(1)[len(self.seat_moves(2))]
        yes, no = (format_answer(v, self.rules.answer_format) for v in VERDICTS)
        return (f"Question: {self.question}\nReference answer: {self.reference}\nGiven answer: {attempt}\n"
                f"Does the given answer mean the same as the reference answer? Answer {yes} or {no}.")

    def record(self) -> dict[str, Any]:
        return {**super().record(), "document": self.document, "question": self.question,
                "reference": self.reference, "judge": judge_record(self, self.verdict)}
