"""Preference judges: which of two answers to one prompt is better, as a matrix over a group of answers.

The rule judge ranks answers by the task's own score (a correct answer beats a wrong one), then by a
declared tie-break: ``none`` (equal scores tie, 1/2), ``shorter`` (the shorter reply wins) or ``closer``
(the integer answer nearer the reference wins; an answer that is no integer is farthest). The matrix
``P[i][j] = P(answer i > answer j)`` is exact: 1, 0 or 1/2, with ``P + P^T = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sparring.games.judged import Verdict

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

    def verdict(self, match: Any) -> Verdict:
        """The match's sampled answers ranked against each other, or (SPIN) each below the data's answer."""
        scores = match.scores()
        if match.opponent == "data":  # position 0 is the data's answer, preferred to every sample
            n = len(scores) + 1
            matrix = [[0.5 if i == j else 1.0 if i == 0 else 0.0 if j == 0 else 0.5 for j in range(n)]
                      for i in range(n)]
        else:
            matrix = self.rank(scores, match.answers(), match.replies(), match.reference)
        shares = win_shares(matrix)[1:] if match.opponent == "data" else win_shares(matrix)
        return Verdict((sum(scores) / len(scores),), f"{sum(s == 1.0 for s in scores)} of {len(scores)} correct",
                       {"scores": list(scores), "preference": matrix, "win_shares": shares})
