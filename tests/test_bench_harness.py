"""bench/harness/main.py: the contract with bench/notify/run.py and bench/spawn/run.py
(docs/benchmarks.md), ratios against the same-run baseline, and goal verdicts.

No timing is asserted: these check how results are read and judged.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

from helpers.paths import REPO


def _load(module: str) -> ModuleType:
    """Import bench/harness/MODULE.py under a unique name (the harness is not a package)."""
    harness = os.path.join(REPO, "bench", "harness")
    if harness not in sys.path:
        sys.path.insert(0, harness)  # its own imports (flatten, peers)
    spec = importlib.util.spec_from_file_location(f"bench_harness_{module}",
                                                  os.path.join(harness, f"{module}.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


main = _load("main")


def test_external_full_form_ratio_and_goal() -> None:
    rows = main._rows_from_external("3", {
        "scenario": "3", "case": "notify continue", "unit": "round trips/s",
        "better": "higher", "baseline": "C",
        "results": {"C": [100.0, 98.0, 102.0], "seccomp_py": [70.0, 72.0, 71.0],
                    "official": "n/a: no listener API"}})
    main.evaluate(rows)
    by = {r.lib: r for r in rows}
    assert by["C"].ratio == 1.0
    assert by["seccomp_py"].ratio is not None and abs(by["seccomp_py"].ratio - 0.71) < 1e-9
    assert by["seccomp_py"].verdict.startswith("MISSED")  # below 0.8x C
    assert by["official"].status == "n/a: no listener API" and not by["official"].samples
    table = main.table(rows)
    assert ["3", "notify continue", "official", "-", "-", "round trips/s", "-",
            "n/a: no listener API"] in table


def test_external_flat_form_and_spawn_goal() -> None:
    rows = main._rows_from_external("4", {"scenario": "spawn", "unit": "ms",
                                          "baseline": "subprocess",
                                          "subprocess": [1.0, 1.2, 1.1], "seccomp_py": 1.21})
    main.evaluate(rows)
    sp = next(r for r in rows if r.lib == "seccomp_py")
    assert sp.verdict.startswith("met")  # 1.21 / 1.1 = 1.1x <= 1.3x
    rows = main._rows_from_external("4", {"scenario": "spawn", "unit": "ms",
                                          "baseline": "subprocess",
                                          "subprocess": [1.0], "seccomp_py": 1.35,
                                          "seccomp_py SpawnTemplate": 1.15})
    main.evaluate(rows)
    named = {r.lib: r for r in rows}
    assert named["seccomp_py"].verdict == "MISSED (1.35x subprocess, goal <= 1.3x)"
    assert named["seccomp_py SpawnTemplate"].verdict == \
        "MISSED (1.15x subprocess, goal <= 1.1x)"


def test_missing_entry_point_is_pending_not_dropped() -> None:
    saved = dict(main.EXTERNAL)
    try:
        main.EXTERNAL["3"] = ("notify", "/nonexistent/run.py", "notify round trips")
        rows = main.external({}, "3", 3)
    finally:
        main.EXTERNAL.clear()
        main.EXTERNAL.update(saved)
    assert len(rows) == 1 and rows[0].status.startswith("pending:")


def test_scenario1_verdict_needs_both_goals() -> None:
    case = "build"
    rows = [main.Row("1", case, "C", "ms", [1.0], baseline="C"),
            main.Row("1", case, "seccomp_py", "ms", [1.04], baseline="C"),
            main.Row("1", case, "official", "ms", [1.03], baseline="C")]
    main.evaluate(rows)
    assert rows[1].verdict == "MISSED (1.04x C; not faster than official)"
    rows[2].samples = [1.2]
    rows[1].verdict = ""
    main.evaluate(rows)
    assert rows[1].verdict == "met (1.04x C)"
    rows[1].samples = [1.1]  # the goal is 1.05x C
    rows[1].verdict = ""
    main.evaluate(rows)
    assert rows[1].verdict == "MISSED (1.10x C)"
