"""The official libseccomp Python module (Debian's python3-seccomp) as a peer.

Same job as supervisor.c: receive the listener fd from the socket given as
argv[1] and answer every notification with CONTINUE until the target exits,
with ``SyscallFilter.receive_notify`` / ``respond_notify``.  argv[2] ==
"sync" asks for synchronous wake-up first (the module has no call for it:
one ioctl on the fd).

The module only receives on libseccomp's process-wide notify fd, which is
set when this process loads a filter with a NOTIFY rule.  So a short-lived
thread loads a filter that notifies on a syscall nothing here makes
(acct(2); the filter binds that thread only), and the received listener is
then dup2'd over that fd number: the module's per-call path is unchanged.
The loop polls before each receive, as seccomp_unotify(2) advises and as
supervisor.c does.
"""

from __future__ import annotations

import fcntl
import os
import resource
import select
import socket
import sys
import threading

import seccomp  # type: ignore[import-not-found]

SECCOMP_IOCTL_NOTIF_SET_FLAGS = 0x40082104  # SECCOMP_IOW(4, __u64)


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    _, fds, _, _ = socket.recv_fds(sock, 1, 1, socket.MSG_CMSG_CLOEXEC)
    sock.close()
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    f.add_rule(seccomp.NOTIFY, "acct")
    t = threading.Thread(target=f.load)
    t.start()
    t.join()
    nfd = f.get_notify_fd()
    os.dup2(fds[0], nfd)
    os.close(fds[0])
    if len(sys.argv) > 2 and sys.argv[2] == "sync":
        fcntl.ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, 1)
    p = select.poll()
    p.register(nfd, select.POLLIN)
    poll = p.poll
    receive = f.receive_notify
    respond = f.respond_notify
    response = seccomp.NotificationResponse
    count = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    while True:
        ev = poll()
        if not ev or not ev[0][1] & select.POLLIN:
            break  # POLLHUP: the target is gone
        try:
            n = receive()
        except (RuntimeError, OSError):
            continue  # ENOENT: the target went away between poll and receive
        respond(response(n, 0, 0, 1))
        count += 1
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(count, f"{cpu:.9f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
