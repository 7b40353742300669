"""Run logs: `metrics.jsonl` (one line per step) and TensorBoard scalars, written together."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends one JSON line per step and mirrors every number as a TensorBoard scalar."""

    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / "metrics.jsonl"
        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def truncate_after(self, step: int) -> None:
        """Forget lines logged after `step` (a resumed run logs those steps again)."""
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= step]
            self.path.write_text("".join(line + "\n" for line in kept))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps({"step": step, **metrics}) + "\n")
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of a run's metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Stopwatch:
    """Seconds spent per named part of a step: ``with watch("learner"): ...``."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] += time.perf_counter() - started

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += seconds

    def profile(self, total: float) -> dict[str, float]:
        """``time/PART`` for each part, ``time/rest`` for what no part covers, ``time/step`` = total."""
        parts = {f"time/{part}": seconds for part, seconds in self.seconds.items()}
        return {**parts, "time/rest": max(0.0, total - sum(self.seconds.values())), "time/step": total}
