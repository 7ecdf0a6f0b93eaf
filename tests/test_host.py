"""What the seccomp-py command computes, callable from Python (issue 16 item 7):
capability sets, kernel versions, arch names, profile lookup, errno and action
names, syscall-name hints."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from seccomp_py import Action, Arch
from seccomp_py.host import (
    CAP_SETS,
    arch_names,
    current_kernel,
    kernel_version,
    named_caps,
    target_arch,
)
from seccomp_py.learn import learned_default
from seccomp_py.profile import Profile, ProfileError, builtin_names
from seccomp_py.profile_schema import action_named, errno_number
from seccomp_py.syscall import similar_names


@pytest.mark.parametrize("spec, name", [
    ("docker", "docker"), (" Podman ", "podman"), ("all", "all"), ("none", "none"),
    ("", "none"), ("CAP_SYS_ADMIN,sys_ptrace", "given"),
])
def test_named_caps(spec: str, name: str) -> None:
    caps, called = named_caps(spec)
    assert called == name
    if name in CAP_SETS:
        assert caps == CAP_SETS[name]
    else:
        assert caps == {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}


def test_named_caps_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="CAP_SYS_ADMIN"):
        named_caps("CAP_SYS_ADMN")


def test_kernel_version() -> None:
    assert kernel_version() == current_kernel() == kernel_version(None)
    assert kernel_version("5.10.0-21-amd64") == (5, 10)
    assert kernel_version((4, 8)) == (4, 8)
    with pytest.raises(ValueError):
        kernel_version("five")


def test_arch_names_are_what_target_arch_takes() -> None:
    names = arch_names()
    assert Arch.native().libseccomp_name in names and "native" not in names
    for name in names:
        assert target_arch(name).libseccomp_name == name


def test_profile_open_finds_files_and_builtins(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in builtin_names():
        p = Profile.open(name)
        assert p.origin == name and p.runtime_caps() == name
    own = tmp_path / "docker"  # a file of that name wins over the built-in
    own.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    p = Profile.open("docker")
    assert p.origin is None and p.syscalls == ()
    assert Profile.open(os.fspath(own)) == p
    with pytest.raises(FileNotFoundError):
        Profile.open("no-such-profile")
    (tmp_path / "bad.json").write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    with pytest.raises(ProfileError, match="unknown action"):
        Profile.open("bad.json")


@pytest.mark.parametrize("text, number", [
    ("EPERM", errno.EPERM), ("eacces", errno.EACCES), ("13", 13), ("0x0d", 13), (7, 7),
    ("4095", 4095),
])
def test_errno_number(text: str | int, number: int) -> None:
    assert errno_number(text) == number


@pytest.mark.parametrize("text, limit, message", [
    ("EWHAT", 4095, "unknown errno 'EWHAT'"),
    ("0", 4095, r"errno 0 is out of range \(1..4095\)"),
    ("4095", 4094, r"errno 4095 is out of range \(1..4094\)"),
    (True, 4095, "unknown errno"),
])
def test_errno_number_refuses(text: str | int, limit: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        errno_number(text, limit=limit)


def test_action_named() -> None:
    assert action_named("errno", "EACCES") == Action.errno(errno.EACCES)
    assert action_named("SCMP_ACT_ERRNO") == Action.errno(errno.EPERM)  # runc's default
    assert action_named("kill_process") == Action.KILL_PROCESS
    assert action_named("SCMP_ACT_TRACE", 7) == Action.trace(7)
    with pytest.raises(ValueError, match="unknown action 'FOO'"):
        action_named("FOO")


def test_learned_default() -> None:
    assert learned_default() == Action.errno(errno.EPERM)
    assert learned_default("KILL_PROCESS") == Action.KILL_PROCESS
    assert learned_default("SCMP_ACT_ERRNO", "ENOSYS") == Action.errno(errno.ENOSYS)
    for refused in ("ALLOW", "scmp_act_notify"):
        with pytest.raises(ValueError, match="would not restrict anything"):
            learned_default(refused)
    with pytest.raises(ValueError, match="unknown errno 'EWHAT'"):
        learned_default("ERRNO", "EWHAT")


def test_similar_names() -> None:
    assert similar_names("opnat")[0] == "openat"
    assert similar_names("zzzzzzzzzz") == []
    assert "socketcall" in similar_names("socketcal", [Arch.X86], n=1)
