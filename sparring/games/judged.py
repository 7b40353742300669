"""What a game whose returns come from a judge shares: the verdict, and what a judge must be.

A *judge* takes a finished match and returns a `Verdict`: one return per seat, a reason a person can
read (it goes into the transcript) and the labels it judged by (the rule's ground truth, what a
seat claimed), so a judge in a seat (the policy as critic) can be scored against the rule. The
judges themselves live in `sparring.judges` (rule judges in `sparring.judges.rules`); a game only
needs this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one finished match."""

    returns: tuple[float, ...]
    reason: str
    labels: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"returns": list(self.returns), "reason": self.reason, **self.labels}


class MatchJudge(Protocol):
    """Scores a finished match of a judged game."""

    kind: str  # "rule", "model" or "policy"

    def verdict(self, match: Any) -> Verdict: ...


def judge_record(match: Any, verdict: Verdict | None) -> dict[str, Any] | None:
    """What a match record says of its judging: the judge's kind and verdict; for a match an invalid
    answer ended before the judge was needed, the referee's returns and reason; None while it runs."""
    if verdict is not None:
        return {"kind": match.game.judge.kind, **verdict.to_dict()}
    if not match.is_over():
        return None
    seat = next(t.seat for t in reversed(match.turns) if not t.valid)
    return {"kind": "referee", "returns": match.returns(),
            "reason": f"format loss: the {match.game.roles[seat]}'s answer was not a valid answer"}
