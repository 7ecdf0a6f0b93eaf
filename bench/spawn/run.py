"""Entry point for bench/harness (scenario 4): spawn under Docker's profile vs subprocess."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ns = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(HERE, "bench_spawn.py"), "--json",
                    "--rounds", str(ns.runs), "--per-round", "20"], check=True)
