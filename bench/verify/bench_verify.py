#!/usr/bin/env python3
"""Cost of verification: Docker's default profile (x86_64 + x86 + x32 on x86_64).

    python bench/verify/bench_verify.py [ROUNDS]

One round builds the filter from the shipped profile: reads and parses the
JSON (Profile.load), compiles it (Profile.compile, no capabilities) and
exports it with ``verify=False`` (the build: what ``seccomp-py compile`` or
the OCI agent does for a container), then verifies the program against the
rules (seccomp_py.verify: the model from the filter and the proof).  Rounds
interleave the two; the medians and their ratios are printed, also against
the build without the JSON parse.  The issue's goal: verification adds at
most 20% to the build.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

from seccomp_py.profile import Profile, builtin_path
from seccomp_py.verify import verify


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    path = builtin_path("docker")
    builds: list[float] = []
    compiles: list[float] = []
    checks: list[float] = []
    inputs = 0
    for _ in range(rounds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_load = time.perf_counter()
            profile = Profile.load(path)
            t0 = time.perf_counter()
            f = profile.compile(caps=()).filter
            f.verify = False
            data = f.export_bpf()
            t1 = time.perf_counter()
        inputs = verify(f.policy(), data)
        t2 = time.perf_counter()
        builds.append(t1 - t_load)
        compiles.append(t1 - t0)
        checks.append(t2 - t1)
        f.close()
    build, check = statistics.median(builds), statistics.median(checks)
    compile_only = statistics.median(compiles)
    arches = "x86_64+x86+x32"
    print(f"docker profile ({arches}), {len(data) // 8} instructions, {rounds} rounds")
    print(f"build (load JSON + compile + export): median {build * 1e3:.2f} ms")
    print(f"  of which compile + export: median {compile_only * 1e3:.2f} ms")
    print(f"verify (model + proof, {inputs} inputs): median {check * 1e3:.2f} ms")
    print(f"ratio verify/build: {check / build:.3f} (goal <= 0.20)")
    print(f"ratio verify/(compile + export): {check / compile_only:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
