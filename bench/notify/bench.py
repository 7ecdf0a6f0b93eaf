"""Round trips of user notification: seccomp_py and the official module vs C.

Same target (target.c: getppid(2) in a loop, sent to the supervisor with
SECCOMP_RET_USER_NOTIF), every supervisor answers CONTINUE.  One run covers
four settings: free placement and target + supervisor pinned to one CPU
(taskset), each with and without synchronous wake-up.  Every round runs
every (setting, supervisor) pair once, in a fresh random order, so load
drifts hit all of them alike; the table gives, per setting, the median over
rounds of each supervisor's time per round trip divided by the C
supervisor's in the same round.  Needs a C compiler and libseccomp-dev.

    python bench/notify/bench.py [--calls 20000] [--rounds 15] [--cpu 1]
                                 [--only free,pinned] [--sync off,on]

With one CPU every round trip is two context switches on that CPU; in free
placement the kernel may run target and supervisor on different CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = "/usr/bin/python3"


def build(out: str) -> tuple[str, str]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench: no C compiler (apt-get install gcc)")
    exes = []
    for name in ("target", "supervisor"):
        exe = os.path.join(out, name)
        subprocess.run([cc, "-O2", "-Wall", "-o", exe, os.path.join(HERE, name + ".c"),
                        "-lseccomp"], check=True)
        exes.append(exe)
    return exes[0], exes[1]


def have_official() -> str | None:
    """A Python that imports the official module (this one, else the system's)."""
    for exe in (sys.executable, SYSTEM_PYTHON):
        if os.path.exists(exe) and subprocess.run(
                [exe, "-c", "import seccomp; seccomp.NotificationResponse"],
                capture_output=True).returncode == 0:
            return exe
    return None


def one_run(target: str, supervisor: list[str], calls: int,
            pin: list[str]) -> tuple[float, float]:
    """(seconds per round trip seen by the target, supervisor CPU s per round trip)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        argv = [x if x != "{fd}" else str(a.fileno()) for x in supervisor]
        sup = subprocess.Popen([*pin, *argv], pass_fds=[a.fileno()],
                               stdout=subprocess.PIPE, text=True)
        tgt = subprocess.run([*pin, target, str(b.fileno()), str(calls)],
                             pass_fds=[b.fileno()], capture_output=True, text=True,
                             timeout=300)
    assert sup.stdout is not None
    sup_out = sup.stdout.read()
    sup.wait(60)
    if tgt.returncode != 0 or sup.returncode != 0:
        sys.exit(f"bench: {argv}: target rc={tgt.returncode} {tgt.stderr!r}, "
                 f"supervisor rc={sup.returncode}")
    n, seconds = tgt.stdout.split()
    answered, cpu_seconds = sup_out.split()
    return float(seconds) / int(n), float(cpu_seconds) / int(answered)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cpu", default="1", help="the CPU for the pinned placement")
    ap.add_argument("--only", default="free,pinned", help="placements: free,pinned")
    ap.add_argument("--sync", default="off,on", help="synchronous wake-up: off,on")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON line per setting for bench/harness")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target, csup = build(tmp)
        py = os.path.join(HERE, "py_supervisor.py")
        kinds: dict[str, Callable[[list[str]], list[str]]] = {
            "C (libseccomp)": lambda x: [csup, "{fd}", *x],
            "serve(), Python handler": lambda x: [sys.executable, py, "{fd}", "serve", *x],
            "receive()/respond() loop": lambda x: [sys.executable, py, "{fd}", "receive", *x],
        }
        official = have_official()
        if official is not None:
            off = os.path.join(HERE, "official_supervisor.py")
            kinds["official module (python3-seccomp)"] = lambda x: [official, off, "{fd}", *x]
        kinds.update({
            "serve(static=...) [C path]": lambda x: [sys.executable, py, "{fd}", "static", *x],
            "bare cffi loop (floor)": lambda x: [sys.executable, py, "{fd}", "minimal", *x],
            "continue_all() [C loop]": lambda x: [sys.executable, py, "{fd}", "c-loop", *x],
        })
        settings = [(place, sync) for place in args.only.split(",")
                    for sync in args.sync.split(",")]
        per: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {
            s: {k: [] for k in kinds} for s in settings}
        load0 = os.getloadavg()
        for _ in range(args.rounds):
            jobs = [(s, k) for s in settings for k in kinds]
            random.shuffle(jobs)  # no pair always runs first or right after another
            for (place, sync), name in jobs:
                pin = ["taskset", "-c", args.cpu] if place == "pinned" else []
                extra = ["sync"] if sync == "on" else []
                per[(place, sync)][name].append(
                    one_run(target, kinds[name](extra), args.calls, pin))
        load1 = os.getloadavg()
    if args.json:
        keys = {"C (libseccomp)": "C", "serve(), Python handler": "seccomp_py",
                "receive()/respond() loop": "seccomp_py receive/respond",
                "official module (python3-seccomp)": "official",
                "continue_all() [C loop]": "seccomp_py continue_all"}
        for (place, sync), runs in per.items():
            results: dict[str, object] = {
                keys[k]: [1 / t for t, _ in v] for k, v in runs.items() if k in keys}
            results.setdefault("official", "n/a: python3-seccomp not importable")
            print(json.dumps({
                "scenario": "3", "case": f"notify round trips, continue, {place}, "
                                         f"sync wake-up {sync}",
                "unit": "round trips/s", "better": "higher", "baseline": "C",
                "results": results}))
        return 0
    print(f"notify round trips, CONTINUE: {args.calls} calls x {args.rounds} interleaved "
          f"rounds; pinned = target and supervisor on CPU {args.cpu}")
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; {os.cpu_count()} CPUs")
    print("ratio = median over rounds of (time per round trip / C's in the same round);")
    print("us = median time per round trip seen by the target; cpu = supervisor CPU us "
          "per round trip")
    cols = [f"{p} sync {s}" for p, s in settings]
    print(f"\n| {'supervisor':36s} | " + " | ".join(f"{c:>26s}" for c in cols) + " |")
    print(f"|{'-' * 38}|" + "|".join("-" * 27 + ":" for _ in cols) + "|")
    for name in kinds:
        cells = []
        for s in settings:
            runs = per[s][name]
            base = per[s]["C (libseccomp)"]
            ratio = statistics.median(t / b for (t, _), (b, _) in zip(runs, base))
            us = statistics.median(t for t, _ in runs) * 1e6
            cpu = statistics.median(c for _, c in runs) * 1e6
            cells.append(f"{ratio:5.2f}x {us:6.2f}us cpu {cpu:5.2f}")
        print(f"| {name:36s} | " + " | ".join(f"{c:>26s}" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
