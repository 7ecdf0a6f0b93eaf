#!/usr/bin/env python3
"""An allowlist sandbox, written for libseccomp's Python module (``import seccomp``).

A worker process gets only the syscalls it needs to compute and report its
result; anything else fails with EPERM.  A second, stricter worker uses
KILL_PROCESS as the default action and is killed by the kernel (SIGSYS) on its
first syscall outside the list.  Prints one JSON line per worker and exits 1 if
the kernel did not do what was expected.
"""

import contextlib
import errno
import json
import os
import signal
import socket
import sys

import seccomp
from seccomp import ALLOW, ERRNO, KILL_PROCESS, Attr, SyscallFilter

# What CPython needs to run pure-Python code and write to a pipe.
BASE = [
    "read", "write", "close", "exit", "exit_group", "brk", "mmap", "munmap", "mremap",
    "mprotect", "madvise", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "futex", "getpid", "gettid", "fstat", "newfstatat", "lseek", "getrandom",
    "clock_gettime", "ioctl",
]


def sandbox(default):
    f = SyscallFilter(defaction=default)
    f.set_attr(Attr.CTL_NNP, 1)
    for name in BASE:
        with contextlib.suppress(RuntimeError):  # a syscall this arch does not have
            f.add_rule(ALLOW, name)
    return f


def attempt(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"


def errno_worker(wfd):
    sandbox(ERRNO(errno.EPERM)).load()
    results = {
        "compute": sum(i * i for i in range(1000)),
        "getpid": attempt(os.getpid),
        "mkdir": attempt(lambda: os.mkdir("/tmp/sandbox-should-not-exist")),
        "open": attempt(lambda: open("/etc/hostname", "rb")),  # noqa: SIM115
        "socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
        "kill": attempt(lambda: os.kill(os.getpid(), 0)),
    }
    os.write(wfd, json.dumps(results, sort_keys=True).encode())


def kill_worker(wfd):
    sandbox(KILL_PROCESS).load()
    os.write(wfd, b"loaded")
    os.getppid()  # not in the list: the kernel kills the process here
    os.write(wfd, b" and survived")


def run(worker):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            worker(wfd)
        finally:
            os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    return data.decode(), status


def main():
    signal.alarm(30)
    print(seccomp.__name__)
    ok = True
    text, status = run(errno_worker)
    results = json.loads(text)
    print(json.dumps({"worker": "errno", "exit": os.waitstatus_to_exitcode(status),
                      "results": results}, sort_keys=True))
    ok &= results == {"compute": 332833500, "getpid": "ok", "mkdir": "EPERM",
                      "open": "EPERM", "socket": "EPERM", "kill": "EPERM"}
    text, status = run(kill_worker)
    print(json.dumps({"worker": "kill", "output": text,
                      "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}))
    ok &= text == "loaded" and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
