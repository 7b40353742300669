"""Turn phases (Vision-Zero's Iterative-SPO): train one kind of turn at a time and switch on a signal.

A game that labels its turns (the spy game: ``turn.extra["phase"]`` is ``"clue"`` or ``"vote"``)
can be trained in alternating phases: in the vote phase only vote turns become turn samples, in
the clue phase only clue turns. Unlabelled turns (other games) are always kept. The switch is
driven by a logged metric (by default the spy game's civilian vote accuracy):

* vote phase -> clue phase once the metric reaches ``high`` (the voters have learned to find
  the spy, so the clue-givers train against them);
* clue phase -> vote phase once it falls to ``low`` (the spy hides well: the voters train again);
* invalid moves train in both phases (the answer format is not a phase's skill);
* either way after ``max_steps`` steps in one phase, and never before ``min_steps``.
A step whose metrics lack the signal (no finished vote) counts toward the step limits only.
"""

from __future__ import annotations

from typing import Any

from sparring.errors import SparringError

PHASES = ("vote", "clue")


class TurnPhases:
    def __init__(self, metric: str, high: float, low: float, min_steps: int = 1, max_steps: int = 10,
                 start: str = "vote"):
        if not low <= high:
            raise SparringError(f"turn phases need low <= high, got low {low}, high {high}")
        if not 1 <= min_steps <= max_steps:
            raise SparringError(f"turn phases need 1 <= min_steps <= max_steps, got {min_steps}, {max_steps}")
        if start not in PHASES:
            raise SparringError(f"turn phase must be one of {', '.join(PHASES)}, got {start!r}")
        self.metric, self.high, self.low = metric, high, low
        self.min_steps, self.max_steps = min_steps, max_steps
        self.phase, self.steps = start, 0
        self.switches = 0

    @classmethod
    def from_config(cls, cfg: Any) -> TurnPhases | None:
        """The schedule of a :class:`sparring.config.CurriculumConfig`, or None when it is off."""
        if not cfg.turn_phases:
            return None
        return cls(cfg.turn_phase_metric, cfg.turn_phase_high, cfg.turn_phase_low,
                   cfg.turn_phase_min_steps, cfg.turn_phase_max_steps)

    def keeps(self, turn: Any) -> bool:
        """Whether this turn trains in the current phase. An invalid move always does: answering in
        the format is learned in both phases."""
        return not turn.valid or turn.extra.get("phase", self.phase) == self.phase

    def update(self, metrics: dict[str, float]) -> None:
        """Count one learner step; switch phase when the signal (or the step limit) says so."""
        self.steps += 1
        value = metrics.get(self.metric)
        crossed = value is not None and (value >= self.high if self.phase == "vote" else value <= self.low)
        if self.steps >= self.max_steps or (self.steps >= self.min_steps and crossed):
            self.phase = "clue" if self.phase == "vote" else "vote"
            self.steps = 0
            self.switches += 1

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        self.update(metrics)  # the next step's phase, from this step's signal

    def metrics(self) -> dict[str, float]:
        return {"turn_phase/clue": float(self.phase == "clue"), "turn_phase/switches": float(self.switches)}

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "steps": self.steps, "switches": self.switches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.phase, self.steps, self.switches = state["phase"], int(state["steps"]), int(state["switches"])
