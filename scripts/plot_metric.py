"""Metrics of several runs on one plot, read from their metrics.jsonl.

    python scripts/plot_metric.py runs/nash_none runs/nash_uniform --key exploitability/kuhn_poker \
        --out docs/kuhn_nash_exploitability.png
    python scripts/plot_metric.py runs/sneaky_critic --key critic/format_rate critic/acc_correct --out x.png
    python scripts/plot_metric.py runs/leduc_exact_s0 runs/leduc_exact_s1 --updates \
        --key played_exploitability/leduc_poker exploitability/leduc_poker --out docs/leduc_exact_exploitability.png

With `--updates` the x axis counts the updates a policy has had, and a run's keys join into one line:
a `played_*` value at step s measures the policy that played step s (after s - 1 updates), any other
key the policy after step s's update.
Prints the metric per step (or per update) for each run as well, so the figure's numbers are in the
terminal too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sparring.evaluation.plots import _pyplot, _save, _series, read_jsonl


def series_by_updates(rows: list[dict], keys: list[str]) -> tuple[list[int], list[float]]:
    """One series over the number of updates, from keys measured before (`played_*`) or after a step's update."""
    points: dict[int, float] = {}
    for key in keys:
        steps, values = _series(rows, key)
        shift = 1 if key.startswith("played_") else 0
        for step, value in zip(steps, values):
            points.setdefault(int(step) - shift, value)
    updates = sorted(points)
    return updates, [points[u] for u in updates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--key", required=True, nargs="+", help="metrics.jsonl keys, e.g. exploitability/kuhn_poker")
    parser.add_argument("--updates", action="store_true",
                        help="x axis: updates made; a run's keys join into one line (played_* keys shift by one)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default=None)
    args = parser.parse_args()
    fig, ax = _pyplot().subplots(figsize=(8, 4.5))
    for run in args.runs:
        rows = read_jsonl(run / "metrics.jsonl")
        lines = [(run.name, *series_by_updates(rows, args.key))] if args.updates else [
            (run.name if len(args.key) == 1 else f"{run.name} {key}", *_series(rows, key)) for key in args.key]
        for label, steps, values in lines:
            if not steps:
                raise SystemExit(f"plot_metric: {run} has none of {args.key} in metrics.jsonl")
            print(f"{label}: " + ", ".join(f"{s}:{v:.3f}" for s, v in zip(steps, values)))
            ax.plot(steps, values, marker="o", label=label)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    keys = ", ".join(args.key)
    ylabel = keys if len(args.key) == 1 else "value"
    xlabel = "updates" if args.updates else "step"
    print(f"wrote {_save(fig, ax, args.out, args.title or keys, ylabel, xlabel=xlabel)}")


if __name__ == "__main__":
    main()
