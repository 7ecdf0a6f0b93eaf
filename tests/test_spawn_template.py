"""SpawnTemplate: a confined fork server whose children inherit the filter."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from seccomp_py import Action, Filter, UnsupportedError
from seccomp_py.spawn import ExecForbiddenError, SpawnTemplate

PY = sys.executable
TIMEOUT = 20


def py(code: str) -> list[str]:
    return [PY, "-I", "-S", "-c", code]


def mkdir_denied() -> Filter:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EXDEV), "mkdir")
    f.add_rule(Action.errno(errno.EXDEV), "mkdirat")
    f.add_rule(Action.KILL_PROCESS, "getppid")
    return f


@pytest.fixture
def template() -> Iterator[SpawnTemplate]:
    with SpawnTemplate(mkdir_denied()) as t:
        yield t


def test_children_are_confined_and_ours(template: SpawnTemplate) -> None:
    code = ("import os\ntry:\n os.mkdir('/tmp')\nexcept OSError as e:\n print(e.errno)\n"
            "print([l for l in open('/proc/self/status') if l.startswith('Seccomp:')][0])")
    p = template.spawn(py(code), stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    assert out.split() == [str(errno.EXDEV).encode(), b"Seccomp:", b"2"]
    killed = template.spawn(py("import os; os.getppid()"))
    assert killed.wait(timeout=TIMEOUT) == -signal.SIGSYS


def test_parent_pid_is_the_caller(template: SpawnTemplate) -> None:
    # CLONE_PARENT: the child is this process's child, not the template's
    # (read from /proc: getppid() is what this filter kills)
    code = "print(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[1])"
    p = template.spawn(py(code), stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=TIMEOUT)
    assert int(out) == os.getpid() != template.pid


def test_stdio_cwd_env_pass_fds(template: SpawnTemplate, tmp_path: os.PathLike[str]) -> None:
    r, w = os.pipe()
    try:
        code = (f"import os, sys\nos.write({w}, b'fd')\n"
                "print(sys.stdin.read().upper(), os.getcwd(), os.environ['SPY_T'])")
        p = template.spawn(py(code), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           cwd=tmp_path, env={"SPY_T": "t"}, pass_fds=[w])
        out, _ = p.communicate(b"abc", timeout=TIMEOUT)
        assert p.returncode == 0
        assert out.split() == [b"ABC", os.fsencode(tmp_path), b"t"]
        assert os.read(r, 10) == b"fd"
    finally:
        os.close(r)
        os.close(w)


def test_errors(template: SpawnTemplate) -> None:
    with pytest.raises(FileNotFoundError):
        template.spawn(["/nonexistent/prog"])
    with pytest.raises(FileNotFoundError):
        template.spawn(["true"], cwd="/nonexistent-dir")
    assert template.spawn(["true"]).wait(timeout=TIMEOUT) == 0  # still serving


def test_inherited_environment_is_the_current_one(template: SpawnTemplate,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # env=None: the child gets this process's environment as it is now (changed
    # after the template started), as subprocess gives it
    monkeypatch.setenv("SPY_LATE", "late value")
    monkeypatch.delenv("SPY_GONE", raising=False)
    code = "import os; print(os.environ.get('SPY_LATE'), os.environ.get('SPY_GONE'))"
    for _ in range(2):
        with template.spawn(py(code), stdout=subprocess.PIPE) as p:
            out, _ = p.communicate(timeout=TIMEOUT)
        assert out == b"late value None\n"
        monkeypatch.setenv("SPY_GONE", "x")
        monkeypatch.delenv("SPY_GONE")
    ok = subprocess.run(py(code), capture_output=True, timeout=TIMEOUT).stdout
    assert ok == out


def test_request_too_large(template: SpawnTemplate, monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * (2 << 20)
    with pytest.raises(OSError) as info:
        template.spawn(["true", big])
    assert info.value.errno == errno.E2BIG
    monkeypatch.setenv("SPY_BIG", big)  # too large only with the inherited environment
    with pytest.raises(OSError) as info:
        template.spawn(["true"])
    assert info.value.errno == errno.E2BIG
    monkeypatch.delenv("SPY_BIG")
    assert template.spawn(["true"]).wait(timeout=TIMEOUT) == 0  # still serving


def test_refused_filters() -> None:
    n = Filter(Action.ALLOW)
    n.add_rule(Action.NOTIFY, "acct")
    with pytest.raises(UnsupportedError):
        SpawnTemplate(n)
    f = Filter(Action.ALLOW)
    f.add_rule(Action.KILL_PROCESS, "clone")
    with pytest.raises(ExecForbiddenError) as info:
        SpawnTemplate(f)
    assert info.value.syscall == "clone"


def test_closed_template_and_no_leaks() -> None:
    before = set(os.listdir("/proc/self/fd"))
    t = SpawnTemplate(mkdir_denied())
    pid = t.pid
    for _ in range(50):
        with t.spawn(["/bin/true"], stdout=subprocess.PIPE) as p:
            p.communicate(timeout=TIMEOUT)
    t.close()
    t.close()
    assert t.closed and t.pid == -1
    with pytest.raises(ValueError):
        t.spawn(["true"])
    assert not os.path.exists(f"/proc/{pid}")  # the template exited and was reaped
    assert set(os.listdir("/proc/self/fd")) == before


def test_threads_share_a_template(template: SpawnTemplate) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            rc = template.spawn(["/bin/true"]).wait(timeout=TIMEOUT)
            with lock:
                results.append(rc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [0] * 40


def test_template_outlives_the_thread_that_created_it() -> None:
    made: list[SpawnTemplate] = []
    t = threading.Thread(target=lambda: made.append(SpawnTemplate(mkdir_denied())))
    t.start()
    t.join(TIMEOUT)
    with made[0] as template:
        assert template.spawn(["/bin/true"]).wait(timeout=TIMEOUT) == 0


def test_template_exits_when_parent_goes_away() -> None:
    code = (f"import sys; sys.path[:0] = {sys.path!r}\n"
            "from seccomp_py import Filter, Action\n"
            "from seccomp_py.spawn import SpawnTemplate\n"
            "t = SpawnTemplate(Filter(Action.ALLOW)); print(t.pid, flush=True)\n"
            "import os; os._exit(0)")
    out = subprocess.run([PY, "-c", code], capture_output=True, timeout=TIMEOUT,
                         check=True).stdout
    pid = int(out)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # exited; reparented and awaiting its reaper
            return
        time.sleep(0.05)
    raise AssertionError(f"template {pid} still running after its parent exited")
