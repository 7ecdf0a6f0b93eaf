"""Programs written for libseccomp's official module run unchanged on compat.

Each script in tests/compat_scripts/ does ``import seccomp``, forks workers,
loads filters in them and checks what the kernel did (errno, SIGSYS, values
returned by a notification supervisor); it exits 0 only if everything matched.
It runs under ``python -m seccomp_py.compat --force`` (so ``import seccomp`` is
compat) and, where the official module is installed, under plain Python too:
both runs must print the same results.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.official import OFFICIAL
from helpers.paths import REPO, TESTS

SCRIPTS = os.path.join(TESTS, "compat_scripts")
NAMES = sorted(n for n in os.listdir(SCRIPTS) if n.endswith(".py"))


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=90,
                          cwd=REPO)


@pytest.mark.parametrize("name", NAMES)
def test_script_runs_unchanged_on_compat(name: str) -> None:
    script = os.path.join(SCRIPTS, name)
    mine = _run("-m", "seccomp_py.compat", "--force", script)
    assert mine.returncode == 0, mine.stdout + mine.stderr
    lines = mine.stdout.splitlines()
    assert lines[0] == "seccomp_py.compat"
    if OFFICIAL is None:
        pytest.skip("official module absent: compat run checked, comparison skipped")
    official = _run(script)
    assert official.returncode == 0, official.stdout + official.stderr
    assert official.stdout.splitlines()[0] == "seccomp"
    assert official.stdout.splitlines()[1:] == lines[1:]


def test_there_are_scripts() -> None:
    assert {"allowlist_sandbox.py", "argument_rules.py", "notify_supervisor.py"} <= set(NAMES)
