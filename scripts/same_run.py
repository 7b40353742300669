"""Did two runs play the same matches and log the same metrics? (timing fields aside)

    python scripts/same_run.py RUN_A RUN_B
"""

from __future__ import annotations

import sys
from pathlib import Path

from sparring.training.metrics import read_metrics

TIMING = ("wall_time", "rollout_tokens_per_s", "rollout_turns_per_s", "learner_tokens_per_s", "trained_turns_per_s")


def compared(run: Path) -> tuple[list[dict], dict[str, str]]:
    metrics = [{k: v for k, v in m.items() if k not in TIMING and not k.startswith(("ray/", "time/"))} for m in read_metrics(run)]
    return metrics, {p.name: p.read_text() for p in sorted((run / "transcripts").glob("*.jsonl"))}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    (ma, ta), (mb, tb) = compared(Path(sys.argv[1])), compared(Path(sys.argv[2]))
    steps = [m["step"] for m in ma]
    print(f"steps: {steps} vs {[m['step'] for m in mb]}")
    print(f"transcripts: {len(ta)} files, identical: {ta == tb}")
    differ = sorted({k for a, b in zip(ma, mb) for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
    print(f"metrics identical: {ma == mb}" + (f" (differ: {', '.join(differ)})" if differ else ""))
    for m in ma:
        rates = {k: round(v, 3) for k, v in m.items() if k.startswith(("win_rate/", "invalid_rate/"))}
        print(f"  step {m['step']}: samples {m['samples']}, staleness {m['staleness']}, {rates}")


if __name__ == "__main__":
    main()
