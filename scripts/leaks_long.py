#!/usr/bin/env python3
"""Leak check: many filter lifecycles, RSS and open fds before and after.

Each lifecycle builds a Filter, adds rules (including refused ones: the error
paths must free what they allocated), sets attributes, compiles it to BPF and
PFC, and frees it (close() or the garbage collector, alternately).  Prints RSS
and the open-fd count before and after, and the growth per lifecycle; then the
same for notify round trips and spawns.  Exit status 1 when the growth per
lifecycle exceeds the bound used by tests/test_fuzz_leaks.py.

    .venv/bin/python scripts/leaks_long.py [-n 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers.failclosed_leaks import (  # noqa: E402
    BLOCKS_BOUND,
    PER_ITERATION_BOUND,
    Growth,
    lifecycle,
    measure,
    notify_round_trips,
    spawns,
)


def report(label: str, growth: Growth) -> bool:
    print(f"{label}: {growth}{'  LEAK' if growth.leaked else ''}")
    return not growth.leaked


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000, help="filter lifecycles (default 100000)")
    ap.add_argument("--notify", type=int, default=10_000, help="notify round trips")
    ap.add_argument("--spawns", type=int, default=500, help="spawns")
    opts = ap.parse_args()
    ok = True
    start = time.monotonic()
    ok &= report("filter lifecycles", measure(lifecycle, opts.n, warmup=2000))
    print(f"  ({time.monotonic() - start:.1f}s)")
    for label, count, fn in (("notify round trips", opts.notify, notify_round_trips),
                             ("spawns", opts.spawns, spawns)):
        ok &= report(label, fn(count))
    print(f"leaks_long: bounds {PER_ITERATION_BOUND} malloc bytes and {BLOCKS_BOUND} Python "
          f"blocks per iteration, no fd, "
          f"{'PASS' if ok else 'FAIL'}, {time.monotonic() - start:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
