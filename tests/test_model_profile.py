"""Model-based differential test of profiles (OCI / Docker / Podman JSON).

Random profiles over the probe syscalls are compiled with
``seccomp_py.profile.Profile.from_dict(...).to_filter()`` and loaded in a
forked child; tests/helpers/model.py, fed with the profile translated by moby/runc
semantics, predicts what the kernel does.  Skips until seccomp_py.profile is
merged.

moby/runc semantics used for the translation (DESIGN.md "Profiles"):

* ``SCMP_ACT_ERRNO`` / ``SCMP_ACT_TRACE`` take ``errnoRet`` (rules) or
  ``defaultErrnoRet`` (the default); EPERM when absent;
  ``SCMP_ACT_KILL`` is KILL_THREAD;
* an entry whose action equals the default action is skipped;
* the conditions of one entry are ANDed; when an argument index appears twice
  in one entry, every condition of that entry becomes a rule of its own (OR),
  as runc does;
* ``SCMP_CMP_MASKED_EQ`` is ``(arg & value) == valueTwo``.
"""

from __future__ import annotations

import errno
import os
import warnings
from typing import Any

import pytest
from helpers import failclosed_kernel as K
from helpers import model as M
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_py import SeccompError
from seccomp_py import profile as profile_mod

pytestmark = pytest.mark.skipif(K.supported() is not None, reason=str(K.supported()))

EXAMPLES = int(os.environ.get("SECCOMP_PY_MODEL_EXAMPLES", "200")) // 2

ACTIONS = {"SCMP_ACT_ALLOW": "ALLOW", "SCMP_ACT_LOG": "LOG", "SCMP_ACT_ERRNO": "ERRNO",
           "SCMP_ACT_TRACE": "TRACE", "SCMP_ACT_TRAP": "TRAP",
           "SCMP_ACT_KILL_PROCESS": "KILL_PROCESS", "SCMP_ACT_KILL": "KILL_THREAD",
           "SCMP_ACT_KILL_THREAD": "KILL_THREAD"}
OPS = {"SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
       "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}


def _action(name: str, ret: Any) -> M.MAction:
    kind = ACTIONS[name]
    if kind in ("ERRNO", "TRACE"):
        return M.MAction(kind, errno.EPERM if ret is None else ret)
    return M.MAction(kind)


def translate(profile: dict[str, Any]) -> M.MPolicy:
    """The profile as the model's policy, by moby/runc semantics."""
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    rules: list[M.MRule] = []
    for entry in profile.get("syscalls", []):
        action = _action(entry["action"], entry.get("errnoRet"))
        if action == default:
            continue
        cmps = [M.MCmp(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in entry.get("args", [])]
        split = len({c.index for c in cmps}) < len(cmps)
        for name in entry["names"]:
            if split:
                rules += [M.MRule(action, name, (c,)) for c in cmps]
            else:
                rules.append(M.MRule(action, name, tuple(cmps)))
    return M.MPolicy(default, tuple(rules))


EDGES = (0, 1, 2, 0xFF, 0xFFFFFFFF, 1 << 32, 1 << 63, (1 << 64) - 1)
values = st.one_of(st.sampled_from(EDGES), st.integers(0, (1 << 64) - 1), st.integers(0, 16))
args = st.fixed_dictionaries({"index": st.integers(0, 2), "value": values,
                              "op": st.sampled_from(sorted(OPS))},
                             optional={"valueTwo": values})
errno_rets = st.one_of(st.sampled_from([1, 2, 13, 38]), st.integers(1, 4094))
entries = st.fixed_dictionaries(
    {"names": st.lists(st.sampled_from(list(K.PROBES)), min_size=1, max_size=2, unique=True),
     "action": st.sampled_from(sorted(ACTIONS))},
    optional={"errnoRet": errno_rets, "args": st.lists(args, max_size=3)})
profiles = st.fixed_dictionaries(
    {"defaultAction": st.sampled_from(sorted(ACTIONS)),
     "syscalls": st.lists(entries, max_size=5)},
    optional={"defaultErrnoRet": errno_rets})


def _with_harness(profile: dict[str, Any]) -> dict[str, Any]:
    """Add an ALLOW entry for what the child itself needs when the default denies."""
    if ACTIONS[profile["defaultAction"]] in ("ALLOW", "LOG"):
        return profile
    out = dict(profile)
    out["syscalls"] = [{"names": list(K.HARNESS), "action": "SCMP_ACT_ALLOW"},
                       *profile["syscalls"]]
    return out


def check_profile(profile: dict[str, Any], calls: tuple[K.Call, ...]) -> K.Result:
    policy = translate(profile)
    model = M.Model(policy)
    result = K.Result(policy, calls)
    may_refuse = False
    for rule in policy.rules:
        verdict = model.verdict(rule)
        if verdict.permits(0):
            model.add(rule, 0)
        may_refuse |= bool(verdict.allowed - {0})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = profile_mod.Profile.from_dict(_with_harness(profile)).to_filter(
                unknown="error")
    except SeccompError as exc:
        assert may_refuse, f"profile refused ({exc}) where the model accepts every rule:\n" \
                           f"{policy.describe()}"
        return result
    K.run_filter(f, model, calls, result)
    assert not result.mismatches, f"profile: {profile!r}\n" + result.report()
    return result


@st.composite
def profile_cases(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[K.Call, ...]]:
    prof: dict[str, Any] = draw(profiles.filter(lambda p: K.known_bug(translate(p)) is None))
    datums = sorted({a["value"] for e in prof["syscalls"] for a in e.get("args", [])}
                    | {a.get("valueTwo", 0) for e in prof["syscalls"] for a in e.get("args", [])}
                    | {0, 1})
    near = [v2 for v in datums for v2 in (v, (v + 1) & M.MASK64, (v - 1) & M.MASK64)]
    value = st.one_of(st.sampled_from(near), st.integers(0, (1 << 64) - 1))
    calls = tuple(K.Call(draw(st.sampled_from(list(K.PROBES))),
                         tuple(draw(value) for _ in range(6)))
                  for _ in range(draw(st.integers(1, 3))))
    return prof, calls


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(profile_cases())
def test_profile_kernel_agrees_with_model(case: tuple[dict[str, Any], tuple[K.Call, ...]],
                                          ) -> None:
    check_profile(*case)


def _call(name: str, *a: int) -> K.Call:
    return K.Call(name, tuple(a) + (0,) * (6 - len(a)))


def test_repeated_index_becomes_separate_rules() -> None:
    # runc: two conditions on argument 0 in one entry are ORed.
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}
    check_profile(prof, (_call("getppid", 1), _call("getppid", 2), _call("getppid", 3)))


def test_masked_eq_is_value_and_valuetwo() -> None:
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 0xF0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}]}]}
    check_profile(prof, (_call("getppid", 0, 0x3F), _call("getppid", 0, 0x40)))
