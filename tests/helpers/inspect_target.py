"""A process for seccomp_py.inspect's tests to look at (run with sys.executable).

argv[1] is a JSON spec: {"filters": [{"default": ACTION, "log": bool,
"rules": [[name, action, [arg, value] or null], ...]}, ...], "setuid": uid or
null}.  The filters are loaded in order (the first is the oldest), then the
process drops to "setuid" (staying dumpable, so that the same uid may trace
it) and prints "tick N" every 20 ms on stdout, forever.  A JSON line on stdin
{"probes": [[nr, [args...]], ...]} makes it call each syscall(2) and print a
JSON list of the errnos seen (0: success); it then keeps ticking.  The line
{"signals": true} makes it print {"signals": N}, the number of SIGRTMIN it
received so far (real-time signals queue, and the wakeup fd gets a byte for
each one delivered).  EOF on stdin ends it.
"""

import ctypes
import json
import os
import select
import signal
import sys

from seccomp_py import Action, Arg, Attribute, Filter

spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for layer in spec["filters"]:
    filt = Filter(Action(layer.get("default", 0x7FFF0000)))
    if layer.get("log"):
        filt.set_attribute(Attribute.LOG, 1)
    for name, action, cond in layer["rules"]:
        filt.add_rule(Action(action), name, *([Arg(cond[0]) == cond[1]] if cond else []))
    filt.load()
    filt.close()
if spec.get("setuid") is not None:
    os.setgroups([])
    os.setgid(spec["setuid"])
    os.setuid(spec["setuid"])
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: setuid() cleared it
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.signal(signal.SIGRTMIN, lambda *_: None)
signal.set_wakeup_fd(wake_w, warn_on_full_buffer=True)
received = 0
print(f"ready {os.getpid()}", flush=True)
n = 0
while True:
    ready, _, _ = select.select([0], [], [], 0.02)
    if ready:
        line = sys.stdin.readline()
        if not line:
            break
        request = json.loads(line)
        if request.get("signals"):
            try:
                while True:
                    received += os.read(wake_r, 4096).count(bytes([signal.SIGRTMIN]))
            except BlockingIOError:
                pass
            print(json.dumps({"signals": received}), flush=True)
            continue
        results = []
        for nr, args in request["probes"]:
            ctypes.set_errno(0)
            rc = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
            results.append(ctypes.get_errno() if rc == -1 else 0)
        print(json.dumps(results), flush=True)
    print(f"tick {n}", flush=True)
    n += 1
