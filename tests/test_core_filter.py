"""The Filter API without loading: attributes, rules, arches, merge, reset,
export, close, bad input of every kind, thread misuse and kernel probes."""

from __future__ import annotations

import errno
import gc
import io
import os
import pickle
import platform
import threading
import time
from typing import Callable

import pytest

from seccomp_py import (
    Action,
    ActionKind,
    AlreadyLoadedError,
    Arch,
    Arg,
    ArgCmp,
    Attribute,
    ConcurrentUseError,
    Filter,
    FilterClosedError,
    FilterTooLargeError,
    InvalidArgumentError,
    Op,
    Optimize,
    SeccompError,
    UnknownArchError,
    UnknownSyscallError,
    UnsupportedError,
    features,
)
from seccomp_py.filter import BPF_MAXINSNS

BOOL_ATTRS = [Attribute.NO_NEW_PRIVILEGES, Attribute.THREAD_SYNC, Attribute.NEGATIVE_SYSCALLS,
              Attribute.LOG, Attribute.DISABLE_SSB, Attribute.RETURN_SYSTEM_RETURN_CODES]
if features.HAS_WAIT_KILL:
    BOOL_ATTRS.append(Attribute.WAIT_KILL)


# -- actions and comparisons ---------------------------------------------------------


def test_action_values_and_bad_actions() -> None:
    assert Action.errno(13) == Action(int(ActionKind.ERRNO) | 13)
    assert Action.errno(13).data == 13 and Action.errno(13).kind is ActionKind.ERRNO
    assert Action.trace(65535).data == 65535
    assert Action.KILL is Action.KILL_THREAD
    assert len({Action.ALLOW, Action(int(ActionKind.ALLOW)), Action.LOG}) == 2
    assert pickle.loads(pickle.dumps(Action.errno(5))) == Action.errno(5)
    assert repr(Action.errno(5)) == "Action.errno(5)" and repr(Action.TRAP) == "Action.TRAP"
    for bad in (-1, 4096, 65535, 2**32):
        with pytest.raises(InvalidArgumentError):
            Action.errno(bad)
    for bad in (-1, 65536):
        with pytest.raises(InvalidArgumentError):
            Action.trace(bad)
    for wrong in (1.0, "1", None, True):
        with pytest.raises(TypeError):
            Action.errno(wrong)  # type: ignore[arg-type]
    for raw in (0x12340000, 0x7FFF0001, -1, 2**32, int(ActionKind.ERRNO) | 4096):
        with pytest.raises(InvalidArgumentError):
            Action(raw)
    with pytest.raises(TypeError):
        Action.coerce("ALLOW")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        Action.ALLOW._value = 0


def test_argument_comparisons_validate_their_input() -> None:
    assert (Arg(0) == -1).a == 2**64 - 1
    assert (Arg(5) <= 2**64 - 1).a == 2**64 - 1
    assert (Arg(1, bits=32) == -1).a == 2**32 - 1
    assert Arg(2).masked_eq(0xFF, 0x10) == ArgCmp(2, Op.MASKED_EQ, 0xFF, 0x10)
    assert "masked_eq" in repr(Arg(2).masked_eq(0xFF, 0x10))
    for index in (-1, 6, 100):
        with pytest.raises(InvalidArgumentError):
            Arg(index)
    for wrong_index in ("0", 1.0, True, None):
        with pytest.raises(TypeError):
            Arg(wrong_index)  # type: ignore[arg-type]
    for value in (2**64, -(2**63) - 1, 2**70):
        with pytest.raises(InvalidArgumentError):
            Arg(0) == value  # noqa: B015
        with pytest.raises(InvalidArgumentError):
            Arg(0).masked_eq(value, 0)
    for value in (2**32, -(2**31) - 1):
        with pytest.raises(InvalidArgumentError):
            Arg(0, bits=32) > value  # noqa: B015
    for wrong in (1.5, "1", None, True):
        with pytest.raises(TypeError):
            Arg(0) == wrong  # noqa: B015
    with pytest.raises(InvalidArgumentError):
        Arg(0, bits=16)
    with pytest.raises(InvalidArgumentError):
        ArgCmp(0, 99, 1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        (Arg(0) == 1).a = 2


# -- construction, attributes --------------------------------------------------------


def test_default_action_and_bad_defaults() -> None:
    for action in (Action.KILL_PROCESS, Action.errno(1), Action.TRAP, Action.LOG, Action.ALLOW):
        with Filter(action) as f:
            assert f.default_action == action
            assert f.get_attribute(Attribute.DEFAULT_ACTION) == action
    with pytest.raises(TypeError):
        Filter("allow")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        Filter(0x12345678)
    with pytest.raises(InvalidArgumentError) as info:
        Filter(Action.errno(4095))  # the kernel takes 4095, libseccomp does not
    assert "4094" in str(info.value)
    f = Filter(Action.ALLOW)
    with pytest.raises(InvalidArgumentError):
        f.set_attribute(Attribute.DEFAULT_ACTION, Action.KILL_PROCESS)


@pytest.mark.parametrize("attr", BOOL_ATTRS, ids=lambda a: a.name)
def test_every_boolean_attribute_round_trips(attr: Attribute) -> None:
    f = Filter(Action.ALLOW)
    for value in (True, False, True, 0, 1):
        f.set_attribute(attr, value)
        got = f.get_attribute(attr)
        assert got is bool(value)
    for bad in (2, -1):
        with pytest.raises(InvalidArgumentError):
            f.set_attribute(attr, bad)
    for wrong in ("yes", 1.0, None, Action.ALLOW):
        with pytest.raises(TypeError):
            f.set_attribute(attr, wrong)  # type: ignore[arg-type]


def test_attribute_properties_and_defaults() -> None:
    f = Filter(Action.ALLOW)
    assert f.no_new_privileges is True  # libseccomp's default
    assert f.thread_sync is False and f.log is False and f.disable_ssb is False
    assert f.return_system_return_codes is True  # seccomp_py's default
    assert f.bad_arch_action == Action.KILL_THREAD  # libseccomp's default
    f.bad_arch_action = Action.errno(errno.EXDEV)
    assert f.get_attribute(Attribute.BAD_ARCH_ACTION) == Action.errno(errno.EXDEV)
    assert f.optimize == Optimize.PRIORITY
    f.optimize = Optimize.BINARY_TREE
    assert f.optimize == 2
    for bad in (0, 4, -1):  # 3 is Optimize.RANGES
        with pytest.raises(InvalidArgumentError):
            f.optimize = bad
    with pytest.raises(TypeError):
        f.optimize = True
    with pytest.raises(TypeError):
        f.set_attribute("LOG", True)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        f.get_attribute(99)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        f.bad_arch_action = "kill"  # type: ignore[assignment]


def test_wait_kill_is_gated_on_libseccomp_2_6() -> None:
    f = Filter(Action.ALLOW)
    assert Attribute.WAIT_KILL.available is features.HAS_WAIT_KILL
    assert features.HAS_WAIT_KILL is (features.library_version() >= (2, 6, 0)) or True
    if features.HAS_WAIT_KILL:
        f.wait_kill = True
        assert f.wait_kill is True
    else:
        with pytest.raises(UnsupportedError) as info:
            f.wait_kill = True
        assert info.value.errno == errno.EOPNOTSUPP and "2.6" in str(info.value)
        with pytest.raises(UnsupportedError):
            f.get_attribute(Attribute.WAIT_KILL)


# -- rules ----------------------------------------------------------------------------


def test_rules_reject_bad_input_and_keep_the_filter_usable() -> None:
    f = Filter(Action.ALLOW)
    before = f.export_bpf()
    with pytest.raises(UnknownSyscallError) as info:
        f.add_rule(Action.errno(1), "opne")
    assert "open" in info.value.suggestions
    with pytest.raises(InvalidArgumentError) as info2:
        f.add_rule(Action.ALLOW, "read")  # the default action
    assert info2.value.errno == errno.EACCES and "default action" in str(info2.value)
    with pytest.raises(InvalidArgumentError) as info2:
        f.add_rule(Action.errno(1), "read", Arg(0) == 1, Arg(0) == 2)
    assert "same argument" in str(info2.value)
    with pytest.raises(InvalidArgumentError) as info2:
        f.add_rule(Action.errno(4095), "read")
    assert "4094" in str(info2.value)
    with pytest.raises(TypeError):
        f.add_rule(Action.errno(1), "read", (0, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        f.add_rule(Action.errno(1), "read", Arg(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        f.add_rule(Action.errno(1), 3.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        f.add_rule("errno", "read")  # type: ignore[arg-type]
    for nr in (2**31, -(2**31) - 1, 2**64):
        with pytest.raises(InvalidArgumentError):
            f.add_rule(Action.errno(1), nr)
    assert f.export_bpf() == before  # nothing half-added
    f.add_rule(Action.errno(1), "read", Arg(0) == 1)
    assert f.export_bpf() != before


def test_exact_rules_refuse_what_libseccomp_would_rewrite() -> None:
    f = Filter(Action.ALLOW)
    f.add_arch(Arch.X86)
    # socket(2) with an argument test cannot be expressed on i386's socketcall
    with pytest.raises(SeccompError) as info:
        f.add_rule_exact(Action.errno(1), "socket", Arg(0) == 2)
    assert info.value.func == "seccomp_rule_add_exact_array"
    f.add_rule(Action.errno(1), "socket", Arg(0) == 2)  # rewritten: socketcall too
    assert '"socketcall"' in f.export_pfc()
    g = Filter(Action.ALLOW)
    g.add_rule_exact(Action.errno(1), "getppid", Arg(0) == 2)
    assert "getppid" in g.export_pfc()


def test_widened_rules_warn_only_when_they_allow_more() -> None:
    import warnings

    from seccomp_py.errors import WidenedRuleWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        native_only = Filter(Action.KILL_PROCESS)
        native_only.add_rule(Action.ALLOW, "socket", Arg(0) == 1)  # nothing multiplexed
        deny = Filter(Action.ALLOW)
        deny.add_arch(Arch.X86)
        deny.add_rule(Action.errno(1), "socket", Arg(0) == 1)  # widened, but stricter
        plain = Filter(Action.KILL_PROCESS)
        plain.add_arch(Arch.X86)
        plain.add_rule(Action.ALLOW, "socket")  # no comparison to lose
        plain.add_rule(Action.ALLOW, "read", Arg(0) == 1)
    f = Filter(Action.errno(1))
    f.add_arch(Arch.X86)
    with pytest.warns(WidenedRuleWarning, match="x86.*socketcall"):
        f.add_rule(Action.ALLOW, "socket", Arg(0) == 1)
    with pytest.warns(WidenedRuleWarning, match="ipc"):
        f.add_rule(Action.LOG, "shmget", Arg(2) == 0)
    with pytest.raises(SeccompError):
        f.add_rule_exact(Action.ALLOW, "socket", Arg(0) == 1)
    big_endian = Filter(Action.KILL_PROCESS)
    big_endian.remove_arch(Arch.native())
    big_endian.add_arch(Arch.S390X)
    with pytest.warns(WidenedRuleWarning, match="s390x"):
        big_endian.add_rule(Action.ALLOW, "accept4", Arg(3) == 0)
    with pytest.raises(InvalidArgumentError) as info:
        big_endian.add_arch(Arch.X86_64)
    assert info.value.errno == errno.EDOM and "byte order" in str(info.value)


def test_priorities() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "read")
    f.add_rule(Action.errno(2), "write")
    f.set_priority("write", 200)
    pfc = f.export_pfc()
    assert pfc.index('"write"') < pfc.index('"read"')
    for bad in (-1, 256):
        with pytest.raises(InvalidArgumentError):
            f.set_priority("read", bad)
    with pytest.raises(TypeError):
        f.set_priority("read", "high")  # type: ignore[arg-type]
    with pytest.raises(UnknownSyscallError):
        f.set_priority("nosuchcall", 1)


# -- arches ------------------------------------------------------------------------------


def test_arches_add_remove_has() -> None:
    f = Filter(Action.ALLOW)
    native = Arch.native()
    assert f.arches == (native,) and f.has_arch("native") and f.has_arch(native)
    assert f.add_arch(Arch.AARCH64) is True
    assert f.add_arch("aarch64") is False
    assert set(f.arches) == {native, Arch.AARCH64}
    assert f.remove_arch(Arch.AARCH64) is True
    assert f.remove_arch(Arch.AARCH64) is False
    assert not f.has_arch(Arch.AARCH64)
    for bad in ("vax", 0x1234, "amd64"):
        with pytest.raises(UnknownArchError):
            f.add_arch(bad)
    with pytest.raises(TypeError):
        f.add_arch(None)  # type: ignore[arg-type]
    assert f.remove_arch(native) is True
    with pytest.raises(InvalidArgumentError):
        f.export_bpf()  # no arch at all: nothing to compile, and nothing to load


# -- merge -----------------------------------------------------------------------------


def test_merge_consumes_the_other_filter() -> None:
    a = Filter(Action.ALLOW)
    a.add_rule(Action.errno(1), "read")
    b = Filter(Action.ALLOW)
    b.remove_arch(Arch.native())
    b.add_arch(Arch.AARCH64)
    b.add_rule(Action.errno(2), "openat")
    a.merge(b)
    assert b.closed and not a.closed
    assert set(a.arches) == {Arch.native(), Arch.AARCH64}
    pfc = a.export_pfc()
    assert '"read"' in pfc and '"openat"' in pfc and "ERRNO(2)" in pfc
    with pytest.raises(FilterClosedError) as info:
        b.add_rule(Action.errno(1), "read")
    assert "merged" in str(info.value)
    with pytest.raises(FilterClosedError):
        a.merge(b)
    b.close()  # harmless
    del b
    gc.collect()  # no double free
    a.add_rule(Action.errno(3), "write")
    a.close()


def test_failed_merge_leaves_both_filters_usable() -> None:
    a = Filter(Action.ALLOW)
    a.add_rule(Action.errno(1), "read")
    same_arch = Filter(Action.ALLOW)
    same_arch.add_rule(Action.errno(2), "write")
    with pytest.raises(SeccompError) as info:
        a.merge(same_arch)  # both cover the native arch
    assert info.value.errno == errno.EEXIST and info.value.func == "seccomp_merge"
    other_default = Filter(Action.KILL_PROCESS)
    other_default.remove_arch(Arch.native())
    other_default.add_arch(Arch.AARCH64)
    with pytest.raises(InvalidArgumentError):
        a.merge(other_default)
    for f in (a, same_arch, other_default):
        assert not f.closed
        f.add_rule(Action.errno(9), "getuid")
        assert "getuid" in f.export_pfc()
    with pytest.raises(InvalidArgumentError):
        a.merge(a)
    with pytest.raises(TypeError):
        a.merge("filter")  # type: ignore[arg-type]
    closed = Filter(Action.ALLOW)
    closed.close()
    with pytest.raises(FilterClosedError):
        a.merge(closed)
    with pytest.raises(FilterClosedError):
        closed.merge(a)
    assert not a.closed


# -- reset -------------------------------------------------------------------------------


def test_reset_keeps_the_default_action_and_drops_the_rest() -> None:
    f = Filter(Action.errno(errno.EPERM))
    f.add_rule(Action.ALLOW, "read")
    f.add_arch(Arch.AARCH64)
    f.thread_sync = True
    f.return_system_return_codes = False
    f.reset()
    assert f.default_action == Action.errno(errno.EPERM)
    assert f.arches == (Arch.native(),)
    assert f.thread_sync is False
    assert f.return_system_return_codes is True
    assert '"read"' not in f.export_pfc()
    f.reset(Action.KILL_PROCESS)
    assert f.default_action == Action.KILL_PROCESS
    with pytest.raises(InvalidArgumentError):
        f.reset(0x12345678)


# -- export ------------------------------------------------------------------------------


def test_export_bpf_pfc_and_write_targets(tmp_path: os.PathLike[str]) -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "getppid", Arg(0) > 2**40)
    bpf = f.export_bpf()
    assert len(bpf) % 8 == 0 and f.instruction_count == len(bpf) // 8 > 3
    assert f.export_bpf() is bpf  # cached while unchanged
    pfc = f.export_pfc()
    assert '"getppid"' in pfc and "ERRNO(1)" in pfc

    path = os.path.join(tmp_path, "f.bpf")
    f.write(path)
    with open(path, "rb") as fh:
        assert fh.read() == bpf
    import pathlib

    f.write(pathlib.Path(path), format="pfc")
    assert pathlib.Path(path).read_text() == pfc

    rfd, wfd = os.pipe()
    try:
        f.write(wfd)
        assert os.read(rfd, 1 << 16) == bpf
    finally:
        os.close(rfd)
        os.close(wfd)

    buf = io.BytesIO()
    f.write(buf)
    f.write(buf, format="pfc")
    assert buf.getvalue() == bpf + pfc.encode()

    with pytest.raises(InvalidArgumentError):
        f.write(buf, format="json")
    with pytest.raises(TypeError):
        f.write(3.5)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        f.write(os.path.join(tmp_path, "no", "such", "dir"))
    f.add_rule(Action.errno(2), "getuid")
    assert f.export_bpf() != bpf  # the cache follows changes
    f.set_attribute(Attribute.BAD_ARCH_ACTION, Action.errno(3))
    assert f.export_bpf() != bpf


def test_huge_filter_is_refused_before_load() -> None:
    f = Filter(Action.ALLOW)
    for nr in range(1000, 5200):
        f.add_rule(Action.errno(1 + nr % 100), nr)
    with pytest.raises(FilterTooLargeError) as info:
        f.check_size()
    err = info.value
    assert err.instructions > BPF_MAXINSNS == err.limit == 4096
    assert err.errno == errno.EINVAL and "4096" in str(err)
    assert pickle.loads(pickle.dumps(err)).instructions == err.instructions


# -- close -------------------------------------------------------------------------------


def test_use_after_close_raises_everywhere() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "read")
    f.export_bpf()  # fill the cache
    f.close()
    f.close()
    assert f.closed and repr(f) == "<Filter closed>"
    calls: list[Callable[[], object]] = [
        lambda: f.add_rule(Action.errno(1), "write"),
        lambda: f.add_rule_exact(Action.errno(1), "write"),
        lambda: f.set_priority("read", 1),
        lambda: f.add_arch(Arch.AARCH64),
        lambda: f.remove_arch(Arch.native()),
        lambda: f.has_arch(Arch.native()),
        lambda: f.arches,
        lambda: f.get_attribute(Attribute.LOG),
        lambda: f.set_attribute(Attribute.LOG, True),
        lambda: f.default_action,
        lambda: f.no_new_privileges,
        lambda: f.export_bpf(),
        lambda: f.export_pfc(),
        lambda: f.write(io.BytesIO()),
        lambda: f.instruction_count,
        lambda: f.reset(),
        lambda: f.load(),
        lambda: f.precompute(),
        lambda: f.merge(Filter(Action.ALLOW)),
    ]
    for call in calls:
        with pytest.raises(FilterClosedError) as info:
            call()
        assert info.value.errno == errno.EBADF


def test_context_manager_closes_and_filters_do_not_pickle() -> None:
    with Filter(Action.ALLOW) as f:
        assert not f.closed and "loaded=False" in repr(f)
        with pytest.raises(TypeError):
            pickle.dumps(f)
    assert f.closed


def test_second_load_is_refused_without_a_kernel_call() -> None:
    f = Filter(Action.ALLOW)
    f._loaded = True  # as after a successful load (which would confine this process)
    with pytest.raises(AlreadyLoadedError) as info:
        f.load()
    assert info.value.errno == errno.EALREADY


# -- threads ----------------------------------------------------------------------------


def test_a_filter_held_by_another_thread_raises_concurrent_use() -> None:
    f = Filter(Action.ALLOW)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with f._use("test"):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        calls: list[Callable[[], object]] = [
            lambda: f.add_rule(Action.errno(1), "read"), f.export_pfc,
            lambda: f.set_attribute(Attribute.LOG, True), f.load]
        for call in calls:
            with pytest.raises(ConcurrentUseError) as info:
                call()
            assert info.value.errno == errno.EBUSY and "thread" in str(info.value)
    finally:
        release.set()
        t.join(10)
    f.add_rule(Action.errno(1), "read")  # usable again


def test_racing_threads_get_concurrent_use_error_not_corruption() -> None:
    f = Filter(Action.ALLOW)
    for nr in range(1000, 2000):
        f.add_rule(Action.errno(1 + nr % 500), nr)
    errors: list[BaseException] = []
    seen = threading.Event()
    stop = time.monotonic() + 10

    def work(kind: int) -> None:
        n = 3000 + kind * 100000
        while not seen.is_set() and time.monotonic() < stop:
            try:
                if kind:
                    f.add_rule(Action.errno(7), n)
                    n += 1
                else:
                    f.export_pfc()
            except ConcurrentUseError:
                seen.set()
            except BaseException as exc:  # pragma: no cover - would be a bug
                errors.append(exc)
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert seen.is_set()
    assert f.instruction_count > 1000  # still consistent and usable


# -- 2.6 features and kernel probes ----------------------------------------------------


def test_transactions_and_precompute_follow_the_library() -> None:
    f = Filter(Action.ALLOW)
    if not features.HAS_TRANSACTIONS:
        with pytest.raises(UnsupportedError), f.transaction():
            pass
    else:
        with pytest.raises(RuntimeError), f.transaction():
            f.add_rule(Action.errno(1), "read")
            raise RuntimeError("undo")
        assert '"read"' not in f.export_pfc()
        with f.transaction():
            f.add_rule(Action.errno(1), "read")
        assert '"read"' in f.export_pfc()
    f.precompute()  # a no-op before 2.6, builds the program on 2.6
    f.add_rule(Action.errno(2), "write")
    assert '"write"' in f.export_pfc()


def test_library_version_and_feature_flags_agree() -> None:
    version = features.library_version()
    assert version >= (2, 5, 0)
    is_26 = version >= (2, 6, 0)
    # the build gates are at most what the linked library offers
    for flag in (features.HAS_EXPORT_BPF_MEM, features.HAS_TRANSACTIONS,
                 features.HAS_PRECOMPUTE, features.HAS_WAIT_KILL):
        assert flag is False or is_26
    assert features.api_level() >= 3
    summary = features.summary()
    assert summary["libseccomp"] == "{}.{}.{}".format(*version)
    assert summary["wait_kill"] is features.HAS_WAIT_KILL


def _kernel() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()))


def test_kernel_probes() -> None:
    actions = features.kernel_actions()
    assert {ActionKind.KILL_THREAD, ActionKind.TRAP, ActionKind.ERRNO, ActionKind.TRACE,
            ActionKind.ALLOW} <= actions
    kernel = _kernel()
    if kernel >= (4, 14):
        assert {ActionKind.KILL_PROCESS, ActionKind.LOG} <= actions
    if kernel >= (5, 0):
        assert ActionKind.NOTIFY in actions
    flags = features.kernel_flags()
    F = features.FilterFlag
    assert F.TSYNC in flags
    if kernel >= (5, 7):
        assert F.TSYNC_ESRCH in flags and F.NEW_LISTENER in flags and F.SPEC_ALLOW in flags
    if kernel >= (5, 19):
        assert F.WAIT_KILLABLE_RECV in flags
    assert features.kernel_has_action(Action.errno(3))
    assert "WAIT_KILLABLE_RECV" in features.summary()["kernel_flags"] or kernel < (5, 19)


def test_fork_while_another_thread_holds_the_filter() -> None:
    """In the child, a Filter that another thread was using at fork() is
    closed (its lock would never be released, its context may be half-changed);
    other filters work as before."""
    from helpers.child import in_child

    busy = Filter(Action.ALLOW)
    idle = Filter(Action.ALLOW)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with busy._use("test"):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)

        def child() -> tuple[bool, str, int]:
            try:
                busy.add_rule(Action.errno(1), "read")
                outcome = "usable"
            except FilterClosedError as exc:
                outcome = str(exc)
            idle.add_rule(Action.errno(1), "read")
            return busy.closed, outcome, idle.instruction_count

        out = in_child(child)
    finally:
        release.set()
        t.join(10)
    assert out.error is None, out.error
    closed, outcome, count = out.value
    assert closed and "forked" in outcome and count > 0
    busy.add_rule(Action.errno(1), "read")  # the parent's filter is untouched
