"""SeccompPopen behaves as subprocess.Popen does: each case runs the same child
under both and compares what the caller sees (seccomp_py/_process.py)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import warnings
from typing import Any

import pytest

from seccomp_py import Action, Filter
from seccomp_py.spawn import SeccompPopen, spawn

PY = sys.executable
TIMEOUT = 20


def py(code: str) -> list[str]:
    return [PY, "-I", "-S", "-c", code]


def both(args: Any, **kw: Any) -> list[Any]:
    """The same child started by subprocess.Popen and by spawn (under ALLOW)."""
    return [subprocess.Popen(args, **kw), spawn(args, Filter(Action.ALLOW), **kw)]


def finish(p: Any) -> None:
    if p.poll() is None:
        p.kill()
    p.communicate(timeout=TIMEOUT)


ECHO = "import sys; data = sys.stdin.buffer.read(); sys.stdout.buffer.write(data)"


@pytest.mark.parametrize("kw", [
    {},
    {"text": True},
    {"universal_newlines": True},
    {"encoding": "latin-1"},
    {"errors": "replace"},
    {"text": True, "bufsize": 1},
    {"bufsize": 0},
])
def test_communicate_binary_and_text(kw: dict[str, Any]) -> None:
    text = bool({"text", "universal_newlines", "encoding", "errors"} & set(kw))
    given: Any = "a\r\nb\rc\n\xe9\n" if text else b"a\r\nb\rc\n\xe9\xff\n"
    seen = []
    for p in both(py(ECHO), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, **kw):
        assert bool(p.text_mode) == text
        out, err = p.communicate(given, timeout=TIMEOUT)
        seen.append((out, err, p.returncode, type(p.stdin).__name__,
                     type(p.stdout).__name__, p.args))
    assert seen[0] == seen[1]


def test_single_stream_fast_path_and_merged_stderr() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    results = []
    for p in both(py(code), stdout=subprocess.PIPE, stderr=subprocess.STDOUT):
        results.append((*p.communicate(), p.returncode))
    assert results[0] == results[1]
    assert sorted(results[0][0].split()) == [b"err", b"out"] and results[0][2] == 3


def test_communicate_timeout_keeps_partial_output_and_resumes() -> None:
    results = []
    for starter in (subprocess.Popen, _spawn_allow):
        r, w = os.pipe()
        try:
            code = f"import os; print('first', flush=True); os.read({r}, 1); print('second')"
            p = starter(py(code), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        pass_fds=[r])
            partial = None
            deadline = time.monotonic() + TIMEOUT
            while partial != b"first\n" and time.monotonic() < deadline:
                with pytest.raises(subprocess.TimeoutExpired) as info:
                    p.communicate(timeout=0.1)  # the child waits for the pipe
                partial = info.value.output
            os.write(w, b"x")
            out, err = p.communicate(timeout=TIMEOUT)
            results.append((partial, out, err, p.returncode))
        finally:
            os.close(r)
            os.close(w)
    assert results[0] == results[1] == (b"first\n", b"first\nsecond\n", None, 0)


def test_wait_timeout_poll_and_signals() -> None:
    codes = []
    for p in both(["sleep", "30"]):
        assert p.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.05)
        p.send_signal(signal.SIGUSR1)
        assert p.wait(timeout=TIMEOUT) == -signal.SIGUSR1
        p.kill()  # reaped: nothing is sent (the pid may be reused)
        p.terminate()
        codes.append((p.poll(), p.returncode))
    assert codes[0] == codes[1] == (-signal.SIGUSR1, -signal.SIGUSR1)


def test_context_manager_closes_pipes_and_waits() -> None:
    states = []
    for p in both(py("pass"), stdin=subprocess.PIPE, stdout=subprocess.PIPE):
        with p:
            pass
        states.append((p.returncode, p.stdin.closed, p.stdout.closed))
    assert states[0] == states[1] == (0, True, True)


def test_file_and_fd_targets(tmp_path: Any) -> None:
    contents = []
    starters: tuple[Any, ...] = (subprocess.Popen, _spawn_allow)
    for i, starter in enumerate(starters):
        path = os.path.join(os.fspath(tmp_path), f"out{i}")
        with open(path, "wb") as fh:
            p = starter(py("import sys; print('hi'); print('e', file=sys.stderr)"),
                        stdout=fh, stderr=fh.fileno(), stdin=subprocess.DEVNULL)
            assert p.wait(timeout=TIMEOUT) == 0
        with open(path, "rb") as fh:
            contents.append(sorted(fh.read().split()))
    assert contents[0] == contents[1] == [b"e", b"hi"]


def _spawn_allow(args: Any, **kw: Any) -> Any:
    return spawn(args, Filter(Action.ALLOW), **kw)


@pytest.mark.parametrize("kw, error", [
    ({"text": True, "universal_newlines": False}, subprocess.SubprocessError),
    ({"startupinfo": object()}, ValueError),
    ({"creationflags": 1}, ValueError),
    ({"bufsize": "1"}, TypeError),
    ({"no_such_option": 1}, TypeError),
])
def test_option_errors_as_subprocess(kw: dict[str, Any], error: type[Exception]) -> None:
    for starter in (subprocess.Popen, _spawn_allow):
        with pytest.raises(error):
            starter(["true"], **kw)


def test_pass_fds_overrides_close_fds_with_a_warning() -> None:
    r, w = os.pipe()
    try:
        for starter in (subprocess.Popen, _spawn_allow):
            with pytest.warns(RuntimeWarning, match="pass_fds overriding close_fds"):
                p = starter(["true"], pass_fds=[w], close_fds=False)
            assert p.wait(timeout=TIMEOUT) == 0
    finally:
        os.close(r)
        os.close(w)


def test_process_group_on_every_python() -> None:
    p = spawn(py("import os; print(os.getpgid(0) == os.getpid())"), Filter(Action.ALLOW),
              stdout=subprocess.PIPE, process_group=0)
    assert p.communicate(timeout=TIMEOUT)[0] == b"True\n"


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return False


def test_collected_running_child_warns_and_is_reaped_later() -> None:
    r, w = os.pipe()
    try:
        p = spawn(["sh", "-c", "read x"], Filter(Action.ALLOW), stdin=r)
        pid = p.pid
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del p
            gc.collect()
        assert any(issubclass(c.category, ResourceWarning) and str(pid) in str(c.message)
                   for c in caught)
        os.write(w, b"\n")  # the child exits now, unwaited
        deadline = time.monotonic() + TIMEOUT
        while not _zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _zombie(pid)
        spawn(["true"], Filter(Action.ALLOW)).wait(timeout=TIMEOUT)  # reaps it
        assert not _zombie(pid)
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    finally:
        os.close(r)
        os.close(w)


def test_repr_and_attributes() -> None:
    p = spawn(["true"], Filter(Action.ALLOW))
    p.wait(timeout=TIMEOUT)
    assert repr(p).startswith("<SeccompPopen: returncode: 0 args: ['true']")
    assert p.args == ["true"] and p.stdin is None and p.universal_newlines is False
    assert SeccompPopen[bytes].__origin__ is SeccompPopen  # type: ignore[misc]  # as Popen[bytes]


def test_child_reaped_elsewhere() -> None:
    # like subprocess: the status is lost, returncode 0
    codes = []
    for p in both(["sh", "-c", "exit 5"]):
        os.waitpid(p.pid, 0)
        codes.append(p.wait(timeout=TIMEOUT))
    assert codes == [0, 0]


def test_no_private_subprocess_internals() -> None:
    # issue 16: nothing in the package leans on Popen's private methods or state,
    # which change between CPython releases
    import pathlib

    import seccomp_py
    from seccomp_py.spawn import SeccompPopen

    assert not issubclass(SeccompPopen, subprocess.Popen)
    privates = ("_execute_child", "_close_pipe_fds", "_child_created", "_waitpid_lock",
                "_get_handles", "_posixsubprocess", "Popen._")
    root = pathlib.Path(seccomp_py.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert not [p for p in privates if p in text], path
