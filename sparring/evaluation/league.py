"""League: every checkpoint of some runs (plus fixed players) plays every other; ratings and a matrix.

Each pair meets in `matches` matches through `run_arena` (seats alternate, so both seats are
played). From the outcomes:

- Elo by OpenSpiel (`pyspiel.elo`, Hunter's MM algorithm for Bradley-Terry with draws as half
  wins), centred so the mean rating is 0, with a 95% interval from a bootstrap over matches;
- OpenSkill (Plackett-Luce), updated match by match in a seeded shuffled order: mu +- 2 sigma;
- the cross-play matrix: mean return of the row player against the column player.

On a game of more than two seats, players meet in rotating groups instead and OpenSkill rates the
match's teams together (`sparring.evaluation.league_nplayer`).

`LeagueResult.save(out_dir)` writes ``league.json`` (names, ratings, matrices, counts) and
``league_matrix.png`` (an annotated heatmap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from sparring.evaluation.arena import run_arena
from sparring.evaluation.ratings import LeagueResult
from sparring.errors import SparringError
from sparring.games.base import EVALUATION_RULES, MatchRules
from sparring.players.base import Player
from sparring.seeding import stream_seed

__all__ = ["EntrySettings", "LeagueEntry", "default_settings", "league_entries", "league_rules", "print_league",
           "run_league"]

@dataclass
class LeagueEntry:
    """One league member: a display name, a player spec (or a ready `Player`) and, for a run's
    checkpoint, the run's config (its template, temperature and answer format)."""

    name: str
    spec: str | Player
    config: Any = None


EntrySettings = Callable[[LeagueEntry], tuple[dict[str, Any], MatchRules]]  # an entry's LM options and match rules


def default_settings(entry: LeagueEntry) -> tuple[dict[str, Any], MatchRules]:
    """sparring's LM defaults and EVALUATION_RULES, for any entry."""
    return {}, EVALUATION_RULES


def league_rules(entries: list[LeagueEntry], settings: EntrySettings) -> MatchRules:
    """The rules every match of the league is played under (a match has one answer format): those of the
    entries that come from a run, which must agree; without any, the first entry's."""
    ruled = [(entry.name, settings(entry)[1]) for entry in entries if entry.config is not None]
    for name, rules in ruled[1:]:
        differ = [f"{f.name} {getattr(ruled[0][1], f.name)} vs {getattr(rules, f.name)}"
                  for f in fields(MatchRules) if getattr(ruled[0][1], f.name) != getattr(rules, f.name)]
        if differ:
            raise SparringError(f"{ruled[0][0]} and {name} play under different match rules ({', '.join(differ)}), "
                                "but a match has one set (sparring league --answer-format sets the format for all)")
    return ruled[0][1] if ruled else settings(entries[0])[1]


def league_entries(run_dirs: list[str | Path], fixed: list[str] = ()) -> list[LeagueEntry]:
    """Every checkpoint of the run dirs (named RUN/step_N, RUN the folder as given: two runs in
    different folders stay two runs whatever their names; with the run's config) and the fixed
    players, in that order."""
    from sparring.checkpoint import checkpoint_dirs
    from sparring.config import load_run_config

    entries: list[LeagueEntry] = []
    for run_dir in run_dirs:
        run = Path(run_dir)
        if not run.is_dir():
            raise SparringError(f"run directory not found: {run}")
        found = [c for c in checkpoint_dirs(run) if (c / "model").is_dir()]
        if not found:
            raise SparringError(f"no checkpoints in {run / 'checkpoints'}")
        config = load_run_config(run)
        for checkpoint in found:
            entries.append(LeagueEntry(f"{run}/{checkpoint.name}", f"lm:{checkpoint / 'model'}", config))
    for spec in fixed:
        if spec not in [e.name for e in entries]:
            entries.append(LeagueEntry(spec, spec))
    if len(entries) < 2:
        raise SparringError("a league needs at least two players (add runs, checkpoints or --fixed players)")
    return entries


def run_league(entries: list[LeagueEntry], game: str, matches: int = 20, seed: int = 0,
               settings: EntrySettings = default_settings, concurrency: int = 32,
               progress: bool = False) -> LeagueResult:
    """Every entry plays every other `matches` times (seats alternating), an LM with its own `settings(entry)`'s
    options, under `league_rules`. On a game of more than two seats, `matches` rounds of rotating groups
    instead (`sparring.evaluation.league_nplayer`)."""
    from sparring.games import make_game
    from sparring.players import is_model_spec, make_player

    if matches < 1:
        raise SparringError("a league needs at least one match per pair (or round)")
    language_game = make_game(game)
    rules = league_rules(entries, settings)
    players: list[Player] = []
    for index, entry in enumerate(entries):
        if isinstance(entry.spec, Player):
            player = entry.spec
        else:
            options = settings(entry)[0] if is_model_spec(entry.spec) else {}
            player = make_player(entry.spec, seed=stream_seed(seed, "players", 0, index), **options)
        player.name = entry.name
        players.append(player)
    from sparring.evaluation.evaluate import _progress

    if language_game.num_seats != 2:
        from sparring.evaluation.league_nplayer import run_nplayer_league

        with _progress(progress) as bar:
            groups = matches * -(-len(players) // language_game.num_seats)
            task = bar.add_task(f"league on {language_game.name}", total=groups, stats="")
            return run_nplayer_league(language_game, players, matches, seed, rules, concurrency,
                                      on_match=lambda _: bar.advance(task))
    n = len(players)
    wins, draws = np.zeros((n, n)), np.zeros((n, n))
    mean_return = np.full((n, n), np.nan)
    records: list[tuple[int, int, float]] = []
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]

    with _progress(progress) as bar:
        task = bar.add_task(f"league on {game}", total=len(pairs) * matches, stats="")
        for i, j in pairs:
            bar.update(task, stats=f"{entries[i].name} vs {entries[j].name}")

            def record(played, i=i, j=j) -> None:
                returns = played.match.returns()
                seat_i = played.spec.meta["labels"].index(0)
                mine, theirs = returns[seat_i], returns[1 - seat_i]
                records.append((i, j, 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0))
                bar.advance(task)

            result = run_arena(language_game, (players[i], players[j]), matches, seed=seed, rules=rules,
                               concurrency=concurrency, on_match=record)
            for a, b, index in ((i, j, 0), (j, i, 1)):
                if (index, None) not in result.tallies:  # every match of the pair was abandoned
                    continue
                tally = result.tallies[(index, None)]
                wins[a, b] = tally.counts["win"]
                draws[a, b] = tally.counts["draw"]
                mean_return[a, b] = float(np.mean(tally.returns))
    return LeagueResult(language_game.name, [e.name for e in entries], wins, draws, mean_return, records)


def print_league(result: LeagueResult, console=None) -> None:
    """Ratings as a rich table, best first."""
    from rich import box
    from rich.table import Table

    from sparring.progress import console as shared_console

    console = console or shared_console
    elo, skill = result.elo(), result.openskill()
    table = Table(title=f"League on {result.game}: Elo (mean 0) with bootstrap 95% interval; OpenSkill mu ± 2σ",
                  box=box.SIMPLE_HEAD)
    for column in ("rank", "player", "Elo", "Elo 95%", "OpenSkill", "score", "matches"):
        table.add_column(column, justify="left" if column == "player" else "right")
    matches, played = result.matches, result.match_counts()
    for rank, k in enumerate(sorted(range(len(result.names)), key=lambda k: -elo[k][0]), 1):
        score = (result.wins[k].sum() + 0.5 * result.draws[k].sum()) / max(1, matches[k].sum())
        table.add_row(str(rank), result.names[k], f"{elo[k][0]:+.0f}", f"[{elo[k][1]:+.0f}, {elo[k][2]:+.0f}]",
                      f"{skill[k][0]:.1f} ± {2 * skill[k][1]:.1f}", f"{score:.2f}", str(played[k]))
    console.print(table)
