"""The sandbox's hostile suite: programs written as an attacker would, and what counts as an escape.

    python scripts/hostile_suite.py          # runs every attack, prints "N programs, 0 escapes"

Five kinds of attack, each judged by what it was after:

* ``contain``: a program run straight in the sandbox (no static check), twice in a row. It prints
  ``ESCAPED`` when it reaches its goal (a host socket, a secret, state left by its previous run,
  privileges); it escapes if either run prints it or the secret, ends with a status outside
  `Attack.statuses`, or the verdict takes longer than the wall limit plus the grace period.
* ``forge``: a program whose honest ``f(1)`` is 7 tries to make the judge record another value;
  run with calls straight in the sandbox, it escapes if the results are anything but ``("7",)``.
* ``static``: a program the static check must refuse (a known way out of the allowed modules).
* ``call``: the argument text of a ``>>> f(...)`` line that must not pass as literals.
* ``determinism``: a nondeterministic ``f``; the judge (static check off, two runs) must not
  accept it.

The placeholders ``$secret``, ``$secret_text``, ``$unix_socket``, ``$abstract``, ``$tcp_port``,
``$udp_port``, ``$sentinel`` and ``$trainer_pid`` are filled by `Host` before a run.
"""

from __future__ import annotations

import os
import shutil
import socket
import string
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from sparring.judges.code_judge import CodeJudge
from sparring.judges.literals import argument_texts
from sparring.judges.program_check import check_program
from sparring.judges.sandbox import GRACE_SECONDS, Limits, Sandbox

FAILED = ("error", "killed", "timeout", "output_limit")
ANY = ("ok",) + FAILED


@dataclass(frozen=True)
class Attack:
    name: str
    kind: str  # contain | forge | static | call | determinism
    text: str  # a program, or for "call" an argument text
    statuses: tuple[str, ...] = ANY  # contain: the statuses that count as held


def _src(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def _contain(name: str, text: str, statuses: tuple[str, ...] = ANY) -> Attack:
    return Attack(name, "contain", _src(text), statuses)


# A program that prints ESCAPED when a libc call succeeds (returns >= 0).
def _libc(name: str, call: str) -> Attack:
    return _contain(name, f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if {call} >= 0:
            print("ESCAPED")
        """)


# A program that looks for what its previous run left (`find` >= 0 means found) and leaves it.
def _persist(name: str, find: str, leave: str) -> Attack:
    return _contain(name, f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if {find} >= 0:
            print("ESCAPED")
        {leave}
        """)


def _file_persist(name: str, folder: str) -> Attack:
    return _contain(name, f"""
        import os
        path = {folder!r} + "/sparring-hostile-state"
        if os.path.exists(path):
            print("ESCAPED")
        try:
            open(path, "w").write("state")
        except OSError:
            pass
        """)


CONTAIN = [
    _contain("fork_bomb", """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """, ("timeout",)),
    _contain("memory_bomb", "hog = []\nwhile True:\n    hog.append(bytearray(10 * 1024 * 1024))", ("error",)),
    _contain("infinite_loop", "while True:\n    pass", ("timeout",)),
    _contain("sleep_forever", "import time\ntime.sleep(3600)", ("timeout",)),
    _contain("print_100_mb", "print('x' * 100_000_000)", ("output_limit",)),
    _contain("stderr_10_mb_exception", "raise ValueError('x' * 10_000_000)", FAILED),
    _contain("stderr_flood", "import sys\nwhile True:\n    sys.stderr.write('y' * 65536)", ("output_limit",)),
    _contain("close_streams_and_sleep", "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(3600)", ("timeout",)),
    _contain("setsid_and_sleep", "import os, time\nos.setsid()\ntime.sleep(3600)", ("timeout",)),
    _contain("os_exit_code", "import os\nos._exit(3)", ("error",)),
    _contain("recursion_bomb", "def f(n):\n    return f(n + 1)\nf(0)", ("error",)),
    _contain("deep_recursion_bomb", "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)",
             ("timeout", "error", "killed")),
    _contain("subprocess_shell", "import subprocess\nsubprocess.run(['sh', '-c', 'echo ESCAPED'])", ("error",)),
    _contain("exec_shell_reads_secret", "import os\nos.execv('/bin/sh', ['sh', '-c', 'cat $secret'])", FAILED),
    _contain("ctypes_segfault", "import ctypes\nctypes.string_at(0)", ("killed",)),
    _contain("threads", "import threading\nthreading.Thread(target=print).start()", ("error",)),
    _contain("sigxcpu_caught", """
        import os, signal
        signal.signal(signal.SIGXCPU, lambda *_: os._exit(0))
        while True:
            pass
        """, ("timeout",)),
    _contain("sigxcpu_ignored", "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass",
             ("timeout",)),
    _contain("file_size_bomb", "open('big', 'wb').write(b'x' * 3 * 1024 * 1024)", ("error", "killed")),
    _contain("many_open_files", "files = [open('f%d' % i, 'w') for i in range(200)]", ("error",)),
    _contain("tcp_to_host", """
        import socket
        socket.create_connection(('127.0.0.1', $tcp_port), timeout=1)
        print('ESCAPED')
        """),
    _contain("udp_to_host", """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b'hi', ('127.0.0.1', $udp_port))
        print('ESCAPED')
        """),
    _contain("unix_socket_path", """
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect('$unix_socket')
        print('ESCAPED')
        """),
    _contain("abstract_unix_socket", """
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect('\\0$abstract')
        print('ESCAPED')
        """),
    _libc("raw_socket_syscall", "libc.syscall(41, 1, 1, 0)"),
    _contain("read_secret", "print(open('$secret').read())"),
    _contain("list_secret_folder", "import os\nprint('ESCAPED' if os.listdir('$secret'.rsplit('/', 1)[0]) else '')"),
    _contain("write_sentinel", "open('$sentinel', 'w').write('owned')\nprint('ESCAPED')"),
    _contain("remove_sentinel", "import os\nos.remove('$sentinel')\nprint('ESCAPED')"),
    _contain("read_etc_shadow", "print('ESCAPED' if 'root' in open('/etc/shadow').read() else '')"),
    _contain("list_run", "import os\nprint('ESCAPED' if os.listdir('/run') else '')"),
    _contain("list_home_and_root", "import os\nprint('ESCAPED' if os.listdir('/home') + os.listdir('/root') else '')"),
    _contain("read_sysfs", "import os\nprint('ESCAPED' if os.listdir('/sys') else '')"),
    _contain("read_block_device", "import os\nprint('ESCAPED' if open('/dev/mem', 'rb').read(1) else '')"),
    _contain("see_host_processes", "import os\nprint('ESCAPED' if len([p for p in os.listdir('/proc') if p.isdigit()]) > 3 else '')"),
    _contain("kill_trainer", "import os, signal\nos.kill($trainer_pid, signal.SIGKILL)\nprint('ESCAPED')"),
    _contain("kill_boot", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('ESCAPED')"),
    # LC_CTYPE is Python's own locale coercion (PEP 538), not the host's.
    _contain("environment_leak", "import os\nprint('ESCAPED' if set(os.environ) - {'PYTHONHASHSEED', 'LC_CTYPE'} else '')"),
    _contain("setuid_root", "import os\nos.setuid(0)\nprint('ESCAPED')"),
    _contain("raise_cpu_limit", "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (100, 100))\nprint('ESCAPED')"),
    _libc("ptrace_boot", "libc.ptrace(16, 1, 0, 0)"),
    _libc("mount_tmpfs", "libc.mount(b'none', b'.', b'tmpfs', 0, None)"),
    _libc("new_user_namespace", "libc.unshare(0x10000000)"),
    _libc("sethostname", "libc.sethostname(b'owned', 5)"),
    _libc("perf_event_open", "libc.syscall(298, 0, 0, -1, -1, 0)"),
    _libc("bpf", "libc.syscall(321, 0, 0, 0)"),
    _libc("io_uring_setup", "libc.syscall(425, 8, ctypes.create_string_buffer(120))"),
    _libc("session_keyring", "libc.syscall(250, 0, -3, 0)"),  # KEYCTL_GET_KEYRING_ID of the session keyring
    _persist("keyring_persist", "libc.syscall(249, b'user', b'sparring-hostile', None, -4)",  # request_key
             "libc.syscall(248, b'user', b'sparring-hostile', b'state', 5, -4)"),  # add_key to the user keyring
    _persist("sysv_shm_persist", "libc.shmget(0x5eed, 4096, 0)", "libc.shmget(0x5eed, 4096, 0o1666)"),
    _persist("sysv_msg_persist", "libc.msgget(0x5eed, 0)", "libc.msgget(0x5eed, 0o1666)"),
    _persist("sysv_sem_persist", "libc.semget(0x5eed, 1, 0)", "libc.semget(0x5eed, 1, 0o1666)"),
    _persist("posix_mq_persist", "libc.mq_open(b'/sparring-hostile', 2)", "libc.mq_open(b'/sparring-hostile', 0o102, 0o666, None)"),
    _file_persist("dev_shm_persist", "/dev/shm"),
    _file_persist("tmp_persist", "/tmp"),
    _file_persist("var_tmp_persist", "/var/tmp"),
]

FORGE = [Attack(name, "forge", _src(text)) for name, text in [
    ("print_marker_and_exit", "import os\nprint('=== sparring results ===')\nprint(repr(['99']))\nos._exit(0)\ndef f(x):\n    return 7"),
    ("print_marker_then_return", "print('=== sparring results ===')\nprint(repr(['99']))\ndef f(x):\n    return 7"),
    ("shadow_repr_in_builtins", "import builtins\nbuiltins.repr = lambda v: '99'\ndef f(x):\n    return 7"),
    ("shadow_repr_in_globals", "repr = lambda v: '99'\ndef f(x):\n    return 7"),
    ("rebind_results_in_f", """
        import builtins
        def f(x):
            global _sparring_results, lines, results
            _sparring_results = lines = results = ['99']
            builtins.lines = ['99']
            return 7
        """),
    ("int_subclass_repr", "class Seven(int):\n    def __repr__(self):\n        return '99'\ndef f(x):\n    return Seven(7)"),
    ("object_with_repr", "class Fake:\n    def __repr__(self):\n        return '99'\ndef f(x):\n    return Fake()"),
    ("write_results_fd_and_exit", "import os\nos.write(4, b'99')\nos._exit(0)\ndef f(x):\n    return 7"),
    ("garbage_before_results", "import os\nos.write(4, b'9')\ndef f(x):\n    return 7"),
    ("atexit_appends_digit", "import atexit, os\natexit.register(lambda: os.write(4, b'9'))\ndef f(x):\n    return 7"),
    ("dup_results_fd_and_append", "import os\nsaved = os.dup(4)\nimport atexit\natexit.register(lambda: os.write(saved, b'9'))\ndef f(x):\n    return 7"),
    ("read_key_fd", "import os\nkey = os.read(3, 256)\nos.write(4, key + b'99' + key)\nos._exit(0)\ndef f(x):\n    return 7"),
    ("key_from_proc_fd", "import os\nkey = open('/proc/self/fd/3', 'rb').read()\nos.write(4, key + b'99' + key)\nos._exit(0)\ndef f(x):\n    return 7"),
    ("sys_exit_in_f", "import sys\ndef f(x):\n    sys.exit(0)"),
    ("patch_os_write", "import os\nos.write = lambda fd, data: len(data)\ndef f(x):\n    return 7"),
]]

STATIC = [Attack(name, "static", _src(text)) for name, text in [
    ("typing_sys_modules", "import typing\ndef f(x):\n    return typing.sys.modules['_frozen_importlib']"),
    ("from_typing_import_sys", "from typing import sys\ndef f(x):\n    return sys"),
    ("formatter_get_field", "import string\ndef f(x):\n    return string.Formatter().get_field('0.__class__', [x], {})"),
    ("formatter_split_string", "import string\ndef f(x):\n    return string.Formatter().get_field('0._' + '_class_' + '_', [x], {})"),
    ("attrgetter_self", "import operator\ndef f(x):\n    return operator.attrgetter('__self__')(len)"),
    ("attrgetter_split", "from operator import attrgetter\ndef f(x):\n    return attrgetter('_' + '_self_' + '_')(len)"),
    ("methodcaller", "import operator\ndef f(x):\n    return operator.methodcaller('mro')(type(x))"),
    ("banned_name_as_attribute", "import re\ndef f(x):\n    return re.compile.eval"),
    ("format_string_dunder", "def f(x):\n    return '{0.__class__.__base__}'.format(x)"),
    ("dunder_attribute", "def f(x):\n    return ().__class__.__mro__"),
    ("private_attribute", "import re\ndef f(x):\n    return re._compiler"),
    ("frame_walk", "def f(x):\n    g = (i for i in [1])\n    return g.gi_frame.f_back"),
    ("traceback_frame", "def f(x):\n    try:\n        1 / 0\n    except Exception as e:\n        return e.__traceback__.tb_frame"),
    ("match_class_dunder", "def f(x):\n    match x:\n        case int(__class__=c):\n            return c"),
    ("dataclasses_sys", "import dataclasses\ndef f(x):\n    return dataclasses.sys.modules"),
    ("vars_builtin", "def f(x):\n    return vars()"),
    ("import_importlib", "import importlib\ndef f(x):\n    return importlib.import_module('os')"),
    ("type_mro", "def f(x):\n    return type(x).mro()"),
]]

CALL = [Attack(name, "call", text) for name, text in [
    ("attribute_after_call", "__import__('os').getpid()).__add__(0"),
    ("method_on_result", "1).__add__((0"),
    ("or_expression", "1) or (__import__('os')"),
    ("keyword_argument", "x=__import__('os')"),
    ("starred", "*[1]"),
    ("lambda", "lambda: 0"),
    ("comprehension", "[i for i in range(10 ** 9)]"),
    ("power", "10 ** 10 ** 10"),
    ("name", "open"),
]]

DETERMINISM = [Attack(name, "determinism", _src(text)) for name, text in [
    ("set_order", "def f(x):\n    return list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'})"),
    ("hash_parity", "def f(x):\n    return hash('sparring') % 2"),
    ("clock_parity", "import time\ndef f(x):\n    return int(time.time()) % 2"),
    ("clock_ns", "import time\ndef f(x):\n    return time.time_ns() // 1000"),
    ("urandom", "import os\ndef f(x):\n    return os.urandom(4)"),
    ("uptime", "def f(x):\n    return open('/proc/uptime').read()"),
]]

ATTACKS = CONTAIN + FORGE + STATIC + CALL + DETERMINISM


@dataclass(frozen=True)
class Outcome:
    attack: Attack
    escaped: bool
    detail: str
    seconds: float


class Host:
    """What attacks aim at, set up on the host: a root-only secret, listeners (TCP, UDP, a unix
    socket file outside /tmp, an abstract socket), a world-writable sentinel. `close` removes them."""

    def __init__(self, folder: Path):
        self.folder = Path(tempfile.mkdtemp(prefix=".hostile-", dir=folder))
        self.folder.chmod(0o777)
        self.secret = self.folder / "secret.txt"
        self.secret_text = "the trainer's secret 0451"
        self.secret.write_text(self.secret_text)
        self.secret.chmod(0o600)
        self.sentinel = self.folder / "sentinel.txt"
        self.sentinel.write_text("untouched")
        self.sentinel.chmod(0o666)
        self.tcp = self._listener(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0))
        self.udp = self._listener(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0))
        self.unix_path = str(self.folder / "host.sock")
        self.unix = self._listener(socket.AF_UNIX, socket.SOCK_STREAM, self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.abstract_name = f"sparring-hostile-{os.getpid()}"
        self.abstract = self._listener(socket.AF_UNIX, socket.SOCK_STREAM, "\0" + self.abstract_name)

    @staticmethod
    def _listener(family, kind, address) -> socket.socket:
        sock = socket.socket(family, kind)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(64)
        sock.setblocking(False)
        return sock

    def fill(self, text: str) -> str:
        return string.Template(text).safe_substitute(
            secret=str(self.secret), secret_text=self.secret_text, unix_socket=self.unix_path,
            abstract=self.abstract_name, tcp_port=self.tcp.getsockname()[1], udp_port=self.udp.getsockname()[1],
            sentinel=str(self.sentinel), trainer_pid=os.getpid())

    def harmed(self) -> str:
        """What an attack changed on the host, or ''."""
        if self.sentinel.read_text() != "untouched":
            return "the sentinel file was written"
        for sock in (self.tcp, self.unix, self.abstract):
            try:
                sock.accept()[0].close()
                return "a host listener accepted a connection"
            except BlockingIOError:
                pass
        try:
            self.udp.recv(16)
            return "a datagram reached the host"
        except BlockingIOError:
            return ""

    def close(self) -> None:
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def run_attack(attack: Attack, sandbox: Sandbox, host: Host) -> Outcome:
    """Run one attack and say whether it escaped, and why."""
    started = time.monotonic()
    detail = {"contain": _contain_detail, "forge": _forge_detail, "static": _static_detail,
              "call": _call_detail, "determinism": _determinism_detail}[attack.kind](attack, sandbox, host)
    seconds = time.monotonic() - started
    return Outcome(attack, bool(detail), detail or "held", seconds)


def _verdict_late(seconds: float, limits: Limits) -> bool:
    return seconds > limits.wall_seconds + GRACE_SECONDS + 1.0


def _contain_detail(attack: Attack, sandbox: Sandbox, host: Host) -> str:
    source = host.fill(attack.text)
    for run in (1, 2):
        started = time.monotonic()
        result = sandbox.run(source)
        if _verdict_late(time.monotonic() - started, sandbox.limits):
            return f"run {run}: the verdict came after {time.monotonic() - started:.1f} s"
        if "ESCAPED" in result.stdout or host.secret_text in result.stdout + result.stderr:
            return f"run {run}: the program reached its goal ({result.stdout.strip()[:80]})"
        if result.status not in attack.statuses:
            return f"run {run}: status {result.status} ({result.reason}), expected {'/'.join(attack.statuses)}"
        harm = host.harmed()
        if harm:
            return f"run {run}: {harm}"
    return ""


def _forge_detail(attack: Attack, sandbox: Sandbox, host: Host) -> str:
    result = sandbox.run(attack.text, calls=[["1"]])
    if result.results not in (None, ("7",)):
        return f"the judge recorded {result.results} for f(1), which returns 7"
    return ""


def _static_detail(attack: Attack, sandbox: Sandbox, host: Host) -> str:
    return "" if check_program(attack.text, required_function="f") is not None else "the static check passed it"


def _call_detail(attack: Attack, sandbox: Sandbox, host: Host) -> str:
    return "" if argument_texts(attack.text) is None else f"read as arguments {argument_texts(attack.text)}"


def _determinism_detail(attack: Attack, sandbox: Sandbox, host: Host) -> str:
    [run] = CodeJudge(sandbox, static_check=False).run_calls([(attack.text, ["1"])], repeat=2)
    return f"judged deterministic with results {run.outputs}" if run.ok else ""


def sandbox_for_suite(uid_base: int | None = None) -> Sandbox:
    """The limits the suite is written against: 1 s of CPU, 2 s of wall clock, 256 MB, 1 MB files."""
    return Sandbox(Limits(cpu_seconds=1, wall_seconds=2.0, memory_mb=256, file_mb=1), workers=2, uid_base=uid_base)

