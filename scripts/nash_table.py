"""The table of docs/equilibrium.md's "Pulling self-play toward equilibrium" section, from runs on disk.

    python scripts/nash_table.py runs/nash_seed0 runs/nash_seed1 runs/nash_seed2 runs/nash_none runs/nash_ema

Per run: its seed and magnet, minutes of training (wall time at the last logged step), both
exploitabilities at step `--at` (so runs of different lengths compare at equal budget), the exact
exploitability at the last measured step and the lowest one measured (last iterate, and the average
policy when the run kept one), the first measured step at which each was at most `--below`, and the mean return [95% CI] of the last checkpoint's average policy against
`random` and `cfr` from the run's eval.jsonl
(`sparring eval RUN_DIR/checkpoints/step_000240/average --opponents random cfr --matches 64`),
and its exact expected return against them from RUN_DIR/league/league_exact.json when there is one
(`sparring league RUN_DIR --exact --fixed random cfr lm:RUN_DIR/checkpoints/step_000240/average`).
Under `algo.advantage: exact` the policy that played each step is measured every step
(`played_exploitability`: at step s, the policy after step s - 1's update): its last and lowest
value and the first step at or below `--below`.
With `--profile`, a second table: each run's mean seconds a step in generation (or legal-move
scoring), the exact action values, the learner and exact exploitability, the whole step, and its
mean samples a step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sparring.config import load_config
from sparring.evaluation.plots import read_jsonl


def exploitability(rows: list[dict], key: str) -> tuple[str, str]:
    values = [(row["step"], row[key]) for row in rows if key in row]
    if not values:
        return "-", "-"
    step, last = values[-1]
    best_step, best = min(values, key=lambda v: v[1])
    return f"{last:.3f} (step {step})", f"{best:.3f} (step {best_step})"


def first_below(rows: list[dict], key: str, threshold: float) -> str:
    """The first measured step at which `key` was at or below `threshold`."""
    step = next((row["step"] for row in rows if row.get(key, float("inf")) <= threshold), None)
    return "never" if step is None else str(step)


def at_step(rows: list[dict], game: str, step: int) -> str:
    row = next((r for r in rows if r["step"] == step and f"exploitability/{game}" in r), None)
    if row is None:
        return "-"
    average = row.get(f"exploitability_average/{game}")
    return f"{row[f'exploitability/{game}']:.3f} / " + ("-" if average is None else f"{average:.3f}")


def against(evals: list[dict], opponent: str) -> str:
    rows = [r for r in evals if str(r.get("opponent")).split(":")[0] == opponent and r.get("seat") == "all"
            and str(r.get("player", "")).endswith("average")]
    if not rows:
        return "-"
    row = rows[-1]
    return f"{row['mean_return']:+.2f} [{row['mean_return_low']:+.2f}, {row['mean_return_high']:+.2f}]"


def exact_against(run: Path, opponent: str) -> str:
    path = run / "league" / "league_exact.json"
    if not path.exists():
        return "-"
    data = json.loads(path.read_text())
    names = [p["name"] for p in data["players"]]
    averages = [i for i, name in enumerate(names) if name.endswith("/average")]
    if not averages or opponent not in names:
        return "-"
    return f"{data['value'][averages[-1]][names.index(opponent)]:+.3f}"


def profile(run: Path, rows: list[dict]) -> str:
    """Mean seconds a step per phase over the run's logged steps, and its mean samples a step."""
    def mean(key: str) -> float:
        return sum(row.get(key, 0.0) for row in rows) / len(rows)

    return (f"| {run.name} | {mean('time/generation'):.1f} | {mean('time/action_values'):.1f} | {mean('time/learner'):.1f} "
            f"| {mean('time/evaluation'):.1f} | {mean('time/step'):.1f} | {mean('samples'):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--game", default="kuhn_poker")
    parser.add_argument("--at", type=int, default=60, help="also show both exploitabilities at this step (equal budget)")
    parser.add_argument("--below", type=float, default=0.10, help="the first step at which each is at most this")
    parser.add_argument("--profile", action="store_true", help="also the mean seconds a step per phase")
    args = parser.parse_args()
    print(f"| run | seed | magnet | minutes | at step {args.at}: last iterate / average | exploitability: last | best "
          f"| average policy: last | best | first <= {args.below:g}: last iterate / average | average vs random: 64 matches | exact | average vs cfr: 64 matches | exact "
          f"| played policy (every step): last | best | first <= {args.below:g} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        cfg = load_config(run / "config.yaml")
        rows = read_jsonl(run / "metrics.jsonl")
        evals = read_jsonl(run / "eval.jsonl")
        magnet = "none" if cfg.algo.magnet == "none" else f"{cfg.algo.magnet} {cfg.algo.magnet_coef:g}"
        last, best = exploitability(rows, f"exploitability/{args.game}")
        avg_last, avg_best = exploitability(rows, f"exploitability_average/{args.game}")
        played_last, played_best = exploitability(rows, f"played_exploitability/{args.game}")
        print(f"| {run.name} | {cfg.trainer.seed} | {magnet} | {rows[-1]['wall_time'] / 60:.1f} "
              f"| {at_step(rows, args.game, args.at)} | {last} | {best} "
              f"| {avg_last} | {avg_best} | {first_below(rows, f'exploitability/{args.game}', args.below)} / "
              f"{first_below(rows, f'exploitability_average/{args.game}', args.below)} | {against(evals, 'random')} | {exact_against(run, 'random')} "
              f"| {against(evals, 'cfr')} | {exact_against(run, 'cfr')} | {played_last} | {played_best} "
              f"| {first_below(rows, f'played_exploitability/{args.game}', args.below)} |")
    if args.profile:
        print("\n| run | generation / scoring s | action values s | learner s | exploitability s | step s | samples |")
        print("|---|---|---|---|---|---|---|")
        for run in args.runs:
            print(profile(run, read_jsonl(run / "metrics.jsonl")))


if __name__ == "__main__":
    main()
