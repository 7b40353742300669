"""Players: anything that picks moves. One interface for fixed players, people and models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from sparring.games.answer import format_answer
from sparring.games.base import LanguageGame, Observation


@dataclass
class Action:
    """A player's answer: its text, plus what a learner needs from it (token ids, log-probs). ``failure`` says why
    no answer came (a served model's transport failed): that is no move, and the rollout abandons the match."""

    text: str
    extra: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None


class Player(ABC):
    """Answers observations with text. `act_batch` is the primitive so models can batch."""

    name: str = "player"

    @abstractmethod
    def act_batch(self, observations: list[Observation]) -> list[Action]:
        """One action per observation, in order."""

    def reseed(self, seed: int) -> None:
        """Restart the player's own randomness from ``seed`` (players without any ignore it)."""

    def check_game(self, game: LanguageGame) -> None:
        """Refuse (a SparringError) a game this player would not play fairly; most players play any."""

    def act(self, observation: Observation) -> str:
        """The answer text for one observation."""
        return self.act_batch([observation])[0].text


class MovePlayer(Player):
    """A player that picks a legal move by name; its answer is that move in the match's format."""

    @abstractmethod
    def choose(self, observation: Observation) -> str:
        """The name of a legal move."""

    def act_batch(self, observations: list[Observation]) -> list[Action]:
        return [Action(format_answer(self.choose(obs), obs.answer_format)) for obs in observations]
