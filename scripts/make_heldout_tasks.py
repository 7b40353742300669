"""Writes sparring/games/data/tasks_heldout.jsonl: the fixed held-out task set of `sparring eval`
on task games, generated once from a seed. Outputs are computed by the sandboxed code judge.

    .venv/bin/python scripts/make_heldout_tasks.py [--seed 12] [--per-type 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sparring.games.task_games import TASK_TYPES, Task
from sparring.judges.code_judge import CodeJudge
from sparring.judges.sandbox import Sandbox

OUT = Path(__file__).parents[1] / "sparring" / "games" / "data" / "tasks_heldout.jsonl"
# (program template, argument sampler, message): tiny programs of the kind the proposer is asked for
TEMPLATES = [
    ("def f(x):\n    return x * {a} + {b}", lambda r: str(int(r.integers(-9, 10))), "multiplies by {a} and adds {b}"),
    ("def f(x):\n    return x[::-1] + '{c}'", lambda r: repr("".join(r.choice(list("abcdef"), 4))), "reverses, then appends {c}"),
    ("def f(xs):\n    return sorted(xs)[{k}]", lambda r: repr([int(v) for v in r.integers(0, 20, 5)]), "the element at index {k} once sorted"),
    ("def f(xs):\n    return sum(x for x in xs if x % {m} == 0)", lambda r: repr([int(v) for v in r.integers(0, 30, 4)]), "sums the multiples of {m}"),
    ("def f(s):\n    return s.count('{c}') * {a}", lambda r: repr("".join(r.choice(list("abc"), 6))), "counts '{c}', times {a}"),
    ("def f(n):\n    return [i * {a} for i in range(n)]", lambda r: str(int(r.integers(1, 6))), "the first n multiples of {a}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--per-type", type=int, default=8)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    judge = CodeJudge(Sandbox(workers=2))
    rows = []
    for task_type in TASK_TYPES:
        for _ in range(args.per_type):
            template, sample, message = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
            values = {"a": int(rng.integers(2, 6)), "b": int(rng.integers(-5, 6)), "c": str(rng.choice(list("abc"))),
                      "k": int(rng.integers(0, 4)), "m": int(rng.integers(2, 5))}
            program = template.format(**values)
            calls = list(dict.fromkeys(sample(rng) for _ in range(4 if task_type == "induction" else 1)))
            [run] = judge.run_calls([(program, calls)], repeat=2)
            if not run.ok:
                raise SystemExit(f"held-out task failed: {program!r} {calls}: {run.reason}")
            task = Task(program, tuple(calls), run.outputs, message.format(**values))
            rows.append({"type": task_type, **task.to_dict()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} tasks to {OUT}")


if __name__ == "__main__":
    main()
