"""Round trips per second of user notification: seccomp_py vs libseccomp in C.

Same target (target.c: getppid(2) in a loop, sent to the supervisor with
SECCOMP_RET_USER_NOTIF), same run, rounds interleaved; each supervisor
answers CONTINUE.  Prints the median rate of each supervisor and its ratio
to the C one.  Needs a C compiler and libseccomp-dev.

    python bench/notify/bench.py [--calls 20000] [--rounds 5] [--sync] [--cpu N]

--cpu pins both processes to one CPU: every round trip is then two context
switches on that CPU, so the ratio measures the supervisor's cost per round
trip with less noise from other load on the machine.
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


def one_run(target: str, supervisor: Callable[[int], list[str]], calls: int,
            pin: list[str]) -> tuple[float, float]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        sup = subprocess.Popen([*pin, *supervisor(a.fileno())], pass_fds=[a.fileno()],
                               stdout=subprocess.PIPE, text=True)
        tgt = subprocess.run([*pin, target, str(b.fileno()), str(calls)],
                             pass_fds=[b.fileno()], capture_output=True, text=True,
                             timeout=120)
    assert sup.stdout is not None
    sup_out = sup.stdout.read()
    sup.wait(60)
    if tgt.returncode != 0 or sup.returncode != 0:
        sys.exit(f"bench: target rc={tgt.returncode} {tgt.stderr!r}, "
                 f"supervisor rc={sup.returncode}")
    n, seconds = tgt.stdout.split()
    # The supervisor's CPU time per round trip, measured around its loop:
    # less sensitive than the rate to other load on the machine.
    answered, cpu_seconds = sup_out.split()
    cpu = float(cpu_seconds) / int(answered)
    return int(n) / float(seconds), cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--sync", action="store_true", help="synchronous wake-up (Linux 6.6+)")
    ap.add_argument("--cpu", help="pin target and supervisor to this CPU (taskset -c)")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON line for bench/harness (docs/benchmarks.md)")
    args = ap.parse_args()
    pin = ["taskset", "-c", args.cpu] if args.cpu else []
    extra = ["sync"] if args.sync else []
    with tempfile.TemporaryDirectory() as tmp:
        target, csup = build(tmp)
        py = os.path.join(HERE, "py_supervisor.py")
        kinds: dict[str, Callable[[int], list[str]]] = {
            "C (libseccomp)": lambda fd: [csup, str(fd), *extra],
            "seccomp_py serve()": lambda fd: [sys.executable, py, str(fd), "serve", *extra],
            "seccomp_py serve(static=...) [C path]":
                lambda fd: [sys.executable, py, str(fd), "static", *extra],
            "seccomp_py receive()/respond()":
                lambda fd: [sys.executable, py, str(fd), "receive", *extra],
            "minimal Python loop (floor)":
                lambda fd: [sys.executable, py, str(fd), "minimal", *extra],
            "seccomp_py continue_all() [C loop]":
                lambda fd: [sys.executable, py, str(fd), "c-loop", *extra],
        }
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        cpus: dict[str, list[float]] = {k: [] for k in kinds}
        order = list(kinds.items())
        for _ in range(args.rounds):
            random.shuffle(order)  # no kind always runs first or right after another
            for name, argv in order:
                rate, cpu = one_run(target, argv, args.calls, pin)
                rates[name].append(rate)
                cpus[name].append(cpu)
    base_runs = rates["C (libseccomp)"]
    if args.json:
        print(json.dumps({
            "scenario": "3", "case": "round trips, CONTINUE"
                                     + (", sync wake-up" if args.sync else ""),
            "unit": "round trips/s", "better": "higher", "baseline": "C",
            "results": {
                "C": base_runs,
                "seccomp_py": rates["seccomp_py serve()"],
                "seccomp_py continue_all": rates["seccomp_py continue_all() [C loop]"],
                "official": "n/a: not measured (receive_notify/respond_notify exist)",
                "pyseccomp": "n/a: not measured",
                "seccompy": "n/a: not measured",
            }}))
        return 0
    print(f"notify round trips/s, CONTINUE, {args.calls} calls x {args.rounds} rounds, "
          f"sync wake-up {'on' if args.sync else 'off'}"
          f"{', pinned to CPU ' + args.cpu if args.cpu else ''}, median:")
    for name, values in rates.items():
        med = statistics.median(values)
        # The ratio is the median of per-round ratios: each round's C run is
        # the baseline for that round, which cancels slow drifts in load.
        ratio = statistics.median(v / b for v, b in zip(values, base_runs))
        cpu = statistics.median(cpus[name]) * 1e6
        print(f"  {name:38s} {med:10,.0f}/s   ratio {ratio:5.2f}x   "
              f"supervisor CPU {cpu:5.1f} us/round trip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
