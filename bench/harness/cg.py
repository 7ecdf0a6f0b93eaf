#!/usr/bin/env python3
"""Instruction counts of scenario 1 (one build of the flattened Docker profile), for callgrind.

    python bench/harness/flatten.py seccomp_py/profiles/docker.json --json flat.json --text flat.txt
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/harness/cg.py flat.json PEER LAYOUT K

builds once (warm-up), then K more times with peers.py's adapter PEER (its ``name``:
``C`` is not here, see bench/c/build_profile.c; ``seccomp_py``, ``seccomp_py add_rules``,
``seccomp_py verify=False``, ``seccomp_py add_rules verify=False``, ``official``, ...)
in LAYOUT (1 libseccomp's default, 2 its binary tree, as the harness sets them).
PEER ``seccomp_py add_rules auto`` is the batch without setting OPTIMIZE: the
automatic layout (RANGES where it is smaller, verified; a different program from
C's, so not a scenario-1 row).  The difference between K=11 and K=1, divided by
10, is the work of one build.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peers


class _Auto(peers.SeccompPyBatch):
    name = "seccomp_py add_rules auto"

    def build(self, default: int, rules: list[peers.Rule], optimize: int) -> bytes:
        m = self.m
        ops = self.ops
        ArgCmp = m.ArgCmp
        actions: dict[int, object] = {}
        f = m.Filter(m.Action(default))
        f.add_rules([(actions.get(act) or actions.setdefault(act, m.Action(act)), name,
                      *[ArgCmp(i, ops[op], a, b) for i, op, a, b in args])
                     for name, act, args in rules])
        data: bytes = f.export_bpf()
        f.close()
        return data


def main() -> int:
    path, name, layout, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path) as fh:
        default, rules = peers.prepare(json.load(fh))
    classes = [c for c in vars(peers).values()
               if isinstance(c, type) and issubclass(c, peers.Peer) and c is not peers.Peer]
    found = [c for c in [*classes, _Auto] if c.name == name]
    if not found:
        print(f"no peer {name!r}", file=sys.stderr)
        return 2
    peer = found[-1]()
    if peer.available:
        print(peer.available, file=sys.stderr)
        return 2
    data = peer.build(default, rules, layout)
    for _ in range(count):
        peer.build(default, rules, layout)
    print(len(data) // 8, "instructions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
