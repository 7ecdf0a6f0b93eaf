"""The fixtures the tests share (functions and constants are in tests/helpers/)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from helpers.child import Outcome, in_child
from helpers.filter_stacks import NEW, OLD, Target
from helpers.paths import TESTS
from helpers.runc import Container, runc_usable
from hypothesis import settings

# `seccomp-py run` keeps verified programs in $XDG_CACHE_HOME/seccomp-py
# (seccomp_py.progcache): every test process and command gets a fresh one for this
# session, so nothing reads or fills the user's ~/.cache and no test starts warm.
_CACHE_HOME = tempfile.mkdtemp(prefix="seccomp-py-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME
os.environ.pop("SECCOMP_PY_NO_CACHE", None)
atexit.register(shutil.rmtree, _CACHE_HOME, True)


@pytest.fixture
def child() -> Callable[..., Outcome]:
    return in_child


@pytest.fixture
def stacked() -> Iterator[Target]:
    """A ticking process under two stacked filters, OLD then NEW (helpers.filter_stacks)."""
    target = Target({"filters": [OLD, NEW]})
    try:
        yield target
    finally:
        target.close()


@pytest.fixture(params=[True, False], ids=["nnp", "no-nnp"])
def container(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    """A detached runc container under Docker's profile, with noNewPrivileges true and false
    (helpers.runc.Container); skips with the reason where runc cannot run here."""
    reason = runc_usable(tmp_path)
    if reason:
        print(f"SKIP reason: {reason}")
        pytest.skip(reason)
    box = Container(tmp_path, request.param)
    try:
        yield box
    finally:
        box.close()


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
