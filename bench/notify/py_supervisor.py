"""seccomp_py supervisor for the benchmark: same job as supervisor.c.

Receives the listener fd from the socket given as argv[1], then answers
every notification with CONTINUE until the target exits.  argv[2] picks the
loop: "serve" (seccomp_py.notify.serve with a Python handler, the normal
way), "static" (serve() with static={"getppid": CONTINUE}: answered in
C),
"minimal" (a bare cffi loop, the floor of any Python loop), "receive"
(Listener.receive + respond_continue in a Python loop), or
"c-loop" (seccomp_py.notify.continue_all, the C fast path).  argv[3] ==
"sync" asks for synchronous wake-up first.
"""

from __future__ import annotations

import resource
import socket
import sys

from seccomp_py.notify import HangupError, Listener, Response, continue_all, serve


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    mode = sys.argv[2]
    _, fds, _, _ = socket.recv_fds(sock, 1, 1, socket.MSG_CMSG_CLOEXEC)
    sock.close()
    listener = Listener(fds[0])
    sync = len(sys.argv) > 3 and sys.argv[3] == "sync"
    if sync:
        listener.set_sync_wakeup()
    count = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    cont = Response.CONTINUE
    if mode == "serve":
        count = serve(listener, lambda n: cont, sync_wakeup=sync)
    elif mode == "static":
        count = serve(listener, lambda n: cont, static={"getppid": Response.CONTINUE},
                      sync_wakeup=sync)
    elif mode == "receive":
        try:
            while True:
                listener.respond_continue(listener.receive())
                count += 1
        except HangupError:
            pass
    elif mode == "minimal":
        # The floor of a Python loop: one C call per round trip, no objects.
        from seccomp_py._native import ffi, lib
        buf = ffi.new("struct spy_notif *")
        rc_out = ffi.new("int *")
        fd = listener.fileno()
        rc = lib.spy_notify_wait_recv(fd, -1, -1, buf)
        rr = lib.spy_notify_respond_recv
        while rc == 1:
            count += 1
            rc = rr(fd, buf.id, 0, 0, 1, rc_out, -1, -1, buf)
    else:
        count = continue_all(listener)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(count, f"{cpu:.9f}", flush=True)
    listener.close()
    print(f"py supervisor ({mode}): {count} answered", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
