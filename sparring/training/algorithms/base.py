"""The algorithm protocol: one training paradigm as one object the trainer loop calls and never branches on.

An algorithm turns a step's played matches into the learner's samples (`samples`), names what the learner
trains toward (`objective`, the hook the learner engine calls), follows the weights after each update
(`after_update`), and reports and checkpoints its own state (`metrics`, `state_dict`). `check` holds the
settings it cannot train under, raised before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sparring.config import Config
from sparring.games import LanguageGame
from sparring.players.rollout import PlayedMatch
from sparring.training.learner import LearnerSample, Objective


@dataclass
class Batch:
    """What a step's matches became: the learner's samples and what the trainer logs of them."""

    samples: list[LearnerSample]
    turns: int  # LM turns recorded for training, before any were dropped
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # the algorithm's own work, for the step's profile
    context: Any = None  # the samples' prompts as already run (`sparring.logprobs.PromptContext`), or None


@dataclass
class Context:
    """What an algorithm is built with: the run's config and games, the policy and the parts it reads."""

    cfg: Config
    games: dict[str, LanguageGame]
    policy: Any  # the LM player: its model and tokenizer, and the player the exact values score
    curriculum: Any  # learns each arm's value from the step's advantages
    phases: Any = None  # turn phases: which turns train this step (None: all)


class Algorithm:
    """One paradigm. Subclasses fill in the hooks; the defaults hold no state and report nothing."""

    @classmethod
    def check(cls, cfg: Config, games: dict[str, LanguageGame]) -> None:
        """Raise a one-line error for a setting this paradigm cannot train under."""

    def __init__(self, context: Context):
        self.context = context

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        raise NotImplementedError

    def objective(self) -> Objective:
        raise NotImplementedError

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        """Follow the weights the learner just wrote (moving magnets, the iterate...)."""

    def metrics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
