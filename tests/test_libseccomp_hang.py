"""libseccomp's shared-chain loop (docs/failclosed.md): seccomp_rule_add never
returns for a rule that shares an earlier rule's comparisons up to one on
!=, <, <=, >, >= and then inserts a comparison libseccomp orders first.
seccomp_py refuses that rule (LibseccompHangError, EDEADLK) before libseccomp
sees it.  Every build runs in a forked child with a timeout (helpers.child), so
a shape the guard misses fails its test instead of hanging the suite; the
decisions are the kernel's, for calls matching each rule and for others."""

from __future__ import annotations

import errno
import os
import random
import signal
import time
from typing import Any

import pytest
from helpers.child import in_child
from helpers.syscalls import raw_syscall

from seccomp_py import (
    Action,
    Arg,
    ArgCmp,
    Filter,
    InvalidArgumentError,
    LibseccompHangError,
    Op,
)
from seccomp_py.rule import _chain_hazard_cmps

BIG = 0x100000000
# (second rule's comparison on arg 1, a value of arg 1 it matches, one it does not)
LOOPING = {
    "eq_big": (Arg(1) == BIG, BIG, 7),
    "ne_big": (Arg(1) != BIG, 7, BIG),
    "masked_big": (Arg(1).masked_eq(BIG, BIG), BIG | 3, 0),
    "masked_big_low": (Arg(1).masked_eq(BIG | 1, BIG | 1), BIG | 1, BIG),
}


def _build_and_probe(rules: list[tuple[int, tuple[ArgCmp, ...]]],
                     calls: list[tuple[int, int]]) -> Any:
    """In the child: add ``rules`` (errno, comparisons) for getppid one by one;
    return ("refused", rule number, errno, message) or, loaded, the errno of
    getppid(a0, a1) for each call (0: allowed by the default)."""
    f = Filter(Action.ALLOW)
    for k, (err, cmps) in enumerate(rules):
        try:
            f.add_rule(Action.errno(err), "getppid", *cmps)
        except LibseccompHangError as exc:
            assert f.rules == tuple(f.rules[:k])  # nothing added
            return ("refused", k, exc.errno, str(exc))
    f.load()
    out = []
    for a0, a1 in calls:
        ret = raw_syscall("getppid", a0, a1)
        out.append(-ret if ret < 0 else 0)
    return out


@pytest.mark.parametrize("second", sorted(LOOPING))
@pytest.mark.parametrize("same_action", [False, True])
def test_looping_shapes_are_refused_not_hung(second: str, same_action: bool) -> None:
    cmp, _hit, _miss = LOOPING[second]
    rules = [(10, (Arg(0) != 0, Arg(1) == 0)), (10 if same_action else 11, (Arg(0) != 0, cmp))]
    out = in_child(_build_and_probe, rules, [], timeout=30)
    assert out.error is None, out
    tag, k, err, message = out.value
    assert (tag, k, err) == ("refused", 1, errno.EDEADLK)
    assert "Arg(0) != 0x0, Arg(1) == 0x0" in message and repr(cmp) in message
    assert "libseccomp" in message and "other order" in message


def test_a_third_rule_is_refused_too() -> None:
    rules = [(10, (Arg(0) != 0, Arg(1) == 5)), (11, (Arg(0) != 0, Arg(1) == 3)),
             (12, (Arg(0) != 0, Arg(1) == BIG))]
    out = in_child(_build_and_probe, rules, [], timeout=30)
    assert out.error is None and out.value[:3] == ("refused", 2, errno.EDEADLK), out


# shapes that do not loop: accepted, and the kernel decides as the rules say
SAFE = {
    "eq_first": ((Arg(0) == 5, Arg(1) == 0), (Arg(0) == 5, Arg(1) == BIG),
                 [(5, 0), (5, BIG), (5, 1), (4, 0)], [10, 11, 0, 0]),
    "no_arg0": ((Arg(1) == 0,), (Arg(1) == BIG,), [(1, 0), (1, BIG), (1, 1)], [10, 11, 0]),
    "low_word": ((Arg(0) != 0, Arg(1) == 0), (Arg(0) != 0, Arg(1).masked_eq(1, 1)),
                 [(1, 0), (1, 3), (0, 3), (1, 2)], [10, 11, 0, 0]),
    "greater": ((Arg(0) != 0, Arg(1) == 0), (Arg(0) != 0, Arg(1) > BIG),
                [(1, 0), (1, BIG + 1), (0, BIG + 1), (1, BIG)], [10, 11, 0, 0]),
    "at_least": ((Arg(0) != 0, Arg(1) == 0), (Arg(0) != 0, Arg(1) >= BIG),
                 [(1, 0), (1, BIG), (0, BIG), (1, 5)], [10, 11, 0, 0]),
    # the looping pair in the other order: the new node goes after the head
    "other_order": ((Arg(0) != 0, Arg(1) == BIG), (Arg(0) != 0, Arg(1) == 0),
                    [(1, BIG), (1, 0), (0, 0), (1, 1)], [10, 11, 0, 0]),
}


@pytest.mark.parametrize("name", sorted(SAFE))
def test_shapes_that_do_not_loop_are_enforced(name: str) -> None:
    first, second, calls, want = SAFE[name]
    out = in_child(_build_and_probe, [(10, first), (11, second)], calls, timeout=30)
    assert out.error is None and out.value == want, out


def test_add_rules_refuses_the_whole_batch() -> None:
    with Filter(Action.ALLOW) as f:
        f.add_rule(Action.errno(9), "getpid")
        batch = [(Action.errno(10), "getppid", Arg(0) != 0, Arg(1) == 0),
                 (Action.errno(12), "getuid"),
                 (Action.errno(11), "getppid", Arg(0) != 0, Arg(1) == BIG)]
        with pytest.raises(LibseccompHangError) as info:
            f.add_rules(batch)
        assert info.value.rule_index == 2 and info.value.errno == errno.EDEADLK
        assert info.value.earlier.comparisons == (Arg(0) != 0, Arg(1) == 0)
        assert len(f.rules) == 1 and not f.failed  # nothing of the batch
        # against a rule already in the filter, with add_rule_exact
        f.add_rule(Action.errno(10), "getppid", Arg(0) > 3, Arg(2) == 1)
        with pytest.raises(LibseccompHangError):
            f.add_rule_exact(Action.errno(11), "getppid", Arg(0) > 3, Arg(2) == BIG)
        with pytest.raises(LibseccompHangError):
            f.add_rules([(Action.errno(11), "getppid", Arg(0) > 3, Arg(3) == 0)])
        assert len(f.rules) == 2


def test_libseccomp_own_refusals_come_first() -> None:
    """A looping shape libseccomp refuses anyway keeps libseccomp's error."""
    with Filter(Action.errno(11)) as f:
        f.add_rule(Action.errno(10), "getppid", Arg(0) != 0, Arg(1) == 0)
        with pytest.raises(InvalidArgumentError) as info:
            f.add_rule(Action.errno(11), "getppid", Arg(0) != 0, Arg(1) == BIG)
        assert info.value.errno == errno.EACCES


# -- the characterization against the real libseccomp --------------------------------

_OPS = [Op.NE, Op.EQ, Op.GT, Op.GE, Op.LT, Op.LE, Op.MASKED_EQ]
_VALUES = [0, 1, 5, 0xFFFFFFFF, BIG, BIG | 1, 2 * BIG]


def _raw_add(rules: list[list[tuple[int, int, int, int]]]) -> None:
    """Add ``rules`` for getppid with libseccomp directly (no guard), then _exit(0)."""
    from seccomp_py._native import ffi, lib
    try:
        ctx = lib.seccomp_init(lib.SCMP_ACT_ALLOW)
        nr = lib.seccomp_syscall_resolve_name(b"getppid")
        for k, cmps in enumerate(rules):
            arr = ffi.new("struct scmp_arg_cmp[]", cmps)
            lib.seccomp_rule_add_array(ctx, 0x00050000 | (10 + k), nr, len(cmps), arr)
    finally:
        os._exit(0)


def _hangs(rules: list[list[tuple[int, int, int, int]]], timeout: float) -> bool:
    pid = os.fork()
    if pid == 0:
        _raw_add(rules)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def _cmp(rng: random.Random, index: int) -> tuple[int, int, int, int]:
    op = rng.choice(_OPS)
    a = rng.choice(_VALUES)
    if op is Op.MASKED_EQ:
        a = a or 1
        return (index, int(op), a, rng.choice(_VALUES) & a)
    return (index, int(op), a, 0)


def test_the_characterization_matches_libseccomp() -> None:
    """Random pairs and triples sharing a first comparison: every one that
    makes raw libseccomp loop is one the guard refuses (the guard may refuse a
    few more: it does not model libseccomp's pruning of shorter rules)."""
    rng = random.Random(int(os.environ.get("SECCOMP_PY_HANG_SEED", "8")))
    missed, hung, cases = [], 0, 0
    while cases < 60:
        first = _cmp(rng, 0)
        rules = [[first, _cmp(rng, rng.choice((1, 2)))] for _ in range(rng.choice((2, 2, 3)))]
        cases += 1
        if _hangs(rules, 0.5):
            hung += 1
            # a slow machine is not a loop: a miss is checked again, patiently
            if not _chain_hazard_cmps(rules) and _hangs(rules, 20.0):
                missed.append(rules)
    assert not missed, missed
    assert hung  # the sample does meet the defect


def _model_run() -> tuple[list[str], int]:
    from helpers import failclosed_kernel as K
    from helpers import model as M

    ne0 = M.MCmp(0, "NE", 0)
    policy = M.MPolicy(M.ALLOW, (
        M.MRule(M.ERRNO(10), "getppid", (ne0, M.MCmp(1, "EQ", 0))),
        M.MRule(M.ERRNO(11), "getppid", (ne0, M.MCmp(1, "EQ", BIG))),  # refused
        M.MRule(M.ERRNO(12), "getppid", (ne0, M.MCmp(1, "GT", BIG))),  # ordered after
    ), optimize=2)
    calls = tuple(K.Call("getppid", (a0, a1, 0, 0, 0, 0))
                  for a0 in (0, 1) for a1 in (0, BIG, BIG + 1))
    result = K.run_policy(policy, calls)
    return result.mismatches, result.refusals


def test_the_model_predicts_the_refusal() -> None:
    """The fail-closed harness: the refused rule is an expected refusal (EDEADLK),
    and the kernel decides the rest as the model says."""
    from helpers import failclosed_kernel as K

    if K.supported() is not None:
        pytest.skip(str(K.supported()))
    out = in_child(_model_run, timeout=60)
    assert out.error is None and out.value == ([], 1), out


def _profile_build() -> str:
    from seccomp_py.profile import Profile, ProfileError

    def rule(err: int, value: int) -> dict[str, object]:
        return {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": err,
                "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"},
                         {"index": 1, "value": value, "op": "SCMP_CMP_EQ"}]}

    profile = Profile.from_dict({"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [rule(10, 0), rule(11, BIG)]})
    try:
        profile.to_filter()
    except ProfileError as exc:
        return str(exc)
    return "built"


def test_a_profile_is_refused_with_the_reason() -> None:
    out = in_child(_profile_build, timeout=30)
    assert out.error is None and "syscalls[1]" in out.value, out
    assert "libseccomp would never return" in out.value, out
