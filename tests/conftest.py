"""The fixtures the tests share (functions and constants are in tests/helpers/)."""

from __future__ import annotations

import os
from typing import Callable

import pytest
from helpers.child import Outcome, in_child
from helpers.paths import TESTS
from hypothesis import settings


@pytest.fixture
def child() -> Callable[..., Outcome]:
    return in_child


@pytest.fixture(scope="session")
def c_helpers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Compile every tests/helpers/*.c with gcc once per session: {stem: executable}."""
    import glob
    import shutil
    import subprocess

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("the C test helpers need gcc (apt-get install gcc)")
    out = tmp_path_factory.mktemp("c_helpers")
    built = {}
    for source in sorted(glob.glob(os.path.join(TESTS, "helpers", "*.c"))):
        stem = os.path.splitext(os.path.basename(source))[0]
        exe = str(out / stem)
        subprocess.run(
            [gcc, "-O2", "-Wall", "-o", exe, source, "-lseccomp"],
            check=True,
            timeout=120,
        )
        built[stem] = exe
    return built


# Hypothesis: in CI (CI=true) the examples are derandomized, so a run of the suite is
# repeatable; the long randomized runs live in scripts/*_long.py.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
