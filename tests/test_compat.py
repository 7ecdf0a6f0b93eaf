"""seccomp_py.compat: the official module's API surface, its constants, the bugs
it fixes, exports to file objects, notifications and install()."""

from __future__ import annotations

import ctypes
import errno
import io
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from typing import Any

import pytest
from helpers.official import OFFICIAL, needs_official
from helpers.paths import REPO
from helpers.syscalls import errno_of
from hypothesis import given, settings
from hypothesis import strategies as st

import seccomp_py.compat as compat
from seccomp_py import Filter, SeccompError, features
from seccomp_py.errors import InvalidArgumentError, UnknownSyscallError

# -- API surface and constants ---------------------------------------------------------


def _public(obj: Any) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


@needs_official
def test_every_official_name_exists_with_the_same_value() -> None:
    for name in _public(OFFICIAL) - {"errno"}:
        assert hasattr(compat, name), name
        value = getattr(OFFICIAL, name)
        if isinstance(value, int):
            assert getattr(compat, name) == value, name
    for klass in ("Arch", "Attr"):
        for name, value in vars(getattr(OFFICIAL, klass)).items():
            if isinstance(value, int) and not name.startswith("_"):
                assert getattr(getattr(compat, klass), name) == value, (klass, name)


@needs_official
def test_star_import_gives_every_official_name() -> None:
    official: dict[str, Any] = {}
    mine: dict[str, Any] = {}
    exec("from seccomp import *", {"__builtins__": __builtins__}, official)
    code = "from seccomp_py.compat import *"
    exec(code, {"__builtins__": __builtins__}, mine)
    assert set(official) <= set(mine)
    assert mine["errno"] is errno


def test_set_api_roundtrip(child: Any) -> None:
    def run() -> tuple[int, int]:
        level = compat.get_api()
        compat.set_api(level)
        return level, compat.get_api()

    level, again = child(run).value
    assert level == again >= 1


@needs_official
@pytest.mark.parametrize("klass", ["SyscallFilter", "Notification", "NotificationResponse"])
def test_every_official_method_and_property_exists(klass: str) -> None:
    missing = _public(getattr(OFFICIAL, klass)) - _public(getattr(compat, klass))
    assert not missing


@needs_official
@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1))
def test_errno_and_trace_values_match(value: int) -> None:
    assert compat.ERRNO(value) == OFFICIAL.ERRNO(value)
    assert compat.TRACE(value) == OFFICIAL.TRACE(value)


@needs_official
@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["X86_64", "X86", "X32", "AARCH64", "ARM", "MIPSEL", "PPC64LE",
                        "S390X", "RISCV64"]),
       st.one_of(st.integers(0, 470), st.sampled_from(["read", "socket", "shmget", "open",
                                                       "nosuch", "ipc", "socketcall"])))
def test_resolve_syscall_matches(arch: str, syscall: Any) -> None:
    token = getattr(OFFICIAL.Arch, arch)
    try:
        expected = OFFICIAL.resolve_syscall(token, syscall)
    except ValueError:
        with pytest.raises(ValueError) as info:
            compat.resolve_syscall(token, syscall)
        assert isinstance(info.value, UnknownSyscallError)
        return
    assert compat.resolve_syscall(token, syscall) == expected
    assert compat.resolve_syscall(compat.Arch(token), syscall) == expected
    assert compat.resolve_syscall(token & 0xFFFFFFFF, syscall) == expected


@needs_official
def test_module_functions_match() -> None:
    assert compat.system_arch() == OFFICIAL.system_arch()
    assert compat.get_api() == OFFICIAL.get_api()
    assert int(compat.Arch()) == int(OFFICIAL.Arch())
    assert int(compat.Arch("x86")) == int(OFFICIAL.Arch("x86"))
    assert int(compat.Arch(compat.Arch.AARCH64)) == int(OFFICIAL.Arch(OFFICIAL.Arch.AARCH64))
    assert compat.c_str("read") == OFFICIAL.c_str("read")


def test_arch_objects() -> None:
    native = compat.Arch()
    assert int(native) == compat.Arch.X86_64 or native.name != "x86_64"
    assert compat.Arch(compat.system_arch()) == native  # unsigned tokens accepted
    assert compat.Arch("x86") == compat.Arch.X86
    with pytest.raises(ValueError):
        compat.Arch("vax")
    with pytest.raises(TypeError):
        compat.Arch(b"x86")  # type: ignore[arg-type]


def test_get_attr_returns_official_unsigned_values() -> None:
    f = compat.SyscallFilter(compat.KILL_PROCESS)
    assert f.get_attr(compat.Attr.ACT_DEFAULT) == 0x80000000
    assert f.get_attr(compat.Attr.ACT_BADARCH) == compat.KILL  # libseccomp default
    assert f.get_attr(compat.Attr.CTL_NNP) == 1
    assert f.get_attr(compat.Attr.CTL_OPTIMIZE) == 1
    f.set_attr(compat.Attr.CTL_NNP, 2)  # any non-zero is true, as in libseccomp
    assert f.get_attr(compat.Attr.CTL_NNP) == 1
    f.set_attr(compat.Attr.ACT_BADARCH, compat.ERRNO(3))
    assert f.get_attr(compat.Attr.ACT_BADARCH) == 0x50003


def test_api_sysrawrc_is_reported_as_set_but_errors_always_carry_errno() -> None:
    f = compat.SyscallFilter(compat.ALLOW)
    assert f.get_attr(compat.Attr.API_SYSRAWRC) == 0
    f.set_attr(compat.Attr.API_SYSRAWRC, 1)
    assert f.get_attr(compat.Attr.API_SYSRAWRC) == 1
    assert f.filter.return_system_return_codes is True


def test_waitkill_attribute_gated_on_the_library() -> None:
    f = compat.SyscallFilter(compat.ALLOW)
    if features.HAS_WAIT_KILL:
        f.set_attr(compat.Attr.CTL_WAITKILL, 1)
        assert f.get_attr(compat.Attr.CTL_WAITKILL) == 1
    else:
        with pytest.raises(ValueError, match=r"2\.6"):
            f.set_attr(compat.Attr.CTL_WAITKILL, 1)


# -- exceptions ---------------------------------------------------------------------------


def test_library_errors_are_runtime_errors_with_errno_and_function() -> None:
    f = compat.SyscallFilter(compat.KILL)
    with pytest.raises(RuntimeError) as info:
        f.add_rule(compat.KILL, "read")
    exc = info.value
    assert isinstance(exc, SeccompError) and isinstance(exc, OSError)
    assert exc.errno == errno.EACCES and exc.func == "seccomp_rule_add_array"
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc) and clone.errno == errno.EACCES


def test_einval_is_value_error_and_runtime_error() -> None:
    f = compat.SyscallFilter(compat.KILL)
    with pytest.raises(ValueError) as info:
        f.add_rule(compat.ALLOW, "read", compat.Arg(0, compat.EQ, 1), compat.Arg(0, compat.EQ, 2))
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, InvalidArgumentError)
    assert info.value.errno == errno.EINVAL


def test_unknown_syscall_name_fails_closed_even_with_api_tskip() -> None:
    """The official module resolves an unknown name to -1; with API_TSKIP set that
    silently adds a rule for syscall -1.  compat raises."""
    f = compat.SyscallFilter(compat.KILL)
    f.set_attr(compat.Attr.API_TSKIP, 1)
    with pytest.raises(RuntimeError) as info:
        f.add_rule(compat.ALLOW, "no_such_syscall")
    assert isinstance(info.value, UnknownSyscallError)
    assert compat.resolve_syscall(compat.Arch(), "no_such_syscall") == -1  # official result


def test_arg_validation_matches_c_types() -> None:
    with pytest.raises(OverflowError):
        compat.Arg(0, compat.EQ, -1)
    with pytest.raises(OverflowError):
        compat.Arg(-1, compat.EQ, 1)
    with pytest.raises(TypeError):
        compat.Arg(0, compat.EQ, "1")  # type: ignore[arg-type]
    big = compat.Arg(6, compat.EQ, 2**64 - 1)  # refused only when used, as officially
    with pytest.raises(RuntimeError):
        compat.SyscallFilter(compat.KILL).add_rule(compat.ALLOW, "read", big)
    with pytest.raises(TypeError):
        compat.SyscallFilter(compat.KILL).add_rule(compat.ALLOW, "read", 1)  # type: ignore[arg-type]


# -- bug fixes -------------------------------------------------------------------------------


def test_reset_keeps_the_default_action() -> None:
    f = compat.SyscallFilter(compat.ERRNO(errno.EPERM))
    f.add_rule(compat.ALLOW, "read")
    f.set_attr(compat.Attr.CTL_NNP, 0)
    f.reset()
    assert f.get_attr(compat.Attr.ACT_DEFAULT) == compat.ERRNO(errno.EPERM)
    assert f.get_attr(compat.Attr.CTL_NNP) == 1
    assert "read" not in f.filter.export_pfc()
    f.reset(compat.ALLOW)
    assert f.get_attr(compat.Attr.ACT_DEFAULT) == compat.ALLOW
    f.reset()
    assert f.get_attr(compat.Attr.ACT_DEFAULT) == compat.ALLOW


@needs_official
def test_official_reset_loses_the_default_action() -> None:
    """Documents the bug compat fixes (if libseccomp fixes it, this test says so)."""
    f = OFFICIAL.SyscallFilter(OFFICIAL.ALLOW)
    f.reset()
    assert f.get_attr(OFFICIAL.Attr.ACT_DEFAULT) == OFFICIAL.KILL


def test_merge_leaves_the_source_empty_and_usable() -> None:
    dst = compat.SyscallFilter(compat.ERRNO(1))
    src = compat.SyscallFilter(compat.ERRNO(1))
    src.add_arch(compat.Arch.X86)
    src.remove_arch(compat.Arch.NATIVE)
    src.add_rule(compat.ALLOW, "write")
    dst.merge(src)
    assert dst.exist_arch(compat.Arch.X86) and dst.exist_arch(compat.Arch.NATIVE)
    # the source was reset: native arch only, no rules, same default action
    assert src.exist_arch(compat.Arch.NATIVE) and not src.exist_arch(compat.Arch.X86)
    assert src.get_attr(compat.Attr.ACT_DEFAULT) == compat.ERRNO(1)
    src.add_rule(compat.ALLOW, "read")
    assert "read" in src.filter.export_pfc()


def test_failed_merge_leaves_both_filters_intact() -> None:
    a = compat.SyscallFilter(compat.ALLOW)
    a.add_rule(compat.KILL, "mkdir")
    b = compat.SyscallFilter(compat.ALLOW)
    b.add_rule(compat.KILL, "rmdir")
    with pytest.raises(RuntimeError) as info:
        a.merge(b)  # both have the native arch
    assert info.value.errno == errno.EEXIST  # type: ignore[attr-defined]
    assert "rmdir" in b.filter.export_pfc() and "mkdir" in a.filter.export_pfc()


def test_merge_needs_equal_sysrawrc() -> None:
    a = compat.SyscallFilter(compat.ALLOW)
    b = compat.SyscallFilter(compat.ALLOW)
    b.add_arch(compat.Arch.X86)
    b.remove_arch(compat.Arch.NATIVE)
    b.set_attr(compat.Attr.API_SYSRAWRC, 1)
    with pytest.raises(ValueError):
        a.merge(b)


def test_load_twice_is_allowed_like_official(child: Any) -> None:
    def run() -> int:
        f = compat.SyscallFilter(compat.ALLOW)
        f.add_rule(compat.ERRNO(errno.EROFS), "mkdir")
        f.load()
        f.load()  # stacks the same filter again, as the official module lets you
        try:
            os.mkdir("/nonexistent/dir")
        except OSError as exc:
            return exc.errno or 0
        return 0

    assert child(run).value == errno.EROFS


# -- exports ----------------------------------------------------------------------------------


def _sample() -> compat.SyscallFilter:
    f = compat.SyscallFilter(compat.ERRNO(errno.EPERM))
    f.add_rule(compat.ALLOW, "read")
    f.add_rule(compat.ALLOW, "write", compat.Arg(0, compat.LE, 2))
    return f


def test_export_to_file_objects_fds_and_memory() -> None:
    f = _sample()
    bpf = f.filter.export_bpf()
    pfc = f.filter.export_pfc()
    buf = io.BytesIO()
    f.export_bpf(buf)
    assert buf.getvalue() == bpf
    text = io.StringIO()
    f.export_pfc(text)
    assert text.getvalue() == pfc
    with tempfile.TemporaryFile("w+b") as fh:
        fh.write(b"head:")  # buffered: flushed before libseccomp-style fd writes
        f.export_bpf(fh)
        fh.seek(0)
        assert fh.read() == b"head:" + bpf
    rfd, wfd = os.pipe()
    try:
        f.export_pfc(wfd)
        assert os.read(rfd, 65536).decode() == pfc
    finally:
        os.close(rfd)
        os.close(wfd)
    assert bytes(f.export_bpf_mem()) == bpf
    with pytest.raises(TypeError):
        f.export_bpf(object())  # type: ignore[arg-type]


def test_transactions_and_precompute() -> None:
    f = _sample()
    f.precompute()
    if not features.HAS_TRANSACTIONS:
        with pytest.raises(RuntimeError) as info:
            f.start_transaction()
        assert info.value.errno == errno.EOPNOTSUPP  # type: ignore[attr-defined]
        return
    before = f.filter.export_pfc()
    f.start_transaction()
    f.add_rule(compat.ALLOW, "close")
    f.reject_transaction()
    assert f.filter.export_pfc() == before
    f.start_transaction()
    f.add_rule(compat.ALLOW, "close")
    f.commit_transaction()
    assert "close" in f.filter.export_pfc()
    with pytest.raises(ValueError):
        f.commit_transaction()


# -- notifications --------------------------------------------------------------------------------


def test_notification_objects() -> None:
    n = compat.Notification(7, 42, 0, 39, compat.system_arch(), 0x1000, [1, 2, 3, 4, 5, 6])
    assert (n.id, n.pid, n.syscall, n.syscall_ip, n.syscall_args) == (7, 42, 39, 0x1000,
                                                                       [1, 2, 3, 4, 5, 6])
    r = compat.NotificationResponse(n, val=5)
    assert (r.id, r.val, r.error, r.flags) == (7, 5, 0, 0)
    r.error = -errno.EPERM
    with pytest.raises(OverflowError):
        r.val = 2**63
    with pytest.raises(IndexError):
        compat.Notification(1, 2, 3, 4, 5, 6, [1])


def test_notify_roundtrip_and_no_leaks(child: Any) -> None:
    """A supervisor in the loading process answers its forked child 200 times;
    the process's fd count stays flat and every buffer is freed (the official
    module leaks a response buffer per respond_notify)."""

    def run() -> tuple[list[int], int, int]:
        f = compat.SyscallFilter(compat.ALLOW)
        f.add_rule(compat.NOTIFY, "getppid")
        f.load()
        fd = f.get_notify_fd()
        rounds = 200
        pid = os.fork()
        if pid == 0:
            for _ in range(rounds):
                if os.getppid() != 4242:
                    os._exit(1)
            os._exit(0)
        fds_before = len(os.listdir("/proc/self/fd"))
        seen = []
        for i in range(rounds):
            n = f.receive_notify(fd if i % 2 else None)
            if i == 0:
                seen = [n.syscall, n.pid == pid, n.syscall_arch == compat.system_arch()]
            f.respond_notify(compat.NotificationResponse(n, val=4242))
        fds_after = len(os.listdir("/proc/self/fd"))
        _, status = os.waitpid(pid, 0)
        return seen, fds_after - fds_before, os.waitstatus_to_exitcode(status)

    out = child(run)
    assert out.error is None, out
    seen, fd_delta, code = out.value
    assert seen == [compat.resolve_syscall(compat.Arch(), "getppid"), True, True]
    assert fd_delta == 0 and code == 0


def test_supervisor_thread_and_continue(child: Any) -> None:
    """A supervisor thread blocks in receive_notify (the GIL is released) while the
    main thread's mkdir() waits in the kernel (os.mkdir releases the GIL too; a
    call that keeps it, like os.getppid, would deadlock any Python supervisor
    thread).  CONTINUE (flags=1) lets the first mkdir run; the second gets EROFS."""

    def run() -> tuple[int, int, int]:
        import threading

        f = compat.SyscallFilter(compat.ALLOW)
        f.add_rule(compat.NOTIFY, "mkdir")
        f.add_rule(compat.NOTIFY, "mkdirat")
        f.set_attr(compat.Attr.CTL_TSYNC, 1)
        f.load()
        seen: list[int] = []

        def supervise() -> None:
            for _ in range(2):
                n = f.receive_notify()
                seen.append(n.syscall)
                if len(seen) == 1:
                    response = compat.NotificationResponse(n, 0, 0, 1)  # CONTINUE
                else:
                    response = compat.NotificationResponse(n, 0, -errno.EROFS, 0)
                f.respond_notify(response)

        thread = threading.Thread(target=supervise, daemon=True)
        thread.start()
        first = errno_of(lambda: os.mkdir("/nonexistent-dir/a"))  # really run: ENOENT
        second = errno_of(lambda: os.mkdir("/nonexistent-dir/b"))  # answered: EROFS
        thread.join(10)
        return first, second, len(seen)

    out = child(run)
    assert out.error is None, out
    assert out.value == (errno.ENOENT, errno.EROFS, 2)


def test_notify_errors_carry_the_real_errno(child: Any) -> None:
    def run() -> tuple[str, int]:
        f = compat.SyscallFilter(compat.ALLOW)
        f.add_rule(compat.NOTIFY, "getppid")
        f.load()
        pid = os.fork()
        if pid == 0:
            os.getppid()
            os._exit(0)
        n = f.receive_notify()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        try:
            f.respond_notify(compat.NotificationResponse(n, val=1))
        except RuntimeError as exc:
            return type(exc).__name__, getattr(exc, "errno", 0) or 0
        return "responded", 0

    out = child(run)
    assert out.value == ("LibraryError", errno.ENOENT)


def test_notify_addfd(child: Any) -> None:
    """The target's openat gets a supervisor fd (SECCOMP_ADDFD_FLAG_SEND)."""

    def run() -> bytes:
        f = compat.SyscallFilter(compat.ALLOW)
        f.add_rule(compat.NOTIFY, "mkdir")
        f.load()
        rfd, wfd = os.pipe()
        os.write(wfd, b"from the supervisor")
        os.close(wfd)
        pid = os.fork()
        if pid == 0:
            fd = ctypes.CDLL(None).mkdir(b"/x", 0o700)  # answered with the new fd
            os._exit(0 if os.read(fd, 100) == b"from the supervisor" else 3)
        n = f.receive_notify()
        f.notify_addfd(compat.NotificationAddfd(n, 2, rfd))  # SEND: the syscall returns it
        _, status = os.waitpid(pid, 0)
        return bytes([os.waitstatus_to_exitcode(status)])

    out = child(run)
    assert out.error is None, out
    assert out.value == b"\x00"


# -- install ---------------------------------------------------------------------------------------


def _python(code: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *extra, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_install_never_shadows_silently() -> None:
    code = (
        "import sys, importlib.util\n"
        "hide = len(sys.argv) > 1\n"
        "if hide:\n"
        "    sys.path[:] = [p for p in sys.path if 'dist-packages' not in p]\n"
        "import seccomp_py.compat as c\n"
        "official = importlib.util.find_spec('seccomp') is not None\n"
        "first = c.install()\n"
        "import seccomp\n"
        "print(official, first, seccomp is c)\n"
        "print(c.install(force=True), sys.modules['seccomp'] is c)\n"
        "c.uninstall(); print('seccomp' in sys.modules)\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    if lines[0].startswith("True"):  # the official module is importable: left alone
        assert lines[0] == "True False False"
    else:
        assert lines[0] == "False True True"
    assert lines[1:3] == ["True True", "False"]


def test_runner_refuses_to_shadow_without_force(tmp_path: Any) -> None:
    script = tmp_path / "prog.py"
    script.write_text("import seccomp, sys\nprint(seccomp.__name__, sys.argv[1:])\n")
    usage = subprocess.run([sys.executable, "-m", "seccomp_py.compat"], capture_output=True,
                           text=True, timeout=60, cwd=REPO)
    assert usage.returncode == 2 and "usage" in usage.stderr
    forced = subprocess.run([sys.executable, "-m", "seccomp_py.compat", "--force", str(script),
                             "a"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip() == "seccomp_py.compat ['a']"
    plain = subprocess.run([sys.executable, "-m", "seccomp_py.compat", str(script)],
                           capture_output=True, text=True, timeout=60, cwd=REPO)
    probe = _python("import importlib.util; print(importlib.util.find_spec('seccomp') is not None)")
    if probe.stdout.strip() == "True":  # another `seccomp` is importable: never shadowed
        assert plain.returncode == 2 and "--force" in plain.stderr
    else:
        assert plain.stdout.strip() == "seccomp_py.compat []"


def test_wraps_a_core_filter() -> None:
    f = compat.SyscallFilter(compat.ALLOW)
    assert isinstance(f.filter, Filter)
