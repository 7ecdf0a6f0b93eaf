#!/usr/bin/env python3
"""Long run of the model-based differential test (tests/test_model_core.py).

Generates N independent random policies (the generator of
tests/helpers/failclosed_strategies.py, driven by random.Random: no shrinking,
so it keeps going after a mismatch), builds each with seccomp_py, loads it in
a forked child, makes the probe calls and compares with tests/helpers/model.py.
Every program goes through seccomp_py's verifier (Filter.export_bpf), so a
policy libseccomp compiles wrongly is repaired (seccomp_py decides the
affected syscall itself) or refused before loading.  Prints every mismatch
(policy, calls, what the kernel did) and a summary: cases, programs loaded,
calls checked, refusals, verifier refusals and repairs, ambiguous decisions,
mismatches (known libseccomp bug shapes included, and counted by shape as
repaired, refused or mismatched).  Exit status 1 when any mismatch was found.

    .venv/bin/python scripts/model_long.py [-n 10000] [--seed S] [--quiet]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers import failclosed_kernel as K  # noqa: E402
from helpers.failclosed_strategies import random_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="number of policies (default 10000)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (reproducible runs)")
    ap.add_argument("--quiet", action="store_true", help="only the summary")
    ap.add_argument("--avoid-known-bugs", action="store_true",
                    help="generate no policy shaped like a known libseccomp bug")
    opts = ap.parse_args()
    reason = K.supported()
    if reason:
        print(f"skipped: {reason}")
        return 0
    stats = {"cases": 0, "calls": 0, "refusals": 0, "ambiguous": 0, "mismatching_cases": 0,
             "mismatches": 0, "errors": 0, "loaded": 0, "repaired": 0, "verify_refused": 0}
    # [cases with the shape, mismatching, repaired (fixed), refused by the verifier]
    known: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in K.KNOWN_BUGS}
    start = time.monotonic()

    rng = random.Random(opts.seed)

    def run(case: tuple) -> None:  # type: ignore[type-arg]
        policy, calls = case
        stats["cases"] += 1
        try:
            r = K.run_policy(policy, calls)
        except Exception as exc:  # a crash of the harness or the library: count and show
            stats["errors"] += 1
            print(f"ERROR {type(exc).__name__}: {exc}\n{policy.describe()}\n{calls!r}\n")
            return
        stats["calls"] += r.checked
        stats["refusals"] += r.refusals
        stats["ambiguous"] += r.ambiguous
        stats["verify_refused"] += r.verify_refused
        stats["repaired"] += r.repaired
        stats["loaded"] += bool(r.checked)
        bug = K.known_bug(policy)
        if bug is not None:
            known[bug][0] += 1
            known[bug][1] += bool(r.mismatches)
            known[bug][2] += r.repaired
            known[bug][3] += r.verify_refused
            stats["mismatching_cases"] += bool(r.mismatches)
            stats["mismatches"] += len(r.mismatches)
            if r.mismatches and not opts.quiet:
                print(f"[known {bug}] " + r.report() + "\n", flush=True)
            return
        if r.mismatches:
            stats["mismatching_cases"] += 1
            stats["mismatches"] += len(r.mismatches)
            print(r.report() + "\n", flush=True)
        if not opts.quiet and stats["cases"] % 1000 == 0:
            print(f"... {stats['cases']} cases, {stats['mismatches']} mismatches "
                  f"({time.monotonic() - start:.0f}s)", file=sys.stderr, flush=True)

    # Plain random generation (not hypothesis's search: a long run
    # wants many independent cases, not mutations of a few; no shrinking).
    for _ in range(opts.n):
        run(random_case(rng, opts.avoid_known_bugs))
    elapsed = time.monotonic() - start
    print(f"model_long: {stats['cases']} cases, {stats['loaded']} loaded, "
          f"{stats['calls']} calls checked against the kernel, {stats['refusals']} refusals "
          f"by libseccomp, {stats['verify_refused']} refused by the verifier before loading, "
          f"{stats['repaired']} loaded with a repaired program, {stats['ambiguous']} ambiguous "
          f"decisions, {stats['mismatches']} mismatches in {stats['mismatching_cases']} cases "
          f"(known shapes included), {stats['errors']} errors, {elapsed:.1f}s")
    for bug, (n, bad, fixed, refused) in known.items():
        print(f"  known {bug}: {n} cases had its shape: {fixed} repaired (fixed), "
              f"{refused} refused, {bad} mismatched")
    return 1 if stats["mismatches"] or stats["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
