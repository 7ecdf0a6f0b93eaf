"""A fast variant of scripts/leak_filters.py: 5,000 create/add/export/close
cycles (with merge, reset and error paths) must leave RSS and fds flat."""

from __future__ import annotations

import importlib.util
import os

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "scripts", "leak_filters.py")


@pytest.mark.timeout(120)
def test_filter_cycles_do_not_leak() -> None:
    spec = importlib.util.spec_from_file_location("leak_filters", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(5000, warmup=1000)
    assert r.fds1 == r.fds0
    # ~100 bytes per cycle would show in RSS; the C heap is counted byte-exact
    # (mallinfo2), so even one leaked empty libseccomp context per cycle shows
    assert r.rss1 - r.rss0 < 512, r
    if r.heap0 >= 0:
        assert r.heap1 - r.heap0 < 5000 * 8, r
