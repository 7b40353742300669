"""The sandbox's first process: trusted, standard library only, never imported by sparring.

`sparring.judges.sandbox` runs it as ``python -I -S boot.py SPEC`` (inside fresh network, PID and
mount namespaces when the OS allows). SPEC is a JSON object: ``python`` (the interpreter for the
program), ``limits`` ({RLIMIT name: [soft, hard]}), ``uid``/``gid`` (an unprivileged identity, or
null), ``private_tmp`` (private /proc, /tmp and read-only root: needs a mount namespace), ``tmp_mb``
(size of each private tmpfs) and ``status_fd``.

It prepares the namespace, forks the program's process, and in that process only: sets the
resource limits, drops to the unprivileged identity and execs ``python -I -S -B -`` reading program.py from stdin, with
an empty environment in the working directory it was started in. It reports on ``status_fd``:
one line ``pid N`` once the program runs, one line ``exit CODE CPU_SECONDS`` (negative
CODE: killed by that signal) when it ends, and ``note TEXT`` for anything that could not be set up. As PID 1 of its own PID
namespace its exit ends every process the program left behind.
"""

import json
import os
import resource
import sys

PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096


def report(fd, line):
    os.write(fd, (line + "\n").encode())


def private_filesystem(fd, spec):
    """In this mount namespace only: a fresh /proc showing only this PID namespace, tiny fresh
    tmpfs over every world-writable folder, the root mount read-only, and the working directory
    moved into the private /tmp (owned by the program's uid). Nothing the program writes survives
    the namespace, and it sees no process of the host."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source, target, kind, flags, options):
        if libc.mount(source, target, kind, flags, options) != 0:
            report(fd, f"note mount {target!r} failed: errno {ctypes.get_errno()}")

    with open("program.py", "rb") as staged:
        program = staged.read()
    mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    size = f"size={spec['tmp_mb']}m,mode=1777".encode()
    for path in PRIVATE_TMP:
        if os.path.isdir(path):
            mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, size)
    mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    os.mkdir("/tmp/work", 0o700)
    with open("/tmp/work/program.py", "wb") as copy:
        copy.write(program)
    if spec["uid"] is not None:
        os.chown("/tmp/work", spec["uid"], spec["gid"])
    os.chdir("/tmp/work")


def run_program(spec):
    """In the forked child: limits, identity, exec. Never returns."""
    try:
        os.close(spec["status_fd"])
        # The source comes in on stdin ("-"): the working directory is reachable only as the
        # current directory once a tmpfs covers /tmp, so no path to it is ever needed.
        source = os.open("program.py", os.O_RDONLY)
        os.dup2(source, 0)
        os.close(source)
        for name, (soft, hard) in spec["limits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        if spec["uid"] is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
        os.execve(spec["python"], [spec["python"], "-I", "-S", "-B", "-"], {})
    except BaseException as error:  # the program never started
        os.write(2, f"sandbox: could not start the program: {error!r}\n".encode())
    os._exit(125)


def main():
    spec = json.loads(sys.argv[1])
    fd = spec["status_fd"]
    if spec["private_tmp"]:
        private_filesystem(fd, spec)
    pid = os.fork()
    if pid == 0:
        run_program(spec)
    report(fd, f"pid {pid}")
    while True:
        try:
            waited, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        if waited == pid:
            cpu = usage.ru_utime + usage.ru_stime
            report(fd, f"exit {os.waitstatus_to_exitcode(status)} {cpu:.3f}")
            break
    os._exit(0)


if __name__ == "__main__":
    main()
