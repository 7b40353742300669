"""Arena: players meet over many matches, rotating seats; per-seat (and per-role) rates with intervals.

With N seats and N players, match i seats player (s + i) mod N at seat s, so every player takes
every seat equally often (two players: they alternate). Outcomes are team outcomes
(`sparring.evaluation.stats.outcome`): in a cooperative game the one team "wins" when it scores
above 0, and the mean return is its score. A match abandoned because a served player's transport
failed (`Match.abandon`) is written to the transcripts and counted apart, never scored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sparring.errors import SparringError
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


TallyKey = tuple[int, "int | str | None"]  # (player index, seat, a role dealt per match, or None: all)


def _order(key: TallyKey) -> tuple:
    where = key[1]
    return (key[0], where is None, isinstance(where, str), where if isinstance(where, int) else 0, str(where))


@dataclass
class ArenaResult:
    game: str
    players: tuple[str, ...]
    tallies: dict[TallyKey, SeatTally]  # (player index, seat, role or None for all)
    cooperative: bool = False
    abandoned: list[dict] = field(default_factory=list)  # each abandoned match's seat and reason, unscored

    def rows(self) -> list[dict]:
        rows = []
        for (index, where), tally in sorted(self.tallies.items(), key=lambda kv: _order(kv[0])):
            rows.append({"player": self.players[index], "seat": "all" if where is None else where, **tally.summary()})
        return rows

    @property
    def shows(self) -> str:
        """What the outcome columns mean for this game (a table caption), and how many matches were abandoned."""
        if self.cooperative:
            meaning = "cooperative: the seats are one team; win = the team scored above 0, mean return = its score"
        elif len(self.players) > 2:
            meaning = "win = the seat's team alone has the best return, draw = tied for best"
        else:
            meaning = "win = the better return, draw = equal returns"
        if self.abandoned:
            meaning += (f"; {len(self.abandoned)} more abandoned, not counted (a served player's transport failed: "
                        f"{self.abandoned[-1]['reason']})")
        return meaning


def tally_match(played: PlayedMatch, labels: list[int], tallies: dict[TallyKey, SeatTally]) -> None:
    """Add one match to the tallies; `labels[seat]` says which player index sat there. Games that deal
    roles per match (the spy) also get a tally per (player, role)."""
    match = played.match
    returns, teams = match.returns(), match.teams()
    invalid = match.invalid_seats()
    for seat, index in enumerate(labels):
        keys: list[TallyKey] = [(index, seat), (index, None)]
        if match.role(seat) != match.game.roles[seat]:
            keys.append((index, match.role(seat)))
        for key in keys:
            tallies.setdefault(key, SeatTally()).add(outcome(returns, seat, teams), seat in invalid, returns[seat])


def seat_order(match_index: int, seats: int) -> list[int]:
    """The player index at each seat of match `match_index`: a rotation, so seats are shared evenly."""
    return [(seat + match_index) % seats for seat in range(seats)]


def run_arena(
    game: LanguageGame,
    players: Sequence[Player],
    matches: int,
    seed: int = 0,
    rules: MatchRules = EVALUATION_RULES,
    concurrency: int = 32,
    transcripts: Path | None = None,
    on_match: Callable[[PlayedMatch], None] | None = None,
) -> ArenaResult:
    """Play `matches` matches, one player per seat, seats rotating (`seat_order`); `on_match` gets each scored
    match (an abandoned one is only written to the transcripts and listed in `ArenaResult.abandoned`)."""
    if len(players) != game.num_seats:
        raise SparringError(f"{game.name} has {game.num_seats} seats; got {len(players)} players")

    def spec(i: int) -> MatchSpec:
        order = seat_order(i, game.num_seats)
        return MatchSpec(game, [players[k] for k in order], seed + i, rules, {"labels": order})

    tallies: dict[TallyKey, SeatTally] = {}
    abandoned: list[dict] = []
    out = transcripts.open("w") if transcripts else None
    try:
        for played in Rollout(concurrency).play(spec, num_matches=matches):
            if out:
                out.write(json.dumps(played.record()) + "\n")
                out.flush()  # a later failure (or Ctrl-C) loses no finished match
            if played.match.abandoned is not None:
                abandoned.append(played.match.abandoned)
                continue
            tally_match(played, played.spec.meta["labels"], tallies)
            if on_match:
                on_match(played)
    finally:
        if out:
            out.close()
    return ArenaResult(game.name, tuple(p.name for p in players), tallies, game.cooperative, abandoned)
