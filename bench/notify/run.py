"""Entry point for bench/harness (scenario 3): notify round trips, one JSON line per setting."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10000)
    ns = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(HERE, "bench.py"), "--json",
                    "--rounds", str(ns.runs), "--calls", str(ns.calls)], check=True)
