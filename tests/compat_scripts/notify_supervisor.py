#!/usr/bin/env python3
"""A user-notification supervisor, written for libseccomp's Python module.

The process loads a filter that turns getppid() and mkdir() into notifications,
forks a worker (which inherits the filter) and answers for the kernel: getppid()
returns 4242, mkdir() fails with EROFS, and every notification must come from the
worker, for the native arch.  Prints JSON lines and exits 1 if the worker saw anything
else.
"""

import errno
import json
import os
import signal
import sys

import seccomp
from seccomp import ALLOW, NOTIFY, Arch, NotificationResponse, SyscallFilter, resolve_syscall

WATCHED = ("getppid", "mkdir", "mkdirat")


def main():
    signal.alarm(30)
    print(seccomp.__name__)
    f = SyscallFilter(ALLOW)
    for name in WATCHED:
        f.add_rule(NOTIFY, name)
    f.load()
    numbers = {resolve_syscall(Arch(), name): name for name in WATCHED}

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        out = {"getppid": [os.getppid() for _ in range(3)]}
        try:
            os.mkdir("/tmp/notify-supervisor-should-not-exist")
            out["mkdir"] = "ok"
        except OSError as exc:
            out["mkdir"] = errno.errorcode.get(exc.errno, str(exc.errno))
        os.write(wfd, json.dumps(out).encode())
        os._exit(0)
    os.close(wfd)

    seen = []
    assert f.get_notify_fd() >= 0
    for _ in range(4):
        notify = f.receive_notify()
        name = numbers.get(notify.syscall, str(notify.syscall))
        seen.append({"syscall": name, "from_worker": notify.pid == pid,
                     "arch_ok": notify.syscall_arch == seccomp.system_arch()})
        if name == "getppid":
            response = NotificationResponse(notify, val=4242, error=0, flags=0)
        else:
            response = NotificationResponse(notify, val=0, error=-errno.EROFS, flags=0)
        f.respond_notify(response)

    data = b""
    while True:
        chunk = os.read(rfd, 4096)
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    worker = json.loads(data)
    print(json.dumps(seen))
    print(json.dumps(worker, sort_keys=True))
    ok = (worker == {"getppid": [4242, 4242, 4242], "mkdir": "EROFS"}
          and [s["syscall"] for s in seen][:3] == ["getppid"] * 3
          and seen[3]["syscall"] in ("mkdir", "mkdirat")
          and all(s["from_worker"] and s["arch_ok"] for s in seen)
          and os.waitstatus_to_exitcode(status) == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
