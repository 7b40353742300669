"""League on games of more than two seats: players meet in rotating groups, rated by OpenSkill over teams.

Seating: each round shuffles the players (a seeded generator) and deals them in that order into
matches of N seats, the round's last match filled up from the round's start; so every player plays
in every round, in seats drawn at random, and with fewer players than seats a player sits more than
once in a match. Over `rounds` rounds each player plays at least `rounds` matches.

Rating: a match is an event between its teams (`Match.teams()`; a team's result is the sum of its
seats' returns, as in the arena), ranked by result, and OpenSkill's Plackett-Luce `rate` updates
the team members' ratings together. A cooperative game has one team per match and no one to beat
in it, so matches are paired in order and each pair is an event between the two matches' teams.
Elo, wins and draws come from the same events split into pairs of players on different teams; the
matrix is the mean return of the row player over the matches the column player also sat in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparring.evaluation.ratings import Event, LeagueResult, outcome_matrices
from sparring.games.base import LanguageGame, MatchRules
from sparring.players.base import Player
from sparring.players.rollout import MatchSpec, PlayedMatch, Rollout
from sparring.seeding import stream_seed

__all__ = ["deal_groups", "match_events", "pair_records", "run_nplayer_league"]


def deal_groups(players: int, seats: int, rounds: int, seed: int) -> list[list[int]]:
    """The player index at each seat of every match, round after round."""
    groups = []
    for r in range(rounds):
        rng = np.random.default_rng(stream_seed(seed, "seating", r))
        order = [int(k) for k in rng.permutation(players)]
        count = -(-players // seats)
        dealt = (order * -(-count * seats // players))[: count * seats]
        groups += [dealt[m * seats:(m + 1) * seats] for m in range(count)]
    return groups


def _teams(played: PlayedMatch) -> Event:
    labels, match = played.spec.meta["labels"], played.match
    returns, teams = match.returns(), match.teams()
    event: dict[int, tuple[list[int], float]] = {}
    for seat, team in enumerate(teams):
        members, total = event.get(team, ([], 0.0))
        event[team] = (members + [labels[seat]], total + returns[seat])
    return list(event.values())


def match_events(played: list[PlayedMatch], cooperative: bool) -> list[Event]:
    """The rated events of the matches (in match order): a match's teams, or, in a cooperative
    game, the teams of two consecutive matches (an odd last match is left out)."""
    teams = [_teams(p) for p in played]
    if not cooperative:
        return teams
    return [teams[k] + teams[k + 1] for k in range(0, len(teams) - 1, 2)]


def pair_records(events: list[Event]) -> list[tuple[int, int, float]]:
    """(i, j, score of i) for every two players on different teams of an event (1, 0.5 or 0)."""
    records = []
    for event in events:
        for a, (members_a, result_a) in enumerate(event):
            for members_b, result_b in event[a + 1:]:
                score = 1.0 if result_a > result_b else 0.5 if result_a == result_b else 0.0
                records += [(i, j, score) for i in members_a for j in members_b if i != j]
    return records


def _mean_returns(played: list[PlayedMatch], n: int) -> np.ndarray:
    sums, counts = np.zeros((n, n)), np.zeros((n, n))
    for p in played:
        labels, returns = p.spec.meta["labels"], p.match.returns()
        present = set(labels)
        for seat, i in enumerate(labels):
            for j in present - {i}:
                sums[i, j] += returns[seat]
                counts[i, j] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def run_nplayer_league(game: LanguageGame, players: list[Player], rounds: int, seed: int, rules: MatchRules,
                       concurrency: int, on_match: Any = None) -> LeagueResult:
    """Play `rounds` rounds of `deal_groups` matches and rate them."""
    n = len(players)
    groups = deal_groups(n, game.num_seats, rounds, seed)

    def spec(k: int) -> MatchSpec:
        return MatchSpec(game, [players[i] for i in groups[k]], seed + k, rules, {"labels": groups[k], "index": k})

    played = []
    for p in Rollout(concurrency).play(spec, num_matches=len(groups)):
        if p.match.abandoned is not None:  # a served player's transport failed: no outcome to rate
            continue
        played.append(p)
        if on_match:
            on_match(p)
    played.sort(key=lambda p: p.spec.meta["index"])
    events = match_events(played, game.cooperative)
    records = pair_records(events)
    wins, draws = outcome_matrices(records, n)
    counts = np.array([sum(i in p.spec.meta["labels"] for p in played) for i in range(n)])
    return LeagueResult(game.name, [p.name for p in players], wins, draws, _mean_returns(played, n), records,
                        events=events, played=counts)
