"""Judge throughput: sandboxed task programs per second with 2 workers versus 1 worker.

    .venv/bin/python benchmarks/judge.py                 # 40 jobs per setting, 2 runs each (determinism)
    .venv/bin/python benchmarks/judge.py --jobs 10 --rounds 1

Workload: what the code judge does for one proposal: a small deterministic task program (a loop of
--work additions), checked statically, then run twice in the sandbox (the determinism check), each
run a fresh process with every limit and, where the OS allows, fresh network, PID and mount
namespaces. A "program" below is one sandboxed run. The settings alternate (1 worker, 2 workers,
1, 2...) for --rounds rounds so background load hits both alike; the median rate is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sparring.judges.code_judge import CodeJudge
from sparring.judges.sandbox import Isolation, Limits, Sandbox

PROGRAM = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i * i % 7\n    return total\n"


def rate(workers: int, jobs: int, work: int) -> float:
    """Sandboxed programs per second through the code judge with this many workers."""
    sandbox = Sandbox(Limits(), workers=workers, uid_base=63000)
    judge = CodeJudge(sandbox)
    batch = [(PROGRAM, [str(work + k)]) for k in range(jobs)]
    start = time.perf_counter()
    results = judge.run_calls(batch, repeat=2)
    elapsed = time.perf_counter() - start
    sandbox.close()
    if not all(r.ok for r in results):
        raise SystemExit(f"a benchmark job failed: {next(r.reason for r in results if not r.ok)}")
    return 2 * jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40, help="proposals judged per measurement (2 runs each)")
    parser.add_argument("--work", type=int, default=20000, help="loop length of each program")
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements per setting")
    args = parser.parse_args()
    iso = Isolation.detect()
    print(f"isolation: namespaces={iso.namespaces} uid drop={iso.drop_uid} python={iso.python}")
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2):
            rates[workers].append(rate(workers, args.jobs, args.work))
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"| workers | programs/s | vs 1 worker |\n|---|---|---|")
    print(f"| 1 | {one:.1f} | 1.00x |\n| 2 | {two:.1f} | {two / one:.2f}x |")


if __name__ == "__main__":
    main()
