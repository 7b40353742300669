"""Run untrusted Python programs in their own processes, under OS limits, many at a time.

    sandbox = Sandbox(Limits(cpu_seconds=2), workers=2)
    result = sandbox.run("print(sum(range(10)))")    # RunResult(status="ok", stdout="45\\n", ...)
    results = sandbox.run_many([program_a, program_b])

Every program runs in a fresh child process, never in the caller's. The chain is
``[unshare --net --pid --mount --fork --kill-child] python -I -S boot.py SPEC``; `boot.py` (trusted)
forks the program's process, which sets its resource limits, drops to an unprivileged uid and
execs ``python -I -S -B program.py`` with an empty environment in a fresh temporary directory.

What is enforced, and how:

* CPU time: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later) -> ``timeout``.
* Wall clock: the caller kills the whole process group (and the PID namespace with it) -> ``timeout``.
* Memory: RLIMIT_AS; Python raises MemoryError -> ``error``.
* Processes: RLIMIT_NPROC of the unprivileged uid (each worker has its own uid, so workers never
  share a budget; root ignores NPROC, hence the uid drop) -> forks fail, ``error``.
* Files: RLIMIT_FSIZE (SIGXFSZ past it -> ``killed``), RLIMIT_NOFILE; the working directory is
  deleted afterwards; under a mount namespace /tmp, /var/tmp, /dev/shm are private tmpfs and the
  root mount is read-only, so nothing written outside the working directory survives.
* Identity: as root the program runs as uid/gid ``uid_base + worker`` with no groups, so it
  cannot read files only the trainer's user may read, nor signal the trainer.
* Network: a fresh network namespace (no interface is up) when `unshare` works here; otherwise
  the program runs with the host network and every result says ``network_isolated=False``.
* Output: stdout and stderr are read with caps; past a cap the program is killed -> ``output_limit``.

`Isolation.detect()` probes once per process what the OS allows (see `Isolation`).
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BOOT = Path(__file__).with_name("boot.py")
STATUSES = ("ok", "error", "timeout", "killed", "output_limit")
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one program may use."""

    cpu_seconds: int = 2  # RLIMIT_CPU soft limit; the hard limit is one second more
    wall_seconds: float = 5.0  # then the process group is killed
    memory_mb: int = 256  # RLIMIT_AS (address space; the interpreter itself needs ~20 MB)
    processes: int = 1  # RLIMIT_NPROC of the program's uid: 1 = the program alone, no forks
    file_mb: int = 1  # RLIMIT_FSIZE: largest file it may write
    open_files: int = 32  # RLIMIT_NOFILE
    stdout_bytes: int = 64 * 1024  # past this the program is killed (output_limit)
    stderr_bytes: int = 64 * 1024  # idem; only the tail is kept in the result

    def rlimits(self) -> dict[str, list[int]]:
        return {
            "RLIMIT_CPU": [self.cpu_seconds, self.cpu_seconds + 1],
            "RLIMIT_AS": [self.memory_mb * MB] * 2,
            "RLIMIT_NPROC": [self.processes] * 2,
            "RLIMIT_FSIZE": [self.file_mb * MB] * 2,
            "RLIMIT_NOFILE": [self.open_files] * 2,
            "RLIMIT_CORE": [0, 0],
        }


@dataclass(frozen=True)
class RunResult:
    """How a program ended. ``status``: ok | error | timeout | killed | output_limit."""

    status: str
    stdout: str
    stderr: str  # the tail, at most 2,000 characters
    reason: str  # one line a person can read
    exit_code: int | None = None  # negative: killed by that signal
    network_isolated: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Isolation:
    """What this machine lets the sandbox do, probed once per process (`Isolation.detect()`).

    namespaces: ``unshare --net --pid --mount --fork --kill-child`` works (root, or a kernel that
        allows it); gives no network, a private PID space (the program cannot see or signal the
        trainer; everything it starts dies with it) and a private /tmp.
    drop_uid: running as root, so the program runs as an unprivileged uid per worker.
    python: an interpreter that uid can run (the trainer's may sit under a private home).
    """

    namespaces: bool
    drop_uid: bool
    python: str

    @staticmethod
    @cache
    def detect() -> Isolation:
        namespaces = _unshare_works()
        drop_uid = os.geteuid() == 0
        python = _sandbox_python() if drop_uid else os.path.realpath(sys.executable)
        return Isolation(namespaces, drop_uid, python)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run([*_UNSHARE, "true"], capture_output=True, timeout=10, env={})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


_UNSHARE = ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child"]


def _others_can_run(path: str) -> bool:
    """Whether a user with no relation to the file's owner can reach and execute it."""
    p = Path(path)
    try:
        if not p.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in p.parents)
    except OSError:
        return False


def _sandbox_python() -> str:
    """The first interpreter an unprivileged uid can run: the trainer's, else a system one."""
    candidates = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    override = os.environ.get("SPARRING_SANDBOX_PYTHON")
    for path in ([override] if override else []) + candidates:
        real = os.path.realpath(path)
        if os.path.exists(real) and _others_can_run(real):
            return real
    raise RuntimeError(
        "sandbox: no Python interpreter is executable by an unprivileged user "
        "(set SPARRING_SANDBOX_PYTHON to one that is); refusing to run untrusted code as root"
    )


class _Capture:
    """Bytes read from one pipe, up to a cap."""

    def __init__(self, cap: int, keep_tail: bool):
        self.cap, self.keep_tail = cap, keep_tail
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.cap:
            self.data = self.data[-self.cap:] if self.keep_tail else self.data[: self.cap]

    @property
    def over(self) -> bool:
        return self.total > self.cap


class Sandbox:
    """Runs programs with `limits`, at most `workers` at once (each worker has its own uid)."""

    def __init__(self, limits: Limits = Limits(), workers: int = 2, uid_base: int = 61000,
                 isolation: Isolation | None = None):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.limits = limits
        self.workers = workers
        self.isolation = isolation or Isolation.detect()
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            self._slots.put(uid_base + slot)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")

    @property
    def network_isolated(self) -> bool:
        return self.isolation.namespaces

    def run_many(self, programs: list[str], limits: Limits | None = None) -> list[RunResult]:
        """Run every program (in parallel, `workers` at a time); results in order."""
        return list(self._pool.map(lambda source: self.run(source, limits), programs))

    def run(self, program: str, limits: Limits | None = None) -> RunResult:
        """Run one program to its end; never raises for anything the program does."""
        uid = self._slots.get()
        try:
            return self._run(program, limits or self.limits, uid)
        finally:
            self._slots.put(uid)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- one run ---------------------------------------------------------------------------
    def _run(self, program: str, limits: Limits, uid: int) -> RunResult:
        iso = self.isolation
        workdir = Path(tempfile.mkdtemp(prefix="sparring-sandbox-"))
        try:
            (workdir / "program.py").write_text(program)
            os.chmod(workdir / "program.py", 0o444)
            if iso.drop_uid:
                os.chown(workdir, uid, uid)
            read_status, write_status = os.pipe()
            spec = {"python": iso.python, "limits": limits.rlimits(), "uid": uid if iso.drop_uid else None,
                    "gid": uid if iso.drop_uid else None, "private_tmp": iso.namespaces,
                    "tmp_mb": max(4, 2 * limits.file_mb), "status_fd": write_status}
            command = [*(_UNSHARE if iso.namespaces else []), os.path.realpath(sys.executable), "-I", "-S", "-B",
                       str(BOOT), json.dumps(spec)]
            try:
                proc = subprocess.Popen(command, cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_status,),
                                        start_new_session=True)
            finally:
                os.close(write_status)
            return self._supervise(proc, read_status, limits)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _supervise(self, proc: subprocess.Popen, status_fd: int, limits: Limits) -> RunResult:
        out, err = _Capture(limits.stdout_bytes, keep_tail=False), _Capture(limits.stderr_bytes, keep_tail=True)
        status_lines = bytearray()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        sel.register(status_fd, selectors.EVENT_READ, None)
        deadline = time.monotonic() + limits.wall_seconds
        verdict: tuple[str, str] | None = None
        try:
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    verdict = ("timeout", f"wall-clock limit of {limits.wall_seconds:g} s")
                    break
                for key, _ in sel.select(timeout=left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    if key.data is None:
                        status_lines += chunk
                    else:
                        key.data.add(chunk)
                if out.over or err.over:
                    which = "stdout" if out.over else "stderr"
                    cap = limits.stdout_bytes if out.over else limits.stderr_bytes
                    verdict = ("output_limit", f"{which} passed {cap} bytes")
                    break
        finally:
            sel.close()
            if verdict is not None:
                self._kill(proc, status_lines)
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
            os.close(status_fd)
        exit_code, cpu = _exit_report(status_lines.decode(errors="replace"))
        if verdict is None:
            verdict = _classify(exit_code, cpu, limits)
        return RunResult(verdict[0], out.data.decode(errors="replace"), err.data.decode(errors="replace")[-2000:],
                         verdict[1], exit_code, self.isolation.namespaces)

    def _kill(self, proc: subprocess.Popen, status_lines: bytearray) -> None:
        """SIGKILL everything the run started, and return only once it is gone.

        With namespaces the kill goes to boot.py (PID 1 of the namespace): its exit kills every
        process in the namespace and waits for them, and only then does `unshare` exit, so
        ``proc.wait()`` returning means nothing is left. Without, the process group and the
        program's own pid (it may have left the group with setsid) are killed.
        """
        targets = _children(proc.pid) if self.isolation.namespaces else []
        if not self.isolation.namespaces:
            for line in status_lines.decode(errors="replace").splitlines():
                if line.startswith("pid "):
                    targets.append(int(line[4:]))
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not targets or not self.isolation.namespaces:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _children(pid: int) -> list[int]:
    """The pids of a process's children (Linux /proc), [] when unknown."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _exit_report(status: str) -> tuple[int | None, float]:
    """(exit code, CPU seconds) from boot.py's ``exit CODE CPU`` line."""
    for line in status.splitlines():
        if line.startswith("exit "):
            code, cpu = line[5:].split()
            return int(code), float(cpu)
    return None, 0.0


def _classify(exit_code: int | None, cpu: float, limits: Limits) -> tuple[str, str]:
    if exit_code is None:
        return "killed", "the sandbox ended before the program reported an exit"
    if exit_code == 0:
        return "ok", "exited normally"
    if exit_code == 125:
        return "error", "the program could not be started"
    if exit_code > 0:
        return "error", f"exited with status {exit_code}"
    sig = -exit_code
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds):
        return "timeout", f"CPU limit of {limits.cpu_seconds} s (signal {signal.Signals(sig).name})"
    if sig == signal.SIGXFSZ:
        return "killed", f"file size limit of {limits.file_mb} MB"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    return "killed", f"killed by signal {name}"
