"""The run's stateful parts under one lifecycle: each is built from its config section (None when off), follows
the weights after every learner update (`after_update`), reports its `metrics`, and checkpoints its state.

A checkpoint's trainer state is the dictionary of the parts' states by name (`Parts.state_dict`), beside the
learner's and the step's own. Checkpoints written before the parts had one lifecycle kept the algorithm's state
(baselines, magnet, iterate) at the top; `Parts.load_state_dict` reads those too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sparring.errors import SparringError
from sparring.games import LanguageGame
from sparring.training.adapters import AVERAGE_ADAPTER, AdapterAverage, opponent_adapter

ALGORITHM_KEYS = ("baselines", "magnet", "iterate")  # the algorithm's state in checkpoints written before parts


class Part(Protocol):
    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        """Follow the weights the learner just wrote; ``metrics`` are the step's so far (the signals)."""

    def metrics(self) -> dict[str, float]: ...

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class AveragePolicy:
    """The average policy (`trainer.average_decay`): a moving average of the policy's adapter, measured beside
    the policy and saved as a folder of its own."""

    def __init__(self, model: Any, decay: float):
        self.average = AdapterAverage(model, decay, "trainer.average_decay")

    @classmethod
    def from_config(cls, cfg: Any, model: Any) -> AveragePolicy | None:
        return cls(model, cfg.trainer.average_decay) if cfg.trainer.average_decay else None

    @property
    def weights(self) -> dict:
        return self.average.weights

    @contextmanager
    def active(self, model: Any) -> Iterator[None]:
        """The model plays the average policy in the body."""
        with opponent_adapter(model, self.average.weights, slot=AVERAGE_ADAPTER):
            yield

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        self.average.update(model)

    def metrics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return self.average.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.average.load_state_dict(state)


class GameStates:
    """What the games that keep state between matches hold (a creator's buffer, a curriculum of questions)."""

    def __init__(self, games: dict[str, LanguageGame]):
        self.games = games

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        pass

    def metrics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {name: game.state_dict() for name, game in self.games.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, game_state in state.items():
            self.games[name].load_state_dict(game_state)


class Parts(dict):
    """The parts by name (None: off), in the order they follow an update."""

    def on(self) -> list[Part]:
        return [part for part in self.values() if part is not None]

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        for part in self.on():
            part.after_update(model, step, metrics)

    def metrics(self) -> dict[str, float]:
        return {key: value for part in self.on() for key, value in part.metrics().items()}

    def state_dict(self) -> dict[str, Any]:
        return {name: part.state_dict() if part is not None else None for name, part in self.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "algorithm" not in state:
            state = {**state, "algorithm": {key: state.get(key) for key in ALGORITHM_KEYS}}
        for name, part in self.items():
            if part is None:
                continue
            if state.get(name) is None and name != "games":
                raise SparringError(f"the checkpoint holds no {name} state (its run had it off): resume with the "
                                    "config it was written with")
            part.load_state_dict(state.get(name) or {})
