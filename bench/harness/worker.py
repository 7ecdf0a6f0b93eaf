"""Fresh-process measurements (run by main.py with the bench venv's Python).

    worker.py resolve LIB NAMES.txt PASSES   scenario 2: cold (first pass in a
                                             fresh process) and warm passes
    worker.py import MODULE                  scenario 6: time of `import MODULE`
    worker.py build LIB FLAT.json ITERS LAYOUT OUT.bpf
                                             scenario 1: time each of ITERS builds
                                             (one warm-up build first), save the BPF

Each prints one JSON line.  LIB is a peer name from peers.py.
"""

from __future__ import annotations

import json
import sys
import time


def _import(module: str) -> None:
    t0 = time.perf_counter_ns()
    __import__(module)
    t1 = time.perf_counter_ns()
    print(json.dumps({"ns": t1 - t0}))


def _resolve(lib: str, names_file: str, passes: int) -> None:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import peers

    peer = next(cls for cls in peers.ALL if cls.name == lib)()
    if peer.available:
        print(json.dumps({"error": peer.available}))
        return
    with open(names_file) as fh:
        names = fh.read().split()
    resolve = peer.resolver()
    times = []
    total = 0
    for _ in range(passes):
        t0 = time.perf_counter_ns()
        for name in names:
            total += resolve(name)
        times.append(time.perf_counter_ns() - t0)
    print(json.dumps({"cold_ns": times[0], "warm_ns": times[1:], "names": len(names),
                      "sum": total}))


def _build(lib: str, flat_file: str, iters: int, layout: int, out: str) -> None:
    import gc

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import peers

    peer = next(cls for cls in peers.ALL if cls.name == lib)()
    if peer.available:
        print(json.dumps({"error": peer.available}))
        return
    with open(flat_file) as fh:
        default, rules = peers.prepare(json.load(fh))
    data = peer.build(default, rules, layout)
    gc.collect()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        peer.build(default, rules, layout)
        times.append(time.perf_counter_ns() - t0)
    with open(out, "wb") as fh:
        fh.write(data)
    print(json.dumps({"ns": times, "insns": len(data) // 8}))


def main() -> None:
    if sys.argv[1] == "import":
        _import(sys.argv[2])
    elif sys.argv[1] == "resolve":
        _resolve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "build":
        _build(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}")


if __name__ == "__main__":
    main()
