"""What a judge is: it takes a finished match and returns a `Verdict`.

A verdict holds one return per seat, a reason a person can read (it goes into the transcript) and the
labels it judged by (the rule's ground truth, what a seat claimed), so a judge in a seat (the policy as
critic) can be scored against the rule. A game that sparring writes owns its rule judge (in its module
under `sparring.games`); what several games share to judge lives here, in `sparring.judges`.
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
