"""End-to-end self-play throughput on the demo config: trained turns per second, the old path vs the new.

    .venv/bin/python benchmarks/loop.py                 # configs/kuhn_text.yaml, 6 steps per path
    .venv/bin/python benchmarks/loop.py --steps 3 --config configs/tiny_test.yaml   # smoke run

Paths (each in its own fresh process, one after the other, never side by side on the same cores):

* ``hf-unshared``: the loop as it was: generation with HF transformers ``generate``
  (``rollout.backend=hf``), the learner running every prompt whole (``algo.shared_prefix=false``,
  ``algo.is_cap=0``).
* ``vllm-shared``: vLLM generation (``rollout.backend=vllm``, weights pushed after every update)
  and the shared-prefix learner.
* ``hf-shared`` (``--paths`` to include it): HF generation with the shared-prefix learner, which
  separates the two changes.
* ``hf-legal``: no generation: the policy samples among the legal moves by its probabilities of their
  answers (``rollout.moves=legal``), scored by the policy's own model; the demo's path since
  ``configs/kuhn_poker.yaml`` uses it. Against ``vllm-shared`` on the demo config:
  ``benchmarks/loop.py --config configs/kuhn_poker.yaml --paths vllm-shared,hf-legal``.

Trained turns/s = turn samples the learner trained on / seconds, over the steps after the first
(the first step pays one-time warm-ups: vLLM's engine start, first-call kernel set-up); the run's
whole wall time, start-up included, is printed too. Each step's profile (seconds in generation,
the rest of the rollout, the learner's forward/backward/optimiser, weight sync, evaluation,
checkpointing, the rest) comes from the trainer's own ``time/*`` metrics. Peak RSS is the child
process's maximum resident set size (target: under 8 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = {
    "hf-unshared": ["rollout.backend=hf", "rollout.moves=free", "algo.shared_prefix=false", "algo.is_cap=0"],
    "hf-shared": ["rollout.backend=hf", "rollout.moves=free", "algo.shared_prefix=true"],
    "vllm-shared": ["rollout.backend=vllm", "rollout.moves=free", "algo.shared_prefix=true"],
    "hf-legal": ["rollout.backend=hf", "rollout.moves=legal", "algo.shared_prefix=true"],
}
PARTS = ["generation", "rollout_other", "learner", "learner.forward", "learner.backward", "learner.optimizer",
         "weight_sync", "evaluation", "checkpoint", "rest", "step"]
TARGET_RATIO, RSS_LIMIT_GB = 2.5, 8.0


def child(args: argparse.Namespace) -> None:
    """Train one path and write its metrics, wall time and peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    from sparring.config import load_config
    from sparring.training.metrics import read_metrics
    from sparring.training.trainer import train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sparring-loop-") as run_dir:
        cfg = load_config(args.config, [*PATHS[args.child], f"trainer.steps={args.steps}", f"trainer.run_dir={run_dir}",
                                        "trainer.final_eval_matches=0", "trainer.transcripts_every=0",
                                        f"trainer.save_every={args.steps}", *args.set])
        rows = read_metrics(train(cfg))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    Path(args.out).write_text(json.dumps({"rows": rows, "wall_s": time.perf_counter() - started, "peak_gb": peak_gb}))


def summarise(name: str, result: dict) -> dict:
    timed = result["rows"][1:] or result["rows"]
    seconds = sum(r["time/step"] for r in timed)
    profile = {part: sum(r.get(f"time/{part}", 0.0) for r in timed) / len(timed) for part in PARTS}
    return {"path": name, "turns_per_s": sum(r["samples"] for r in timed) / seconds, "profile": profile,
            "samples_per_step": sum(r["samples"] for r in timed) / len(timed), "wall_s": result["wall_s"],
            "peak_gb": result["peak_gb"], "steps_timed": len(timed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "kuhn_text.yaml"))
    parser.add_argument("--steps", type=int, default=6, help="training steps per path (the first is not timed)")
    parser.add_argument("--paths", default="hf-unshared,vllm-shared", help=f"comma list of {', '.join(PATHS)}")
    parser.add_argument("--set", action="append", default=[], help="extra config override for every path")
    parser.add_argument("--json", dest="json_out", help="also write the summary to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    names = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in names if p not in PATHS]
    if unknown or args.steps < 2:
        parser.error(f"unknown path(s) {unknown} (choose from {', '.join(PATHS)})" if unknown else "--steps must be >= 2")
    print(f"config {args.config}, {args.steps} steps per path (step 1 untimed); load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    summaries = []
    for name in names:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--child", name, "--out", out.name, "--config", args.config,
                       "--steps", str(args.steps), *[x for s in args.set for x in ("--set", s)]]
            print(f"running {name} ...", flush=True)
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode:
                print(f"{name} failed:\n{done.stderr[-3000:]}")
                return 1
            summaries.append(summarise(name, json.loads(Path(out.name).read_text())))

    print()
    print("seconds per step (mean over timed steps):")
    print(f"{'part':<20}" + "".join(f"{s['path']:>14}" for s in summaries))
    for part in PARTS:
        print(f"{part:<20}" + "".join(f"{s['profile'][part]:>14.2f}" for s in summaries))
    print()
    print(f"{'path':<14}{'samples/step':>14}{'trained turns/s':>17}{'wall s (all)':>14}{'peak RSS GB':>13}")
    for s in summaries:
        print(f"{s['path']:<14}{s['samples_per_step']:>14.1f}{s['turns_per_s']:>17.2f}{s['wall_s']:>14.1f}"
              f"{s['peak_gb']:>13.2f}")
    base = summaries[0]
    for s in summaries[1:]:
        ratio = s["turns_per_s"] / base["turns_per_s"]
        verdict = "meets" if ratio >= TARGET_RATIO else "misses"
        print(f"{s['path']} vs {base['path']}: {ratio:.2f}x trained turns/s [{verdict} {TARGET_RATIO}x]")
    worst = max(s["peak_gb"] for s in summaries)
    print(f"peak RSS {worst:.2f} GB [{'under' if worst < RSS_LIMIT_GB else 'over'} {RSS_LIMIT_GB:g} GB]")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
