"""One check of a rule for add_rule, add_rules and profiles (issue 16 item 6):
what libseccomp refuses whatever the arches is refused for a whole batch by
the shim before any rule is added, so the batch changes nothing on any
libseccomp (2.5 has no transactions)."""

from __future__ import annotations

import errno

import pytest

from seccomp_py import (
    Action,
    Arg,
    Filter,
    InvalidArgumentError,
    SeccompError,
    Syscall,
    UnknownSyscallError,
)
from seccomp_py.profile import Profile, ProfileError

FIRST = [(Action.ALLOW, "write"), (Action.ALLOW, "read", Arg(0) == 1),
         (Action.errno(errno.EXDEV), "close")]


@pytest.fixture(autouse=True)
def _known_names() -> None:
    for name in ("write", "read", "close", "dup", "openat"):
        Syscall.from_name(name)  # cached names: add_rules' fast path takes the batch


@pytest.mark.parametrize("bad, code, text", [
    ((Action.errno(errno.EPERM), "dup"), errno.EACCES, "default action"),
    ((Action.errno(4095), "dup"), errno.EINVAL, "up to 4094"),
    ((Action.ALLOW, "dup", Arg(0) == 1, Arg(0) == 2), errno.EINVAL, "same argument"),
])
def test_a_refused_batch_changes_nothing(bad: tuple[object, ...], code: int, text: str) -> None:
    f = Filter(Action.errno(errno.EPERM))
    f.add_rule(Action.ALLOW, "openat")
    before, rules = f.export_bpf(), f.rules
    for batch in ([*FIRST, bad], [*FIRST, bad, (Action.ALLOW, "dup")]):
        with pytest.raises(InvalidArgumentError, match=text) as info:
            f.add_rules(batch)
        assert info.value.errno == code and info.value.rule_index == len(FIRST)
        assert info.value.func == "seccomp_rule_add_array"
        assert not f.failed and f.rules == rules and f.export_bpf() == before
    # add_rule refuses the same rule with the same exception (libseccomp's own check)
    with pytest.raises(InvalidArgumentError, match=text) as one:
        f.add_rule(*bad)  # type: ignore[arg-type]
    assert one.value.errno == code and str(one.value) == str(info.value)
    assert f.rules == rules


def test_the_slow_path_refuses_the_same() -> None:
    """Input the fast path does not take (a list, an int action) meets the same check."""
    f = Filter(Action.KILL_PROCESS)
    with pytest.raises(InvalidArgumentError, match="default action") as info:
        f.add_rules([[Action.ALLOW, "write"], (int(Action.KILL_PROCESS), "read")])  # type: ignore[list-item]
    assert info.value.rule_index == 1 and f.rules == () and not f.failed
    with pytest.raises(UnknownSyscallError) as unknown:
        f.add_rules([(Action.ALLOW, "write"), (Action.ALLOW, "no_such_call_xyz")])
    assert unknown.value.rule_index == 1 and f.rules == ()


def test_a_batch_refused_for_an_arch_midway_is_still_failed_closed() -> None:
    """A refusal only libseccomp sees while adding (EEXIST: the same condition with
    another action) keeps the rules before it on 2.5: the filter is then failed."""
    from seccomp_py import features

    f = Filter(Action.KILL_PROCESS)
    with pytest.raises(SeccompError) as info:
        f.add_rules([(Action.ALLOW, "write"), (Action.ALLOW, "read", Arg(0) == 1),
                     (Action.errno(3), "read", Arg(0) == 1)])
    assert info.value.errno == errno.EEXIST and info.value.rule_index == 2
    assert f.failed is not features.HAS_TRANSACTIONS


def test_profiles_meet_the_same_check() -> None:
    profile = Profile.from_dict({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}],
    })
    with pytest.raises(ProfileError, match=r"^syscalls\[0\]\.names\[0\]: libseccomp refused"):
        profile.compile()
