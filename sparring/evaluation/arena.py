"""Arena: two players meet over many matches, alternating seats; per-seat rates with intervals."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sparring.games.base import EVALUATION_RULES, LanguageGame, MatchRules
from sparring.players.base import Player
from sparring.players.rollout import MatchSpec, PlayedMatch, Rollout
from sparring.evaluation.stats import mean_interval, outcome, wilson_interval

OUTCOMES = ("win", "draw", "loss", "invalid")


@dataclass
class SeatTally:
    """Outcomes of one player from one seat (seat None: all seats)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    returns: list[float] = field(default_factory=list)

    def add(self, result: str, invalid: bool, ret: float) -> None:
        self.counts[result] += 1
        self.counts["invalid"] += invalid
        self.returns.append(ret)

    @property
    def matches(self) -> int:
        return len(self.returns)

    def rate(self, key: str) -> tuple[float, float, float]:
        """The rate of an outcome with its 95% Wilson interval."""
        low, high = wilson_interval(self.counts[key], self.matches)
        return (self.counts[key] / max(1, self.matches), low, high)

    def summary(self) -> dict[str, float]:
        mean, low, high = mean_interval(self.returns)
        row: dict[str, float] = {"matches": self.matches, "mean_return": mean,
                                 "mean_return_low": low, "mean_return_high": high}
        for key in OUTCOMES:
            row[key], row[f"{key}_low"], row[f"{key}_high"] = self.rate(key)
        return row


@dataclass
class ArenaResult:
    game: str
    players: tuple[str, str]
    tallies: dict[tuple[int, int | None], SeatTally]  # (player index, seat or None for all)

    def rows(self) -> list[dict]:
        rows = []
        for (index, seat), tally in sorted(self.tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or 0)):
            rows.append({"player": self.players[index], "seat": "all" if seat is None else seat, **tally.summary()})
        return rows


def tally_match(played: PlayedMatch, labels: list[int], tallies: dict[tuple[int, int | None], SeatTally]) -> None:
    """Add one match to the tallies; `labels[seat]` says which player index sat there."""
    returns = played.match.returns()
    invalid = played.match.invalid_seats()
    for seat, index in enumerate(labels):
        for key in ((index, seat), (index, None)):
            tallies.setdefault(key, SeatTally()).add(outcome(returns, seat), seat in invalid, returns[seat])


def run_arena(
    game: LanguageGame,
    players: tuple[Player, Player],
    matches: int,
    seed: int = 0,
    rules: MatchRules = EVALUATION_RULES,
    concurrency: int = 32,
    transcripts: Path | None = None,
    on_match: Callable[[PlayedMatch], None] | None = None,
) -> ArenaResult:
    """Play `matches` matches, player 0 in seat 0 of even matches and seat 1 of odd ones."""

    def spec(i: int) -> MatchSpec:
        order = [0, 1] if i % 2 == 0 else [1, 0]
        return MatchSpec(game, [players[k] for k in order], seed + i, rules, {"labels": order})

    tallies: dict[tuple[int, int | None], SeatTally] = {}
    out = transcripts.open("w") if transcripts else None
    try:
        for played in Rollout(concurrency).play(spec, num_matches=matches):
            tally_match(played, played.spec.meta["labels"], tallies)
            if out:
                out.write(json.dumps(played.record()) + "\n")
            if on_match:
                on_match(played)
    finally:
        if out:
            out.close()
    return ArenaResult(game.name, (players[0].name, players[1].name), tallies)
