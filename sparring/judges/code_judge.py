"""The code executor judge: runs a program's function on some arguments, in the sandbox.

    judge = CodeJudge(Sandbox(workers=2))
    [run] = judge.run_calls([("def f(x):\\n    return x * 2", ["3", "'ab'"])], repeat=2)
    run.outputs  # ("6", "'abab'"): the repr of f(3) and of f('ab'), the same in both runs

A *call* is the argument text of one call of ``f`` (``"3"``, ``"[1, 2], 'a'"``): Python literals
only, checked here before they are pasted into the program. A job passes when the program passes
`check_program`, runs to a normal exit within the sandbox's limits, every result's repr is a plain
Python literal, and, with ``repeat=2`` (the determinism check), every run prints the same results.
Anything else is a failed `CallRun` with the reason; nothing the program does raises here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparring.games.literals import FUNCTION, literal_args, literal_value
from sparring.judges.program_check import check_program
from sparring.judges.sandbox import RunResult, Sandbox

_MARK = "=== sparring results ==="


@dataclass(frozen=True)
class CallRun:
    """What running one program on its calls gave: the results' reprs, or why there are none."""

    outputs: tuple[str, ...] | None
    reason: str = ""
    status: str = "ok"  # ok, a sandbox status, "invalid" (refused before running), "bad_output", "nondeterministic"

    @property
    def ok(self) -> bool:
        return self.outputs is not None


def harness(program: str, calls: list[str]) -> str:
    """The program followed by the lines that call ``f`` on each argument text and print the reprs."""
    lines = [program, "", "_sparring_results = []"]
    lines += [f"_sparring_results.append(repr({FUNCTION}({args})))" for args in calls]
    lines.append(f"print({_MARK!r})")
    lines.append("print(repr(_sparring_results))")
    return "\n".join(lines) + "\n"


def _outputs(result: RunResult, calls: int) -> CallRun:
    if not result.ok:
        tail = result.stderr.strip().splitlines()[-1:] or [""]
        detail = f" ({tail[0][:200]})" if tail[0] else ""
        return CallRun(None, f"{result.status}: {result.reason}{detail}", result.status)
    lines = result.stdout.rstrip("\n").split("\n")
    if len(lines) < 2 or lines[-2] != _MARK:
        return CallRun(None, "the program's results were not printed last", "bad_output")
    ok, outputs = literal_value(lines[-1])
    if not ok or not isinstance(outputs, list) or len(outputs) != calls:
        return CallRun(None, "the program's results could not be read", "bad_output")
    for out in outputs:
        if not literal_value(out)[0]:
            return CallRun(None, f"a result is not a plain Python value: {out[:80]}", "bad_output")
    return CallRun(tuple(outputs))


class CodeJudge:
    """Runs ``f`` of untrusted programs on literal arguments, through a `Sandbox`."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    @property
    def network_isolated(self) -> bool:
        return self.sandbox.network_isolated

    def check(self, program: str) -> str | None:
        """Why `program` may not run (the static check), or None."""
        return check_program(program, required_function=FUNCTION)

    def run_calls(self, jobs: list[tuple[str, list[str]]], repeat: int = 1) -> list[CallRun]:
        """Run each (program, calls) job `repeat` times, all runs in parallel; one `CallRun` per job."""
        verdicts: list[CallRun | None] = []
        programs: list[str] = []
        for program, calls in jobs:
            reason = self.check(program)
            if reason is None and not calls:
                reason = "no calls to run"
            bad = next((args for args in calls if literal_args(args) is None), None)
            if reason is None and bad is not None:
                reason = f"arguments are not Python literals: {bad[:80]}"
            verdicts.append(None if reason is None else CallRun(None, reason, "invalid"))
            if reason is None:
                programs += [harness(program, calls)] * repeat
        results = iter(self.sandbox.run_many(programs))
        out: list[CallRun] = []
        for (program, calls), verdict in zip(jobs, verdicts):
            if verdict is not None:
                out.append(verdict)
                continue
            runs = [_outputs(next(results), len(calls)) for _ in range(repeat)]
            failed = next((run for run in runs if not run.ok), None)
            if failed is not None:
                out.append(failed)
            elif any(run.outputs != runs[0].outputs for run in runs[1:]):
                out.append(CallRun(None, "not deterministic: two runs printed different results", "nondeterministic"))
            else:
                out.append(runs[0])
        return out


def default_code_judge(settings: object) -> CodeJudge:
    """A code judge over a new sandbox, from any object with workers, cpu_seconds, wall_seconds and
    memory_mb (a task game's settings)."""
    from sparring.judges.sandbox import Limits

    limits = Limits(cpu_seconds=settings.cpu_seconds, wall_seconds=settings.wall_seconds,
                    memory_mb=settings.memory_mb)
    return CodeJudge(Sandbox(limits, workers=settings.workers))
