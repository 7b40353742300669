"""The rollout engine: plays many matches at once and batches every pending turn of a player.

Each round, matches waiting on a fixed player advance first (they answer at once); then every
match waiting on a batching player (a language model) contributes one prompt, and that player
answers all of them in one call. Finished matches are replaced by new ones until the requested
number of matches or of recorded turns is reached; every started match is played to its end, or
abandoned when a player could not answer (`Action.failure`: a served model's transport failed).
Abandoned matches are yielded too, so their transcripts are written; they have no returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sparring.games.base import LanguageGame, Match, MatchRules
from sparring.players.base import Player


@dataclass
class MatchSpec:
    """What one match needs: the game, a player per seat, a seed, and labels for bookkeeping."""

    game: LanguageGame
    players: list[Player]
    seed: int
    rules: MatchRules
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlayedMatch:
    spec: MatchSpec
    match: Match

    def record(self) -> dict[str, Any]:
        """The JSONL transcript record: the match plus who sat where."""
        return {**self.match.record(), "seats": [p.name for p in self.spec.players], **self.spec.meta}


def is_learner_turn(turn) -> bool:
    """A turn that carries what a learner needs (an LM's token ids and log-probs)."""
    return "completion_ids" in turn.extra


def counts_learner_turn(played: PlayedMatch, turn) -> bool:
    """The default turn count of :meth:`Rollout.play`: every turn with token ids, whatever the seat."""
    return is_learner_turn(turn)


class Rollout:
    """Plays matches `concurrency` at a time."""

    def __init__(self, concurrency: int = 32):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency

    def play(
        self,
        next_spec: Callable[[int], MatchSpec],
        num_matches: int | None = None,
        num_turns: int | None = None,
        counts: Callable[[PlayedMatch, Any], bool] = counts_learner_turn,
    ) -> Iterator[PlayedMatch]:
        """Yield matches as they finish. `next_spec(i)` describes the i-th match to start.

        `num_turns` counts the turns for which `counts(played_match, turn)` is true.
        """
        if num_matches is None and num_turns is None:
            raise ValueError("give num_matches or num_turns")
        live: list[PlayedMatch] = []
        started = turns = 0

        def may_start() -> bool:
            return (num_matches is None or started < num_matches) and (num_turns is None or turns < num_turns)

        while True:
            while len(live) < self.concurrency and may_start():
                spec = next_spec(started)
                for player in spec.players:
                    player.check_game(spec.game)
                live.append(PlayedMatch(spec, spec.game.new_match(spec.seed, spec.rules)))
                started += 1
            if not live:
                return
            for player, waiting in self._next_groups(live):
                observations = [played.match.observe() for played in waiting]
                for played, obs, action in zip(waiting, observations, player.act_batch(observations)):
                    if action.failure is not None:
                        played.match.abandon(action.failure)
                        continue
                    turn = played.match.submit(action.text, prompt=obs.prompt, **action.extra)
                    turns += counts(played, turn)
            still_live = []
            for played in live:
                if played.match.is_over():
                    yield played
                else:
                    still_live.append(played)
            live = still_live

    @staticmethod
    def _next_groups(live: list[PlayedMatch]) -> list[tuple[Player, list[PlayedMatch]]]:
        """Matches grouped by the player to move: fixed players' groups alone if there are any."""
        groups: dict[int, tuple[Player, list[PlayedMatch]]] = {}
        for played in live:
            player = played.spec.players[played.match.current_seat()]
            groups.setdefault(id(player), (player, []))[1].append(played)
        fixed = [g for g in groups.values() if not getattr(g[0], "batched", False)]
        return fixed or list(groups.values())
