#!/usr/bin/env python3
"""Long fuzzing run: every fuzz property of tests/test_fuzz_*.py with many inputs.

Runs pytest on tests/test_fuzz_core.py and tests/test_fuzz_ext.py with
SECCOMP_PY_FUZZ_EXAMPLES=N (default 20000 per property), counts the inputs
hypothesis actually fed to each property, and prints them with the outcome.  Exit
status is pytest's (non-zero when any input produced an undocumented
exception, a crash, or a refused call that changed the filter).

    .venv/bin/python scripts/fuzz_long.py [-n 20000] [-k EXPR]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import Counter
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Count:
    """pytest plugin: count the inputs each hypothesis test receives."""

    def __init__(self) -> None:
        self.inputs: Counter[str] = Counter()
        self.outcome: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            fn = getattr(item, "obj", None)
            hyp = getattr(fn, "hypothesis", None)
            if hyp is None:
                continue
            inner = hyp.inner_test
            name = item.name

            @functools.wraps(inner)
            def counted(*a: Any, __inner: Any = inner, __name: str = name, **k: Any) -> Any:
                self.inputs[__name] += 1
                return __inner(*a, **k)

            hyp.inner_test = counted

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.outcome == "skipped":
            self.outcome[report.nodeid.split("::")[-1]] = report.outcome


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20_000, help="inputs per property (default 20000)")
    ap.add_argument("-k", default=None, help="pytest -k expression")
    opts = ap.parse_args()
    os.environ["SECCOMP_PY_FUZZ_EXAMPLES"] = str(opts.n)
    args = ["-q", "-p", "no:cacheprovider", "-x",
            os.path.join(ROOT, "tests", "test_fuzz_core.py"),
            os.path.join(ROOT, "tests", "test_fuzz_ext.py")]
    if opts.k:
        args += ["-k", opts.k]
    plugin = Count()
    start = time.monotonic()
    rc = pytest.main(args, plugins=[plugin])
    elapsed = time.monotonic() - start
    print("\nfuzz_long: inputs tried per property")
    for name in sorted(plugin.outcome):
        print(f"  {plugin.inputs.get(name, 0):>8}  {plugin.outcome[name]:<8} {name}")
    total = sum(plugin.inputs.values())
    print(f"fuzz_long: {total} inputs in {len(plugin.outcome)} properties, "
          f"{sum(o == 'failed' for o in plugin.outcome.values())} failed, "
          f"{sum(o == 'skipped' for o in plugin.outcome.values())} skipped, {elapsed:.0f}s")
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
