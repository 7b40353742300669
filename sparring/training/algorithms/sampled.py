"""Sampled action values (``sampled``): the exact algorithm's losses on values read off the step's own matches
(`sparring.training.sampled`) instead of the game tree, so a game with no tree to walk trains the same way:
``Q(s, a) - V(s)`` per decision (ppo, reinforce), or with ``exact_states: all`` one merged sample per question
reached, trained over its legal answers (``all_actions``, ``mmd``).
"""

from __future__ import annotations

from sparring.config import Config, ConfigError
from sparring.games import LanguageGame
from sparring.players.rollout import PlayedMatch
from sparring.training.algorithms.base import Batch
from sparring.training.algorithms.exact import Exact
from sparring.training.algorithms.policy_gradient import PolicyGradient
from sparring.training.sampled import SampledValues


class Sampled(Exact):
    """Exact's objectives on sampled values: the step's table is built from its matches' returns."""

    @classmethod
    def check(cls, cfg: Config, games: dict[str, LanguageGame]) -> None:
        super().check(cfg, games)
        open_moves = [name for name, game in games.items() if game.open_moves]
        if open_moves:
            raise ConfigError(f"algo.advantage=sampled compares the legal moves of each question, but "
                              f"{', '.join(open_moves)} has open-ended moves: train it with another advantage")

    table: SampledValues | None = None

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        self.table = SampledValues()
        for pm in played:
            self.table.add_match(pm.match, pm.spec.meta["learning_seats"], self.answers)
        batch = PolicyGradient.samples(self, played, step)
        if self.algo.exact_states == "all":
            batch.samples = self.table.state_samples()
        return batch

    def metrics(self) -> dict[str, float]:
        return self.table.metrics() if self.table else {}



