"""The code executor judge: runs a program's function on some arguments, in the sandbox.

    judge = CodeJudge(Sandbox(workers=2))
    [run] = judge.run_calls([("def f(x):\\n    return x * 2", ["3", "'ab'"])], repeat=2)
    run.outputs  # ("6", "'abab'"): the literal text of f(3) and of f('ab'), equal in both runs

A *call* is the argument text of one call of ``f`` (``"3"``, ``"[1, 2], 'a'"``): Python literals
only, checked here (the whole ``f(...)`` must be one call of ``f``), and read back in the sandbox
with `ast.literal_eval`, never run as code. A job passes when the program passes `check_program`,
runs to a normal exit within the sandbox's limits, every result is a plain Python literal (encoded
by the sandbox's trusted harness, sent on its authenticated channel, never read from stdout), and,
with ``repeat=2`` (the determinism check), every run gives equal results: the runs use different
hash seeds and start in wall-clock seconds of different parity, one after the other. Anything else
is a failed `CallRun` with the reason; nothing the program does raises here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sparring.judges.literals import FUNCTION, argument_texts, literal_value, same_value
from sparring.judges.program_check import check_program
from sparring.judges.sandbox import RunResult, Sandbox


@dataclass(frozen=True)
class CallRun:
    """What running one program on its calls gave: the results' reprs, or why there are none."""

    outputs: tuple[str, ...] | None
    reason: str = ""
    status: str = "ok"  # ok, a sandbox status, "invalid" (refused before running), "bad_output", "nondeterministic"

    @property
    def ok(self) -> bool:
        return self.outputs is not None


def _outputs(result: RunResult, calls: int) -> CallRun:
    if not result.ok:
        tail = result.stderr.strip().splitlines()[-1:] or [""]
        detail = f" ({tail[0][:200]})" if tail[0] else ""
        return CallRun(None, f"{result.status}: {result.reason}{detail}", result.status)
    outputs = result.results
    if outputs is None or len(outputs) != calls:
        return CallRun(None, "the program ended before f returned on every call", "bad_output")
    for out in outputs:
        if not literal_value(out)[0]:
            return CallRun(None, f"a result is not a plain Python value: {out[:80]}", "bad_output")
    return CallRun(tuple(outputs))


def _same_outputs(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))


def _wait_for_a_second_of_other_parity(started: float) -> None:
    """Sleep until the wall clock's whole second differs in parity from `started`'s (at most ~1 s):
    a program that reads the clock then sees another value in its second run."""
    while int(time.time()) % 2 == int(started) % 2:
        time.sleep(0.02)


class CodeJudge:
    """Runs ``f`` of untrusted programs on literal arguments, through a `Sandbox`.

    `static_check=False` skips `check_program`: only to test what the sandbox holds on its own.
    """

    def __init__(self, sandbox: Sandbox, static_check: bool = True):
        self.sandbox = sandbox
        self.static_check = static_check

    @property
    def network_isolated(self) -> bool:
        return self.sandbox.network_isolated

    def check(self, program: str) -> str | None:
        """Why `program` may not run (the static check), or None."""
        return check_program(program, required_function=FUNCTION) if self.static_check else None

    def run_calls(self, jobs: list[tuple[str, list[str]]], repeat: int = 1) -> list[CallRun]:
        """Run each (program, calls) job `repeat` times; one `CallRun` per job. Each pass runs every
        job in parallel, with its own hash seed, after the previous pass (see the module doc)."""
        verdicts: list[CallRun | None] = []
        runnable: list[tuple[str, list[list[str]]]] = []
        for program, calls in jobs:
            reason = self.check(program)
            if reason is None and not calls:
                reason = "no calls to run"
            arguments = [argument_texts(args) for args in calls]
            bad = next((args for args, parsed in zip(calls, arguments) if parsed is None), None)
            if reason is None and bad is not None:
                reason = f"arguments are not Python literals: {bad[:80]}"
            verdicts.append(None if reason is None else CallRun(None, reason, "invalid"))
            if reason is None:
                runnable.append((program, arguments))
        passes: list[list[CallRun]] = []
        started = 0.0
        for k in range(repeat if runnable else 0):
            if k:
                _wait_for_a_second_of_other_parity(started)
            started = time.time()
            results = self.sandbox.run_many([p for p, _ in runnable], calls=[c for _, c in runnable], hash_seed=k + 1)
            passes.append([_outputs(result, len(calls)) for result, (_, calls) in zip(results, runnable)])
        runs = iter(zip(*passes))
        return [verdict if verdict is not None else _agreement(next(runs)) for verdict in verdicts]


def _agreement(runs: tuple[CallRun, ...]) -> CallRun:
    """One verdict from the runs of one job: the first failure, else a disagreement, else the result."""
    failed = next((run for run in runs if not run.ok), None)
    if failed is not None:
        return failed
    if any(not _same_outputs(run.outputs, runs[0].outputs) for run in runs[1:]):
        return CallRun(None, "not deterministic: two runs gave different results", "nondeterministic")
    return runs[0]


def default_code_judge(settings: object) -> CodeJudge:
    """A code judge over a new sandbox, from any object with workers, cpu_seconds, wall_seconds and
    memory_mb (a task game's settings)."""
    from sparring.judges.sandbox import Limits

    limits = Limits(cpu_seconds=settings.cpu_seconds, wall_seconds=settings.wall_seconds,
                    memory_mb=settings.memory_mb)
    return CodeJudge(Sandbox(limits, workers=settings.workers))
