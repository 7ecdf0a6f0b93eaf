#!/usr/bin/env python3
"""Sweep libseccomp's shared-chain loop (docs/failclosed.md): add random rule
sets for getppid to raw libseccomp (no seccomp_py guard), each in a forked
child killed after 0.6 s, and compare "it loops" with the guard's prediction
(seccomp_py.rule._chain_hazard_cmps).  Prints the counts of (outcome,
predicted) and the mismatches; a ('hang', False) line is a shape the guard
misses.  rcNNN: libseccomp refused a rule (errno NNN-100).

    .venv/bin/python scripts/sweep_libseccomp_hang.py pairs SEED N
    .venv/bin/python scripts/sweep_libseccomp_hang.py random SEED N
    LD_LIBRARY_PATH=/path/to/libseccomp-2.6/lib ...   # another libseccomp
    ARCH32=1 ...                                       # an x86-only filter
"""
import json
import os
import random
import signal
import sys
import time

from seccomp_py._native import ffi, lib
from seccomp_py.rule import _chain_hazard_cmps as hazard  # the guard's prediction

NE, LT, LE = int(lib.SCMP_CMP_NE), int(lib.SCMP_CMP_LT), int(lib.SCMP_CMP_LE)
EQ, GE, GT = int(lib.SCMP_CMP_EQ), int(lib.SCMP_CMP_GE), int(lib.SCMP_CMP_GT)
ME = int(lib.SCMP_CMP_MASKED_EQ)
NAMES = {NE: "ne", LT: "lt", LE: "le", EQ: "eq", GE: "ge", GT: "gt", ME: "me"}
ARCH32 = os.environ.get("ARCH32")  # an x86-only filter instead of the native one
SYS = 64 if ARCH32 else 110  # getppid


def build(rules):
    ctx = lib.seccomp_init(0x00050000 | 240)
    if ARCH32:
        lib.seccomp_arch_add(ctx, 0x40000003)
        lib.seccomp_arch_remove(ctx, lib.seccomp_arch_native())
    for k, cmps in enumerate(rules):
        arr = ffi.new("struct scmp_arg_cmp[]", list(cmps))
        rc = lib.seccomp_rule_add_array(ctx, 0x00050000 | (10 + k), SYS, len(cmps), arr)
        if rc < 0:
            os._exit(100 + min(-rc, 99))
    os._exit(0)


def run(rules, timeout=0.6):
    pid = os.fork()
    if pid == 0:
        try:
            build(rules)
        finally:
            os._exit(99)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p:
            return "ok" if os.WEXITSTATUS(st) == 0 else f"rc{os.WEXITSTATUS(st)}"
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hang"


DAT = [0, 1, 5, 0xFFFFFFFF, 0x100000000, 0x100000001, 0x200000000]
MASKS = [(1, 1), (0x100000000, 0x100000000), (0x100000001, 0x100000001),
         (0xFFFFFFFF00000000, 0)]


def comps(arg):
    out = [(arg, op, d, 0) for op in (NE, EQ, GT, GE, LT, LE) for d in DAT]
    return out + [(arg, ME, m, d & m) for m, d in MASKS]


def describe(rules):
    return " | ".join(",".join(f"{a}:{NAMES[o]}:{x:#x}" + (f":{y:#x}" if o == ME else "")
                               for a, o, x, y in r) for r in rules)


def check(rules, stats, bad):
    got = run(rules)
    pred = hazard(rules)
    stats[(got, pred)] = stats.get((got, pred), 0) + 1
    if (got == "hang") != pred:
        bad.append((got, pred, describe(rules)))


def random_rule(rng, rules, pool):
    if rules and rng.random() < 0.6:  # share a prefix with an earlier rule
        base = rng.choice(rules)
        r = list(base[:rng.randint(1, len(base))])
        rest = [a for a in range(3) if a > max(c[0] for c in r)]
        r += [rng.choice(pool[a]) for a in rest[:rng.randint(0, len(rest))]]
        return r
    return [rng.choice(pool[a]) for a in sorted(rng.sample(range(3), rng.randint(1, 3)))]


def main():
    mode = sys.argv[1]
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    stats, bad = {}, []
    if mode == "pairs":  # [c0, x] then [c0', y], c0' mostly c0
        firsts = [(0, NE, 0, 0), (0, EQ, 0, 0), (0, GT, 5, 0), (0, GE, 0x100000000, 0),
                  (0, LT, 5, 0), (0, LE, 0x100000001, 0), (0, ME, 0x100000001, 1),
                  (0, NE, 5, 0)]
        seconds = [*comps(1), (2, EQ, 0, 0), (2, NE, 0x100000000, 0)]
        for _ in range(n):
            f1 = rng.choice(firsts)
            f2 = f1 if rng.random() < 0.8 else rng.choice(firsts)
            check([[f1, rng.choice(seconds)], [f2, rng.choice(seconds)]], stats, bad)
    else:  # 2-4 rules of 1-3 comparisons on args 0..2
        pool = {a: comps(a) for a in range(3)}
        for _ in range(n):
            rules = []
            for _k in range(rng.randint(2, 4)):
                rules.append(random_rule(rng, rules, pool))
            check(rules, stats, bad)
    print(json.dumps({str(k): v for k, v in stats.items()}))
    for b in bad[:40]:
        print(*b)
    print("mismatches", len(bad))


if __name__ == "__main__":
    main()
