"""Optimize.RANGES against libseccomp's layouts on Docker's default profile.

    .venv/bin/python bench/codegen/bench_codegen.py [--rounds N] [--iterations N]

Prints one table: per layout (libseccomp's default, its binary tree, seccomp_py's
RANGES) and per filter (x86_64 alone; x86_64 + x86 + x32, as Docker loads it):

* instructions in the program (the robust figure);
* instructions executed per call (bench/codegen/steps.py, checked against
  seccomp_py's C evaluator) for getppid (allowed, no argument check),
  personality(0xffffffff) (allowed through an argument check: the program
  runs every call) and syscall 400 (a number no rule names: the default
  action, EPERM);
* ns per call over no filter, measured by bench/codegen/callloop.c (gcc):
  every round runs each program in a fresh child, in rotated order; the
  figure is the median over rounds of (ns under the program - ns with no
  filter in the same round).  getppid is answered by the kernel's action
  cache without running the program (Linux 5.11+): its overhead is ~0 in
  every layout.

The machine may be shared: trust the instruction counts first.
Capabilities: Docker's default set (bench/spawn/bench_spawn.py's DOCKER_CAPS).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from steps import executed  # noqa: E402

from seccomp_py import Optimize  # noqa: E402
from seccomp_py.profile import Profile  # noqa: E402

DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
X86_64 = 0xC000003E
#: (label, nr, arg)
CASES = [("getppid", 110, 0), ("personality(-1)", 135, 0xFFFFFFFF), ("syscall 400", 400, 0)]
LAYOUTS = (Optimize.PRIORITY, Optimize.BINARY_TREE, Optimize.RANGES)


def programs() -> dict[tuple[str, str], bytes]:
    out = {}
    profile = Profile.builtin("docker")
    alone = dataclasses.replace(profile, architectures=("SCMP_ARCH_X86_64",), arch_map=())
    for label, prof in (("x86_64", alone), ("x86_64+x86+x32", profile)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = prof.compile("x86_64", caps=DOCKER_CAPS).filter
        for layout in LAYOUTS:
            f.optimize = layout
            out[(label, layout.name)] = f.export_bpf()
    return out


def build_loop(tmp: str) -> str:
    exe = os.path.join(tmp, "callloop")
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "callloop.c")], check=True)
    return exe


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--iterations", type=int, default=200000)
    opts = ap.parse_args()
    progs = programs()
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_loop(tmp)
        files = {"none": "-"}
        for key, data in progs.items():
            path = os.path.join(tmp, f"{key[0]}-{key[1]}.bpf")
            with open(path, "wb") as fh:
                fh.write(data)
            files["/".join(key)] = path
        names = list(files)
        samples: dict[str, list[list[float]]] = {n: [] for n in names}
        args = [f"{nr}:{arg:#x}" for _, nr, arg in CASES]
        started = time.monotonic()
        for r in range(opts.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                out = subprocess.run([exe, files[name], str(opts.iterations), *args],
                                     check=True, capture_output=True, text=True).stdout
                samples[name].append([float(v) for v in out.split()])
        elapsed = time.monotonic() - started
    base = samples["none"]
    print(f"Docker's default profile, Docker's default capabilities; {opts.rounds} rounds x "
          f"{opts.iterations} calls per case, {elapsed:.0f} s")
    print("no filter: " + ", ".join(
        f"{label} {statistics.median(s[i] for s in base):.0f} ns"
        for i, (label, _, _) in enumerate(CASES)))
    print()
    head = ["filter", "layout", "instructions"]
    head += [f"{label}: executed" for label, _, _ in CASES]
    head += [f"{label}: ns over none" for label, _, _ in CASES]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (label, layout), data in progs.items():
        row = [label, layout, str(len(data) // 8)]
        row += [str(executed(data, nr, X86_64, (arg,))[1]) for _, nr, arg in CASES]
        runs = samples[f"{label}/{layout}"]
        for i in range(len(CASES)):
            over = [run[i] - b[i] for run, b in zip(runs, base)]
            row.append(f"{statistics.median(over):+.0f}")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
