"""Exact cross-play on games small enough to enumerate (Kuhn, Leduc): expected chips, no match noise.

A sampled league scores win/draw/loss over a few dozen matches; on poker that rewards frequent
small wins and its intervals are wider than the differences between checkpoints. Here each entry's
strategy is read as a table instead, as the exploitability scorer reads it (an LM: the likelihood
of each legal move's answer at its sampling temperature; ``random``: uniform; ``cfr``: CFR's
average policy; any other fixed player: its sampled answers), and OpenSpiel's
`expected_game_score.policy_value` gives every pair's expected return, averaged over both seat
assignments. The matrix is then antisymmetric (a two-seat zero-sum game), and no entry can lose
more than its own exploitability to anyone.

`ExactLeague.regressions()` lists the pairs of one run where a later checkpoint loses to an earlier
one in expectation: the league test of self-play that no longer cycles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import expected_game_score

from sparring.errors import SparringError
from sparring.evaluation.exploitability import (EXPLOITABILITY_GAMES, cfr_tabular_policy, check_likelihood_reads,
                                                exploitability, lm_policy)
from sparring.evaluation.league import EntrySettings, LeagueEntry, default_settings
from sparring.evaluation.ratings import plot_matrix
from sparring.games.base import EVALUATION_RULES, MatchRules

__all__ = ["EntrySettings", "ExactLeague", "entry_policy", "exact_cross_play", "print_exact_league",
           "run_exact_league"]

def entry_policy(entry: LeagueEntry, game: str, lm_options: dict[str, Any] | None = None,
                 rules: MatchRules = EVALUATION_RULES) -> policy_lib.Policy:
    """The entry's strategy on `game` as an OpenSpiel policy (see the module doc for how each kind is read);
    an LM is built with `lm_options` and reads its prompts under `rules` (their answer format)."""
    import pyspiel

    from sparring.players import is_model_spec, make_player
    from sparring.players.fixed import CFRPlayer, RandomPlayer

    spec = entry.spec
    if isinstance(spec, str):
        options = {**(lm_options or {}), "backend": "hf"}  # likelihoods need the model's weights in this process
        spec = make_player(spec, **(options if is_model_spec(spec) else {}))
    if isinstance(spec, RandomPlayer):
        return policy_lib.UniformRandomPolicy(pyspiel.load_game(game))
    if isinstance(spec, CFRPlayer):
        return cfr_tabular_policy(game, spec.iterations)
    is_lm = getattr(spec, "model", None) is not None
    return lm_policy(game, spec, mode="likelihood" if is_lm else "sample", rules=rules).to_tabular_policy()


def seat_averaged_value(root: Any, a: policy_lib.Policy, b: policy_lib.Policy) -> float:
    """Expected return of `a` against `b` from the game's initial state `root`, the mean of `a` in
    seat 0 and `a` in seat 1."""
    first = expected_game_score.policy_value(root, [a, b])[0]
    second = expected_game_score.policy_value(root, [b, a])[1]
    return float(first + second) / 2


def exact_cross_play(names: list[str], policies: list[policy_lib.Policy], game: str) -> ExactLeague:
    """Every pair's exact seat-averaged expected return, and each policy's exploitability."""
    import pyspiel

    root = pyspiel.load_game(game).new_initial_state()
    n = len(names)
    value = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            value[i, j] = seat_averaged_value(root, policies[i], policies[j])
            value[j, i] = -value[i, j]
    return ExactLeague(game, names, value, [exploitability(game, p) for p in policies])


def run_exact_league(entries: list[LeagueEntry], game: str, settings: EntrySettings = default_settings,
                     on_entry: Callable[[str], None] | None = None) -> ExactLeague:
    """Read every entry's strategy (one model in memory at a time) with its own `settings(entry)`
    (default: sparring's LM defaults, EVALUATION_RULES), then play every pair exactly."""
    if game not in EXPLOITABILITY_GAMES:
        raise SparringError(f"an exact league needs a game whose states can all be scored "
                            f"({', '.join(EXPLOITABILITY_GAMES)}), not {game!r}; drop --exact")
    for entry in entries:  # a model whose strategy cannot be read is refused before any strategy is read
        if isinstance(entry.spec, str) and entry.spec.startswith("lm:"):
            check_likelihood_reads(settings(entry)[0].get("template", "short"))
    policies = []
    for entry in entries:
        if on_entry:
            on_entry(entry.name)
        lm_options, rules = settings(entry)
        policies.append(entry_policy(entry, game, lm_options, rules))
    return exact_cross_play([e.name for e in entries], policies, game)


def _run_and_step(name: str) -> tuple[str, int] | None:
    """("RUN", N) for an entry named RUN/step_N (a checkpoint), None for a fixed player."""
    found = re.fullmatch(r"(.+)/step_(\d+)", name)
    return (found.group(1), int(found.group(2))) if found else None


@dataclass
class ExactLeague:
    """Exact cross-play. ``value[i, j]``: expected return of player i against player j."""

    game: str
    names: list[str]
    value: np.ndarray
    exploitability: list[float]

    def regressions(self, tolerance: float = 0.0) -> list[tuple[str, str, float]]:
        """(later, earlier, value) for each checkpoint pair of one run where the later one's expected
        return against the earlier one is below ``-tolerance``."""
        found = []
        for i, later in enumerate(self.names):
            for j, earlier in enumerate(self.names):
                a, b = _run_and_step(later), _run_and_step(earlier)
                if a and b and a[0] == b[0] and a[1] > b[1] and self.value[i, j] < -tolerance:
                    found.append((later, earlier, float(self.value[i, j])))
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "game": self.game,
            "players": [{"name": name, "exploitability": e, "mean_value": float(np.nanmean(row))}
                        for name, e, row in zip(self.names, self.exploitability, self.value)],
            "value": [[None if np.isnan(v) else float(v) for v in row] for row in self.value],
            "regressions": [list(r) for r in self.regressions()],
        }

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write league_exact.json and league_exact_matrix.png into `out_dir`; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = out / "league_exact.json"
        data.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        png = plot_matrix(self.names, self.value, out / "league_exact_matrix.png",
                          title=f"{self.game}: exact expected return of row player vs column player")
        return [data, png]


def print_exact_league(result: ExactLeague, console=None, tolerance: float = 0.0) -> None:
    """Each player's exploitability, mean and worst expected return; then the regressions, if any."""
    from rich import box
    from rich.table import Table

    from sparring.progress import console as shared_console

    console = console or shared_console
    table = Table(title=f"Exact league on {result.game}: expected chips a game, both seats averaged",
                  box=box.SIMPLE_HEAD)
    for column in ("player", "exploitability", "mean vs field", "worst", "worst against"):
        table.add_column(column, justify="left" if column in ("player", "worst against") else "right")
    for i, name in enumerate(result.names):
        row = result.value[i]
        worst = int(np.nanargmin(row))
        table.add_row(name, f"{result.exploitability[i]:.3f}", f"{np.nanmean(row):+.3f}", f"{row[worst]:+.3f}",
                      result.names[worst])
    console.print(table)
    regressions = result.regressions(tolerance)
    if not regressions:
        console.print(f"No checkpoint loses more than {tolerance:g} chips a game to an earlier checkpoint of its run.")
    for later, earlier, value in regressions:
        console.print(f"{later} loses {-value:.3f} chips a game to {earlier}")
