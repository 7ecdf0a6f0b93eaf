"""Model-based differential test of the core: what seccomp_py tells the kernel
is what the user asked for.

Hypothesis generates policies (default action; rules with ALLOW, LOG, ERRNO(n),
TRACE(n), TRAP, KILL_PROCESS, KILL_THREAD; zero to three comparisons incl.
masked-equal, 64-bit and 32-bit values; priorities; extra arches; the binary
tree optimizer; a bad-arch action) and calls; tests/helpers/model.py predicts the
outcome from libseccomp's documented semantics; a forked child loads the
filter built by seccomp_py and makes the calls with raw syscall(2).  Any
difference fails, shrunk by hypothesis.  scripts/model_long.py runs 10,000.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest
from helpers import failclosed_kernel as K
from helpers import model as M
from helpers.child import in_child
from helpers.failclosed_strategies import cases
from hypothesis import HealthCheck, given, settings

from seccomp_py import Action, Arg, Filter

pytestmark = pytest.mark.skipif(K.supported() is not None, reason=str(K.supported()))

CI_EXAMPLES = int(os.environ.get("SECCOMP_PY_MODEL_EXAMPLES", "200"))


def check(policy: M.MPolicy, calls: tuple[K.Call, ...]) -> K.Result:
    result = K.run_policy(policy, calls)
    assert not result.mismatches, result.report()
    return result


@settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_kernel_agrees_with_model(case: tuple[M.MPolicy, tuple[K.Call, ...]]) -> None:
    check(*case)


# -- hand-picked cases that pin the model's reading of libseccomp -------------------------

A0 = M.MCmp


def _call(name: str, *args: int, x32: bool = False) -> K.Call:
    return K.Call(name, tuple(args) + (0,) * (6 - len(args)), x32)


def test_unconditional_rule_overrides_earlier_conditional_rule() -> None:
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(1), "getppid", (A0(0, "EQ", 7),)),
                            M.MRule(M.ERRNO(2), "getppid")))
    r = check(p, (_call("getppid", 7), _call("getppid", 8)))
    assert r.checked == 2 and r.refusals == 0


def test_first_unconditional_rule_wins_silently() -> None:
    # libseccomp keeps the first unconditional rule and drops later ones, even
    # with a stricter action: the model says so, and the kernel agrees.
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(1), "getppid"),
                            M.MRule(M.KILL_PROCESS, "getppid")))
    r = check(p, (_call("getppid"),))
    assert r.refusals == 0


def test_same_condition_different_action_is_refused_with_eexist() -> None:
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(1), "getppid", (A0(0, "EQ", 1),)),
                            M.MRule(M.ERRNO(2), "getppid", (A0(0, "EQ", 1),))))
    r = check(p, (_call("getppid", 1), _call("getppid", 2)))
    assert r.refusals == 1


def test_action_equal_to_default_is_refused_with_eacces() -> None:
    model = M.Model(M.MPolicy(M.ERRNO(5)))
    assert model.verdict(M.MRule(M.ERRNO(5), "getppid")).allowed == {errno.EACCES}
    p = M.MPolicy(M.ERRNO(5), (M.MRule(M.ERRNO(5), "getppid"),))
    assert check(p, (_call("getppid"),)).refusals == 1


def test_masked_eq_with_64bit_mask_and_datum_bits_outside_the_mask() -> None:
    cmp = A0(0, "MASKED_EQ", 0xFFFF_0000_0000_00FF, 0x1234_0000_0000_0012)
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(9), "tuxcall", (cmp,)),))
    check(p, (_call("tuxcall", 0xFFFF_0000_0000_0012), _call("tuxcall", 0x1234_0000_0000_0012),
              _call("tuxcall", 0x0000_0000_0000_0012)))


def test_64bit_greater_than_across_the_halves() -> None:
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(3), "security", (A0(1, "GT", 0x1_0000_0000),)),))
    check(p, tuple(_call("security", 0, v) for v in
                   (0xFFFF_FFFF, 0x1_0000_0000, 0x1_0000_0001, 0x2_0000_0000, (1 << 64) - 1)))


def test_32bit_comparison_truncates_the_datum_not_the_argument() -> None:
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(4), "getppid", (A0(0, "EQ", -1, bits=32),)),))
    check(p, (_call("getppid", 0xFFFF_FFFF), _call("getppid", (1 << 64) - 1)))


def test_x32_numbers_get_the_bad_arch_action() -> None:
    # DESIGN pitfall: x32 numbers under the x86_64 audit arch must not slip by.
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(1), "getppid"),), bad_arch=M.ERRNO(77))
    check(p, (_call("getppid", x32=True), _call("afs_syscall", x32=True), _call("getppid")))


def test_harness_catches_a_wrong_prediction(monkeypatch: pytest.MonkeyPatch) -> None:
    # The differential harness can fail: a model that predicts ERRNO(2) where the
    # filter says ERRNO(1) is reported as a mismatch.
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(1), "getppid"),))
    assert not K.run_policy(p, (_call("getppid"),)).mismatches
    monkeypatch.setattr(M.Model, "decide", lambda self, *a, **k: frozenset({M.ERRNO(2)}))
    result = K.run_policy(p, (_call("getppid"),))
    assert len(result.mismatches) == 1 and "ERRNO(2)" in result.mismatches[0]


# -- libseccomp bugs found by the model (shrunk examples) -----------------------------------
# seccomp_py's verifier (seccomp_py/verify.py) proves every program against the
# rules; where libseccomp's is wrong it repairs it or refuses it before loading.


def _x32_phantom_is_refused(build: Any) -> None:
    """seccomp_py's verifier refuses the program libseccomp 2.5.4 gets wrong,
    and a child that tries to load it is never confined by it."""
    from seccomp_py import SeccompError
    from seccomp_py.errors import FilterVerificationError

    f = build()
    exported = None
    try:
        exported = f.export_bpf()
    except FilterVerificationError as exc:
        # the verifier names the call the program gets wrong
        assert exc.errno == errno.EPROTO and exc.syscall in ("getppid", "vserver"), exc
        assert exc.expected and exc.actual and exc.version
    if exported is not None:  # a libseccomp without the bug: the rules must hold
        return

    def child() -> str:
        g = build()
        try:
            g.load()
        except SeccompError as exc:
            return f"refused {exc.errno}"
        return "loaded"

    out = in_child(child)
    assert out.value == f"refused {errno.EPROTO}", out


def test_x32_arch_with_priority_on_unruled_syscall_is_refused() -> None:
    # libseccomp 2.5.4: Filter(ALLOW); add_arch("x32"); set_priority("getpmsg", 22);
    # add_rule(KILL_PROCESS, "getppid") compiles to a program where getppid() is
    # ALLOWED (fail open).  The model's shape check still names it:
    p = M.MPolicy(M.ALLOW, (M.MRule(M.KILL_PROCESS, "getppid"),),
                  priorities=(("getpmsg", 22),), arches=("x32",))
    assert K.known_bug(p) == "LSC-X32-PHANTOM"

    def build() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_arch("x32")
        f.set_priority("getpmsg", 22)
        f.add_rule(Action.KILL_PROCESS, "getppid")
        return f

    _x32_phantom_is_refused(build)


# Very likely GHSA-4q85-33p6-j5g6, fixed in libseccomp 2.6.1.  libseccomp 2.5.4
# gets it wrong; seccomp_py's verifier catches it and repairs the program (it
# decides getppid itself), so the kernel enforces the rules as written.
def test_range_rules_with_different_actions_do_not_leak_into_each_other() -> None:
    # Filter(ERRNO(2));
    # add_rule(ERRNO(11), "getppid", Arg(5) > 2**64-1, Arg(2) >= 0)      # never matches
    # add_rule(ALLOW, "getppid", Arg(2) > 0x1000, Arg(4) > 8)
    # getppid(0, 0, 0x351, 0, 9, 0): no rule matches, ERRNO(2) expected; the kernel ALLOWS.
    p = M.MPolicy(M.ERRNO(2), (
        M.MRule(M.ERRNO(11), "getppid", (A0(5, "GT", -1), A0(2, "GE", 0))),
        M.MRule(M.ALLOW, "getppid", (A0(2, "GT", 0x1000), A0(4, "GT", 8)))))
    assert K.known_bug(p) == "LSC-RANGE-MERGE"
    r = check(p, (_call("getppid", 0, 0, 0x351, 0, 9, 0), _call("getppid", 0, 0, 0x2000, 0, 9, 0)))
    assert r.checked == 2 and r.verify_refused == 0


def test_x32_arch_with_conditional_rule_on_syscall_x32_lacks_is_refused() -> None:
    # libseccomp 2.5.4: Filter(ALLOW); add_arch("x32"); add_rule(ERRNO(13), "vserver",
    # Arg(1) != 5) -> vserver(0, 7) is ALLOWED on x86_64 (no `ld [0]` after the arch check).
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(13), "vserver", (A0(1, "NE", 5),)),),
                  arches=("x32",))
    assert K.known_bug(p) == "LSC-X32-PHANTOM"

    def build() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_arch("x32")
        f.add_rule(Action.errno(13), "vserver", Arg(1) != 5)
        return f

    _x32_phantom_is_refused(build)


def test_x32_missing_probes_are_what_libseccomp_says() -> None:
    from seccomp_py.syscall import resolve_name

    missing = {n for n in K.PROBES if resolve_name(n, "x32") < 0}
    assert missing == K.X32_MISSING


def test_masked_eq_with_zero_mask_is_an_unconditional_rule() -> None:
    # libseccomp drops an always-true comparison, so the rule is unconditional
    # and the first unconditional rule wins over a later one.
    p = M.MPolicy(M.ALLOW, (M.MRule(M.ERRNO(1), "getppid", (A0(0, "MASKED_EQ", 0, 5),)),
                            M.MRule(M.ERRNO(2), "getppid")))
    assert M.Model(p).verdict(p.rules[1]).allowed == {0}
    check(p, (_call("getppid", 7, 3), _call("getppid")))
