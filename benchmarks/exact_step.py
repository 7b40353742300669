"""One exact Leduc step (`configs/leduc_exact.yaml`), the recipe before and after the prompt context, side by side.

    .venv/bin/python benchmarks/exact_step.py              # 1 step each, in this order: before, after
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exact_step.py

"before" is the recipe as it was: every update differentiates through all 288 prompts (algo.prompt_gradient:
true), the step plays 16 matches, lr 3e-4 (which changes the fit line, not the time). "after" is the shipped config: the scoring pass keeps each prompt's keys
and values, the 12 updates run only each prompt's last token and its answers on them, and the step plays 4
matches (full width trains on every state, not on the played ones). Each runs as its own `sparring train` process
from the same untrained model; the script prints each step's time by part and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RECIPES = {
    "before": ["algo.prompt_gradient=true", "rollout.turns_per_step=16", "rollout.concurrency=16", "trainer.lr=3e-4"],
    "after": [],
}
PARTS = ("action_values", "generation", "learner", "learner.prompt_context", "learner.forward", "learner.backward")


def step_profile(overrides: list[str], run_dir: Path) -> dict[str, float]:
    """The first step's metrics of `sparring train configs/leduc_exact.yaml` with these overrides."""
    sets = [arg for o in [*overrides, "trainer.steps=1", f"trainer.run_dir={run_dir}", "trainer.final_eval_matches=0",
                          "trainer.keep_best=false"] for arg in ("--set", o)]
    subprocess.run([sys.executable, "-m", "sparring", "train", "configs/leduc_exact.yaml", *sets], check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in RECIPES.items():
            rows[name] = step_profile(overrides, Path(tmp) / name)
    print(f"{'part (s)':<24}" + "".join(f"{name:>10}" for name in rows))
    for part in ("step", *PARTS):
        print(f"{part:<24}" + "".join(f"{row.get(f'time/{part}', 0.0):>10.1f}" for row in rows.values()))
    fits = "".join(f"{row['first_epoch_loss']:>5.3f}/{row['last_epoch_loss']:<5.3f}".rjust(10) for row in rows.values())
    print(f"{'fit: first/last epoch':<24}{fits}")
    before, after = rows["before"]["time/step"], rows["after"]["time/step"]
    print(f"step time after / before: {after / before:.3f}  ({before / after:.2f}x faster)")


if __name__ == "__main__":
    main()
