"""Metrics of several runs on one plot, read from their metrics.jsonl.

    python scripts/plot_metric.py runs/nash_none runs/nash_uniform --key exploitability/kuhn_poker \
        --out docs/kuhn_nash_exploitability.png
    python scripts/plot_metric.py runs/sneaky_critic --key critic/format_rate critic/acc_correct --out x.png

Prints the metric per step for each run as well, so the figure's numbers are in the terminal too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sparring.evaluation.plots import _pyplot, _save, _series, read_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--key", required=True, nargs="+", help="metrics.jsonl keys, e.g. exploitability/kuhn_poker")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default=None)
    args = parser.parse_args()
    fig, ax = _pyplot().subplots(figsize=(8, 4.5))
    for run in args.runs:
        for key in args.key:
            steps, values = _series(read_jsonl(run / "metrics.jsonl"), key)
            if not steps:
                raise SystemExit(f"plot_metric: {run} has no {key!r} in metrics.jsonl")
            label = run.name if len(args.key) == 1 else f"{run.name} {key}"
            print(f"{label}: " + ", ".join(f"{s}:{v:.3f}" for s, v in zip(steps, values)))
            ax.plot(steps, values, marker="o", label=label)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    keys = ", ".join(args.key)
    print(f"wrote {_save(fig, ax, args.out, args.title or keys, keys if len(args.key) == 1 else 'value')}")


if __name__ == "__main__":
    main()
