#!/usr/bin/env python3
"""Random classic-BPF programs loaded by the kernel vs seccomp_py's evaluator: print figures.

    python scripts/bpf_eval_long.py [COUNT] [SEED]

Builds tests/helpers/bpf_kernel.c, runs COUNT (default 3000) random programs
(tests/helpers/bpf_random.py) in children, and prints how many the kernel
and the evaluator agree on, by outcome.  Exit 1 on any disagreement.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from helpers import bpf_random  # noqa: E402


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "bpf_kernel")
        subprocess.run(["gcc", "-O2", "-Wall", "-o", exe,
                        os.path.join(HERE, "..", "tests", "helpers", "bpf_kernel.c")], check=True)
        counts = bpf_random.run(exe, seed, count)
    mismatches = counts.pop("_mismatches")
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for listing, nr, args, expect, seen in mismatches[:5]:  # type: ignore[misc]
        print(f"MISMATCH nr={nr} args={args} evaluator={expect!r} kernel={seen!r}\n{listing}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
