"""Benchmark: learn mode on a syscall-heavy command.

Compares, in the same run and interleaved (so machine noise hits all alike),
the wall time of one syscall-heavy command (default: ``dd if=/dev/zero
of=/dev/null bs=1 count=100000``, about 200 000 read/write syscalls):

- ``bare``: the command alone (subprocess.run),
- ``learn``: ``seccomp_py.learn.learn(cmd)`` called in this process (the C
  recording loop in the shim, Python waking up every 0.5 s for progress),
- ``C``: c_supervisor.c, a supervisor written in C against libseccomp
  (seccomp_init(SCMP_ACT_NOTIFY), seccomp_notify_receive/respond) doing the
  same recording, run as a process (its exec and startup included),
- ``cli``: ``seccomp-py learn -q -o FILE -- cmd`` (Python start-up and imports
  included),

each with synchronous wake-ups (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux
6.6+; the default of both supervisors) and, with ``--no-sync``, without.

Prints the median of each and the ratios learn / C (goal: <= 1.1), cli / C,
learn / bare.  Usage::

    .venv/bin/python bench/learn/bench_learn.py [--rounds 7] [--count 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

from seccomp_py.learn import learn  # noqa: E402


def build_c(out_dir: str) -> str | None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None
    exe = os.path.join(out_dir, "c_supervisor")
    subprocess.run([gcc, "-O2", "-Wall", "-o", exe, os.path.join(HERE, "c_supervisor.c"),
                    "-lseccomp"], check=True, timeout=120)
    return exe


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=100000,
                    help="dd count (bs=1): about 2x this many syscalls")
    ap.add_argument("--no-sync", action="store_true",
                    help="also measure both supervisors without synchronous wake-ups")
    args = ap.parse_args()
    cmd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={args.count}"]
    script = os.path.join(os.path.dirname(sys.executable), "seccomp-py")
    with tempfile.TemporaryDirectory() as tmp:
        c_exe = build_c(tmp)
        out_json = os.path.join(tmp, "learned.json")

        def bare() -> None:
            subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)

        def py(sync: bool) -> Callable[[], None]:
            def run() -> None:
                r = learn(cmd, sync_wakeup=sync, stderr=subprocess.DEVNULL)
                assert r.returncode == 0 and r.calls > 2 * args.count
            return run

        def c(sync: bool) -> Callable[[], None]:
            def run() -> None:
                assert c_exe is not None
                subprocess.run([c_exe, *([] if sync else ["--no-sync"]), *cmd], check=True,
                               stderr=subprocess.DEVNULL)
            return run

        def cli() -> None:
            subprocess.run([script, "learn", "-q", "-o", out_json, "--", *cmd], check=True,
                           stderr=subprocess.DEVNULL)

        cases: dict[str, Callable[[], None]] = {"bare": bare, "learn": py(True)}
        if c_exe is not None:
            cases["C"] = c(True)
        if os.path.exists(script):
            cases["cli"] = cli
        if args.no_sync:
            cases["learn-nosync"] = py(False)
            if c_exe is not None:
                cases["C-nosync"] = c(False)
        for f in cases.values():  # warm up (page cache, lazy imports)
            f()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, f in cases.items():
                times[name].append(timed(f))
        r = learn(cmd, stderr=subprocess.DEVNULL)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"command: {' '.join(cmd)}  ({r.calls} syscalls recorded, "
          f"{len(r.counts)} distinct; {args.rounds} rounds, median wall time)")
    for name, value in med.items():
        print(f"  {name:14s} {value * 1000:9.1f} ms   "
              f"({value / r.calls * 1e6:6.2f} us per recorded syscall)")
    if "C" in med:
        print(f"ratio learn / C        = {med['learn'] / med['C']:.3f}  (goal <= 1.1)")
        if "cli" in med:
            print(f"ratio cli / C          = {med['cli'] / med['C']:.3f}")
        if "C-nosync" in med:
            print(f"ratio learn-nosync / C-nosync = "
                  f"{med['learn-nosync'] / med['C-nosync']:.3f}")
    else:
        print("(no gcc: C supervisor skipped)")
    print(f"ratio learn / bare     = {med['learn'] / med['bare']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
