"""Bad input of any shape gives ProfileError / BpfError, never another exception."""

from __future__ import annotations

import copy
import warnings
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_py import Arch, bpf
from seccomp_py.profile import Profile, ProfileError, ProfileWarning

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_CMP_EQ", "read",
                                              "SCMP_ARCH_X86", "CAP_SYS_ADMIN", "4.8"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["names", "name", "action", "args", "index", "value", "valueTwo",
                         "op", "includes", "excludes", "caps", "arches", "minKernel",
                         "errnoRet", "errno", "x"]), inner, max_size=4),
    max_leaves=12)

BASE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
         "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"], "minKernel": "4.8"},
         "excludes": {}},
    ],
}
PATHS = [("defaultAction",), ("archMap",), ("archMap", 0), ("archMap", 0, "architecture"),
         ("syscalls",), ("syscalls", 0), ("syscalls", 0, "names"), ("syscalls", 0, "names", 1),
         ("syscalls", 0, "action"), ("syscalls", 0, "args"), ("syscalls", 0, "args", 0),
         ("syscalls", 0, "args", 0, "index"), ("syscalls", 0, "args", 0, "value"),
         ("syscalls", 0, "args", 0, "op"), ("syscalls", 0, "includes"),
         ("syscalls", 0, "includes", "caps"), ("syscalls", 0, "includes", "minKernel"),
         ("syscalls", 0, "excludes"), ("syscalls", 0, "errnoRet"), ("defaultErrnoRet",),
         ("flags",), ("architectures",), ("listenerPath",)]


def _accept_or_profile_error(data: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        try:
            p = Profile.from_dict(data)
        except ProfileError:
            return
        try:
            with p.compile(caps=(), kernel="6.1").filter:
                pass
        except ProfileError:
            return


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), json_values)
def test_any_value_anywhere_gives_profile_error_or_a_profile(path: tuple[Any, ...],
                                                             value: Any) -> None:
    data = copy.deepcopy(BASE)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _accept_or_profile_error(data)


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_any_top_level_value(value: Any) -> None:
    _accept_or_profile_error(value)


@settings(max_examples=120, deadline=None)
@given(st.binary(min_size=8, max_size=8 * 40).map(lambda b: b[: len(b) // 8 * 8]),
       st.integers(0, 2**32 - 1), st.sampled_from([Arch.X86_64, Arch.S390X]))
def test_random_programs_disassemble_and_evaluate_or_raise_bpf_error(
        data: bytes, nr: int, arch: Arch) -> None:
    text = bpf.disassemble(data)
    assert text.count("\n") == len(data) // 8
    try:
        value = bpf.evaluate(data, nr - 2**31, int(arch), (nr, 2**64 - 1))
    except bpf.BpfError:
        return
    assert 0 <= value < 2**32
