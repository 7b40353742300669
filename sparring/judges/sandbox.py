"""Run untrusted Python programs in their own processes, under OS limits, many at a time.

    sandbox = Sandbox(Limits(cpu_seconds=2), workers=2)
    result = sandbox.run("print(sum(range(10)))")    # RunResult(status="ok", stdout="45\\n", ...)
    result = sandbox.run("def f(x):\\n    return x * 2", calls=[["3"]])   # result.results == ("6",)
    results = sandbox.run_many([program_a, program_b])

Every program runs in a fresh child process, never in the caller's. The chain is
``[unshare --net --pid --mount --ipc --uts --fork --kill-child] python -I -S boot.py SPEC``;
`boot.py` (trusted) forks the program's process, which sets its resource limits, drops to an
unprivileged uid, sets no_new_privs and a seccomp filter, and execs the trusted `harness.py`, which
runs the program (and calls its ``f``) with an empty environment in a fresh temporary directory.

What is enforced, and how:

* CPU time: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later); a run that used the
  limit is a ``timeout`` whatever its exit status (a program may catch SIGXCPU).
* Wall clock: boot.py kills the program at the limit itself, so it holds even if the judging
  process dies; the caller also kills the whole run a grace period later -> ``timeout``. Every wait
  here has a deadline and every pipe is drained while waiting.
* Memory: RLIMIT_AS; Python raises MemoryError -> ``error``.
* Processes: RLIMIT_NPROC of the unprivileged uid (each worker has its own uid, and each sandbox its
  own block of uids, so nothing shares a budget; root ignores NPROC, hence the uid drop).
* Files: RLIMIT_FSIZE (SIGXFSZ past it -> ``killed``), RLIMIT_NOFILE; the working directory is
  deleted afterwards; under a mount namespace the program sees only the system's folders (/usr,
  /lib, /bin, /dev, /var...; the repo, /home, /root, /run, /etc are empty), /tmp, /var/tmp,
  /dev/shm are private tmpfs and the root mount is read-only, so nothing survives a run.
* Identity: as root the program runs as uid/gid ``base + worker`` with no groups, so it cannot
  read files only the trainer's user may read, nor signal the trainer.
* Network and IPC: fresh network, IPC and UTS namespaces when `unshare` works here; otherwise the
  program runs with the host's and every result says ``network_isolated=False``. The seccomp filter
  (x86-64) refuses sockets (unix-domain paths included), keyrings, SysV/POSIX IPC, ptrace, mounts.
* Output: stdout and stderr are read with caps; past a cap the program is killed -> ``output_limit``.
* Results: only what the harness writes with the run's secret key, on a descriptor boot reads.

`Isolation.detect()` probes once per process what the OS allows (see `Isolation`).
"""

from __future__ import annotations

import fcntl
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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BOOT = Path(__file__).with_name("boot.py")
HARNESS = Path(__file__).with_name("harness.py")
CPU_ACCOUNTING_MARGIN = 0.1  # seconds: a run this close to the CPU limit counts as having reached it
GRACE_SECONDS = 2.0  # past the wall limit, what the supervisor gives boot to stop before killing it
UID_FIRST, UID_RANGE, UID_BLOCKS = 100_000, 64, 512  # uid blocks [100000 + 64 k, 100064 + 64 k)
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
    results: tuple[str, ...] | None = None  # with calls: each call's return value as literal text

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
    seccomp: a syscall filter (sockets, keyrings, IPC, tracing, mounts...) is installed; its
        syscall table is x86-64's, so elsewhere the program runs with no_new_privs only.
    """

    namespaces: bool
    drop_uid: bool
    python: str
    seccomp: bool = False

    @staticmethod
    @cache
    def detect() -> Isolation:
        namespaces = _unshare_works()
        drop_uid = os.geteuid() == 0
        python = _sandbox_python() if drop_uid else os.path.realpath(sys.executable)
        return Isolation(namespaces, drop_uid, python, seccomp=os.uname().machine == "x86_64")


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run([*_UNSHARE, "true"], capture_output=True, timeout=10, env={})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


_UNSHARE = ["unshare", "--net", "--pid", "--mount", "--ipc", "--uts", "--fork", "--kill-child"]


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
    """Runs programs with `limits`, at most `workers` at once (each worker has its own uid).

    The uids come from a range no other live sandbox on this machine holds (`UidRange`), unless
    `uid_base` pins them.
    """

    def __init__(self, limits: Limits = Limits(), workers: int = 2, uid_base: int | None = None,
                 isolation: Isolation | None = None):
        if not 1 <= workers <= UID_RANGE:
            raise ValueError(f"workers must be between 1 and {UID_RANGE}")
        self.limits = limits
        self.workers = workers
        self.isolation = isolation or Isolation.detect()
        self.uids = UidRange.claim() if uid_base is None else UidRange(uid_base)
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            self._slots.put(self.uids.base + slot)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")

    @property
    def network_isolated(self) -> bool:
        return self.isolation.namespaces

    def run_many(self, programs: list[str], limits: Limits | None = None,
                 calls: list[list[list[str]] | None] | None = None, hash_seed: int = 0) -> list[RunResult]:
        """Run every program (in parallel, `workers` at a time); results in order. `calls[i]` are
        program i's calls of ``f`` (see `run`)."""
        calls = calls if calls is not None else [None] * len(programs)
        return list(self._pool.map(lambda job: self.run(job[0], limits, job[1], hash_seed), zip(programs, calls)))

    def run(self, program: str, limits: Limits | None = None, calls: list[list[str]] | None = None,
            hash_seed: int = 0) -> RunResult:
        """Run one program to its end; never raises for anything the program does.

        With `calls` (each a list of argument texts, every one a Python literal), the harness then
        calls ``f`` on each and the result's `results` holds the literal text of each return value,
        read from the authenticated channel. `hash_seed` is the program's PYTHONHASHSEED.
        """
        uid = self._slots.get()
        try:
            return self._run(program, limits or self.limits, uid, calls, hash_seed)
        finally:
            self._slots.put(uid)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.uids.release()

    # -- one run ---------------------------------------------------------------------------
    def _run(self, program: str, limits: Limits, uid: int, calls: list[list[str]] | None, hash_seed: int) -> RunResult:
        iso = self.isolation
        workdir = Path(tempfile.mkdtemp(prefix="sparring-sandbox-"))
        try:
            # ensure_ascii: a source with lone surrogates travels as escapes and fails in the harness.
            (workdir / "job.json").write_text(json.dumps({"source": program, "calls": calls}))
            shutil.copyfile(HARNESS, workdir / "harness.py")
            for name in ("job.json", "harness.py"):
                os.chmod(workdir / name, 0o444)
            if iso.drop_uid:
                os.chown(workdir, uid, uid)
            read_status, write_status = os.pipe()
            spec = {"python": iso.python, "limits": limits.rlimits(), "wall_seconds": limits.wall_seconds,
                    "uid": uid if iso.drop_uid else None, "gid": uid if iso.drop_uid else None,
                    "private_fs": iso.namespaces, "tmp_mb": max(4, 2 * limits.file_mb), "seccomp": iso.seccomp,
                    "hash_seed": hash_seed, "results_bytes": limits.stdout_bytes, "status_fd": write_status}
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
        """Read the three pipes until they close, a cap is passed or the backstop deadline (boot
        enforces the wall limit itself; this one is for a boot that cannot). Every wait has a deadline."""
        out, err = _Capture(limits.stdout_bytes, keep_tail=False), _Capture(limits.stderr_bytes, keep_tail=True)
        status = _Capture(2 * limits.stdout_bytes + 4096, keep_tail=False)
        deadline = time.monotonic() + limits.wall_seconds + GRACE_SECONDS
        verdict: tuple[str, str] | None = None
        with selectors.DefaultSelector() as sel:
            for stream, capture in ((proc.stdout, out), (proc.stderr, err), (status_fd, status)):
                sel.register(stream, selectors.EVENT_READ, capture)
            while sel.get_map() and verdict is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    verdict = ("timeout", f"wall-clock limit of {limits.wall_seconds:g} s (the sandbox did not stop it)")
                    break
                for key, _ in sel.select(timeout=left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                    key.data.add(chunk)
                verdict = _over_cap(out, err, status, limits)
        lines = status.data.decode(errors="replace").splitlines()
        if verdict is not None:
            self._kill(proc, lines)
        # Closing our ends first: a writer blocked on a full pipe (unshare's own message) gets EPIPE.
        proc.stdout.close()
        proc.stderr.close()
        os.close(status_fd)
        _reap(proc)
        report = _StatusReport.parse(lines)
        if verdict is None:
            verdict = _classify(report, limits)
        results = report.results if verdict[0] == "ok" else None
        return RunResult(verdict[0], out.data.decode(errors="replace"), err.data.decode(errors="replace")[-2000:],
                         verdict[1], report.exit_code, self.isolation.namespaces, results)

    def _kill(self, proc: subprocess.Popen, status_lines: list[str]) -> None:
        """SIGKILL everything the run started.

        With namespaces the kill goes to boot.py (PID 1 of the namespace): its exit kills every
        process in the namespace. Without, the process group and the program's own pid (it may have
        left the group with setsid) are killed.
        """
        targets = _children(proc.pid) if self.isolation.namespaces else []
        if not self.isolation.namespaces:
            targets += [int(line[4:]) for line in status_lines if line.startswith("pid ") and line[4:].isdigit()]
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not targets or not self.isolation.namespaces:
            _kill_group(proc)


def _over_cap(out: _Capture, err: _Capture, status: _Capture, limits: Limits) -> tuple[str, str] | None:
    for name, capture, cap in (("stdout", out, limits.stdout_bytes), ("stderr", err, limits.stderr_bytes),
                               ("the results", status, status.cap)):
        if capture.over:
            return "output_limit", f"{name} passed {cap} bytes"
    return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(proc: subprocess.Popen) -> None:
    """Wait for the supervisor's child with a deadline; past it, kill its whole group and wait again."""
    try:
        proc.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.kill()
        proc.wait(timeout=GRACE_SECONDS)


class UidRange:
    """A block of `UID_RANGE` uids held by one sandbox: an exclusive lock on a file per block, so
    two sandboxes on one machine (in one process or several) never share uids, process budgets or
    keyrings. The lock goes with the process, so a crashed trainer frees its block."""

    def __init__(self, base: int, lock: int | None = None):
        self.base, self._lock = base, lock

    @classmethod
    def claim(cls) -> UidRange:
        folder = Path(tempfile.gettempdir()) / "sparring-uid-blocks"
        folder.mkdir(mode=0o700, exist_ok=True)
        for block in range(UID_BLOCKS):
            fd = os.open(folder / f"{block}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            return cls(UID_FIRST + block * UID_RANGE, fd)
        raise RuntimeError(f"sandbox: all {UID_BLOCKS} uid blocks are held by other sandboxes on this machine")

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _children(pid: int) -> list[int]:
    """The pids of a process's children (Linux /proc), [] when unknown."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


@dataclass(frozen=True)
class _StatusReport:
    """What boot.py reported on the status pipe."""

    exit_code: int | None = None
    cpu: float = 0.0
    wall: bool = False
    results: tuple[str, ...] | None = None
    results_problem: str = ""
    results_over: bool = False

    @classmethod
    def parse(cls, lines: list[str]) -> _StatusReport:
        fields: dict = {}
        for line in lines:
            word, _, rest = line.partition(" ")
            if word == "exit" and len(rest.split()) == 2:
                code, cpu = rest.split()
                fields.update(exit_code=int(code), cpu=float(cpu))
            elif word == "wall":
                fields["wall"] = True
            elif word == "results":
                text = bytes.fromhex(rest).decode("utf-8", errors="replace")
                fields["results"] = tuple(text.split("\n")) if text else ()
            elif word == "forged":
                fields["results_problem"] = "the results channel held bytes without the run's key"
            elif word == "results_over":
                fields["results_over"] = True
        return cls(**fields)


def _classify(report: _StatusReport, limits: Limits) -> tuple[str, str]:
    exit_code = report.exit_code
    if report.wall:
        return "timeout", f"wall-clock limit of {limits.wall_seconds:g} s"
    if exit_code is None:
        return "killed", "the sandbox ended before the program reported an exit"
    # Whatever the exit status: a program may catch SIGXCPU and exit 0. The kernel sends SIGXCPU on a
    # tick, and the rusage it reports can fall a few ms short of the limit, hence the margin.
    if report.cpu >= limits.cpu_seconds - CPU_ACCOUNTING_MARGIN:
        return "timeout", f"CPU limit of {limits.cpu_seconds} s"
    if report.results_over:
        return "output_limit", f"the results passed {limits.stdout_bytes} bytes"
    if report.results_problem:
        return "error", report.results_problem
    if exit_code == 0:
        return "ok", "exited normally"
    if exit_code == 125:
        return "error", "the program could not be started"
    if exit_code > 0:
        return "error", f"exited with status {exit_code}"
    sig = -exit_code
    if sig == signal.SIGXCPU:
        return "timeout", f"CPU limit of {limits.cpu_seconds} s"
    if sig == signal.SIGXFSZ:
        return "killed", f"file size limit of {limits.file_mb} MB"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    return "killed", f"killed by signal {name}"
