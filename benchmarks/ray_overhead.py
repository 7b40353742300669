"""Ray's overhead: the same short training run under runner=local and runner=ray (sync, then async),
side by side in one process, one after another.

    .venv/bin/python benchmarks/ray_overhead.py                 # SmolLM2-135M, Kuhn Poker, 4 steps
    .venv/bin/python benchmarks/ray_overhead.py --model tiny --steps 3   # a smoke run

All three runs share one config: `rollout.shards=2`, so the local runner plays the two shards one
after another in this process (torch on --threads threads) while the Ray runner plays them on 2
workers of 1 CPU each, the learner staying in this process. A step's time is the wall time between
two logged steps (rollout + weights to the workers + learner + logging); step 1 and start-up (Ray,
workers loading the model) are reported apart. Printed: mean step time per runner, ray sync / local
(the issue's target: at most 1.15), async / sync, and whether the sync Ray run played the same
matches and logged the same metrics as the local run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

TIMING = ("wall_time", "rollout_tokens_per_s", "rollout_turns_per_s", "learner_tokens_per_s", "trained_turns_per_s")


def run(name: str, root: Path, overrides: list[str]) -> dict:
    from sparring.config import load_config
    from sparring.training.metrics import read_metrics
    from sparring.training.trainer import train

    cfg = load_config(None, [f"trainer.run_dir={root / name}", *overrides])
    started = time.perf_counter()
    run_dir = train(cfg)
    total = time.perf_counter() - started
    metrics = read_metrics(run_dir)
    walls = [m["wall_time"] for m in metrics]
    steps = [b - a for a, b in zip(walls, walls[1:])]
    return {
        "name": name, "startup": total - walls[-1], "first": walls[0], "step": sum(steps) / len(steps),
        "metrics": [{k: v for k, v in m.items() if k not in TIMING and not k.startswith(("ray/", "time/"))} for m in metrics],
        "transcripts": sorted(p.read_text() for p in (run_dir / "transcripts").glob("*.jsonl")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--game", default="kuhn_poker")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--turns", type=int, default=24, help="rollout.turns_per_step")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of this (trainer) process")
    args = parser.parse_args()
    if args.steps < 3:
        parser.error("--steps must be at least 3 (step 1 is reported apart)")
    torch.set_num_threads(args.threads)
    common = [f"model.name={args.model}", f"games.names=[{args.game}]", "rollout.concurrency=12",
              f"rollout.turns_per_step={args.turns}", "rollout.max_new_tokens=6", "rollout.shards=2",
              "algo.ppo_epochs=1", "algo.constant_length=8", f"trainer.steps={args.steps}", "trainer.lr=5e-4",
              f"trainer.save_every={args.steps}", "trainer.transcripts_every=1", "ray.workers=2",
              "ray.cpus_per_worker=1", "ray.local_cpus=2"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        local = run("local", root, common)
        sync = run("ray sync", root, [*common, "runner=ray"])
        ahead = run("ray async", root, [*common, "runner=ray", "ray.mode=async"])
    print(f"\n{args.model}, {args.game}, {args.steps} steps of {args.turns} turns, 2 shards; "
          f"trainer process on {args.threads} torch threads, Ray workers 2 x 1 CPU\n")
    print("| runner | start-up s | step 1 s | step 2+ s (mean) | vs local | vs ray sync |")
    print("|---|---|---|---|---|---|")
    for r in (local, sync, ahead):
        print(f"| {r['name']} | {r['startup']:.1f} | {r['first']:.1f} | {r['step']:.2f} | "
              f"{r['step'] / local['step']:.2f}x | {r['step'] / sync['step']:.2f}x |")
    print(f"\nray sync overhead per step: {100 * (sync['step'] / local['step'] - 1):+.1f}% (target <= +15%)")
    print(f"ray sync played the same matches as local: {sync['transcripts'] == local['transcripts']}; "
          f"same metrics: {sync['metrics'] == local['metrics']}")
    differ = sorted({k for a, b in zip(sync["metrics"], local["metrics"]) for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
    if differ:
        print(f"metrics that differ: {', '.join(differ)}")
    print(f"async staleness per step: {[m['staleness'] for m in ahead['metrics']]}")


if __name__ == "__main__":
    main()
