"""bench/harness/flatten.py: Docker's profile -> the flat rule list every benchmark peer builds.

The data checks pin moby's semantics (caps, arches, minKernel, OR-split of a
repeated argument index); the enforcement check loads the flat list, built with
seccomp_py, in a forked child and asserts what the kernel answers.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import json
import os
import platform
from types import ModuleType
from typing import Any

import pytest
from helpers.child import in_child
from helpers.paths import PROFILES, REPO


def _load(module: str) -> ModuleType:
    """Import bench/harness/MODULE.py under a unique name (the harness is not a package)."""
    harness = os.path.join(REPO, "bench", "harness")
    spec = importlib.util.spec_from_file_location(f"bench_harness_{module}",
                                                  os.path.join(harness, f"{module}.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


flatten = _load("flatten")

DOCKER = os.path.join(PROFILES, "docker.json")
pytestmark = [
    pytest.mark.skipif(platform.machine() != "x86_64", reason="numbers pinned for amd64"),
]


def _docker() -> dict[str, Any]:
    with open(DOCKER) as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _rules(flat: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in flat["rules"] if r["name"] == name]


def test_all_caps_amd64() -> None:
    flat = flatten.flatten(_docker(), "amd64", "all", (6, 1))
    assert flat["default_value"] == 0x00050001  # ERRNO(EPERM)
    pers = _rules(flat, "personality")
    assert sorted(r["args"][0]["value"] for r in pers) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(r["args"][0]["op"] == "SCMP_CMP_EQ" for r in pers)
    assert [r["args"][0]["op"] for r in _rules(flat, "socket")] == [
        "SCMP_CMP_LT", "SCMP_CMP_EQ", "SCMP_CMP_GT"]
    # CAP_SYS_ADMIN held: clone unconditional, the clone3 ENOSYS rule excluded
    assert [r["args"] for r in _rules(flat, "clone")] == [[]]
    assert _rules(flat, "clone3") and all(r["action"] == "SCMP_ACT_ALLOW"
                                          for r in _rules(flat, "clone3"))
    assert _rules(flat, "arch_prctl") and not _rules(flat, "arm_fadvise64_64")
    # pseudo-syscalls of other arches are skipped with a reason, never kept
    assert not _rules(flat, "socketcall")
    assert any(s["name"] == "socketcall" for s in flat["skipped"])
    # duplicates (bpf under CAP_SYS_ADMIN and CAP_BPF) kept once
    assert len(_rules(flat, "bpf")) == 1


def test_no_caps_and_old_kernel() -> None:
    flat = flatten.flatten(_docker(), "amd64", "none", (4, 4))
    clone = _rules(flat, "clone")
    assert len(clone) == 1 and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    assert clone[0]["args"][0]["index"] == 0  # s390's index-1 variant excluded
    c3 = _rules(flat, "clone3")
    assert len(c3) == 1 and c3[0]["action_value"] == 0x00050000 | errno.ENOSYS
    assert not _rules(flat, "ptrace")  # minKernel 4.8
    assert not _rules(flat, "reboot")  # needs CAP_SYS_BOOT


def test_repeated_index_is_split_and_default_action_skipped() -> None:
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 10, "op": "SCMP_CMP_LE"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
    ]}
    flat = flatten.flatten(profile, "amd64", "all", (6, 1))
    assert [len(r["args"]) for r in _rules(flat, "kill")] == [1, 1]
    assert [len(r["args"]) for r in _rules(flat, "read")] == [2]
    assert not _rules(flat, "mkdir")
    assert {"name": "mkdir", "reason": "action equals the default"} in flat["skipped"]
    text = flatten.to_text(flat).splitlines()
    assert text[0] == "default 0x50001"
    assert "read 0x7fff0000 2 0 4 0 0 2 3 10 0" in text


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        flatten.flatten({"defaultAction": "SCMP_ACT_NOPE", "syscalls": []}, "amd64")
    with pytest.raises(ValueError, match="unknown op"):
        flatten.flatten({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_SOMETIMES"}]}]}, "amd64")


def _load_flat_and_probe(flat: dict[str, Any]) -> dict[str, Any]:
    from seccomp_py import Action, ArgCmp, Filter, Op

    ops = {f"SCMP_CMP_{op.name}": op for op in Op}
    f = Filter(Action(flat["default_value"]))
    for r in flat["rules"]:
        f.add_rule(Action(r["action_value"]), r["name"],
                   *[ArgCmp(a["index"], ops[a["op"]], a["value"], a["valueTwo"])
                     for a in r["args"]])
    f.load()
    libc = ctypes.CDLL(None, use_errno=True)

    def call(nr: int, *args: int) -> int:
        rc = libc.syscall(nr, *[ctypes.c_ulong(a) for a in args])
        return 0 if rc >= 0 else ctypes.get_errno()

    AF_VSOCK, SOCK_STREAM, SYS_personality, SYS_socket, SYS_getppid = 40, 1, 135, 41, 110
    return {"query": call(SYS_personality, 0xFFFFFFFF), "set": call(SYS_personality, 1),
            "vsock": call(SYS_socket, AF_VSOCK, SOCK_STREAM), "getppid": call(SYS_getppid)}


def test_flat_docker_profile_enforced_in_child() -> None:
    flat = flatten.flatten(_docker(), "amd64", "all")
    out = in_child(_load_flat_and_probe, flat, timeout=20)
    assert out.error is None and out.exitcode == 0, out
    assert out.value == {"query": 0, "set": errno.EPERM, "vsock": errno.EPERM, "getppid": 0}
