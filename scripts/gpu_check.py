"""What scripts/gpu_check.sh runs: Kuhn Poker self-play on one device through `sparring train`'s own
code, once with LoRA and once as a full fine-tune, printing each step's time, HF generation tokens/s,
the learner's time and the exact exploitability scored at the end.

    python scripts/gpu_check.py                      # cuda, SmolLM2-135M, bf16: LoRA 5 steps, full 2 steps
    python scripts/gpu_check.py --device cpu --model tiny --steps 2 --full-steps 1   # the dry mode
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.cli import quiet_libraries  # noqa: E402

quiet_libraries(verbose=False)  # as `sparring train` does, before torch is imported

import torch  # noqa: E402

from sparring.config import load_config  # noqa: E402
from sparring.training.metrics import read_metrics  # noqa: E402
from sparring.training.trainer import train  # noqa: E402

RUNS = {"lora": ["model.lora=true"], "full": ["model.lora=false", "trainer.lr=1e-5"]}


def check(name: str, args: argparse.Namespace, steps: int, out: Path) -> None:
    sets = RUNS[name] + [f"model.device={args.device}", f"model.dtype={args.dtype}", f"model.name={args.model}",
                         "rollout.backend=hf", f"trainer.steps={steps}", f"trainer.exploitability_every={steps}",
                         f"trainer.save_every={steps}", "trainer.final_eval_matches=0", f"trainer.run_dir={out / name}"]
    started = time.perf_counter()
    rows = read_metrics(train(load_config(ROOT / "configs" / "kuhn_text.yaml", sets)))
    wall = time.perf_counter() - started
    print(f"\n{name} ({args.model}, {args.dtype} on {args.device}), {steps} steps in {wall:.1f} s with start-up:")
    print(f"{'step':>4} {'s/step':>7} {'generation s':>12} {'gen tok/s':>9} {'learner s':>9} {'trained turns/s':>15}")
    for row in rows:
        print(f"{row['step']:>4} {row['time/step']:>7.2f} {row['time/generation']:>12.2f} "
              f"{row['rollout_tokens_per_s']:>9.1f} {row['time/learner']:>9.2f} {row['trained_turns_per_s']:>15.2f}")
    later = rows[1:] or rows  # the first step pays the one-time warm-ups
    print(f"median after the first step: {statistics.median(r['time/step'] for r in later):.2f} s/step, "
          f"{statistics.median(r['rollout_tokens_per_s'] for r in later):.1f} generated tok/s; exploitability "
          f"{rows[-1]['exploitability/kuhn_poker']:.4f} scored in {rows[-1]['time/evaluation']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for the dry mode")
    parser.add_argument("--model", default="default", help="default (SmolLM2-135M) or tiny (random, seconds)")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--steps", type=int, default=5, help="steps of the LoRA run")
    parser.add_argument("--full-steps", type=int, default=2, help="steps of the full fine-tune run")
    args = parser.parse_args(argv)
    args.dtype = args.dtype or ("float32" if args.device == "cpu" else "bfloat16")
    if args.device != "cpu" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device (torch {torch.__version__} sees none); --device cpu runs the dry mode")
        return 2
    where = torch.cuda.get_device_name(torch.device(args.device)) if args.device != "cpu" else "cpu (dry mode)"
    print(f"gpu_check: torch {torch.__version__} on {where}")
    with tempfile.TemporaryDirectory(prefix="sparring-gpu-check-") as out:
        check("lora", args, args.steps, Path(out))
        check("full", args, args.full_steps, Path(out))
    print("\ngpu_check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
