"""Preference judges: which of two answers to one prompt is better, as a matrix over a group of answers.

The rule judge ranks answers by the task's own score (a correct answer beats a wrong one), then by a
declared tie-break: ``none`` (equal scores tie, 1/2), ``shorter`` (the shorter reply wins) or ``closer``
(the integer answer nearer the reference wins; an answer that is no integer is farthest). The matrix
``P[i][j] = P(answer i > answer j)`` is exact: 1, 0 or 1/2, with ``P + P^T = 1``.

The model judge asks a frozen local causal LM, for every ordered pair of a prompt's answers in one
batch, which of answers A and B is correct, and reads ``P(A)`` from its next-token logits for " A" and
" B"; each pair is asked in both orders and averaged, ``P[i][j] = (P_A(i, j) + 1 - P_A(j, i)) / 2``, so
position bias cancels and ``P + P^T = 1`` still holds. The rule's matrix rides along in the labels and
the share of the rule's strict preferences the model agrees with is logged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from sparring.games.judged import Verdict
from sparring.model import eval_mode, load_model

TIE_BREAKS = ("none", "shorter", "closer")


def _integer(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


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

    def key(self, score: float, answer: str | None, reply: str, reference: Any) -> tuple[float, ...]:
        if self.tie_break == "shorter":
            return score, -len(reply)
        if self.tie_break == "closer":
            value, target = _integer(answer), _integer(reference)
            return score, -math.inf if value is None or target is None else -abs(value - target)
        return (score,)

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
