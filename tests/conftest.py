"""Shared test helpers.

A loaded seccomp filter is permanent for the process, so every enforcement
test runs the filtered code in a forked child (``in_child``) and asserts on
what the kernel did: the exit status, the signal, or a value the child sent
back through a pipe.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pickle
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any, Callable

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
#: The profiles shipped in the package (Docker's and Podman's defaults).
PROFILES = os.path.join(REPO, "seccomp_py", "profiles")

# `seccomp-py run` keeps verified programs in $XDG_CACHE_HOME/seccomp-py
# (seccomp_py.progcache): every test process and command gets a fresh one for this
# session, so nothing reads or fills the user's ~/.cache and no test starts warm.
_CACHE_HOME = tempfile.mkdtemp(prefix="seccomp-py-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME
os.environ.pop("SECCOMP_PY_NO_CACHE", None)
atexit.register(shutil.rmtree, _CACHE_HOME, True)


@dataclasses.dataclass
class Outcome:
    """What happened to a forked child."""

    exitcode: int | None  # set when the child exited
    signal: int | None  # set when the child was killed by a signal
    value: Any = None  # what the function returned, when it could send it
    error: str | None = None  # the exception the child raised, as text

    @property
    def killed_by_sigsys(self) -> bool:
        return self.signal == signal.SIGSYS


def in_child(func: Callable[..., Any], *args: Any, timeout: float = 20.0) -> Outcome:
    """Run ``func(*args)`` in a forked child and report what happened.

    The child pickles the return value (or the exception text) to a pipe
    before it exits with status 0 (or 1).  If the filter forbids the write,
    only the exit status or signal comes back.  The child is killed after
    ``timeout`` seconds and the test fails.
    """
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        status = 0
        try:
            os.close(rfd)
            try:
                payload = pickle.dumps(("ok", func(*args)))
            except BaseException as exc:
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
                status = 1
            view = memoryview(payload)
            while view:
                view = view[os.write(wfd, view):]
        finally:
            os._exit(status)
    os.close(wfd)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"child {pid} did not finish within {timeout}s")
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
    _, status = os.waitpid(pid, 0)
    outcome = Outcome(
        exitcode=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
    )
    data = b"".join(chunks)
    if data:
        try:
            kind, value = pickle.loads(data)
        except Exception:  # a partial write: the filter stopped the child mid-way
            return outcome
        if kind == "ok":
            outcome.value = value
        else:
            outcome.error = value
    return outcome


def errno_of(call: Callable[[], Any]) -> int:
    """0 if ``call()`` succeeds, else the errno of the OSError it raised."""
    try:
        call()
    except OSError as exc:
        return exc.errno or -1
    return 0


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
    for source in sorted(glob.glob(os.path.join(HERE, "helpers", "*.c"))):
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
try:
    from hypothesis import settings as _hsettings

    _hsettings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    if os.environ.get("CI"):
        _hsettings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
