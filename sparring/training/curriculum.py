"""The curriculum: which (game, role) to play next.

An *arm* is a ``"game/role"`` string (``"kuhn_poker/player_0"``); :func:`game_arms` lists the
arms of some games and :func:`split_arm` splits one (at the last ``/``, like RAE baselines).

* ``uniform`` -- every arm has probability ``1 / len(arms)``.
* ``sec`` -- the SEC bandit (Self-Evolving Curriculum): the reward of an arm for one learner step
  is the mean absolute advantage of that arm's turn samples (:func:`arm_rewards`), a proxy for
  how much there is still to learn there. Arm values follow TD(0),
  ``Q <- alpha * r + (1 - alpha) * Q`` (Q starts at 0; an arm without samples that step keeps its
  Q), and arms are drawn by Boltzmann sampling, ``p ∝ exp(Q / tau)``.

Values are updated under both kinds (so they can be logged); only ``sec`` samples by them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from sparring.training.advantages import TurnSample
from sparring.errors import SparringError

__all__ = ["KINDS", "Curriculum", "arm", "arm_rewards", "game_arms", "phase_arms", "split_arm"]

KINDS = ("uniform", "sec")


def arm(game: str, role: str) -> str:
    return f"{game}/{role}"


def split_arm(name: str) -> tuple[str, str]:
    """``"kuhn_poker/player_0"`` -> ``("kuhn_poker", "player_0")``."""
    game, sep, role = name.rpartition("/")
    if not sep or not game or not role:
        raise SparringError(f"a curriculum arm looks like game/role, got {name!r}")
    return game, role


def game_arms(games: Iterable[Any]) -> list[str]:
    """Every (game, role) arm of some :class:`LanguageGame` objects, in game then seat order."""
    return [arm(g.name, role) for g in games for role in g.roles]


def phase_arms(phases: Sequence[Sequence[str]], phase_steps: int, games: Iterable[Any], step: int) -> list[str] | None:
    """The arms learner step ``step`` (from 1) may play under alternating phases, or None (no phases).

    Phase ``((step - 1) // phase_steps) % len(phases)`` is active: only its games' arms are drawn.
    """
    if not phases:
        return None
    active = set(phases[((step - 1) // phase_steps) % len(phases)])
    return game_arms(g for g in games if g.name in active)


def arm_rewards(samples: Sequence[TurnSample]) -> dict[str, float]:
    """Mean absolute advantage of the turn samples of each arm present in ``samples``."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        key = arm(s.game, s.role)
        sums[key] += abs(s.advantage)
        counts[key] += 1
    return {key: sums[key] / counts[key] for key in sums}


class Curriculum:
    """Picks arms uniformly or by the SEC bandit; ``alpha`` is the TD(0) step, ``tau`` the temperature."""

    def __init__(self, kind: Literal["uniform", "sec"], arms: Sequence[str], alpha: float = 0.5, tau: float = 1.0):
        if kind not in KINDS:
            raise SparringError(f"unknown curriculum kind {kind!r} (choose from: {', '.join(KINDS)})")
        arms = list(arms)
        if not arms:
            raise SparringError("a curriculum needs at least one (game, role) arm")
        if len(set(arms)) != len(arms):
            raise SparringError(f"curriculum arms must be distinct, got {arms}")
        for a in arms:
            split_arm(a)
        if not 0 < alpha <= 1:
            raise SparringError(f"curriculum alpha must be in (0, 1], got {alpha}")
        if not tau > 0:
            raise SparringError(f"curriculum tau must be positive, got {tau}")
        self.kind = kind
        self.arms = arms
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.values: dict[str, float] = {a: 0.0 for a in arms}

    @classmethod
    def from_config(cls, cfg: Any, arms: Sequence[str]) -> Curriculum:
        """A curriculum from a :class:`sparring.config.CurriculumConfig` and the run's arms."""
        return cls(cfg.kind, arms, cfg.alpha, cfg.tau)

    def probabilities(self) -> dict[str, float]:
        """Sampling probability of every arm (softmax of Q / tau, computed stably, for ``sec``)."""
        if self.kind == "uniform":
            return {a: 1.0 / len(self.arms) for a in self.arms}
        logits = [self.values[a] / self.tau for a in self.arms]
        top = max(logits)
        weights = [math.exp(x - top) for x in logits]
        total = sum(weights)
        return {a: w / total for a, w in zip(self.arms, weights)}

    def sample(self, rng: Any, arms: Sequence[str] | None = None) -> str:
        """One arm; ``rng`` has ``.random()`` (numpy Generator or random.Random).

        ``arms``: draw only among these (their probabilities renormalised), e.g. the current phase's.
        """
        probs = self.probabilities()
        if arms is not None:
            probs = {a: probs[a] for a in self.arms if a in set(arms)}
            if not probs:
                raise SparringError(f"no curriculum arm among {list(arms)} (arms: {', '.join(self.arms)})")
            total = sum(probs.values())
            probs = {a: p / total for a, p in probs.items()}
        cumulative = np.cumsum(list(probs.values()))
        index = min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(probs) - 1)
        return list(probs)[index]

    def update(self, rewards: Mapping[str, float]) -> None:
        """TD(0) for each arm with a reward this step: ``Q <- alpha * r + (1 - alpha) * Q``."""
        unknown = [a for a in rewards if a not in self.values]
        if unknown:
            raise SparringError(f"curriculum reward for unknown arm(s) {unknown} (arms: {', '.join(self.arms)})")
        for a, r in rewards.items():
            if not math.isfinite(r):
                raise SparringError(f"curriculum reward for {a} is not finite: {r}")
            self.values[a] = self.alpha * float(r) + (1 - self.alpha) * self.values[a]

    def after_update(self, model: Any, step: int, metrics: Mapping[str, float]) -> None:
        """Nothing: the arm values learn from the step's advantages (`update`), before the learner."""

    def metrics(self) -> dict[str, float]:
        """``curriculum/value/ARM`` (Q) and ``curriculum/prob/ARM`` for every arm."""
        out = {f"curriculum/value/{a}": q for a, q in self.values.items()}
        out.update({f"curriculum/prob/{a}": p for a, p in self.probabilities().items()})
        return out

    def state_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints: kind, arms, alpha, tau and the arm values."""
        return {"kind": self.kind, "arms": list(self.arms), "alpha": self.alpha, "tau": self.tau,
                "values": dict(self.values)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` exactly."""
        restored = Curriculum(state["kind"], state["arms"], state["alpha"], state["tau"])
        restored.values.update({a: float(q) for a, q in state["values"].items() if a in restored.values})
        self.__dict__.update(restored.__dict__)
