"""The sandbox against hostile programs: every program ends with a defined outcome, in time, and the
host is unharmed.

The attacks themselves live in `sparring.judges.hostile` (``scripts/hostile_suite.py`` runs all
of them); here every fast one runs, plus the checks that need more than one program: a verdict
that must come back although the program jams the pipes, a judging process that dies mid-run, two
sandboxes on one machine. After every test no process of the sandbox's uids is left and no
sandbox folder remains.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sparring.judges.code_judge import CodeJudge
from sparring.judges.hostile import ATTACKS, CONTAIN, Host, run_attack
from sparring.judges.literals import same_value
from sparring.judges.program_check import check_program
from sparring.judges.sandbox import GRACE_SECONDS, Isolation, Limits, Sandbox

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
    return uid_processes(UID_BASE, UID_BASE + 1)


def uid_processes(*uids: int) -> list[int]:
    """Pids of live processes owned by any of `uids`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid_line = next(l for l in (entry / "status").read_text().splitlines() if l.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(uid_line.split()[1]) in uids:
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


# Attacks that each take the whole wall or CPU limit twice: the script runs them, the tests some.
SLOW = {"fork_bomb", "infinite_loop", "sleep_forever", "setsid_and_sleep", "deep_recursion_bomb", "sigxcpu_ignored"}


@pytest.fixture(scope="module")
def host():
    fixtures = Host(Path(__file__).parent)
    yield fixtures
    fixtures.close()


@pytest.mark.parametrize("name", [a.name for a in ATTACKS if a.name not in SLOW])
def test_hostile_program_is_held(sandbox, host, host_unharmed, name):
    attack = next(a for a in ATTACKS if a.name == name)
    if attack.kind == "contain" and not (ISOLATION.namespaces and ISOLATION.drop_uid and ISOLATION.seccomp):
        pytest.skip("the contain attacks assume namespaces, the uid drop and seccomp (root on x86-64 Linux)")
    outcome = run_attack(attack, sandbox, host)
    assert not outcome.escaped, outcome.detail


def test_the_suite_has_sixty_programs_of_every_kind():
    kinds = {a.kind for a in ATTACKS}
    assert len(ATTACKS) >= 60 and kinds == {"contain", "forge", "static", "call", "determinism"}
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("name", ["stderr_10_mb_exception", "close_streams_and_sleep", "stderr_flood"])
def test_a_program_that_jams_the_pipes_gets_a_verdict_in_time(sandbox, host_unharmed, name):
    source = next(a for a in CONTAIN if a.name == name).text
    verdicts: list = []
    worker = threading.Thread(target=lambda: verdicts.append(sandbox.run(source)), daemon=True)
    worker.start()
    worker.join(timeout=LIMITS.wall_seconds + GRACE_SECONDS + 3)
    assert not worker.is_alive(), "the supervisor hung"
    assert verdicts[0].status in ("error", "timeout", "output_limit")


@pytest.mark.parametrize("name", sorted(a.name for a in CONTAIN if "ok" not in a.statuses and a.name not in SLOW))
def test_hostile_program_never_becomes_a_task(sandbox, host, host_unharmed, name):
    source = host.fill(next(a for a in CONTAIN if a.name == name).text)
    task = source + "\ndef f(x):\n    return x\n"  # a task program in every other respect
    [run] = CodeJudge(sandbox).run_calls([(task, ["1"])], repeat=2)
    assert not run.ok and run.reason


def test_static_check_refuses_the_programs_that_import_or_escape():
    for escape in ("__import__('os').system('ls')", "().__class__.__mro__", "getattr(f, 'x')",
                   "open('/etc/passwd')", "eval('1')", "from os import path", "import importlib"):
        assert check_program(escape) is not None, escape
    for fine in ("import math\ndef f(x):\n    return math.sqrt(x)",
                 "from collections import Counter\ndef f(s):\n    return sorted(Counter(s).items())",
                 "def f(s):\n    return '{} and {}'.format(s, len(s))"):
        assert check_program(fine) is None, fine


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
def test_no_connection_reaches_a_local_listener(sandbox, host_unharmed, host):
    result = sandbox.run(f"import socket\nsocket.create_connection(('127.0.0.1', {host.tcp.getsockname()[1]}), timeout=1)\n")
    assert result.status == "error" and result.network_isolated
    refused = ("Operation not permitted", "unreachable", "refused")
    assert any(word in result.stderr for word in refused), result.stderr
    assert host.harmed() == ""


@needs_namespaces
def test_the_network_namespace_alone_keeps_a_program_from_the_hosts_loopback(host_unharmed, host):
    """Without the syscall filter, which refuses the socket itself, a program may make sockets: only its own
    network namespace, where loopback is down, keeps it from a listener on the host's 127.0.0.1."""
    unfiltered = Sandbox(LIMITS, workers=1, uid_base=UID_BASE, isolation=replace(ISOLATION, seccomp=False))
    try:
        result = unfiltered.run(f"import socket\nsocket.create_connection(('127.0.0.1', {host.tcp.getsockname()[1]}), "
                                "timeout=1)\nprint('connected')\n")
    finally:
        unfiltered.close()
    assert result.status == "error" and "connected" not in result.stdout
    assert "Network is unreachable" in result.stderr, result.stderr
    assert host.harmed() == ""


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
    # Under namespaces the repo's folder is not in the program's mount view at all.
    expected = "No such file or directory" if ISOLATION.namespaces else "Permission denied"
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
    good, unordered, crash, sets = judge.run_calls([
        ("def f(x, y):\n    return [x] * y", ["'a', 3", "(1,), 2"]),
        ("def f(s):\n    return list(set(s))", ["'abcdefghijklmnop'"]),  # str hashing differs with the seed
        ("def f(x):\n    return 1 // x", ["0"]),
        ("def f(s):\n    return set(s)", ["'abcdefghijklmnop'"]),  # a set's value does not depend on order
    ], repeat=2)
    assert good.outputs == ("['a', 'a', 'a']", "[(1,), (1,)]")
    assert not unordered.ok and unordered.status == "nondeterministic"
    assert not crash.ok and "ZeroDivisionError" in crash.reason
    assert sets.ok and sets.outputs == ("{" + ", ".join(repr(c) for c in "abcdefghijklmnop") + "}",)
    assert same_value("[1,2]", "[1, 2]") and not same_value("1", "1.0") and not same_value("1", "x")


def test_a_source_that_is_not_valid_text_is_an_error_not_an_exception(sandbox, host_unharmed):
    result = sandbox.run("print('\ud800')\n")
    assert result.status == "error"
    [run] = CodeJudge(sandbox).run_calls([("def f(x):\n    return '\ud800'", ["1"])])
    assert not run.ok or run.outputs == ("'\\ud800'",)


def test_two_sandboxes_on_one_machine_never_share_uids():
    first, second = Sandbox(LIMITS, workers=2), Sandbox(LIMITS, workers=2)
    try:
        ranges = [set(range(box.uids.base, box.uids.base + 2)) for box in (first, second)]
        assert not ranges[0] & ranges[1]
        uids = {int(box.run("import os\nprint(os.getuid())\n").stdout) for box in (first, second)}
        assert len(uids) == 2 or not ISOLATION.drop_uid
    finally:
        first.close()
        second.close()
    third = Sandbox(LIMITS, workers=1)  # a closed sandbox's block is free again
    assert third.uids.base in (first.uids.base, second.uids.base)
    third.close()


@needs_root
def test_the_wall_limit_holds_when_the_judging_process_dies():
    uid, folders = UID_BASE + 7, sandbox_folders()
    judging = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from sparring.judges.sandbox import Limits, Sandbox
        Sandbox(Limits(wall_seconds=2.0), workers=1, uid_base={uid}).run("import time\\ntime.sleep(3600)")
        """)])
    deadline = time.monotonic() + 20
    while not uid_processes(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uid_processes(uid), "the program never started"
    judging.send_signal(signal.SIGKILL)
    judging.wait()
    time.sleep(2.0 + 1.0)
    assert uid_processes(uid) == [], "the program outlived its wall limit after the judge died"
    for left in sandbox_folders() - folders:  # a killed judge cannot clean up its working directory
        shutil.rmtree(Path(tempfile.gettempdir()) / left)
