"""A process for seccomp_py.inspect's tests to look at (run with sys.executable).

argv[1] is a JSON spec: {"filters": [{"default": ACTION, "log": bool,
"rules": [[name, action, [arg, value] or null], ...]}, ...], "setuid": uid or
null}.  The filters are loaded in order (the first is the oldest), then the
process drops to "setuid" (staying dumpable, so that the same uid may trace
it) and prints "tick N" every 20 ms on stdout, forever.  A JSON line on stdin
{"probes": [[nr, [args...]], ...]} makes it call each syscall(2) and print a
JSON list of the errnos seen (0: success); it then keeps ticking.  EOF on
stdin ends it.
"""

import ctypes
import json
import os
import select
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
print(f"ready {os.getpid()}", flush=True)
n = 0
while True:
    ready, _, _ = select.select([0], [], [], 0.02)
    if ready:
        line = sys.stdin.readline()
        if not line:
            break
        results = []
        for nr, args in json.loads(line)["probes"]:
            ctypes.set_errno(0)
            rc = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
            results.append(ctypes.get_errno() if rc == -1 else 0)
        print(json.dumps(results), flush=True)
    print(f"tick {n}", flush=True)
    n += 1
