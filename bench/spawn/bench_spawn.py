"""Benchmark: spawning /bin/true under Docker's default seccomp profile.

Compares, in the same run and interleaved (so machine noise hits all alike):

- ``subprocess``: ``subprocess.Popen(["/bin/true"]).wait()`` (the reference),
- ``spawn``: ``seccomp_py.spawn.spawn(["/bin/true"], docker_filter).wait()`` with the
  filter's automatic layout -- the program seccomp_py produces (Optimize.RANGES for
  Docker's profile: ~300 instructions for x86_64+x86+x32),
- ``spawn-linear`` / ``spawn-tree``: the same with libseccomp's layouts forced
  (Optimize.PRIORITY, ~1,246 instructions; Optimize.BINARY_TREE),
- ``template``: ``SpawnTemplate(docker_filter).spawn(["/bin/true"]).wait()``: the filter
  is loaded once in a fork server and inherited by each child,
- ``posix_spawn``: ``os.posix_spawn`` + ``os.waitpid``,
- ``C``, ``C+filter``, ``C+filter-linear``, ``C+filter-tree``: c_baseline.c (vfork + execve
  in a C loop; with a filter: prctl(PR_SET_NO_NEW_PRIVS) + seccomp(2) in the child first,
  loading exactly the bytes the matching ``spawn`` case loads): the floor of what the
  kernel charges for loading this filter per child.  Skipped without gcc.

Every round runs every case once (interleaved); ratios are taken per round and the
median of the per-round ratios is printed with its p10..p90, and the load average.
A second table gives the CPU time per spawn of the Python cases (this thread, the
reaped children, the template process: /proc/*/schedstat, getrusage), the same
ratios without the time a loaded machine makes runnable tasks wait.
Goals (docs/benchmarks.md): spawn <= 1.3x subprocess, template <= 1.1x.  Usage::

    .venv/bin/python bench/spawn/bench_spawn.py [--rounds 15] [--per-round 40]

The profile is flattened here into Filter rules for x86_64 (with x86 and x32,
as Docker's archMap says) with Docker's default capability set, until
seccomp_py.profile lands: includes/excludes on arches and caps are honoured,
minKernel is taken as satisfied, unknown syscall names are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

from seccomp_py import Action, Arch, Arg, Filter, Optimize, UnknownSyscallError  # noqa: E402
from seccomp_py.attribute import Attribute  # noqa: E402
from seccomp_py.spawn import SpawnTemplate, spawn  # noqa: E402

PROFILE = os.path.join(REPO, "seccomp_py", "profiles", "docker.json")
DOCKER_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}
ARCH = "amd64"


def _action(name: str, errno_ret: int) -> Action:
    if name == "SCMP_ACT_ERRNO":
        return Action.errno(errno_ret)
    return {"SCMP_ACT_ALLOW": Action.ALLOW, "SCMP_ACT_KILL": Action.KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": Action.KILL_PROCESS, "SCMP_ACT_TRAP": Action.TRAP,
            "SCMP_ACT_LOG": Action.LOG}[name]


def _cmp(arg: dict[str, Any]) -> Any:
    a = Arg(arg["index"])
    op, v = arg["op"], arg["value"]
    if op == "SCMP_CMP_MASKED_EQ":
        return a.masked_eq(v, arg.get("valueTwo", 0))
    return {"SCMP_CMP_EQ": a.__eq__, "SCMP_CMP_NE": a.__ne__, "SCMP_CMP_LT": a.__lt__,
            "SCMP_CMP_LE": a.__le__, "SCMP_CMP_GT": a.__gt__, "SCMP_CMP_GE": a.__ge__}[op](v)


def _applies(entry: dict[str, Any]) -> bool:
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    if inc.get("arches") and ARCH not in inc["arches"]:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= DOCKER_CAPS:
        return False
    if exc.get("arches") and ARCH in exc["arches"]:
        return False
    return not (exc.get("caps") and set(exc["caps"]) & DOCKER_CAPS)


def docker_filter(optimize: int | None = None) -> tuple[Filter, int]:
    """Docker's profile as a Filter; ``optimize`` None keeps the automatic layout."""
    with open(PROFILE) as fh:
        profile = json.load(fh)
    default_errno = profile.get("defaultErrnoRet", 1)
    default = _action(profile["defaultAction"], default_errno)
    f = Filter(default)
    if optimize is not None:
        f.set_attribute(Attribute.OPTIMIZE, optimize)
    for arch in (Arch.X86, Arch.X32):
        f.add_arch(arch)
    rules = 0
    for entry in profile["syscalls"]:
        if not _applies(entry):
            continue
        action = _action(entry["action"], entry.get("errnoRet", default_errno))
        if action == default:
            continue
        comparisons = [_cmp(a) for a in entry.get("args") or []]
        for name in entry.get("names") or [entry["name"]]:
            try:
                f.add_rule(action, name, *comparisons)
                rules += 1
            except UnknownSyscallError:
                pass
    return f, rules


# CPU time per spawn (--cpu): this thread, the reaped children and the template
# process, from /proc/*/schedstat and getrusage; the wait for a CPU on a loaded
# machine is not in it.  Filled by _timer for the Python cases.
_CPU: dict[str, list[float]] = {}
_TEMPLATE_PID = [0]


def _cpu_ns() -> float:
    import resource

    with open("/proc/thread-self/schedstat") as fh:
        own = int(fh.read().split()[0])
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own + (kids.ru_utime + kids.ru_stime) * 1e9
    if _TEMPLATE_PID[0] > 0:
        with open(f"/proc/{_TEMPLATE_PID[0]}/schedstat") as fh:
            total += int(fh.read().split()[0])
    return total


def _timer(func: Callable[[], Any], name: str = "") -> Callable[[int], float]:
    def timed(n: int) -> float:
        cpu = _cpu_ns() if name else 0.0
        start = time.perf_counter()
        for _ in range(n):
            func()
        wall = (time.perf_counter() - start) / n
        if name:
            _CPU.setdefault(name, []).append((_cpu_ns() - cpu) / n / 1e9)
        return wall
    return timed


def _c_baseline(tmp: str, filters: dict[str, Filter]) -> dict[str, Callable[[int], float]]:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return {}
    exe = os.path.join(tmp, "c_baseline")
    subprocess.run([gcc, "-O2", "-o", exe, os.path.join(HERE, "c_baseline.c")], check=True)
    cases: dict[str, Callable[[int], float]] = {}

    def case(*extra: str) -> Callable[[int], float]:
        def timed(n: int) -> float:
            out = subprocess.run([exe, str(n), *extra], check=True, capture_output=True)
            return float(out.stdout) / 1e6
        return timed

    cases["C"] = case()
    for name, f in filters.items():
        path = os.path.join(tmp, name + ".bpf")
        f.write(path)
        cases["C+" + name] = case(path)
    return cases


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=40)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line for bench/harness (docs/benchmarks.md)")
    opts = parser.parse_args()

    auto, rules = docker_filter(None)
    linear, _ = docker_filter(int(Optimize.PRIORITY))
    tree, _ = docker_filter(int(Optimize.BINARY_TREE))
    # the floor: the smallest useful filter (one rule, a handful of instructions), so
    # that what any per-child load costs is told apart from what program length costs
    floor = Filter(Action.ALLOW)
    floor.add_rule(Action.errno(1), "unshare")
    true = ["/bin/true"]
    for f in (auto, linear, tree):  # sanity: the policy runs /bin/true and is enforced
        assert spawn(true, f).wait() == 0
        probe = spawn([sys.executable, "-I", "-S", "-c",
                       "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
                       "print(libc.unshare(0), ctypes.get_errno())"],
                      f, stdout=subprocess.PIPE)
        out, _ = probe.communicate(timeout=30)
        assert out.split() == [b"-1", b"1"], out  # unshare: EPERM from the profile

    def posix() -> None:
        pid = os.posix_spawn(true[0], true, os.environ)
        os.waitpid(pid, 0)

    cases: dict[str, Callable[[int], float]] = {
        "subprocess": _timer(lambda: subprocess.Popen(true).wait(), "subprocess"),
        "spawn": _timer(lambda: spawn(true, auto).wait(), "spawn"),
        "spawn-linear": _timer(lambda: spawn(true, linear).wait(), "spawn-linear"),
        "spawn-tree": _timer(lambda: spawn(true, tree).wait(), "spawn-tree"),
        "spawn-floor": _timer(lambda: spawn(true, floor).wait(), "spawn-floor"),
        "posix_spawn": _timer(posix, "posix_spawn"),
    }
    template = SpawnTemplate(auto)
    assert template.spawn(true).wait() == 0
    cases["template"] = _timer(lambda: template.spawn(true).wait(), "template")
    _TEMPLATE_PID[0] = template.pid
    tmp = tempfile.mkdtemp(prefix="seccomp_py-bench-")
    try:
        cases.update(_c_baseline(tmp, {"filter": auto, "filter-linear": linear,
                                       "filter-tree": tree, "filter-floor": floor}))
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for timed in cases.values():  # warm up
            timed(5)
        _CPU.clear()
        load = os.getloadavg()
        for _ in range(opts.rounds):
            for name, timed in cases.items():
                samples[name].append(timed(opts.per_round))
        load_after = os.getloadavg()
    finally:
        template.close()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in samples.items()}

    def ratios(num: str, den: str) -> list[float]:
        return [a / b for a, b in zip(samples[num], samples[den])]

    if opts.json:
        print(json.dumps({
            "scenario": "4", "case": "spawn /bin/true under Docker's profile",
            "unit": "s", "better": "lower", "baseline": "subprocess",
            "results": {
                "subprocess": samples["subprocess"],
                "seccomp_py": samples["spawn"],
                "seccomp_py SpawnTemplate": samples["template"],
                **({"C": samples["C+filter"]} if "C+filter" in samples else {}),
                "official": "n/a: no spawn API",
                "pyseccomp": "n/a: no spawn API",
                "seccompy": "n/a: no spawn API",
            }}))
        return
    print(f"Docker default profile: {rules} rules; BPF instructions: automatic layout "
          f"({auto.layout.name}) {auto.instruction_count}, linear {linear.instruction_count}, "
          f"binary tree {tree.instruction_count}, floor {floor.instruction_count}; "
          f"{opts.rounds} interleaved rounds x "
          f"{opts.per_round} spawns of /bin/true; load average {load[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    print(f"  {'case':16s} {'median':>9s}   {'ratio vs subprocess: median of rounds (p10..p90)'}")
    for name, value in med.items():
        r = ratios(name, "subprocess")
        print(f"  {name:16s} {value * 1e6:8.1f} us   x{statistics.median(r):.3f} "
              f"({_pct(r, 0.1):.3f}..{_pct(r, 0.9):.3f})")

    def goal(num: str, den: str, limit: float) -> None:
        r = ratios(num, den)
        m = statistics.median(r)
        print(f"ratio {num} / {den} = {m:.3f} (p10..p90 {_pct(r, 0.1):.3f}..{_pct(r, 0.9):.3f}"
              f"; goal <= {limit}): {'OK' if round(m, 3) <= limit else 'MISSED'}")

    goal("spawn", "subprocess", 1.3)
    goal("template", "subprocess", 1.1)
    print("CPU time per spawn (this thread + reaped children + the template process; what "
          "a loaded machine adds by making runnable tasks wait is not in it):")
    for name, values in _CPU.items():
        r = [a / b for a, b in zip(values, _CPU["subprocess"])]
        print(f"  {name:16s} {statistics.median(values) * 1e6:8.1f} us   "
              f"x{statistics.median(r):.3f} ({_pct(r, 0.1):.3f}..{_pct(r, 0.9):.3f})")
    if "C" in med:
        for name in ("", "-linear", "-tree", "-floor"):
            r = ratios("spawn" + name, "C+filter" + name)
            k = ratios("C+filter" + name, "C")
            print(f"spawn{name} / C+filter{name} = {statistics.median(r):.3f}; kernel cost of "
                  f"a per-child load: C+filter{name} / C = {statistics.median(k):.3f}")


if __name__ == "__main__":
    main()
