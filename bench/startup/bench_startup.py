"""Start-up time of seccomp_py and the seccomp-py command, against ``python -c pass``.

    python bench/startup/bench_startup.py [--runs N] [--no-bytecode]

Runs, interleaved (one of each per round, so load on the machine hits all alike):
``python -c pass``, ``python -c "import seccomp_py"``, ``seccomp-py --help`` and
``seccomp-py run --profile docker -- /bin/true`` (the console script next to this
interpreter, run by it; its program cache, seccomp_py.progcache, is a fresh
temporary XDG_CACHE_HOME filled by the warm-up run, as after a user's first run)
and the same with ``--no-cache`` (compiling the profile every time; no budget),
and prints the median wall time of each and its excess over
``python -c pass``, with the budgets of docs/benchmarks.md (+5 ms, +30 ms, +60 ms), and the
median CPU time (user + system, getrusage of the children) of each and its excess: on a
loaded machine wall time stretches with the queue, CPU time much less.  With
bytecode (the default, as an installed wheel has it): the package is compiled first
(compileall) and PYTHONDONTWRITEBYTECODE is dropped from the children's environment.
--no-bytecode sets PYTHONDONTWRITEBYTECODE=1 and removes the package's __pycache__
first, so every run compiles the sources.
Profile an import with ``python -X importtime -c 'import seccomp_py'``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BUDGET = {"import seccomp_py": 5.0, "seccomp-py --help": 30.0,
          "seccomp-py run --profile docker -- /bin/true": 60.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--no-bytecode", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    script = os.path.join(os.path.dirname(py), "seccomp-py")
    if not os.path.exists(script):
        print(f"no console script at {script}: install seccomp_py into this interpreter",
              file=sys.stderr)
        return 1
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "import seccomp_py": [py, "-c", "import seccomp_py"],
        "seccomp-py --help": [py, script, "--help"],
        "seccomp-py run --profile docker -- /bin/true":
            [py, script, "run", "--profile", "docker", "--", "/bin/true"],
        "  the same, --no-cache (compiles every time)":
            [py, script, "run", "--no-cache", "--profile", "docker", "--", "/bin/true"],
    }
    env = dict(os.environ)
    import tempfile

    cache_home = tempfile.TemporaryDirectory(prefix="bench-startup-cache-")
    env["XDG_CACHE_HOME"] = cache_home.name  # not the user's: the warm-up fills it
    env.pop("SECCOMP_PY_NO_CACHE", None)
    import seccomp_py

    pkg = os.path.dirname(os.path.abspath(seccomp_py.__file__))
    if args.no_bytecode:
        import shutil

        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for root, dirs, _files in os.walk(pkg):
            if "__pycache__" in dirs:
                shutil.rmtree(os.path.join(root, "__pycache__"))
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([py, "-m", "compileall", "-q", pkg], check=True,
                       stdout=subprocess.DEVNULL)
    for cmd in cases.values():  # warm-up: page cache, bytecode, the program cache
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
    import resource

    times: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for name, cmd in cases.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            times[name].append((time.perf_counter() - t0) * 1000)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000)
    base = statistics.median(times["python -c pass"])
    cpu_base = statistics.median(cpu["python -c pass"])
    print(f"python {sys.version.split()[0]} ({py}); {args.runs} interleaved runs each; "
          f"bytecode {'not written' if args.no_bytecode else 'on'}; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'case':48} {'median ms':>10} {'excess ms':>10} {'budget':>8} {'cpu ms':>8} "
          f"{'cpu excess':>10}")
    status = 0
    for name, samples in times.items():
        med = statistics.median(samples)
        excess = med - base
        budget = BUDGET.get(name)
        mark = ""
        if budget is not None:
            mark = f"+{budget:.0f}" + ("" if excess <= budget else " OVER")
        c = statistics.median(cpu[name])
        print(f"{name:48} {med:10.1f} {excess:+10.1f} {mark:>8} {c:8.1f} {c - cpu_base:+10.1f}")
    cache_home.cleanup()
    return status


if __name__ == "__main__":
    sys.exit(main())
