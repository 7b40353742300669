"""Plots of a run: PNGs from RUN_DIR/metrics.jsonl and RUN_DIR/eval.jsonl, into RUN_DIR/plots/.

    paths = plot_run("runs/kuhn")

Each figure is drawn only when its keys are in the logs:

- ``train_win_rate.png``: self-play win rate per (game, role) vs step (``win_rate/GAME/ROLE``);
- ``train_invalid_rate.png``: invalid-move rate per (game, role) during training;
- ``train_mean_return.png``, ``advantage.png``, ``baseline.png``: per (game, role) likewise;
- ``eval_win_rate.png`` / ``eval_invalid_rate.png``: evaluation against each opponent, all
  seats, with the 95% Wilson interval as a band; one panel per game;
- ``exploitability.png``: exploitability vs step per game, with the uniform-random and CFR
  reference lines;
- ``transfer.png``: the transfer suite across checkpoints: mean score per reasoning task and
  mean return per held-out game (all seats, per opponent), each with its 95% interval as a band
  and the reference's value dashed;
- one figure per scalar: response length, entropy, KL, loss, gradient norm, clip fraction,
  and the rollout / learner token rates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sparring.errors import SparringError

__all__ = ["plot_run", "read_jsonl"]

PER_ROLE = {  # key prefix -> (file stem, y label, title)
    "win_rate": ("train_win_rate", "win rate", "Training win rate per (game, role)"),
    "invalid_rate": ("train_invalid_rate", "invalid-move rate", "Training invalid-move rate per (game, role)"),
    "mean_return": ("train_mean_return", "mean return", "Training mean return per (game, role)"),
    "advantage": ("advantage", "mean advantage", "Mean advantage per (game, role)"),
    "baseline": ("baseline", "baseline", "Return baseline per (game, role)"),
    "exploitability": ("train_exploitability", "exploitability (chips per game)",
                       "Exact exploitability during training, at the sampling temperature"),
    "exploitability_average": ("train_exploitability_average", "exploitability (chips per game)",
                               "Exact exploitability of the average policy (EMA weights) during training"),
    "played_exploitability": ("train_played_exploitability", "exploitability (chips per game)",
                              "Exact exploitability of the policy that played each step (algo.advantage: exact)"),
}
SCALARS = {  # key -> (file stem, y label, title)
    "response_length": ("response_length", "tokens", "Mean response length"),
    "entropy": ("entropy", "entropy (nats/token)", "Policy entropy"),
    "kl": ("kl", "KL to reference", "KL divergence to the reference model"),
    "loss": ("loss", "loss", "Policy loss"),
    "grad_norm": ("grad_norm", "gradient norm", "Gradient norm"),
    "clip_fraction": ("clip_fraction", "fraction of tokens clipped", "PPO clip fraction"),
    "magnet_kl": ("magnet_kl", "KL(policy || magnet)", "Magnet KL over each turn's legal answers"),
}
THROUGHPUT = ("rollout_tokens_per_s", "learner_tokens_per_s")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file ([] when it does not exist); a bad line is a SparringError."""
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise SparringError(f"{path}:{number} is not valid JSON") from None
    return rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and r.get("step") is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _integer_steps(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _style(ax, title: str, ylabel: str, legend: bool = True, fontsize: int = 8, xlabel: str = "step") -> None:
    """Steps (or another count) on the x axis, a title, a grid, and a legend when there is something to name."""
    _integer_steps(ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize, loc="best")


def _write(fig, path: Path, suptitle: str | None = None) -> Path:
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _save(fig, ax, path: Path, title: str, ylabel: str, legend: bool = True, xlabel: str = "step") -> Path:
    _style(ax, title, ylabel, legend, xlabel=xlabel)
    return _write(fig, path)


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the run's plots (default folder RUN_DIR/plots) and return their paths."""
    run = Path(run_dir)
    if not run.is_dir():
        raise SparringError(f"run directory not found: {run}")
    metrics = read_jsonl(run / "metrics.jsonl")
    evals = read_jsonl(run / "eval.jsonl")
    if not metrics and not evals:
        raise SparringError(f"nothing to plot in {run}: no metrics.jsonl or eval.jsonl")
    out = Path(out_dir) if out_dir else run / "plots"
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    written: list[Path] = []
    keys = sorted({k for row in metrics for k in row})

    for prefix, (stem, ylabel, title) in PER_ROLE.items():
        role_keys = [k for k in keys if k.startswith(prefix + "/")]
        if not role_keys:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for key in role_keys:
            steps, values = _series(metrics, key)
            ax.plot(steps, values, marker="." if len(steps) < 40 else None, label=key.removeprefix(prefix + "/"))
        if prefix in ("win_rate", "invalid_rate"):
            ax.set_ylim(-0.02, 1.02)
        written.append(_save(fig, ax, out / f"{stem}.png", title, ylabel))

    for key, (stem, ylabel, title) in SCALARS.items():
        if key not in keys:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5))
        steps, values = _series(metrics, key)
        ax.plot(steps, values, marker="." if len(steps) < 40 else None)
        written.append(_save(fig, ax, out / f"{stem}.png", title, ylabel, legend=False))

    rates = [k for k in THROUGHPUT if k in keys]
    if rates:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for key in rates:
            steps, values = _series(metrics, key)
            ax.plot(steps, values, label=key.removesuffix("_tokens_per_s"))
        written.append(_save(fig, ax, out / "throughput.png", "Throughput", "tokens per second"))

    match_rows = [r for r in evals if "metric" not in r and r.get("seat") == "all" and r.get("step") is not None]
    for rate in ("win", "invalid"):
        if match_rows:
            written.append(_plot_eval_rate(plt, match_rows, rate, out / f"eval_{rate}_rate.png"))

    expl = [r for r in evals if r.get("metric") == "exploitability" and r.get("step") is not None]
    if expl:
        written.append(_plot_exploitability(plt, expl, out / "exploitability.png"))
    transfer = [r for r in evals if r.get("metric") == "transfer" and r.get("step") is not None
                and (r["kind"] == "task" or r["seat"] == "all")]
    if transfer:
        written.append(_plot_transfer(plt, transfer, out / "transfer.png"))
    return written


def _plot_transfer(plt, rows: list[dict[str, Any]], path: Path) -> Path:
    panels = [("task", "mean score", "Reasoning tasks"), ("game", "mean return (all seats)", "Held-out games")]
    panels = [p for p in panels if any(r["kind"] == p[0] for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    for ax, (kind, ylabel, title) in zip(axes[0], panels):
        series: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            if r["kind"] == kind:
                series[r["name"] if kind == "task" else f"{r['name']} vs {r['opponent']}"].append(r)
        for label, points in sorted(series.items()):
            points.sort(key=lambda r: r["step"])
            steps = [r["step"] for r in points]
            line, = ax.plot(steps, [r["mean"] for r in points], marker="o", label=label)
            ax.fill_between(steps, [r["mean_low"] for r in points], [r["mean_high"] for r in points],
                            color=line.get_color(), alpha=0.12)
            if points[-1].get("ref_mean") is not None:
                ax.axhline(points[-1]["ref_mean"], color=line.get_color(), linestyle="--", linewidth=0.8)
        _style(ax, title, ylabel, fontsize=7)
    return _write(fig, path, "Transfer suite across checkpoints (band: 95% interval; dashed: the reference model)")


def _plot_eval_rate(plt, rows: list[dict[str, Any]], rate: str, path: Path) -> Path:
    games = sorted({r["game"] for r in rows})
    fig, axes = plt.subplots(1, len(games), figsize=(max(8, 5.5 * len(games)), 4.5), squeeze=False)
    for ax, game in zip(axes[0], games):
        by_opponent: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            if r["game"] == game:
                by_opponent[r["opponent"]].append(r)
        for opponent, series in sorted(by_opponent.items()):
            series.sort(key=lambda r: r["step"])
            steps = [r["step"] for r in series]
            line, = ax.plot(steps, [r[rate] for r in series], marker="o", label=f"vs {opponent}")
            ax.fill_between(steps, [r[f"{rate}_low"] for r in series], [r[f"{rate}_high"] for r in series],
                            color=line.get_color(), alpha=0.15)
        ax.set_ylim(-0.02, 1.02)
        _style(ax, game, f"{rate} rate (all seats)")
    label = "win rate" if rate == "win" else "invalid-move rate"
    return _write(fig, path, f"Evaluation {label} against fixed opponents (band: 95% Wilson interval)")


def _plot_exploitability(plt, rows: list[dict[str, Any]], path: Path) -> Path:
    games = sorted({r["game"] for r in rows})
    fig, axes = plt.subplots(1, len(games), figsize=(max(8, 5.5 * len(games)), 4.5), squeeze=False)
    for ax, game in zip(axes[0], games):
        series = sorted((r for r in rows if r["game"] == game), key=lambda r: r["step"])
        ax.plot([r["step"] for r in series], [r["value"] for r in series], marker="o", label="model")
        last = series[-1]
        if last.get("uniform") is not None:
            ax.axhline(last["uniform"], color="grey", linestyle="--", label=f"uniform random ({last['uniform']:.3f})")
        if last.get("cfr") is not None:
            ax.axhline(last["cfr"], color="green", linestyle=":", label=f"CFR ({last['cfr']:.3f})")
        ax.set_ylim(bottom=0)
        _style(ax, game, "exploitability (chips per game)")
    return _write(fig, path, "Exploitability of the policy (lower is better; Nash = 0)")
