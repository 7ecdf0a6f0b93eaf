"""Profile -> Filter -> Profile -> Filter gives the same BPF (hypothesis), and
Filter -> Profile keeps a hand-built filter's decisions."""

from __future__ import annotations

import errno
import json
import warnings
from typing import Any, Callable

import pytest
from helpers.child import in_child
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from seccomp_py import Action, Arch, Arg, ArgCmp, Filter, Op
from seccomp_py.filter import RuleRecord
from seccomp_py.profile import (
    OPERATORS,
    Profile,
    ProfileError,
    ProfileWarning,
)

NAMES = ["read", "write", "openat", "close", "mmap", "mprotect", "ioctl", "socket",
         "connect", "personality", "clone", "kill", "getpid", "mkdir", "rmdir",
         "fchmod", "prctl", "futex", "madvise", "dup3", "pipe2", "getrandom"]
ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_ERRNO", "SCMP_ACT_TRAP",
           "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL",
           "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"]

u64 = st.one_of(st.integers(0, 16), st.integers(0, 2**64 - 1), st.just(2**32 - 1))
arg = st.fixed_dictionaries(
    {"index": st.integers(0, 5), "value": u64, "op": st.sampled_from(sorted(OPERATORS))},
    optional={"valueTwo": u64})
entry = st.fixed_dictionaries(
    {"names": st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
     "action": st.sampled_from(ACTIONS)},
    optional={"errnoRet": st.integers(0, 4095),
              "args": st.lists(arg, max_size=3)})
profile_data = st.fixed_dictionaries(
    {"defaultAction": st.sampled_from([a for a in ACTIONS if a != "SCMP_ACT_NOTIFY"]),
     "syscalls": st.lists(entry, max_size=6)},
    optional={"defaultErrnoRet": st.integers(0, 4095),
              "architectures": st.lists(st.sampled_from(["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
                                        unique=True),
              "flags": st.lists(st.sampled_from(["SECCOMP_FILTER_FLAG_LOG",
                                                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                                 "SECCOMP_FILTER_FLAG_TSYNC"]), unique=True)})


pytestmark = pytest.mark.filterwarnings("ignore::seccomp_py.profile.ProfileWarning")


def _compile(p: Profile) -> Filter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        return p.to_filter(caps=(), kernel="6.1")


@pytest.mark.skipif(Arch.native() != Arch.X86_64, reason="the strategy uses x86 sub-arches")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile_data)
def test_profile_filter_profile_filter_gives_identical_bpf(data: dict[str, Any]) -> None:
    try:
        p1 = Profile.from_dict(data)
        f1 = _compile(p1)
    except ProfileError:
        # e.g. NOTIFY for write (runc refuses it), or two rules libseccomp finds contradictory
        assume(False)
        raise
    p2 = Profile.from_filter(f1)
    f2 = _compile(p2)
    assert f2.export_bpf() == f1.export_bpf()
    # and the saved profile is stable from there on
    p3 = Profile.from_dict(json.loads(Profile.from_filter(f2).dumps()))
    assert p3 == p2
    assert (f2.log, f2.disable_ssb, f2.thread_sync) == (f1.log, f1.disable_ssb, f1.thread_sync)


def test_a_hand_built_filter_saved_and_reloaded_decides_the_same() -> None:
    f = Filter(Action.ALLOW)
    if Arch.native() == Arch.X86_64:
        f.add_arch(Arch.X86)
    f.add_rule(Action.errno(errno.EROFS), "mkdir")
    f.add_rule(Action.LOG, "write", Arg(0) == 1)
    f.add_rule(Action.LOG, "write", Arg(0) == 2)
    f.add_rule(Action.errno(errno.EACCES), "rmdir")
    f.add_rule(Action.errno(errno.EPERM), "openat", Arg(2).masked_eq(0o3, 0o2), Arg(0) == 12345)
    f.add_rule(Action.KILL_PROCESS, "kill", ArgCmp(1, Op.EQ, 9))
    p = Profile.from_filter(f)
    data = p.to_dict()
    assert data["defaultAction"] == "SCMP_ACT_ALLOW" and "defaultErrnoRet" not in data
    assert data["syscalls"][1] == {"names": ["write"], "action": "SCMP_ACT_LOG",
                                   "args": [{"index": 0, "value": 1, "valueTwo": 0,
                                             "op": "SCMP_CMP_EQ"}]}
    assert data["syscalls"][0] == {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                   "errnoRet": errno.EROFS}
    g = Profile.loads(p.dumps()).to_filter(caps=())
    assert g.export_bpf() == f.export_bpf()

    def child() -> list[int]:
        import os

        g.load()
        out = []
        calls: tuple[Callable[[], None], ...] = (
            lambda: os.mkdir("/nonexistent/x"), lambda: os.rmdir("/nonexistent/x"),
            lambda: os.chdir("/nonexistent/x"))
        for call in calls:
            try:
                call()
                out.append(0)
            except OSError as exc:
                out.append(exc.errno or -1)
        return out

    outcome = in_child(child)
    assert outcome.exitcode == 0, outcome
    assert outcome.value == [errno.EROFS, errno.EACCES, errno.ENOENT]


def test_filter_rules_record_follows_reset_and_merge() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "mkdir")
    f.add_rule(Action.errno(1), 83 if Arch.native() == Arch.X86_64 else "rmdir")
    assert f.rules[0].syscall == "mkdir"
    if Arch.native() == Arch.X86_64:
        assert f.rules[1].syscall == "mkdir"  # 83 is mkdir: recorded by name
    f.reset()
    assert f.rules == ()
    g = Filter(Action.ALLOW)
    g.remove_arch(Arch.native())
    g.add_arch(Arch.X32 if Arch.native() == Arch.X86_64 else Arch.ARM)
    f.add_rule(Action.errno(2), "rmdir")
    g.add_rule(Action.errno(3), "mkdir")
    f.merge(g)
    merged: tuple[RuleRecord, ...] = f.rules  # not the () asserted above
    assert [(r.action, r.syscall) for r in merged] == [(Action.errno(2), "rmdir"),
                                                        (Action.errno(3), "mkdir")]


def test_from_rules_groups_consecutive_rules_and_refuses_what_a_profile_cannot_hold() -> None:
    p = Profile.from_rules(Action.KILL_PROCESS, [
        (Action.ALLOW, "read"), (Action.ALLOW, "write"),
        (Action.ALLOW, "close", [Arg(0) > 2]),
        (Action.errno(5), "mkdir")])
    assert [e.names for e in p.syscalls] == [("read", "write"), ("close",), ("mkdir",)]
    assert p.syscalls[1].errno_ret is None and p.syscalls[1].args[0].op == "SCMP_CMP_GT"
    assert p.syscalls[2].errno_ret == 5 and p.default_action == "SCMP_ACT_KILL_PROCESS"
    with pytest.raises(ProfileError, match=r"^rules\[0\]: two comparisons on the same argument"):
        Profile.from_rules(Action.ALLOW, [(Action.KILL, "write", [Arg(0) > 2, Arg(0) < 9])])
    with pytest.raises(ProfileError, match=r"^rules\[0\]: syscall 'nope' has no name"):
        Profile.from_rules(Action.ALLOW, [(Action.KILL, "nope")])
