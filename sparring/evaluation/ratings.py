"""A league's outcomes and the ratings drawn from them: Elo (OpenSpiel), OpenSkill, the cross-play matrix.

Both league schedules (`league`: pairs; `league_nplayer`: rotating groups on games of more than two
seats) fill a `LeagueResult`; it sits below them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyspiel

Event = list[tuple[list[int], float]]  # one rated result: each team's entries and its result (higher: better)


@dataclass
class LeagueResult:
    """Pairwise outcomes of a league. Matrices are indexed [row player][column player]."""

    game: str
    names: list[str]
    wins: np.ndarray  # wins[i, j]: matches i won against j
    draws: np.ndarray  # draws[i, j] == draws[j, i]
    mean_return: np.ndarray  # mean return of i against j (nan on the diagonal)
    records: list[tuple[int, int, float]] = field(default_factory=list)  # (i, j, score of i: 1, 0.5, 0)
    events: list[Event] | None = None  # games of more than two seats: the team events OpenSkill rates
    played: np.ndarray | None = None  # games of more than two seats: matches each player sat in

    @property
    def matches(self) -> np.ndarray:
        """Pairwise results between i and j (with more than two seats: pairs on different teams)."""
        return self.wins + self.wins.T + self.draws

    def match_counts(self) -> list[int]:
        """The matches each player played."""
        counts = self.matches.sum(axis=1) if self.played is None else self.played
        return [int(c) for c in counts]

    def elo(self, bootstrap: int = 200, seed: int = 0) -> list[tuple[float, float, float]]:
        """(Elo, 95% low, 95% high) per player."""
        return elo_ratings(self.records, len(self.names), bootstrap=bootstrap, seed=seed)

    def openskill(self) -> list[tuple[float, float]]:
        """(mu, sigma) per player."""
        if self.events is not None:
            return openskill_team_ratings(self.events, len(self.names))
        return openskill_ratings(self.records, len(self.names))

    def to_json(self) -> dict[str, Any]:
        elo = self.elo()
        skill = self.openskill()
        return {
            "game": self.game,
            "players": [
                {"name": name, "elo": e[0], "elo_low": e[1], "elo_high": e[2], "openskill_mu": s[0],
                 "openskill_sigma": s[1], "matches": played}
                for name, e, s, played in zip(self.names, elo, skill, self.match_counts())
            ],
            "mean_return": [[None if np.isnan(v) else float(v) for v in row] for row in self.mean_return],
            "wins": self.wins.astype(int).tolist(),
            "draws": self.draws.astype(int).tolist(),
        }

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write league.json and league_matrix.png into `out_dir`; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = out / "league.json"
        data.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        against = "vs column player" if self.events is None else "in matches with column player"
        png = plot_matrix(self.names, self.mean_return, out / "league_matrix.png",
                          title=f"{self.game}: mean return of row player {against}")
        return [data, png]


def outcome_matrices(records: list[tuple[int, int, float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(wins, draws) matrices from (i, j, score of i) records."""
    wins, draws = np.zeros((n, n)), np.zeros((n, n))
    for i, j, score in records:
        if score == 1.0:
            wins[i, j] += 1
        elif score == 0.0:
            wins[j, i] += 1
        else:
            draws[i, j] += 1
            draws[j, i] += 1
    return wins, draws


def _elo(wins: np.ndarray, draws: np.ndarray) -> np.ndarray:
    ratings = np.array(pyspiel.elo.compute_ratings_from_matrices(
        win_matrix=wins.astype(int).tolist(), draw_matrix=draws.astype(int).tolist()))
    return ratings - ratings.mean()


def elo_ratings(records: list[tuple[int, int, float]], n: int, bootstrap: int = 200,
                seed: int = 0) -> list[tuple[float, float, float]]:
    """Elo (mean 0) per player from (i, j, score of i) records, with a bootstrap 95% interval."""
    if not records:
        return [(0.0, 0.0, 0.0)] * n
    point = _elo(*outcome_matrices(records, n))
    if bootstrap < 1:
        return [(float(r), float(r), float(r)) for r in point]
    rng = np.random.default_rng(seed)
    samples = np.array([
        _elo(*outcome_matrices([records[k] for k in rng.integers(len(records), size=len(records))], n))
        for _ in range(bootstrap)
    ])
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return [(float(p), float(lo), float(hi)) for p, lo, hi in zip(point, low, high)]


def openskill_ratings(records: list[tuple[int, int, float]], n: int, seed: int = 0) -> list[tuple[float, float]]:
    """OpenSkill Plackett-Luce (mu, sigma) per player from two-player (i, j, score of i) records."""
    return openskill_team_ratings([[([i], score), ([j], 1.0 - score)] for i, j, score in records], n, seed)


def openskill_team_ratings(events: list[Event], n: int, seed: int = 0) -> list[tuple[float, float]]:
    """OpenSkill Plackett-Luce (mu, sigma) per player from multi-team events (`rate` with ranks; tied
    results share a rank).

    OpenSkill updates event by event, so its numbers depend on the order; a league plays pair
    after pair (or round after round), which would favour whoever played last. The events are
    therefore replayed in a seeded random order. A player seated more than once in one event
    (fewer players than seats) gets the mean of its updated copies.
    """
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    ratings = [model.rating(name=str(k)) for k in range(n)]
    for k in np.random.default_rng(seed).permutation(len(events)):
        teams = events[k]
        results = sorted((result for _, result in teams), reverse=True)
        ranks = [results.index(result) for _, result in teams]
        rated = model.rate([[ratings[e] for e in members] for members, _ in teams], ranks=ranks)
        updated: dict[int, list[Any]] = {}
        for (members, _), team in zip(teams, rated):
            for entry, rating in zip(members, team):
                updated.setdefault(entry, []).append(rating)
        for entry, copies in updated.items():
            ratings[entry] = model.rating(mu=float(np.mean([r.mu for r in copies])),
                                          sigma=float(np.mean([r.sigma for r in copies])), name=str(entry))
    return [(float(r.mu), float(r.sigma)) for r in ratings]


def plot_matrix(names: list[str], matrix: np.ndarray, out: str | Path, title: str = "") -> Path:
    """An annotated heatmap PNG of a square matrix (rows and columns labelled by `names`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(matrix, dtype=float)
    n = len(names)
    size = max(4.0, 0.9 * n + 2.5)
    labels = 0.08 * max(len(name) for name in names)  # inches the longest tick label takes (run/step_N paths are long)
    fig, ax = plt.subplots(figsize=(size + 1.5 + labels, size + labels), layout="constrained")
    finite = values[np.isfinite(values)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-bound or -1, vmax=bound or 1)
    ax.set_xticks(range(n), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("column player (opponent)")
    ax.set_ylabel("row player")
    for r in range(n):
        for c in range(n):
            text = "—" if not np.isfinite(values[r, c]) else f"{values[r, c]:+.2f}"
            strong = np.isfinite(values[r, c]) and abs(values[r, c]) > 0.6 * (bound or 1)
            ax.text(c, r, text, ha="center", va="center", fontsize=9, color="white" if strong else "black")
    fig.colorbar(image, ax=ax, label="mean return of row player")
    ax.set_title(title or "cross-play: mean return of row vs column")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
