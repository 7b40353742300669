"""The hostile-program suite: every program ends with a defined outcome and the host is unharmed.

Each hostile program runs twice: straight in the sandbox, bypassing the static check (the sandbox
alone must contain it), and as a task through the code judge (static check, then the sandbox,
twice): there it must never yield a task. After every run no process of the sandbox's uids is
left and no sandbox folder remains.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import textwrap
from pathlib import Path

import pytest

from sparring.games.literals import same_value
from sparring.judges.code_judge import CodeJudge, harness
from sparring.judges.program_check import check_program
from sparring.judges.sandbox import Isolation, Limits, Sandbox

UID_BASE = 62000  # not the default: a training run on this machine uses 61000+
LIMITS = Limits(cpu_seconds=1, wall_seconds=2.0, memory_mb=256, stdout_bytes=64 * 1024)
ISOLATION = Isolation.detect()
needs_namespaces = pytest.mark.skipif(not ISOLATION.namespaces, reason="unshare is not allowed here")
needs_root = pytest.mark.skipif(not ISOLATION.drop_uid, reason="the uid drop needs root")


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(LIMITS, workers=2, uid_base=UID_BASE)
    yield box
    box.close()


def sandbox_processes() -> list[int]:
    """Pids of live processes owned by the suite's sandbox uids."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid_line = next(l for l in (entry / "status").read_text().splitlines() if l.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(uid_line.split()[1]) in (UID_BASE, UID_BASE + 1):
                found.append(int(entry.name))
    return found


def sandbox_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("sparring-sandbox-*")}


@pytest.fixture
def host_unharmed():
    """Asserts after the test that nothing of the sandbox is left on the host."""
    before = sandbox_folders()
    yield
    assert sandbox_processes() == [], "a sandboxed process outlived its run"
    assert sandbox_folders() <= before, "a sandbox working directory was left behind"


@pytest.fixture
def world_writable(tmp_path_factory):
    """Sentinel files anyone may write, in a folder anyone may write: in /tmp and in the repo."""
    folders = [Path(tempfile.mkdtemp(prefix="sparring-sentinel-")),
               Path(tempfile.mkdtemp(prefix=".sentinel-", dir=Path(__file__).parent))]
    sentinels = []
    for folder in folders:
        folder.chmod(0o777)
        sentinel = folder / "sentinel.txt"
        sentinel.write_text("untouched")
        sentinel.chmod(0o666)
        sentinels.append(sentinel)
    yield sentinels
    for folder in folders:
        shutil.rmtree(folder)


@pytest.fixture
def secret():
    """A file only the trainer's user may read, in a folder anyone may enter."""
    folder = Path(tempfile.mkdtemp(prefix=".secret-", dir=Path(__file__).parent))
    folder.chmod(0o755)
    path = folder / "secret.txt"
    path.write_text("the trainer's secret 0451")
    path.chmod(0o600)
    yield path
    shutil.rmtree(folder)


def program(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


# name -> (program, outcome in the raw sandbox: a status, or a set of them). Outcomes are the sandbox's statuses.
HOSTILE = {
    "fork_bomb": (program("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """), "timeout"),
    "memory_bomb": (program("""
        hog = []
        while True:
            hog.append(bytearray(10 * 1024 * 1024))
        """), "error"),
    "infinite_loop": ("while True:\n    pass\n", "timeout"),
    "sleep_forever": ("import time\ntime.sleep(3600)\n", "timeout"),
    "print_100_mb": ("print('x' * 100_000_000)\n", "output_limit"),
    "sys_exit_in_f": (program("""
        import sys
        def f(x):
            sys.exit(0)
        f(1)
        """), "ok"),
    "os_exit_code": ("import os\nos._exit(3)\n", "error"),
    "recursion_bomb": ("def f(n):\n    return f(n + 1)\nf(0)\n", "error"),
    "deep_recursion_bomb": (program("""
        import sys
        sys.setrecursionlimit(10**7)
        def f(n):
            return f(n + 1)
        f(0)
        """), {"timeout", "error", "killed"}),  # CPU, memory or the C stack: whichever runs out first
    "subprocess_shell": ("import subprocess\nsubprocess.run(['sh', '-c', 'echo pwned'])\n", "error"),
    "ctypes_segfault": ("import ctypes\nctypes.string_at(0)\n", "killed"),
    "threads": ("import threading\nthreading.Thread(target=print).start()\n", "error"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_contained_by_the_raw_sandbox(sandbox, host_unharmed, name):
    source, outcome = HOSTILE[name]
    result = sandbox.run(source)
    assert result.status in ({outcome} if isinstance(outcome, str) else outcome), (result.reason, result.stderr)
    assert "pwned" not in result.stdout
    assert len(result.stdout) <= LIMITS.stdout_bytes


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_never_becomes_a_task(sandbox, host_unharmed, name):
    source, _ = HOSTILE[name]
    task = source + "\ndef f(x):\n    return x\n"  # a task program in every other respect
    [run] = CodeJudge(sandbox).run_calls([(task, ["1"])], repeat=2)
    assert not run.ok and run.reason


def test_static_check_refuses_the_programs_that_import_or_escape():
    refused = {name for name, (source, _) in HOSTILE.items() if check_program(source) is not None}
    pure = {"memory_bomb", "infinite_loop", "print_100_mb", "recursion_bomb"}  # plain Python: the sandbox's job
    assert refused == set(HOSTILE) - pure
    for escape in ("__import__('os').system('ls')", "().__class__.__mro__", "getattr(f, 'x')",
                   "open('/etc/passwd')", "eval('1')", "from os import path", "import importlib"):
        assert check_program(escape) is not None, escape
    assert check_program("import math\ndef f(x):\n    return math.sqrt(x)") is None


def test_the_first_fork_fails_with_eagain(sandbox, host_unharmed):
    source = program("""
        import errno, os
        try:
            os.fork()
            print("forked")
        except OSError as e:
            print(errno.errorcode[e.errno])
        """)
    result = sandbox.run(source)
    assert result.ok and result.stdout.strip() == "EAGAIN"


@needs_namespaces
def test_no_connection_reaches_a_local_listener(sandbox, host_unharmed):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        result = sandbox.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).send(b'hi')\n")
        assert result.status == "error" and result.network_isolated
        assert "unreachable" in result.stderr or "refused" in result.stderr
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_files_outside_the_working_directory_are_unchanged(sandbox, host_unharmed, world_writable):
    attacks = []
    for sentinel in world_writable:
        attacks += [f"open({str(sentinel)!r}, 'w').write('owned')", f"import os\nos.remove({str(sentinel)!r})",
                    f"import os\nos.rename({str(sentinel)!r}, {str(sentinel) + '.moved'!r})",
                    f"open({str(sentinel.parent / 'new.txt')!r}, 'w').write('new')"]
    for result in sandbox.run_many(attacks):
        assert result.status == "error", result.stderr
    for sentinel in world_writable:
        assert sentinel.read_text() == "untouched"
        assert sorted(p.name for p in sentinel.parent.iterdir()) == ["sentinel.txt"]


def test_the_working_directory_is_writable_and_then_gone(sandbox, host_unharmed):
    result = sandbox.run("import os\nopen('note.txt', 'w').write('ok')\nprint(open('note.txt').read(), os.getcwd())\n")
    assert result.ok and result.stdout.split()[0] == "ok"
    assert not Path(result.stdout.split()[1]).joinpath("note.txt").exists()


def test_a_file_past_the_size_limit_is_refused(sandbox, host_unharmed):
    result = sandbox.run(f"open('big', 'wb').write(b'x' * {(LIMITS.file_mb + 1) * 1024 * 1024})\n")
    assert result.status == "error" and "File too large" in result.stderr


@needs_root
def test_the_trainers_files_cannot_be_read(sandbox, host_unharmed, secret):
    result = sandbox.run(f"print(open({str(secret)!r}).read())\n")
    # Under /tmp (a fresh clone there, say) the sandbox's private tmpfs hides the file altogether.
    hidden = str(secret).startswith(("/tmp/", "/var/tmp/", "/dev/shm/"))
    expected = "No such file or directory" if hidden else "Permission denied"
    assert result.status == "error" and expected in result.stderr, result.stderr
    assert "0451" not in result.stdout + result.stderr


def test_the_parent_and_the_trainer_cannot_be_killed(sandbox, host_unharmed):
    me = os.getpid()
    for source in ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
                   f"import os, signal\nos.kill({me}, signal.SIGKILL)\n"):
        result = sandbox.run(source)
        assert result.status == "error", result.stderr
        assert "PermissionError" in result.stderr or "ProcessLookupError" in result.stderr
    assert sandbox.run("print('still judging')\n").stdout == "still judging\n"


@needs_namespaces
def test_the_program_sees_no_host_process_and_an_empty_environment(sandbox, host_unharmed):
    result = sandbox.run("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), dict(os.environ))\n")
    pids, env = result.stdout.split(" ", 1)[0], result.stdout.split("] ", 1)[1]
    assert pids == "[1," or result.stdout.startswith("[1, 2]")
    assert "PATH" not in env and "PYTHONPATH" not in env


@needs_root
def test_the_program_runs_as_an_unprivileged_uid_with_no_groups(sandbox, host_unharmed):
    result = sandbox.run("import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n")
    uid, euid, gid, groups = result.stdout.split(" ", 3)
    assert int(uid) == int(euid) == int(gid) and int(uid) in (UID_BASE, UID_BASE + 1)
    assert groups.strip() == "[]"


def test_workers_run_in_parallel_with_their_own_uids(sandbox, host_unharmed):
    results = sandbox.run_many(["import os\nprint(os.getuid())\n"] * 6)
    assert all(r.ok for r in results)
    uids = {int(r.stdout) for r in results}
    assert uids <= {UID_BASE, UID_BASE + 1} if ISOLATION.drop_uid else len(uids) == 1


def test_the_judge_reads_results_and_checks_determinism(sandbox, host_unharmed):
    judge = CodeJudge(sandbox)
    good, unordered, crash = judge.run_calls([
        ("def f(x, y):\n    return [x] * y", ["'a', 3", "(1,), 2"]),
        ("def f(s):\n    return list(set(s))", ["'abcdefghijklmnop'"]),  # str hashing differs per process
        ("def f(x):\n    return 1 // x", ["0"]),
    ], repeat=2)
    assert good.outputs == ("['a', 'a', 'a']", "[(1,), (1,)]")
    assert not unordered.ok and unordered.status == "nondeterministic"
    assert not crash.ok and "ZeroDivisionError" in crash.reason
    assert same_value("[1,2]", "[1, 2]") and not same_value("1", "1.0") and not same_value("1", "x")
    assert "f(0)" in harness("def f(x):\n    return x", ["0"])
