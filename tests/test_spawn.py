"""seccomp_py.spawn: children under a filter, asserted on what the kernel did.

spawn() never loads a filter into the test process: every filter here is
enforced in a spawned child, and each test bounds its waits with a timeout.
"""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import pytest

from seccomp_py import Action, Attribute, Filter, FilterClosedError, SeccompError
from seccomp_py._native import ffi, lib
from seccomp_py.spawn import ExecForbiddenError, SeccompPopen, spawn

PY = sys.executable
TIMEOUT = 20


def py(code: str) -> list[str]:
    return [PY, "-I", "-S", "-c", code]


def allow_all() -> Filter:
    return Filter(Action.ALLOW)


def run(proc: SeccompPopen, stdin: bytes | None = None) -> tuple[bytes, bytes]:
    try:
        out, err = proc.communicate(stdin, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the spawned child did not finish in time")
    return out or b"", err or b""


# -- enforcement ---------------------------------------------------------------------


def test_child_killed_on_forbidden_syscall() -> None:
    f = allow_all()
    f.add_rule(Action.KILL_PROCESS, "mkdir")
    f.add_rule(Action.KILL_PROCESS, "mkdirat")
    p = spawn(py("import os; os.mkdir('/nonexistent-dir/x'); print('survived')"), f,
              stdout=subprocess.PIPE)
    out, _ = run(p)
    assert p.returncode == -signal.SIGSYS
    assert b"survived" not in out


def test_child_sees_chosen_errno() -> None:
    f = allow_all()
    f.add_rule(Action.errno(errno.EXDEV), "mkdir")
    f.add_rule(Action.errno(errno.EXDEV), "mkdirat")
    code = ("import os\ntry:\n os.mkdir('/tmp')\nexcept OSError as e:\n print(e.errno)")
    p = spawn(py(code), f, stdout=subprocess.PIPE)
    out, _ = run(p)
    assert p.returncode == 0
    assert out.strip() == str(errno.EXDEV).encode()


def test_filter_spawn_method_and_parent_unconfined(tmp_path: os.PathLike[str]) -> None:
    f = allow_all()
    f.add_rule(Action.errno(errno.EPERM), "mkdir")
    f.add_rule(Action.errno(errno.EPERM), "mkdirat")
    target = os.path.join(os.fspath(tmp_path), "d")
    with f.spawn(["mkdir", target], stderr=subprocess.DEVNULL) as p:
        assert p.wait(timeout=TIMEOUT) != 0
    assert not os.path.exists(target)
    os.mkdir(target)  # the parent is not confined
    assert os.path.isdir(target)


def test_no_new_privs_set_by_default_and_can_be_off() -> None:
    code = "print([l for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0])"
    f = allow_all()
    out, _ = run(spawn(py(code), f, stdout=subprocess.PIPE))
    assert out.split() == [b"NoNewPrivs:", b"1"]
    if os.geteuid() != 0:
        pytest.skip("loading without no_new_privs needs CAP_SYS_ADMIN")
    f.set_attribute(Attribute.NO_NEW_PRIVILEGES, False)
    out, _ = run(spawn(py(code), f, stdout=subprocess.PIPE))
    assert out.split() == [b"NoNewPrivs:", b"0"]


def test_child_has_seccomp_mode_filter() -> None:
    code = "print([l for l in open('/proc/self/status') if l.startswith('Seccomp:')][0])"
    out, _ = run(spawn(py(code), allow_all(), stdout=subprocess.PIPE))
    assert out.split() == [b"Seccomp:", b"2"]


def test_changed_filter_is_recompiled() -> None:
    f = allow_all()
    code = "import os; print(os.getppid() > 0)"
    p = spawn(py(code), f, stdout=subprocess.PIPE)
    assert run(p)[0].strip() == b"True"
    f.add_rule(Action.KILL_PROCESS, "getppid")
    p = spawn(py(code), f, stdout=subprocess.PIPE)
    run(p)
    assert p.returncode == -signal.SIGSYS


# -- subprocess behaviour -------------------------------------------------------------


def test_pipes_text_env_cwd(tmp_path: os.PathLike[str]) -> None:
    code = ("import os, sys; data = sys.stdin.read(); "
            "print(data.upper(), os.environ.get('SPY_X'), os.getcwd()); "
            "print('err', file=sys.stderr)")
    p = spawn(py(code), allow_all(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT, env={"SPY_X": "42"}, cwd=tmp_path, text=True)
    out, _ = p.communicate("hello", timeout=TIMEOUT)
    assert p.returncode == 0
    assert sorted(out.split()) == sorted(["HELLO", "42", os.fspath(tmp_path), "err"])


def test_devnull_and_fd_targets(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(os.fspath(tmp_path), "out")
    with open(path, "wb") as fh:
        p = spawn(["sh", "-c", "read x; echo got:$x; echo e >&2"], allow_all(),
                  stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.DEVNULL)
        assert p.wait(timeout=TIMEOUT) == 0
    with open(path, "rb") as fh:
        assert fh.read() == b"got:\n"


def test_pass_fds_and_close_fds() -> None:
    r, w = os.pipe()
    r2, w2 = os.pipe()
    try:
        code = (f"import os\nos.write({w}, b'ok')\n"
                f"try:\n os.write({w2}, b'x')\nexcept OSError as e:\n print(e.errno)")
        p = spawn(py(code), allow_all(), pass_fds=[w], stdout=subprocess.PIPE)
        out, _ = run(p)
        assert p.returncode == 0
        assert os.read(r, 10) == b"ok"
        assert out.strip() == str(errno.EBADF).encode()
    finally:
        for fd in (r, w, r2, w2):
            os.close(fd)


def test_signals_and_context_manager() -> None:
    with spawn(["sleep", "30"], allow_all()) as p:
        assert p.poll() is None
        p.terminate()
        assert p.wait(timeout=TIMEOUT) == -signal.SIGTERM
    with spawn(["sleep", "30"], allow_all()) as p:
        p.send_signal(signal.SIGKILL)
        assert p.wait(timeout=TIMEOUT) == -signal.SIGKILL


def _sig_ignored(proc: SeccompPopen) -> int:
    out, _ = run(proc)
    line = next(x for x in out.splitlines() if x.startswith(b"SigIgn:"))
    return int(line.split()[1], 16)


def test_restore_signals() -> None:
    # Python ignores SIGPIPE; like subprocess, the child gets it back unless asked not to.
    bit = 1 << (signal.SIGPIPE - 1)
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    cat = ["cat", "/proc/self/status"]
    assert not _sig_ignored(spawn(cat, allow_all(), stdout=subprocess.PIPE)) & bit
    kept = spawn(cat, allow_all(), stdout=subprocess.PIPE, restore_signals=False)
    assert _sig_ignored(kept) & bit


def test_shell_and_path_search() -> None:
    p = spawn("echo $((6*7))", allow_all(), shell=True, stdout=subprocess.PIPE)
    assert run(p)[0] == b"42\n"
    p = spawn(["true"], allow_all(), env={"PATH": "/nonexistent:/usr/bin:/bin"})
    assert p.wait(timeout=TIMEOUT) == 0


# -- clear errors -----------------------------------------------------------------------


def test_missing_program() -> None:
    with pytest.raises(FileNotFoundError) as info:
        spawn(["/nonexistent/program"], allow_all())
    assert info.value.filename == "/nonexistent/program"
    with pytest.raises(FileNotFoundError):
        spawn(["spy-no-such-program-anywhere"], allow_all())


def test_program_not_executable(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(os.fspath(tmp_path), "script")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n")
    os.chmod(path, 0o644)  # no x bit: EACCES, even for root
    with pytest.raises(PermissionError):
        spawn([path], allow_all())


def test_missing_cwd() -> None:
    with pytest.raises(FileNotFoundError) as info:
        spawn(["true"], allow_all(), cwd="/nonexistent-cwd")
    assert info.value.filename == "/nonexistent-cwd"


@pytest.mark.parametrize("action", [Action.KILL_PROCESS, Action.errno(errno.EACCES),
                                    Action.TRAP, Action.NOTIFY])
def test_policy_forbids_execve(action: Action) -> None:
    f = allow_all()
    f.add_rule(action, "execve")
    with pytest.raises(ExecForbiddenError) as info:
        spawn(["true"], f)
    exc = info.value
    assert isinstance(exc, SeccompError) and isinstance(exc, PermissionError)
    assert exc.syscall == "execve"
    assert exc.action == action
    assert "allow execve" in str(exc)
    again = pickle.loads(pickle.dumps(exc))
    assert (again.syscall, again.action, again.errno) == ("execve", action, exc.errno)


def test_default_deny_without_execve() -> None:
    f = Filter(Action.KILL_PROCESS)
    f.add_rule(Action.ALLOW, "exit_group")
    with pytest.raises(ExecForbiddenError, match="KILL_PROCESS"):
        spawn(["true"], f)


def test_closed_filter() -> None:
    f = allow_all()
    spawn(["true"], f).wait(timeout=TIMEOUT)  # compiled and cached
    f.close()
    with pytest.raises(FilterClosedError):
        spawn(["true"], f)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        spawn(["true"], "not a filter")
    with pytest.raises(ValueError, match="preexec_fn"):
        spawn(["true"], allow_all(), preexec_fn=lambda: None)
    with pytest.raises(ValueError, match="rlimits"):
        spawn(["true"], allow_all(), rlimits={"RLIMIT_NOFILE": (2, 1)})
    with pytest.raises(ValueError, match="null byte"):
        spawn(["tr\0ue"], allow_all())
    with pytest.raises(ValueError):
        spawn([], allow_all())


def test_seccomp_flag_refused_reports_errno() -> None:
    # Without no_new_privs a non-root caller gets EACCES from seccomp(2) in the child.
    if os.geteuid() == 0:
        pytest.skip("root has CAP_SYS_ADMIN: loading without no_new_privs succeeds")
    f = allow_all()
    f.set_attribute(Attribute.NO_NEW_PRIVILEGES, False)
    with pytest.raises(SeccompError) as info:
        spawn(["true"], f)
    assert info.value.errno == errno.EACCES and info.value.func == "seccomp"


# -- the BPF evaluator agrees with the kernel -------------------------------------------


def test_preflight_evaluator_matches_filter_decisions() -> None:
    from seccomp_py._spawn_plan import plan_for as _plan_for
    from seccomp_py.spawn import _NR_EXECVE

    f = allow_all()
    f.add_rule(Action.errno(7), "getppid")
    plan = _plan_for(f)
    nr = lib.seccomp_syscall_resolve_name(b"getppid")
    assert plan.evaluate(nr, []) == Action.errno(7)
    assert plan.evaluate(_NR_EXECVE, [1, 2, 3]) == Action.ALLOW
    assert not plan.has_notify
    bad = ffi.new("char[]", b"\x00" * 8)  # one "LD IMM" and no return
    res = ffi.new("uint32_t *")
    assert lib.spy_bpf_eval(bad, 1, 0, 0, 0, ffi.new("uint64_t[6]"), res) == -errno.EINVAL


# -- threads and fds ----------------------------------------------------------------------


def test_200_spawns_with_8_busy_threads() -> None:
    stop = threading.Event()
    lock = threading.Lock()
    counter = [0]

    def busy() -> None:
        while not stop.is_set():
            junk = [dict(a=i, b=str(i)) for i in range(200)]
            with lock:
                counter[0] += len(junk)

    f = allow_all()
    f.add_rule(Action.errno(errno.EPERM), "mkdir")
    results: list[int] = []
    errors: list[BaseException] = []

    def spawner() -> None:
        try:
            for _ in range(200):
                results.append(spawn(["/bin/true"], f).wait(timeout=TIMEOUT))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=busy, daemon=True) for _ in range(8)]
    for t in workers:
        t.start()
    main = threading.Thread(target=spawner, daemon=True)
    main.start()
    main.join(120)
    stop.set()
    for t in workers:
        t.join(10)
    assert not main.is_alive(), "spawning deadlocked"
    assert not errors, errors
    assert results == [0] * 200
    assert counter[0] > 0


def _open_fds() -> set[int]:
    return {int(x) for x in os.listdir("/proc/self/fd")}


def test_no_fd_leak_after_500_spawns() -> None:
    f = allow_all()
    f.add_rule(Action.errno(errno.EPERM), "mkdir")
    n = Filter(Action.ALLOW)
    n.add_rule(Action.NOTIFY, "acct")  # never made by /bin/true
    forbidden = allow_all()
    forbidden.add_rule(Action.KILL_PROCESS, "execve")
    spawn(["/bin/true"], f).wait(timeout=TIMEOUT)  # warm up caches
    before = _open_fds()
    deadline = time.monotonic() + 120
    for i in range(500):
        assert time.monotonic() < deadline, "500 spawns took too long"
        kind = i % 5
        if kind == 0:
            with spawn(["/bin/true"], f, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
                p.communicate(timeout=TIMEOUT)
        elif kind == 1:
            with spawn(["/bin/true"], n) as p:
                assert p.listener_fd >= 0
                p.wait(timeout=TIMEOUT)
        elif kind == 2:
            with pytest.raises(FileNotFoundError):
                spawn(["/nonexistent"], f, stdin=subprocess.PIPE)
        elif kind == 3:
            with pytest.raises(ExecForbiddenError):
                spawn(["/bin/true"], forbidden, stdout=subprocess.PIPE)
        else:
            assert spawn(["/bin/true"], f, stdin=subprocess.DEVNULL).wait(timeout=TIMEOUT) == 0
    assert _open_fds() == before



def test_compiled_plan_is_cached_per_generation() -> None:
    from seccomp_py._spawn_plan import plan_for as _plan_for

    f = allow_all()
    f.add_rule(Action.errno(1), "acct")
    first = _plan_for(f)
    assert _plan_for(f) is first  # reused: no recompilation per spawn
    f.add_rule(Action.errno(2), "syslog")
    second = _plan_for(f)
    assert second is not first and second.bpf != first.bpf
    f.set_attribute(Attribute.LOG, True)
    third = _plan_for(f)
    assert third is not second and third.flags & 2  # SECCOMP_FILTER_FLAG_LOG
