"""Rule judges: a checkable fact decides the match, no model involved.

`FirstErrorJudge` (sneaky_critic): reads the solution the critic saw as text, recomputes every
step's arithmetic itself (it trusts neither the sneaky seat's claim nor the game's bookkeeping),
and takes the first step whose stated result is wrong as the label; the critic is right when it
names exactly that step, or says "correct" when no step is wrong.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from sparring.games.judged import Verdict

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
