"""Preference judges: which of two answers to one prompt is better, as a matrix over a group of answers.

The rule judge ranks answers by three keys, in order. First, a reply that gives one answer beats one that
gives none or hedges (the game reads two different answer marks as no answer; for a numeric reference, an
answer holding several numbers, such as ``57 or 58``, is a hedge). Second, a right answer beats a wrong
one: for a numeric reference, the answer is right when it is one number equal to the reference, read as a
reader reads it (``64.0``, ``064``, ``+64``, fullwidth or other digits all equal ``64``); otherwise right
means the task's full score. Partial credit never ranks: the task scorers pay it to any answer that
contains the reference, a hedge included. Third, a declared tie-break: ``none`` (a tie, 1/2),
``shorter`` (the shorter reply wins) or ``closer`` (the integer answer nearer an integer reference wins;
an answer that is no integer is farthest). The matrix ``P[i][j] = P(answer i > answer j)`` is exact:
1, 0 or 1/2, with ``P + P^T = 1``.

The model judge asks a frozen local causal LM, for every ordered pair of a prompt's answers in one
batch, which of answers A and B is correct, and reads ``P(A)`` from its next-token logits for " A" and
" B"; each pair is asked in both orders and averaged, ``P[i][j] = (P_A(i, j) + 1 - P_A(j, i)) / 2``, so
position bias cancels and ``P + P^T = 1`` still holds. The rule's matrix rides along in the labels and
the share of the rule's strict preferences the model agrees with is logged.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import torch

from sparring.judges.protocol import Verdict
from sparring.judges.text_forms import fold
from sparring.model import eval_mode, load_model

TIE_BREAKS = ("none", "shorter", "closer")

# A number as an answer writes it (after `_plain`): sign, digits, optional fraction and exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?")
# Arithmetic on answers of any size: a long or large number must not overflow the default context.
_UNBOUNDED = decimal.Context(Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_FARTHEST = Decimal("-Infinity")


def _plain(text: str) -> str:
    """The text as a reader reads its numbers: folded (fullwidth digits, invisible characters), the minus
    sign written as '-', digit-grouping commas dropped (as reasoning-gym's number scorer does), stripped."""
    return fold(text).replace("\u2212", "-").replace(",", "").strip()


def read_number(text: str | None) -> tuple[Decimal | None, int]:
    """The value of a text that is one number and nothing else (else None), and how many numbers it holds."""
    if text is None:
        return None, 0
    plain = _plain(text)
    count = len(_NUMBER.findall(plain))
    if not _NUMBER.fullmatch(plain):
        return None, count
    try:
        return Decimal(plain), count
    except decimal.InvalidOperation:  # an exponent beyond what any decimal context holds
        return None, count


def _is_integer(value: Decimal | None) -> bool:
    return value is not None and value == value.to_integral_value()


def preference_matrix(keys: Sequence[tuple[float, ...]]) -> list[list[float]]:
    """``P[i][j]`` = 1 when key i ranks above key j, 1/2 when they are equal, else 0."""
    return [[1.0 if a > b else 0.5 if a == b else 0.0 for b in keys] for a in keys]


def win_shares(matrix: list[list[float]]) -> list[float]:
    """Each answer's mean preference over the *other* answers of its group (SPO's reward)."""
    n = len(matrix)
    return [(sum(row) - row[i]) / (n - 1) for i, row in enumerate(matrix)]


class RulePreferenceJudge:
    """Ranks a preference match's answers by the task's score, then the tie-break."""

    kind = "rule"

    def __init__(self, tie_break: str = "closer"):
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        self.tie_break = tie_break

    def key(self, score: float, answer: str | None, reply: str, reference: Any) -> tuple[Any, ...]:
        """(gives one answer, is right, tie-break): larger ranks higher."""
        target, _ = read_number(None if reference is None else str(reference))
        value, count = read_number(answer)
        if target is None:  # a reference that is no number: the task's full score is right
            answered, right = bool(answer), score >= 1.0
        else:
            answered, right = value is not None or (bool(answer) and count < 2), value == target
        return answered, right, *self._tie_break(value, target, reply)

    def _tie_break(self, value: Decimal | None, target: Decimal | None, reply: str) -> tuple[Any, ...]:
        if self.tie_break == "shorter":
            return (-len(reply),)
        if self.tie_break == "closer":
            if _is_integer(value) and _is_integer(target):
                return (_UNBOUNDED.subtract(value, target).copy_abs().copy_negate(),)
            return (_FARTHEST,)
        return ()

    def rank(self, scores: Sequence[float], answers: Sequence[str | None], replies: Sequence[str],
             reference: Any) -> list[list[float]]:
        return preference_matrix([self.key(s, a, r, reference) for s, a, r in zip(scores, answers, replies)])

    def labels(self, match: Any, scores: list[float]) -> dict[str, Any]:
        """The preference matrix over the match's sampled answers (and what else the judge reports)."""
        return {"preference": self.rank(scores, match.answers(), match.replies(), match.reference)}

    def verdict(self, match: Any) -> Verdict:
        """The match's sampled answers ranked against each other, or (SPIN) each below the data's answer."""
        scores = match.scores()
        if match.opponent == "data":  # position 0 is the data's answer, preferred to every sample
            n = len(scores) + 1
            labels = {"preference": [[0.5 if i == j else 1.0 if i == 0 else 0.0 if j == 0 else 0.5 for j in range(n)]
                                     for i in range(n)]}
        else:
            labels = self.labels(match, scores)
        shares = win_shares(labels["preference"])[1:] if match.opponent == "data" else win_shares(labels["preference"])
        return Verdict((sum(scores) / len(scores),), f"{sum(s == 1.0 for s in scores)} of {len(scores)} correct",
                       {"scores": list(scores), **labels, "win_shares": shares})


class PairwiseModelJudge(RulePreferenceJudge):
    """A frozen local causal LM compares every pair of answers; the rule's matrix is kept beside it."""

    kind = "model"

    def __init__(self, name: str, tie_break: str = "closer"):
        super().__init__(tie_break)
        self.name = name
        self.model, self.tokenizer = load_model(name)
        self.model.requires_grad_(False)
        self.tokenizer.padding_side = "left"
        self.a, self.b = (self.tokenizer.encode(word, add_special_tokens=False)[0] for word in (" A", " B"))

    @torch.no_grad()
    def first_wins(self, question: str, pairs: list[tuple[str, str]]) -> list[float]:
        """P(answer A is the correct one) for each (A, B), from one batched forward pass."""
        prompts = [f"Question: {question.strip()}\nAnswer A: {a.strip()}\nAnswer B: {b.strip()}\n"
                   "Which answer is correct, A or B? Answer:" for a, b in pairs]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
        with eval_mode(self.model):
            logits = self.model(**batch).logits[:, -1, :].float()
        return torch.sigmoid(logits[:, self.a] - logits[:, self.b]).tolist()

    def labels(self, match: Any, scores: list[float]) -> dict[str, Any]:
        replies = match.replies()
        n = len(replies)
        ordered = [(i, j) for i in range(n) for j in range(n) if i != j]
        wins = dict(zip(ordered, self.first_wins(match.question, [(replies[i], replies[j]) for i, j in ordered])))
        matrix = [[0.5 if i == j else (wins[i, j] + 1 - wins[j, i]) / 2 for j in range(n)] for i in range(n)]
        rule = super().labels(match, scores)["preference"]
        strict = [(i, j) for i, j in ordered if rule[i][j] == 1.0]
        agree = sum(matrix[i][j] > 0.5 for i, j in strict)
        return {"preference": matrix, "rule_preference": rule, "agreement": [agree, len(strict)]}
