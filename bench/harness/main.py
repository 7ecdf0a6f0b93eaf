"""seccomp_py benchmarks: every scenario, every peer, one table.

Run through bench/run.sh (which builds the bench venv and the C drivers);
directly: ``bench/.venv/bin/python bench/harness/main.py [--runs N] [--quick]
[--only 1,2,5,6] [--profile]``.  See docs/benchmarks.md.

Every number is a median over --runs runs (min-max shown) measured in this
one invocation, and every ratio is against a baseline measured in the same
run: the C driver (scenarios 1, 2, 3, 4), no filter (5), the official module
(6).  Runs are interleaved (run 1 of every peer, then run 2, ...) so that
machine noise hits all peers alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, HERE)

import flatten  # noqa: E402
import peers  # noqa: E402

PROFILE_CANDIDATES = (os.path.join(ROOT, "seccomp_py", "profiles", "docker.json"),)

#: Entry points of the scenarios other helpers own (see docs/benchmarks.md).
EXTERNAL = {
    "3": ("notify", os.path.join(BENCH, "notify", "run.py"),
          "notify round trips/s (continue; sync wake-up where available)"),
    "4": ("spawn", os.path.join(BENCH, "spawn", "run.py"),
          "spawn /bin/true under Docker's profile vs subprocess"),
}


class Row:
    """One line of the table: a library in one case of one scenario."""

    def __init__(self, scenario: str, case: str, lib: str, unit: str,
                 samples: list[float] | None = None, status: str = "",
                 baseline: str = "", better: str = "lower", goal: str = "") -> None:
        self.scenario, self.case, self.lib, self.unit = scenario, case, lib, unit
        self.samples = samples or []
        self.status = status          # non-empty: not measured (n/a, pending, error)
        self.baseline = baseline      # lib name of the baseline row in the same case
        self.better = better
        self.goal = goal
        self.ratio: float | None = None
        self.verdict = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "case": self.case, "lib": self.lib,
                "unit": self.unit, "samples": self.samples, "median": self.median,
                "status": self.status, "ratio": self.ratio, "baseline": self.baseline,
                "goal": self.goal, "verdict": self.verdict}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_json(cmd: list[str], timeout: float = 300) -> dict[str, Any]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- scenario 1 ------------------------------------------------------------------------------

def scenario1(ctx: dict[str, Any], runs: int, iters: int, stat: str = "median") -> list[Row]:
    flat_txt, bindir, outdir = ctx["flat_txt"], ctx["bindir"], ctx["out"]
    rules = ctx["flat"]["rules"]
    libs = [p for p in ctx["peers"]]
    layouts = {1: "default layout", 2: "binary tree"}
    samples: dict[tuple[int, str], list[float]] = {}
    fastest: dict[tuple[int, str], list[float]] = {}  # each run's fastest build
    insns: dict[tuple[int, str], Any] = {}
    programs: dict[tuple[int, str], bytes] = {}
    status: dict[tuple[int, str], str] = {}
    for p in libs:
        for lay in layouts:
            if p.available:
                status[(lay, p.name)] = p.available
            elif lay not in p.layouts:
                status[(lay, p.name)] = "n/a: no binary-tree layout (own BPF generator)"
    flat_json = os.path.join(outdir, "flat.json")
    for r in range(runs):
        for lay in layouts:
            for lib in ["C"] + [p.name for p in libs]:
                if (lay, lib) in status:
                    continue
                bpf_path = os.path.join(outdir, "bpf", f"{lib}-{lay}.bpf")
                if lib == "C":
                    cmd = [os.path.join(bindir, "build_profile"), flat_txt, str(iters),
                           str(lay), bpf_path]
                else:
                    cmd = [sys.executable, os.path.join(HERE, "worker.py"), "build", lib,
                           flat_json, str(iters), str(lay), bpf_path]
                try:
                    res = run_json(cmd)
                except Exception as exc:
                    status[(lay, lib)] = f"error: {exc}"
                    continue
                if "error" in res:
                    status[(lay, lib)] = res["error"]
                    continue
                # one sample per run: the median build of this run (--stat median, the
                # default), or its fastest build (--stat min: it favours the implementation
                # with the heavier tail, see docs/benchmarks.md "Why 1.07x and 1.35x")
                pick = statistics.median if stat == "median" else min
                samples.setdefault((lay, lib), []).append(pick(res["ns"]) / 1e6)
                fastest.setdefault((lay, lib), []).append(min(res["ns"]) / 1e6)
                insns[(lay, lib)] = res["insns"]
                with open(bpf_path, "rb") as fh:
                    programs[(lay, lib)] = fh.read()
        log(f"scenario 1: run {r + 1}/{runs}")
    rows = []
    ctx["programs"] = programs
    for lay, lname in layouts.items():
        case = f"Docker profile -> BPF, {lname} ({len(rules)} rules)"
        c_prog = programs.get((lay, "C"))
        for lib in ["C"] + [p.name for p in libs]:
            key = (lay, lib)
            row = Row("1", case, lib, "ms", samples.get(key), status.get(key, ""),
                      baseline="C", goal="<= 1.05x C, faster than every peer"
                      if lib.startswith("seccomp_py") else "")
            if key in insns:
                same = programs[key] == c_prog
                row.extra = f"{insns[key]} insns" + ("" if lib == "C" else
                                                     (", same BPF as C" if same else
                                                      ", BPF differs from C"))
                base = samples.get((lay, "C"))
                if lib != "C" and base and len(base) == len(samples[key]):
                    per_run = sorted(a / b for a, b in zip(samples[key], base))
                    n = len(per_run)
                    row.extra += (f"; per-run ratio to C: median {statistics.median(per_run):.3f}"
                                  f" (p10..p90 {per_run[n // 10]:.3f}.."
                                  f"{per_run[min(n - 1, (9 * n) // 10)]:.3f})")
                    if stat == "median":  # the other statistic (--stat min) of the same builds
                        old = (statistics.median(fastest[key])
                               / statistics.median(fastest[(lay, "C")]))
                        row.extra += f"; ratio of the runs' fastest builds {old:.3f}"
            rows.append(row)
    return rows


# -- scenario 2 ------------------------------------------------------------------------------

def syscall_names(ctx: dict[str, Any]) -> list[str]:
    """Every name libseccomp maps to a real x86_64 number that every peer resolves."""
    names: list[str] = []
    try:
        from seccomp_py import syscall as sc
        names = [n for n in sc.names() if sc.resolve_name(n) >= 0]
    except Exception:
        names = sorted({r["name"] for r in ctx["flat"]["rules"]})
    ok = []
    for n in names:
        good = True
        for p in ctx["peers"]:
            if p.available or p.build_only:
                continue
            try:
                if p.resolver()(n) < 0:
                    good = False
            except Exception:
                good = False
        if good:
            ok.append(n)
    ctx["names_note"] = f"{len(ok)} names ({len(names) - len(ok)} of libseccomp's " \
                        f"{len(names)} dropped: unknown to some peer)"
    return ok


def scenario2(ctx: dict[str, Any], runs: int, passes: int) -> list[Row]:
    names = syscall_names(ctx)
    path = os.path.join(ctx["out"], "names.txt")
    with open(path, "w") as fh:
        fh.write("\n".join(names) + "\n")
    cold: dict[str, list[float]] = {}
    warm: dict[str, list[float]] = {}
    status: dict[str, str] = {}
    libs = ["C"] + [p.name for p in ctx["peers"] if not p.build_only]
    for p in ctx["peers"]:
        if p.available:
            status[p.name] = p.available
    for r in range(runs):
        for lib in libs:
            if lib in status:
                continue
            if lib == "C":
                cmd = [os.path.join(ctx["bindir"], "resolve"), path, str(passes)]
            else:
                cmd = [sys.executable, os.path.join(HERE, "worker.py"), "resolve", lib, path,
                       str(passes)]
            try:
                res = run_json(cmd)
            except Exception as exc:
                status[lib] = f"error: {exc}"
                continue
            if "error" in res:
                status[lib] = res["error"]
                continue
            cold.setdefault(lib, []).append(res["cold_ns"] / 1e3)
            warm.setdefault(lib, []).append(min(res["warm_ns"]) / 1e3)
        log(f"scenario 2: run {r + 1}/{runs}")
    rows = []
    for label, data in (("cold (first pass, fresh process)", cold), ("warm", warm)):
        case = f"name -> number, all {len(names)} names, {label}"
        for lib in libs:
            rows.append(Row("2", case, lib, "us", data.get(lib), status.get(lib, ""),
                            baseline="C"))
    return rows


# -- scenario 5 ------------------------------------------------------------------------------

def _subset_programs(ctx: dict[str, Any], sizes: list[int]) -> dict[tuple[int, int], str]:
    """BPF for N rules of the profile, per layout.

    Always included: the argument rules (socket, personality), getppid, and
    what sysloop itself needs after loading (write, exit_group, ...); the
    rest are the profile's next unconditional rules in order.
    """
    default, rules = peers.prepare(ctx["flat"])
    argrules = [r for r in rules if r[2]]
    plain = [r for r in rules if not r[2]]
    needed = [r for r in plain if r[0] in SYSLOOP_NEEDS]
    rest = [r for r in plain if r[0] not in SYSLOOP_NEEDS]
    builder = next((p for p in ctx["peers"] if p.name == "seccomp_py" and not p.available),
                   None) or next(p for p in ctx["peers"] if not p.available and 2 in p.layouts)
    paths = {}
    for n in sizes:
        subset = argrules + needed + rest[: max(0, n - len(argrules) - len(needed))]
        for lay in (1, 2):
            path = os.path.join(ctx["out"], "bpf", f"subset-{n}-{lay}.bpf")
            with open(path, "wb") as fh:
                fh.write(builder.build(default, subset, lay))
            paths[(n, lay)] = path
    return paths


FLOOR = "floor: any filter (1 insn, RET ALLOW)"

#: syscalls sysloop makes after loading the filter, plus the measured getppid
SYSLOOP_NEEDS = {"getppid", "write", "exit_group", "exit", "fstat", "newfstatat", "brk",
                 "mmap", "munmap", "rt_sigreturn"}


def scenario5(ctx: dict[str, Any], runs: int, iters: int, sizes: list[int]) -> list[Row]:
    programs: dict[tuple[int, str], bytes] = ctx.get("programs", {})
    # group identical programs so each distinct filter is measured once
    distinct: dict[str, tuple[str, list[str]]] = {}
    order = ["C", "seccomp_py", "seccomp_py add_rules", "official", "pyseccomp", "seccompy"]
    lay_name = {1: "default layout", 2: "binary tree"}
    for lay in (1, 2):
        for lib in order:
            data = programs.get((lay, lib))
            if data is None:
                continue
            digest = hashlib.sha256(data).hexdigest()
            path = os.path.join(ctx["out"], "bpf", f"{lib}-{lay}.bpf")
            if digest not in distinct:
                distinct[digest] = (path, [])
            distinct[digest][1].append(f"{lib} ({lay_name[lay]}, {len(data) // 8} insns)")
    floor = os.path.join(ctx["out"], "bpf", "allow-1insn.bpf")
    with open(floor, "wb") as fh:  # BPF_RET|BPF_K SECCOMP_RET_ALLOW
        fh.write(struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000))
    filters = [("no filter", "-"), (FLOOR, floor)] + [(" = ".join(libs), path)
                                                      for path, libs in distinct.values()]
    subset_paths = _subset_programs(ctx, sizes)
    sweep = [(f"{n} rules, {lay_name[lay]}", path) for (n, lay), path in subset_paths.items()]
    res: dict[str, dict[str, list[float]]] = {}
    for r in range(runs):
        for label, path in filters + sweep:
            try:
                out = run_json([os.path.join(ctx["bindir"], "sysloop"), path, str(iters)])
            except Exception as exc:
                log(f"scenario 5: {label}: {exc}")
                continue
            for k, v in out.items():
                res.setdefault(label, {}).setdefault(k, []).append(v)
        log(f"scenario 5: run {r + 1}/{runs}")
    rows = []
    for call, what in (("getppid", "cacheable syscall (getppid, no arg checks)"),
                       ("personality", "arg-checked syscall (personality(0xffffffff))")):
        case = f"ns per {what}, full Docker profile"
        for label, _ in filters:
            rows.append(Row("5", case, label, "ns", res.get(label, {}).get(call),
                            "" if label in res else "error: sysloop failed",
                            baseline="no filter"))
    for call in ("personality", "getppid"):
        case = f"layout sweep: ns per {call}() vs profile size"
        for label in ("no filter", FLOOR):
            rows.append(Row("5", case, label, "ns", res.get(label, {}).get(call),
                            "" if label in res else "error: sysloop failed",
                            baseline="no filter"))
        for label, _ in sweep:
            rows.append(Row("5", case, label, "ns", res.get(label, {}).get(call),
                            "" if label in res else "error: sysloop failed",
                            baseline="no filter"))
    return rows


# -- scenario 6 ------------------------------------------------------------------------------

def scenario6(ctx: dict[str, Any], runs: int) -> list[Row]:
    samples: dict[str, list[float]] = {}
    status: dict[str, str] = {}
    mods = [(p.name, p.module, p.available) for p in ctx["peers"] if not p.build_only]
    for r in range(runs):
        for name, mod, avail in mods:
            if avail:
                status[name] = avail
                continue
            try:
                res = run_json([sys.executable, os.path.join(HERE, "worker.py"), "import", mod])
            except Exception as exc:
                status[name] = f"error: {exc}"
                continue
            samples.setdefault(name, []).append(res["ns"] / 1e6)
        log(f"scenario 6: run {r + 1}/{runs}")
    return [Row("6", "import time (fresh interpreter)", name, "ms", samples.get(name),
                status.get(name, ""), baseline="official") for name, _, _ in mods]


# -- scenarios 3 and 4 (owned by the notify and spawn helpers) -------------------------------

def external(ctx: dict[str, Any], key: str, runs: int) -> list[Row]:
    owner, script, title = EXTERNAL[key]
    if not os.path.exists(script):
        return [Row(key, title, "all", "", status=f"pending: bench/{owner}/run.py not present "
                    "yet (contract in docs/benchmarks.md)")]
    try:
        proc = subprocess.run([sys.executable, script, "--runs", str(runs)], capture_output=True,
                              text=True, timeout=900, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [Row(key, title, "all", "", status=f"error: bench/{owner}/run.py timed out")]
    rows: list[Row] = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        rows.extend(_rows_from_external(key, obj))
    if not rows:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        rows.append(Row(key, title, "all", "", status=f"error: bench/{owner}/run.py exited "
                        f"{proc.returncode} without result lines: {err[:200]}"))
    return rows


def _rows_from_external(key: str, obj: dict[str, Any]) -> list[Row]:
    meta = {"scenario", "case", "unit", "better", "baseline", "results", "goal"}
    results = obj.get("results")
    if results is None:  # flat form: {"scenario": ..., "c": ..., "seccomp_py": ...}
        results = {k: v for k, v in obj.items() if k not in meta}
    baseline = obj.get("baseline") or ("c" if "c" in results else "C")
    case = str(obj.get("case") or obj.get("scenario") or EXTERNAL[key][2])
    rows = []
    for lib, value in results.items():
        if isinstance(value, (int, float)):
            row = Row(key, case, lib, obj.get("unit", ""), [float(value)])
        elif isinstance(value, list):
            row = Row(key, case, lib, obj.get("unit", ""), [float(v) for v in value])
        else:
            row = Row(key, case, lib, obj.get("unit", ""), status=str(value))
        row.baseline = baseline
        row.better = obj.get("better", "lower")
        row.goal = obj.get("goal", "") if lib.lower() == "seccomp_py" else ""
        rows.append(row)
    return rows


# -- evaluation and output -------------------------------------------------------------------

def evaluate(rows: list[Row]) -> None:
    by_case: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        by_case.setdefault((row.scenario, row.case), []).append(row)
    for case_rows in by_case.values():
        base = next((r for r in case_rows if r.lib == r.baseline and r.samples), None)
        if base is None:
            continue
        for row in case_rows:
            if row.samples and base.median:
                row.ratio = row.median / base.median  # type: ignore[operator]
    # goals
    for (scen, case), case_rows in by_case.items():
        named = {r.lib: r for r in case_rows}
        sp = named.get("seccomp_py")
        ours = [r for r in case_rows if r.lib.startswith("seccomp_py") and r.ratio is not None]
        for sp1 in ours if scen == "1" else []:
            others = [r for r in case_rows
                      if r.lib != "C" and not r.lib.startswith("seccomp_py") and r.samples]
            slower = [r.lib for r in others if r.median <= sp1.median]  # type: ignore[operator]
            ok = sp1.ratio <= 1.05 and not slower  # type: ignore[operator]
            sp1.verdict = ("met" if ok else "MISSED") + f" ({sp1.ratio:.2f}x C" + (
                f"; not faster than {', '.join(slower)}" if slower else "") + ")"
        if scen in ("3", "4") and sp and sp.ratio is not None:
            if scen == "3":
                ok = sp.ratio >= 0.8
                sp.verdict = ("met" if ok else "MISSED") + f" ({sp.ratio:.2f}x {sp.baseline}, " \
                    "goal >= 0.8x)"
            else:  # docs/benchmarks.md: spawn <= 1.3x subprocess, SpawnTemplate <= 1.1x
                for r, limit in ((sp, 1.3), (named.get("seccomp_py SpawnTemplate"), 1.1)):
                    if r is None or r.ratio is None:
                        continue
                    ok = r.ratio <= limit
                    r.verdict = ("met" if ok else "MISSED") + f" ({r.ratio:.2f}x {r.baseline}, " \
                        f"goal <= {limit}x)"
        if scen == "5" and "no filter" in named:
            nf = named["no filter"]
            fl = named.get(FLOOR)
            for r in case_rows:
                if r is nf or not r.samples or not nf.samples:
                    continue
                extra = f"+{r.median - nf.median:.0f} ns over no filter"  # type: ignore[operator]
                if fl is not None and fl.samples and r is not fl:
                    # the goal for the cacheable syscall: within noise (5 %) of the floor
                    over = r.median - fl.median  # type: ignore[operator]
                    near = "getppid" in case and over <= 0.05 * fl.median  # type: ignore[operator]
                    extra += ", " + ("within 5 % of the 1-insn floor" if near else
                                     f"+{over:.0f} ns over the floor")
                r.verdict = extra


def fmt(v: float | None) -> str:
    if v is None:
        return ""
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}"


def table(rows: list[Row]) -> list[list[str]]:
    out = [["#", "case", "library", "median", "min-max", "unit", "ratio", "notes"]]
    for r in rows:
        if r.samples:
            rng = f"{fmt(min(r.samples))}-{fmt(max(r.samples))}"
            ratio = f"{r.ratio:.2f}x {r.baseline}" if r.ratio is not None else ""
            notes = "; ".join(x for x in (getattr(r, "extra", ""), r.verdict) if x)
            out.append([r.scenario, r.case, r.lib, fmt(r.median), rng, r.unit, ratio, notes])
        else:
            out.append([r.scenario, r.case, r.lib, "-", "-", r.unit, "-", r.status])
    return out


def render_text(tab: list[list[str]]) -> str:
    widths = [min(max(len(row[i]) for row in tab), 60) for i in range(len(tab[0]))]
    lines = []
    last_case = None
    for k, row in enumerate(tab):
        case = row[1]
        if k and case != last_case:
            lines.append("")
        last_case = case
        shown = list(row)
        if k and case == tab[k - 1][1]:
            shown[1] = ""
        lines.append("  ".join(c[:60].ljust(w) if i < len(row) - 1 else c
                               for i, (c, w) in enumerate(zip(shown, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_md(tab: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in tab]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    lines += ["| " + " | ".join(row) + " |" for row in esc[1:]]
    return "\n".join(lines)


def chart(rows: list[Row], path: str) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib missing: no chart"
    cases: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.samples:
            cases.setdefault((r.scenario, r.case), []).append(r)
    if not cases:
        return "nothing measured: no chart"
    n = len(cases)
    cols = 2
    rws = (n + cols - 1) // cols
    fig, axes = plt.subplots(rws, cols, figsize=(14, 3.2 * rws), squeeze=False)
    for ax, ((scen, case), rs) in zip(axes.flat, cases.items()):
        labels = [r.lib if len(r.lib) < 40 else r.lib[:37] + "..." for r in rs]
        med = [r.median for r in rs]
        lo = [r.median - min(r.samples) for r in rs]  # type: ignore[operator]
        hi = [max(r.samples) - r.median for r in rs]  # type: ignore[operator]
        colors = ["tab:green" if "seccomp_py" in r.lib
                  else "tab:gray" if r.lib == r.baseline else "tab:blue" for r in rs]
        ax.barh(range(len(rs)), med, xerr=[lo, hi], color=colors, capsize=2)
        ax.set_yticks(range(len(rs)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{scen}: {case}"[:90], fontsize=8)
        ax.set_xlabel(rs[0].unit, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def profile_seccomp_py(ctx: dict[str, Any]) -> str:
    import cProfile
    import io
    import pstats
    p = next((p for p in ctx["peers"] if p.name == "seccomp_py" and not p.available), None)
    if p is None:
        return ""
    default, rules = peers.prepare(ctx["flat"])
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        p.build(default, rules, 1)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(14)
    return buf.getvalue()


def _shown_args(argv: list[str] | None) -> list[str]:
    """The user's arguments, without the --bindir/--out that run.sh adds."""
    args = list(sys.argv[1:] if argv is None else argv)
    shown = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in ("--bindir", "--out"):
            skip = True
        elif not a.startswith(("--bindir=", "--out=")):
            shown.append(a)
    return shown


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="seccomp_py benchmarks (see docs/benchmarks.md)")
    ap.add_argument("--runs", type=int, default=7, help="runs per measurement (median shown)")
    ap.add_argument("--quick", action="store_true", help="fewer runs and iterations")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="comma-separated scenarios")
    ap.add_argument("--bindir", default=os.path.join(BENCH, "out", "bin"))
    ap.add_argument("--out", default=os.path.join(BENCH, "out"))
    ap.add_argument("--profile", default=None, help="Docker profile JSON")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="scenario 1: each run's sample is the median (default) or the "
                         "fastest of its builds")
    ap.add_argument("--iters", type=int, default=None,
                    help="scenario 1: builds per run and library (default 30; 10 with --quick)")
    ap.add_argument("--cpu", type=int, default=None,
                    help="pin the harness and every driver/worker it starts to this CPU")
    ap.add_argument("--cprofile", action="store_true",
                    help="always add a cProfile of seccomp_py's scenario-1 build")
    ns = ap.parse_args(argv)
    runs = 3 if ns.quick else ns.runs
    only = set(ns.only.split(","))
    if ns.cpu is not None:  # children inherit the affinity
        os.sched_setaffinity(0, {ns.cpu})
    os.makedirs(os.path.join(ns.out, "bpf"), exist_ok=True)
    prof_path = ns.profile or next((p for p in PROFILE_CANDIDATES if os.path.exists(p)), None)
    if prof_path is None:
        raise SystemExit("bench: cannot find docker.json (pass --profile)")
    with open(prof_path) as fh:
        flat = flatten.flatten(json.load(fh))
    flat_txt = os.path.join(ns.out, "flat.txt")
    with open(flat_txt, "w") as fh:
        fh.write(flatten.to_text(flat))
    with open(os.path.join(ns.out, "flat.json"), "w") as fh:
        json.dump(flat, fh, indent=1)
    ctx: dict[str, Any] = {"flat": flat, "flat_txt": flat_txt, "bindir": ns.bindir,
                           "out": ns.out, "peers": peers.load_all()}
    for p in ctx["peers"]:
        if p.available:
            log(f"{p.name}: {p.available}")
    log(f"{len(flat['rules'])} rules from {os.path.basename(prof_path)} "
        f"({flat['arch']}, caps {flat['caps']}, kernel {flat['kernel']}); {runs} runs")
    rows: list[Row] = []
    if "1" in only or "5" in only:
        rows += scenario1(ctx, runs, ns.iters or (10 if ns.quick else 30), ns.stat)
    if "2" in only:
        rows += scenario2(ctx, runs, 20)
    for key in ("3", "4"):
        if key in only:
            rows += external(ctx, key, runs)
    if "5" in only:
        rows += scenario5(ctx, runs, 100_000 if ns.quick else 300_000,
                          [16, 32, 64, 128, len(flat["rules"])])
    if "6" in only:
        rows += scenario6(ctx, max(runs, 9))
    if "1" not in only:
        rows = [r for r in rows if r.scenario != "1"]
    evaluate(rows)
    tab = table(rows)
    text = render_text(tab)
    print(text)
    import seccomp_py.features as feat
    head = (f"# seccomp_py benchmarks\n\n"
            f"Command: `{' '.join(['bench/run.sh', *_shown_args(argv)])}`"
            f"  \nMachine: {platform.machine()}, Linux {platform.release()}, "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; Python "
            f"{platform.python_version()}; libseccomp {feat.summary().get('libseccomp')}  \n"
            f"Profile: {os.path.basename(prof_path)} flattened for {flat['arch']} with all caps "
            f"({len(flat['rules'])} rules, {len(flat['skipped'])} names skipped).  \n"
            f"Median of {runs} runs (min-max); ratios against the baseline measured in the "
            f"same run. {ctx.get('names_note', '')}\n\n")
    notes = ""
    missed = any(r.verdict.startswith("MISSED") for r in rows)
    if ("1" in only) and (missed or ns.cprofile):
        prof = profile_seccomp_py(ctx)
        notes = "\n\n## cProfile of seccomp_py, scenario 1 (20 builds, by own time)\n\n" \
                "```\n" + prof.strip() + "\n```\n"
        print(notes)
    with open(os.path.join(ns.out, "results.md"), "w") as fh:
        fh.write(head + render_md(tab) + "\n" + notes)
    with open(os.path.join(ns.out, "results.json"), "w") as fh:
        json.dump([r.as_dict() for r in rows], fh, indent=1)
    err = chart(rows, os.path.join(ns.out, "results.png"))
    log(err or f"wrote {ns.out}/results.md, results.png, results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
