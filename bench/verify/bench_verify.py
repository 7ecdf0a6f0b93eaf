#!/usr/bin/env python3
"""Cost of verification: Docker's default profile (x86_64 + x86 + x32 on x86_64).

    python bench/verify/bench_verify.py [ROUNDS]
    python bench/verify/bench_verify.py --only CASE --count K     (for callgrind)

One round builds the filter from the shipped profile three ways, interleaved:

* ``unverified``: read and parse the JSON (Profile.load), compile it
  (Profile.compile, no capabilities) and export it with ``verify=False``:
  libseccomp's program (its binary tree, the automatic layout without
  verification), nothing checked;
* ``verified``: the same with verification on (the default): the automatic
  layout's RANGES program, proved against the rules before it is returned
  (libseccomp's export is skipped when RANGES is below libseccomp's floor);
* the verifier alone, after the round: ``verify(filter.policy(), program)`` on
  the verified build's program (a fresh model: the part of the verified build
  that is verification, counted generously: in the build the model is shared
  with the code generator), and on libseccomp's program of the unverified build.

Medians over the rounds and their ratios are printed.  The issue's goal
(issue 14 item 5): verification adds at most 20% to the build.

``--only compile|add_rules`` (issue 17 item 1: profile compilation at most 1.10x
a plain ``add_rules`` of the same rules): ``Profile.compile`` of the parsed
profile, against a Filter with the same arches given the compiled rules in one
``Filter.add_rules`` (no export in either).

``--only unverified|verified|verifier|compile|add_rules --count K`` runs one case K times after
one warm-up, for instruction counts: ``valgrind --tool=callgrind
--callgrind-out-file=/dev/null python bench/verify/bench_verify.py --only CASE
--count 11`` minus the same with ``--count 1``, divided by 10.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

from seccomp_py.profile import Profile, builtin_path
from seccomp_py.verify import verify

PATH = builtin_path("docker")


def build(verified: bool) -> tuple[bytes, object]:
    profile = Profile.load(PATH)
    f = profile.compile(caps=()).filter
    f.verify = verified
    return f.export_bpf(), f


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", nargs="?", type=int, default=30)
    parser.add_argument("--only", choices=("unverified", "verified", "verifier", "compile",
                                           "add_rules"))
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.only in ("compile", "add_rules"):
        from seccomp_py import Filter

        profile = Profile.load(PATH)
        compiled = profile.compile(caps=())
        batch = [(r.action, r.syscall, *r.comparisons) for r in compiled.rules]
        compiled.filter.close()
        for _ in range(args.count + 1):
            if args.only == "compile":
                profile.compile(caps=()).filter.close()
            else:
                flt = Filter(compiled.default)
                for arch in compiled.arches:
                    flt.add_arch(arch)
                flt.add_rules(batch)
                flt.close()
        return 0
    if args.only:
        data, f = build(args.only != "unverified")
        for _ in range(args.count):
            if args.only == "verifier":
                verify(f.policy(), data)  # type: ignore[attr-defined]
            else:
                build(args.only == "verified")[1].close()  # type: ignore[attr-defined]
        return 0
    times: dict[str, list[float]] = {k: [] for k in (
        "unverified", "verified", "verify RANGES", "verify libseccomp")}
    sizes: dict[str, int] = {}
    inputs: dict[str, int] = {}
    for _ in range(args.rounds):
        programs = {}
        for case in ("unverified", "verified"):
            t0 = time.perf_counter()
            data, f = build(case == "verified")
            times[case].append(time.perf_counter() - t0)
            programs[case] = (data, f)
            sizes[case] = len(data) // 8
        for case, label in (("verified", "verify RANGES"), ("unverified", "verify libseccomp")):
            data, f = programs[case]
            t0 = time.perf_counter()
            inputs[label] = verify(f.policy(), data)  # type: ignore[attr-defined]
            times[label].append(time.perf_counter() - t0)
            f.close()  # type: ignore[attr-defined]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"docker profile (x86_64+x86+x32), {args.rounds} rounds, medians")
    print(f"build, verify=False (libseccomp's tree, {sizes['unverified']} insns): "
          f"{med['unverified'] * 1e3:.2f} ms")
    print(f"build, verified (default: RANGES, {sizes['verified']} insns): "
          f"{med['verified'] * 1e3:.2f} ms")
    print(f"verifier alone on the RANGES program (fresh model + proof, "
          f"{inputs['verify RANGES']} inputs): {med['verify RANGES'] * 1e3:.2f} ms")
    print(f"verifier alone on libseccomp's tree ({inputs['verify libseccomp']} inputs): "
          f"{med['verify libseccomp'] * 1e3:.2f} ms")
    v, b = med["verify RANGES"], med["verified"]
    print(f"verified build / unverified build: {b / med['unverified']:.3f}")
    print(f"verification's share of the verified build: {v / b:.3f}; it adds "
          f"{v / (b - v):.3f} to the rest of that build (goal <= 0.20)")
    print(f"verifying libseccomp's tree after an unverified build adds "
          f"{med['verify libseccomp'] / med['unverified']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
