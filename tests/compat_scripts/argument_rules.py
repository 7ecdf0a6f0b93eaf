#!/usr/bin/env python3
"""Argument rules, written for libseccomp's Python module (``import seccomp``).

Everything is allowed except some calls selected by their arguments: opening a
file for writing (MASKED_EQ on the flags), SIGKILL (EQ), writes to high fds (GE),
lseek with whence past SEEK_END (GT), setpgid of another process (NE) and
fchmod to a mode without owner read (LT).  The same calls with other arguments
must still work.  Prints a JSON line and exits 1 on any surprise.
"""

# ruff: noqa: F405 - names come from `from seccomp import *`, as in libseccomp's examples

import errno
import json
import os
import signal
import sys
import tempfile

from seccomp import *  # noqa: F403 - the style of libseccomp's own examples


def build():
    f = SyscallFilter(ALLOW)
    if system_arch() == int(Arch("x86_64")):
        f.add_arch(Arch.X86)
        f.add_arch(Arch.X32)
    for syscall in ("open", "openat"):
        flags = 1 if syscall == "open" else 2
        f.add_rule(ERRNO(errno.EROFS), syscall, Arg(flags, MASKED_EQ, os.O_ACCMODE, os.O_WRONLY))
        f.add_rule(ERRNO(errno.EROFS), syscall, Arg(flags, MASKED_EQ, os.O_ACCMODE, os.O_RDWR))
    f.add_rule(ERRNO(errno.EPERM), "kill", Arg(1, EQ, signal.SIGKILL))
    f.add_rule(ERRNO(errno.EBADF), "write", Arg(0, GE, 100))
    f.add_rule(ERRNO(errno.ENOTSUP), "lseek", Arg(2, GT, os.SEEK_END))
    f.add_rule(ERRNO(errno.EPERM), "setpgid", Arg(0, NE, 0))
    f.add_rule(ERRNO(errno.EACCES), "fchmod", Arg(1, LT, 0o400))
    f.syscall_priority("write", 200)
    return f


def attempt(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"


def worker(wfd, path):
    high = os.dup2(wfd, 100)
    fd = os.open(path, os.O_RDONLY)
    build().load()
    results = {
        "open_read": attempt(lambda: os.close(os.open(path, os.O_RDONLY))),
        "open_write": attempt(lambda: os.open(path, os.O_WRONLY)),
        "open_rdwr": attempt(lambda: os.open(path, os.O_RDWR | os.O_APPEND)),
        "kill_0": attempt(lambda: os.kill(os.getpid(), 0)),
        "kill_9": attempt(lambda: os.kill(os.getpid(), signal.SIGKILL)),
        "write_high": attempt(lambda: os.write(high, b"x")),
        "seek_end": attempt(lambda: os.lseek(fd, 0, os.SEEK_END)),
        "seek_data": attempt(lambda: os.lseek(fd, 0, os.SEEK_DATA)),
        "setpgid_self": attempt(lambda: os.setpgid(0, 0)),
        "setpgid_pid": attempt(lambda: os.setpgid(os.getpid(), 0)),
        "fchmod_644": attempt(lambda: os.fchmod(fd, 0o644)),
        "fchmod_000": attempt(lambda: os.fchmod(fd, 0o000)),
    }
    os.write(wfd, json.dumps(results, sort_keys=True).encode())


def main():
    signal.alarm(30)
    import seccomp

    print(seccomp.__name__)
    with tempfile.NamedTemporaryFile() as tmp:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                worker(wfd, tmp.name)
            finally:
                os._exit(0)
        os.close(wfd)
        data = b""
        while True:
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            data += chunk
        _, status = os.waitpid(pid, 0)
    results = json.loads(data)
    print(json.dumps(results, sort_keys=True))
    expected = {
        "open_read": "ok", "open_write": "EROFS", "open_rdwr": "EROFS", "kill_0": "ok",
        "kill_9": "EPERM", "write_high": "EBADF", "seek_end": "ok", "seek_data": "ENOTSUP",
        "setpgid_self": "ok", "setpgid_pid": "EPERM", "fchmod_644": "ok",
        "fchmod_000": "EACCES",
    }
    return 0 if results == expected and os.waitstatus_to_exitcode(status) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
