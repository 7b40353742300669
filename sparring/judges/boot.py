"""The sandbox's first process: trusted, standard library only, never imported by sparring.

`sparring.judges.sandbox` runs it as ``python -I -S boot.py SPEC`` (inside fresh network, PID, mount,
IPC and UTS namespaces when the OS allows). SPEC is a JSON object: ``python`` (the interpreter for
the program), ``limits`` ({RLIMIT name: [soft, hard]}), ``wall_seconds``, ``uid``/``gid`` (an
unprivileged identity, or null), ``private_fs`` (a private mount view: needs a mount namespace),
``tmp_mb`` (size of each private tmpfs), ``seccomp`` (install the filter: x86-64), ``hash_seed``, ``results_bytes`` and ``status_fd``.

It prepares the namespace, then forks the program's process, which sets its resource limits, drops
to the unprivileged identity, sets no_new_privs and a seccomp filter, and execs ``python -s -S -B -P
-`` on the trusted harness (`harness.py`, read from stdin) with only PYTHONHASHSEED in its
environment. The harness reads the job (``job.json``: the program's source, the calls of ``f``).

Results are authenticated: boot makes a random key, hands it to the program's process on fd 3
(which the harness reads and closes before the program's code runs) and reads fd 4, where the
harness writes the key followed by the results. Boot forwards results only when they start with
the key; anything the program writes anywhere else (stdout, say) is never a result.

Boot enforces the wall-clock limit itself: the program is killed at ``wall_seconds`` even if the
judging process is gone. It reports on ``status_fd``, one line each: ``pid N``, ``exit CODE
CPU_SECONDS`` (negative CODE: killed by that signal), ``wall`` (boot killed it at the wall limit),
``results HEX`` (authenticated results, hex-encoded), ``forged`` (fd 4 held bytes without the key),
``results_over`` (more than ``results_bytes``) and ``note TEXT`` for anything that could not be set
up. As PID 1 of its own PID namespace its exit ends every process the program left behind.
"""

import ctypes
import json
import os
import resource
import select
import signal
import struct
import sys
import time

PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
VISIBLE = ("usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "dev", "proc", "tmp", "var")
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
KEY_FD, RESULTS_FD = 3, 4

# Syscalls a pure computation never needs, refused with EPERM (x86-64 numbers): sockets (unix-domain
# paths are outside the network namespace), keyrings (not namespaced), SysV/POSIX IPC, tracing,
# mounts and namespaces, kernel modules, BPF, perf, io_uring, handles to host files.
DENIED_X86_64 = (
    41, 42, 43, 44, 49, 50, 53, 288,  # socket connect accept sendto bind listen socketpair accept4
    248, 249, 250,  # add_key request_key keyctl
    29, 30, 31, 64, 65, 66, 68, 69, 70, 71, 220, 240, 241, 242, 243, 244, 245,  # SysV IPC, mq_*
    101, 310, 311, 312,  # ptrace process_vm_readv/writev kcmp
    155, 161, 165, 166, 272, 308, 428, 429, 430, 431, 432, 433, 442,  # pivot_root chroot mount umount2 unshare setns, new mount API
    175, 176, 313, 246, 320,  # init/delete/finit_module kexec_load kexec_file_load
    321, 298, 323, 425, 426, 427,  # bpf perf_event_open userfaultfd io_uring_*
    303, 304, 300, 301, 434, 438,  # name_to_handle_at open_by_handle_at fanotify_* pidfd_open pidfd_getfd
    103, 135, 163, 167, 168, 169, 170, 171, 172, 173, 179, 227,  # syslog personality acct swap* reboot
)  # sethostname setdomainname iopl ioperm quotactl clock_settime
AUDIT_ARCH_X86_64 = 0xC000003E


def report(fd, line):
    os.write(fd, (line + "\n").encode())


def libc():
    return ctypes.CDLL(None, use_errno=True)


def private_filesystem(fd, spec):
    """In this mount namespace only: a fresh /proc of this PID namespace, an empty read-only tmpfs
    over every top-level folder the program does not need (the repo, /home, /root, /run, /etc...),
    tiny fresh tmpfs over the world-writable folders, the root read-only, and the working directory
    copied into the private /tmp. Nothing the program writes survives, and it sees no host process,
    no unix-domain socket file and no file of the trainer's."""
    c = libc()

    def mount(source, target, kind, flags, options):
        if c.mount(source, target, kind, flags, options) != 0:
            report(fd, f"note mount {target!r} failed: errno {ctypes.get_errno()}")

    staged = {name: open(name, "rb").read() for name in ("harness.py", "job.json")}
    mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    keep = os.path.dirname(os.path.dirname(os.path.realpath(spec["python"]))) + "/"
    for name in sorted(os.listdir("/")):
        path = "/" + name
        if name in VISIBLE or os.path.islink(path) or not os.path.isdir(path) or keep.startswith(path + "/"):
            continue
        mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, b"size=4k,mode=755")
    for path in ("/var/run", "/var/lib", "/var/spool", "/var/mail", "/var/cache", "/var/log"):
        if os.path.isdir(path) and not os.path.islink(path) and not keep.startswith(path + "/"):
            mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, b"size=4k,mode=755")
    size = f"size={spec['tmp_mb']}m,mode=1777".encode()
    for path in PRIVATE_TMP:
        if os.path.isdir(path):
            mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, size)
    mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    os.mkdir("/tmp/work", 0o700)
    for name, data in staged.items():
        with open(f"/tmp/work/{name}", "wb") as copy:
            copy.write(data)
    if spec["uid"] is not None:
        os.chown("/tmp/work", spec["uid"], spec["gid"])
    os.chdir("/tmp/work")


def seccomp_filter():
    """A BPF program: other architectures' syscalls and the denied ones get EPERM, the rest run."""
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    deny, allow = 0x00050000 | 1, 0x7FFF0000
    n = len(DENIED_X86_64)
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, AUDIT_ARCH_X86_64), (ret, 0, 0, deny), (ld, 0, 0, 0),
            (jge, n + 1, 0, 0x40000000)]  # x32 ABI numbers
    prog += [(jeq, n - i, 0, nr) for i, nr in enumerate(DENIED_X86_64)]
    prog += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    return b"".join(struct.pack("HBBI", *insn) for insn in prog), len(prog)


def lock_down(seccomp):
    """no_new_privs, and the seccomp filter when asked (x86-64 only). Returns what failed, or None."""
    c = libc()
    if c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "no_new_privs refused"
    if not seccomp:
        return None
    code, length = seccomp_filter()
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HxxxxxxQ", length, ctypes.addressof(buffer))
    if c.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) != 0:
        return f"seccomp refused: errno {ctypes.get_errno()}"
    return None


def run_program(spec, key_read, results_write):
    """In the forked child: descriptors, limits, identity, lock-down, exec. Never returns."""
    try:
        key_read, results_write = os.dup(key_read), os.dup(results_write)  # above 4, whatever they were
        harness = os.open("harness.py", os.O_RDONLY)
        os.dup2(harness, 0)
        os.dup2(key_read, KEY_FD)
        os.dup2(results_write, RESULTS_FD)
        os.closerange(RESULTS_FD + 1, 1 << 16)
        for name, (soft, hard) in spec["limits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        if spec["uid"] is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
        problem = lock_down(spec["seccomp"])
        if problem is not None:
            raise OSError(problem)
        env = {"PYTHONHASHSEED": str(spec["hash_seed"])}
        os.execve(spec["python"], [spec["python"], "-s", "-S", "-B", "-P", "-"], env)
    except BaseException as error:  # the program never started
        os.write(2, f"sandbox: could not start the program: {error!r}\n".encode())
    os._exit(125)


class Watch:
    """Waits for the program's exit while reading fd 4, up to the wall-clock deadline."""

    def __init__(self, pid, results_read, spec):
        self.pid, self.results_read, self.cap = pid, results_read, spec["results_bytes"]
        self.deadline = time.monotonic() + spec["wall_seconds"]
        self.results = bytearray()
        self.over = self.wall = False
        try:
            self.exited = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.exited = None

    def run(self):
        """Returns (wait status, rusage) once the program is gone, killing it on a limit."""
        open_fds = [self.results_read] + ([self.exited] if self.exited is not None else [])
        while True:
            waited, status, usage = os.wait4(self.pid, os.WNOHANG)
            if waited == self.pid:
                self.drain()
                return status, usage
            left = self.deadline - time.monotonic()
            if left <= 0 or self.over:
                self.wall = not self.over
                os.kill(self.pid, signal.SIGKILL)
                _, status, usage = os.wait4(self.pid, 0)
                return status, usage
            ready, _, _ = select.select(open_fds, [], [], left if self.exited is not None else min(left, 0.02))
            if self.results_read in ready and not self.read_chunk():
                open_fds.remove(self.results_read)

    def read_chunk(self):
        chunk = os.read(self.results_read, 65536)
        self.results += chunk
        self.over = len(self.results) > self.cap
        return bool(chunk)

    def drain(self):
        while not self.over and select.select([self.results_read], [], [], 0)[0] and self.read_chunk():
            pass


def main():
    spec = json.loads(sys.argv[1])
    fd = spec["status_fd"]
    if spec["private_fs"]:
        private_filesystem(fd, spec)
    key = os.urandom(32).hex().encode()
    key_read, key_write = os.pipe()
    results_read, results_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(fd)
        run_program(spec, key_read, results_write)
    os.close(key_read)
    os.close(results_write)
    os.write(key_write, key)
    os.close(key_write)
    report(fd, f"pid {pid}")
    watch = Watch(pid, results_read, spec)
    status, usage = watch.run()
    report(fd, f"exit {os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime:.3f}")
    if watch.wall:
        report(fd, "wall")
    if watch.over:
        report(fd, "results_over")
    elif watch.results.startswith(key) and watch.results.endswith(key) and watch.results.count(key) == 2:
        report(fd, "results " + bytes(watch.results[len(key):-len(key)]).hex())
    elif watch.results:
        report(fd, "forged")
    os._exit(0)


if __name__ == "__main__":
    main()
