# ruff: noqa: E501  (the table of malformed profiles reads best one case a line)
"""Profiles: loading, validation, moby/runc semantics, and real enforcement.

Enforcement tests load the compiled Filter in a forked child (helpers.child's
``in_child``) and assert the errno the kernel returned.  Semantic tests on
arches other than the native one run the exported BPF through
seccomp_py.bpf.evaluate, whose agreement with the kernel is itself checked
in tests/test_profile_bpf.py.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import warnings
from typing import Any

import pytest
from helpers.child import in_child
from helpers.paths import PROFILES
from helpers.syscalls import raw_syscall

from seccomp_py import Action, Arch, Arg, Filter, bpf
from seccomp_py.profile import (
    CAPABILITIES,
    Profile,
    ProfileError,
    ProfileWarning,
    WeakenedPolicyWarning,
    caps_from_mask,
    current_caps,
    parse_kernel,
)
from seccomp_py.syscall import resolve_name

DOCKER = os.path.join(PROFILES, "docker.json")
PODMAN = os.path.join(PROFILES, "podman.json")
NATIVE = Arch.native()



def _quiet_compile(profile: Profile, **kw: Any) -> Filter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        return profile.to_filter(**kw)


def run_under(profile: Profile, caps: Any, probes: list[tuple[Any, ...]],
              **kw: Any) -> list[int]:
    """Load the profile's filter in a child, then make each probe syscall."""
    filt = _quiet_compile(profile, caps=caps, **kw)

    def child() -> list[int]:
        filt.load()
        out = []
        for probe in probes:
            if callable(probe[0]):
                out.append(probe[0](*probe[1:]))
            else:
                out.append(raw_syscall(*probe))
        return out

    outcome = in_child(child, timeout=20)
    assert outcome.exitcode == 0, outcome
    assert isinstance(outcome.value, list)
    return outcome.value


def evaluate(filt: Filter, name: str, *args: int, arch: Arch = NATIVE) -> str:
    """What the filter returns for syscall ``name`` on ``arch``, as an action name."""
    nr = resolve_name(name, arch)
    return bpf.action_name(bpf.evaluate(filt.export_bpf(), nr, int(arch), args))


def mk(syscalls: list[dict[str, Any]], **top: Any) -> Profile:
    data: dict[str, Any] = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": syscalls}
    data.update(top)
    return Profile.from_dict(data)


@pytest.fixture(scope="module")
def docker() -> Profile:
    return Profile.load(DOCKER)


@pytest.fixture(scope="module")
def podman() -> Profile:
    return Profile.load(PODMAN)


# -- loading -----------------------------------------------------------------------------------


def test_real_profiles_load_and_round_trip_through_dicts(docker: Profile, podman: Profile) -> None:
    assert docker.default_action == "SCMP_ACT_ERRNO" and docker.default_errno_ret == 1
    assert docker.default() == Action.errno(errno.EPERM)
    assert len(docker.syscalls) == 33 and len(docker.arch_map) == 9
    # Podman spells errnos by name too: "defaultErrno": "ENOSYS", "errno": "EPERM"
    assert podman.default() == Action.errno(errno.ENOSYS)
    assert podman.syscalls[0].errno_ret == errno.EPERM
    for p in (docker, podman):
        again = Profile.from_dict(json.loads(p.dumps()))
        assert again == p
    clone = docker.syscalls[18]
    assert clone.excludes.caps == ("CAP_SYS_ADMIN",) and clone.excludes.arches == ("s390", "s390x")
    assert docker.syscalls[1].includes.min_kernel == "4.8"


def test_load_accepts_path_file_text_and_oci_config(tmp_path: Any) -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    path = tmp_path / "p.json"
    path.write_text(text)
    a = Profile.load(str(path))
    with open(path, "rb") as fh:
        b = Profile.load(fh)
    c = Profile.loads(text)
    oci = Profile.from_dict({"ociVersion": "1.0.2", "linux": {"seccomp": json.loads(text)}})
    assert a == b == c == oci
    with pytest.raises(ProfileError, match=r"^linux\.seccomp\.syscalls\[0\]\.action: unknown"):
        Profile.from_dict({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["x"], "action": "BOGUS"}]}}})


def test_old_single_name_and_symbolic_errno() -> None:
    p = mk([{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": "EACCES"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errno": "EROFS"}],
           defaultAction="SCMP_ACT_ALLOW")
    assert p.syscalls[0].names == ("mkdir",) and p.syscalls[0].used_name
    f = p.to_filter(caps=())
    assert evaluate(f, "mkdir") == "ERRNO(13 EACCES)"
    assert evaluate(f, "rmdir") == "ERRNO(30 EROFS)"
    assert evaluate(f, "read") == "ALLOW"
    # and written back with numbers, in the 'names' form
    assert p.to_dict()["syscalls"][0] == {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                          "errnoRet": 13}


# -- malformed profiles ------------------------------------------------------------------------

GOOD_ENTRY = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


def _entry(**kw: Any) -> dict[str, Any]:
    e: dict[str, Any] = dict(GOOD_ENTRY)
    e.update(kw)
    return {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [GOOD_ENTRY, e]}


BAD: list[tuple[Any, str]] = [
    ([], r"^\(top\): expected an object, got an array$"),
    ({}, r"^defaultAction: missing"),
    ({"defaultAction": "SCMP_ACT_NOPE"}, r"^defaultAction: unknown action 'SCMP_ACT_NOPE'$"),
    ({"defaultAction": 3}, r"^defaultAction: expected a string, got a number$"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, r"^defaultAction: SCMP_ACT_NOTIFY cannot be"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, r"^defaultErrnoRet: -1 is outside"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}, r"^defaultErrnoRet: 5000 is outside 0\.\.4095"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1.5}, r"^defaultErrnoRet: expected an integer"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOPE"}, r"^defaultErrno: unknown errno name 'ENOPE'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "defaultErrno": "ENOSYS"},
     r"^defaultErrno: 'ENOSYS' is errno 38, but defaultErrnoRet is 1"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}, r"^syscalls: expected an array, got an object"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": ["read"]}, r"^syscalls\[0\]: expected an object, got a string"),
    (_entry(action="SCMP_ACT_FOO"), r"^syscalls\[1\]\.action: unknown action 'SCMP_ACT_FOO'$"),
    (_entry(action=None), r"^syscalls\[1\]\.action: expected a string, got null"),
    (_entry(names=["read", 7]), r"^syscalls\[1\]\.names\[1\]: expected a string, got a number$"),
    (_entry(names="read"), r"^syscalls\[1\]\.names: expected an array, got a string$"),
    (_entry(names=[]), r"^syscalls\[1\]\.names: no syscall names$"),
    (_entry(names=["re ad "]), r"^syscalls\[1\]\.names\[0\]: bad syscall name"),
    (_entry(name="write"), r"^syscalls\[1\]: 'name' and 'names' cannot both be given"),
    (_entry(errnoRet="EWHAT"), r"^syscalls\[1\]\.errnoRet: unknown errno name 'EWHAT'"),
    (_entry(errnoRet=True), r"^syscalls\[1\]\.errnoRet: expected an integer, got a boolean"),
    (_entry(args={"index": 0}), r"^syscalls\[1\]\.args: expected an array, got an object"),
    (_entry(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]),
     r"^syscalls\[1\]\.args\[0\]\.op: unknown operator 'SCMP_CMP_FOO'$"),
    (_entry(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]),
     r"^syscalls\[1\]\.args\[1\]\.index: 6 is outside 0\.\.5$"),
    (_entry(args=[{"index": -1, "value": 1, "op": "SCMP_CMP_EQ"}]), r"^syscalls\[1\]\.args\[0\]\.index: -1 is outside"),
    (_entry(args=[{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}]), r"^syscalls\[1\]\.args\[0\]\.value: 18446744073709551616 is outside"),
    (_entry(args=[{"index": 0, "value": "1", "op": "SCMP_CMP_EQ"}]), r"^syscalls\[1\]\.args\[0\]\.value: expected an integer, got a string"),
    (_entry(args=[{"index": 0, "value": 1, "valueTwo": -3, "op": "SCMP_CMP_MASKED_EQ"}]), r"^syscalls\[1\]\.args\[0\]\.valueTwo: -3 is outside"),
    (_entry(args=[{"value": 1, "op": "SCMP_CMP_EQ"}]), r"^syscalls\[1\]\.args\[0\]\.index: missing"),
    (_entry(args=[{"index": 0, "value": 1}]), r"^syscalls\[1\]\.args\[0\]\.op: missing"),
    (_entry(includes={"caps": "CAP_SYS_ADMIN"}), r"^syscalls\[1\]\.includes\.caps: expected an array"),
    (_entry(includes={"caps": ["sys_admin"]}), r"^syscalls\[1\]\.includes\.caps\[0\]: bad capability name"),
    (_entry(excludes={"minKernel": "four"}), r"^syscalls\[1\]\.excludes\.minKernel: cannot read kernel version 'four'"),
    (_entry(excludes={"arches": [1]}), r"^syscalls\[1\]\.excludes\.arches\[0\]: expected a string"),
    (_entry(includes=[]), r"^syscalls\[1\]\.includes: expected an object, got an array"),
    (_entry(comment=5), r"^syscalls\[1\]\.comment: expected a string"),
    (_entry(names=["write"], action="SCMP_ACT_NOTIFY"), r"^syscalls\[1\]\.action: SCMP_ACT_NOTIFY cannot be used for write"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]},
     r"^archMap: 'architectures' and 'archMap' cannot both be given"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x86_64"]},
     r"^architectures\[0\]: unknown architecture 'x86_64' \(expected SCMP_ARCH_"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}, r"^architectures\[0\]: unknown architecture 'SCMP_ARCH_VAX'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                                                     "subArchitectures": ["SCMP_ARCH_Z80"]}]},
     r"^archMap\[0\]\.subArchitectures\[0\]: unknown architecture 'SCMP_ARCH_Z80'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"subArchitectures": []}]}, r"^archMap\[0\]\.architecture: missing"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}, r"^flags\[0\]: unknown flag"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": 3}, r"^listenerPath: expected a string"),
]


@pytest.mark.parametrize(("data", "pattern"), BAD)
def test_malformed_profiles_name_the_json_path(data: Any, pattern: str) -> None:
    with pytest.raises(ProfileError, match=pattern) as info:
        Profile.from_dict(data)
    err = info.value
    assert isinstance(err, ValueError) and err.errno == errno.EINVAL
    assert str(err) == f"{err.path}: {err.problem}" or not err.path


def test_bad_json_text_reports_line_and_column() -> None:
    with pytest.raises(ProfileError, match=r"not valid JSON: .* line 2 column"):
        Profile.loads('{"defaultAction":\n "SCMP_ACT_ALLOW",, }')
    with pytest.raises(ProfileError, match="not valid JSON"):
        Profile.loads(b"\xff\xfe")


def test_unknown_keys_warn_or_fail_when_strict() -> None:
    data = {"defaultAction": "SCMP_ACT_ALLOW", "defaultActon": "x",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "exclude": {}}]}
    with pytest.warns(ProfileWarning, match=r"syscalls\[0\]\.exclude: unknown key ignored"):
        Profile.from_dict(data)
    with pytest.raises(ProfileError, match=r"^defaultActon: unknown key$"):
        Profile.from_dict(data, strict=True)


# -- moby / runc semantics (checked on the exported BPF) -----------------------------------------


def test_default_errno_is_eperm_and_rule_errno_defaults_to_eperm() -> None:
    p = mk([{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_TRACE"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}],
           defaultAction="SCMP_ACT_ERRNO")
    f = p.to_filter(caps=())
    assert evaluate(f, "getpid") == "ERRNO(1 EPERM)"
    assert evaluate(f, "mkdir") == "TRACE(1)"
    assert evaluate(f, "rmdir") == "ERRNO(0)"
    assert p.default() == Action.errno(1)


def test_masked_eq_is_arg_and_value_equals_value_two() -> None:
    p = mk([{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xFF, "valueTwo": 0x08, "op": "SCMP_CMP_MASKED_EQ"}]}])
    f = p.to_filter(caps=())
    assert evaluate(f, "personality", 0x108) == "ALLOW"
    assert evaluate(f, "personality", 0x8) == "ALLOW"
    assert evaluate(f, "personality", 0x9) == "ERRNO(1 EPERM)"
    assert evaluate(f, "personality", 0xFF) == "ERRNO(1 EPERM)"


def test_conditions_in_one_entry_are_anded() -> None:
    p = mk([{"names": ["write"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 100, "op": "SCMP_CMP_LE"}]}])
    f = p.to_filter(caps=())
    assert evaluate(f, "write", 1, 0, 50) == "ALLOW"
    assert evaluate(f, "write", 1, 0, 101) == "ERRNO(1 EPERM)"
    assert evaluate(f, "write", 2, 0, 50) == "ERRNO(1 EPERM)"


def test_two_conditions_on_one_index_become_separate_rules_like_runc() -> None:
    # runc: when any index repeats, EVERY condition of the entry becomes its own rule (OR).
    p = mk([{"names": ["write"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 5, "op": "SCMP_CMP_EQ"}]}])
    c = p.compile(caps=())
    assert [r.comparisons for r in c.rules] == [(Arg(0) == 1,), (Arg(0) == 2,), (Arg(2) == 5,)]
    assert all(r.source == "syscalls[0].names[0]" for r in c.rules)
    f = c.filter
    assert evaluate(f, "write", 1) == "ALLOW"
    assert evaluate(f, "write", 2) == "ALLOW"
    assert evaluate(f, "write", 7, 0, 5) == "ALLOW"  # OR, not AND
    assert evaluate(f, "write", 3) == "ERRNO(1 EPERM)"


def test_rules_with_the_default_action_are_skipped() -> None:
    p = mk([{"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}])
    c = p.compile(caps=())
    assert [(s.path, s.reason) for s in c.skipped] == [("syscalls[0]", "default"),
                                                      ("syscalls[1]", "default")]
    assert [r.syscall for r in c.rules] == ["close"]


def test_unknown_names_warn_skip_or_fail() -> None:
    p = mk([{"names": ["read", "no_such_call"], "action": "SCMP_ACT_ALLOW"}])
    with pytest.warns(ProfileWarning, match=r"^1 syscall names libseccomp does not know were "
                                            r"skipped \(as runc does\): no_such_call$"):
        c = p.compile(caps=())
    assert [r.syscall for r in c.rules] == ["read"]
    assert c.skipped_for("unknown")[0].weakens is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.compile(caps=(), unknown="ignore")
    with pytest.raises(ProfileError, match=r"^syscalls\[0\]\.names\[1\]: libseccomp does not know "
                                           r"syscall 'no_such_call'$"):
        p.compile(caps=(), unknown="error")


def test_a_skipped_name_in_a_deny_rule_is_a_loud_warning() -> None:
    p = mk([{"names": ["mkdir", "no_such_call"], "action": "SCMP_ACT_KILL_PROCESS"}],
           defaultAction="SCMP_ACT_ALLOW")
    with pytest.warns(WeakenedPolicyWarning,
                      match=r"SKIPPED A RULE THAT REFUSES 1 syscalls .* no_such_call "
                            r"\(syscalls\[0\]\.names\[1\]\)"):
        c = p.compile(caps=())
    assert c.skipped_for("unknown")[0].weakens
    assert evaluate(c.filter, "mkdir") == "KILL_PROCESS"


def test_includes_and_excludes_caps_arches_kernel() -> None:
    p = mk([
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]}},  # all needed
        {"names": ["rmdir"], "action": "SCMP_ACT_ALLOW",
         "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},  # any one excludes
        {"names": ["chdir"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.9"}},
        {"names": ["fchdir"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.9"}},
        {"names": ["getcwd"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
    ])

    def allowed(**kw: Any) -> set[str]:
        c = p.compile(**kw)
        return {r.syscall for r in c.rules}

    amd = dict(arch="x86_64", kernel="5.10")
    assert allowed(caps={"CAP_SYS_ADMIN"}, **amd) == {"chdir", "getpid"}
    assert allowed(caps={"sys_admin", "sys_chroot"}, **amd) == {"mkdir", "chdir", "getpid"}
    assert allowed(caps={"CAP_BPF"}, **amd) == {"chdir", "getpid"}
    assert allowed(caps=(), **amd) == {"rmdir", "chdir", "getpid"}
    assert allowed(caps=(), arch="x86_64", kernel="5.8") == {"rmdir", "fchdir", "getpid"}
    assert allowed(caps=(), arch="x86_64", kernel=(6, 0)) == {"rmdir", "chdir", "getpid"}
    assert allowed(caps=(), arch="aarch64", kernel="5.9.1-foo") == {"rmdir", "chdir", "getcwd"}


def test_archmap_expands_only_the_target_entry(docker: Profile) -> None:
    assert docker.filter_arches("x86_64") == (Arch.X86_64, Arch.X86, Arch.X32)
    assert docker.filter_arches("aarch64") == (Arch.AARCH64, Arch.ARM)
    assert docker.filter_arches("s390x") == (Arch.S390X, Arch.S390)
    assert docker.filter_arches("arm64") == docker.filter_arches("aarch64")  # Docker's names
    assert docker.filter_arches("amd64") == docker.filter_arches(Arch.X86_64)
    p = mk([], architectures=["SCMP_ARCH_X86"])
    assert p.filter_arches("x86_64") == (Arch.X86_64, Arch.X86)
    assert mk([]).filter_arches("x86_64") == (Arch.X86_64,)
    f = _quiet_compile(docker, caps=(), arch="aarch64")
    assert set(f.arches) == {Arch.AARCH64, Arch.ARM}


def test_flags_become_attributes() -> None:
    p = mk([], flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                      "SECCOMP_FILTER_FLAG_TSYNC"],
           listenerPath="/run/sock", listenerMetadata="meta")
    f = p.to_filter(caps=())
    assert f.log and f.disable_ssb and f.thread_sync
    assert p.listener_path == "/run/sock" and p.listener_metadata == "meta"
    assert Profile.from_dict(p.to_dict()) == p


def test_capabilities_of_the_running_process() -> None:
    assert caps_from_mask(1 << 21 | 1) == {"CAP_SYS_ADMIN", "CAP_CHOWN"}
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("CapEff:"))
    assert current_caps() == caps_from_mask(int(line.split()[1], 16))
    assert parse_kernel("6.1.0-18-amd64") == (6, 1)
    with pytest.raises(ValueError):
        parse_kernel("linux")


# -- real profiles as a container user sees them (filters loaded in forked children) ------------


def _personality(value: int) -> int:
    return raw_syscall("personality", value)


def test_docker_default_unprivileged(docker: Profile) -> None:
    AF_VSOCK, AF_ALG = 40, 38
    results = run_under(docker, set(), [
        ("personality", 0xFFFFFFFF),            # query: listed, allowed
        ("personality", 0x0001),                # not listed
        ("socket", AF_VSOCK, 1, 0),             # refused with the profile's errno
        ("socket", AF_ALG, 5, 0),
        ("clone3", 0, 0),                       # ENOSYS so glibc falls back to clone
        ("chroot", b_path("/nonexistent")),     # needs CAP_SYS_CHROOT
        ("getpid",),
        ("socket", 1, 1, 0),                    # AF_UNIX still works
    ])
    assert results[0] >= 0
    assert results[1] == -errno.EPERM
    assert results[2] == -errno.EPERM
    assert results[3] == -errno.EPERM
    assert results[4] == -errno.ENOSYS
    assert results[5] == -errno.EPERM
    assert results[6] > 0  # getpid: allowed
    assert results[7] >= 0


def test_docker_default_privileged_caps_open_gated_rules(docker: Profile) -> None:
    results = run_under(docker, CAPABILITIES, [
        ("clone3", 0, 0),                      # allowed now: the kernel itself says EINVAL
        ("chroot", b_path("/nonexistent")),    # allowed now: the kernel says ENOENT
        ("socket", 40, 1, 0),                  # still refused (no rule for AF_VSOCK)
    ])
    assert results[0] == -errno.EINVAL
    assert results[1] == -errno.ENOENT
    assert results[2] == -errno.EPERM


def test_docker_default_gates_each_capability_separately(docker: Profile) -> None:
    results = run_under(docker, {"CAP_SYS_CHROOT"}, [
        ("chroot", b_path("/nonexistent")), ("clone3", 0, 0)])
    assert results == [-errno.ENOENT, -errno.ENOSYS]


def test_podman_default_unprivileged(podman: Profile) -> None:
    AF_NETLINK, NETLINK_AUDIT, NETLINK_ROUTE, SOCK_RAW = 16, 9, 0, 3
    results = run_under(podman, set(), [
        ("personality", 0x0001),                          # default action: ENOSYS
        ("chroot", b_path("/nonexistent")),               # explicit EPERM without the cap
        ("socket", AF_NETLINK, SOCK_RAW, NETLINK_AUDIT),  # ANDed args: EINVAL
        ("socket", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE),  # allowed
        ("vmsplice", 0, 0, 0, 0),                         # explicit EPERM list
        ("personality", 0xFFFFFFFF),
    ])
    assert results[0] == -errno.ENOSYS
    assert results[1] == -errno.EPERM
    assert results[2] == -errno.EINVAL
    assert results[3] >= 0
    assert results[4] == -errno.EPERM
    assert results[5] >= 0


def test_podman_default_with_caps(podman: Profile) -> None:
    results = run_under(podman, {"CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"}, [
        ("chroot", b_path("/nonexistent")), ("socket", 16, 3, 9)])
    assert results[0] == -errno.ENOENT
    assert results[1] >= 0


def test_python_keeps_working_under_the_docker_profile(docker: Profile) -> None:
    filt = _quiet_compile(docker, caps=set())

    def child() -> str:
        filt.load()
        import subprocess
        out = subprocess.run(["/bin/sh", "-c", "echo hi | cat"], capture_output=True,
                             timeout=10, check=True)
        return out.stdout.decode()

    outcome = in_child(child)
    assert outcome.exitcode == 0, outcome
    assert outcome.value == "hi\n"


def test_docker_profile_on_other_arches_via_bpf(docker: Profile) -> None:
    for target in (Arch.AARCH64, Arch.X86, Arch.ARM, Arch.RISCV64):
        f = _quiet_compile(docker, caps=(), arch=target)
        assert evaluate(f, "personality", 8, arch=target) == "ALLOW"
        assert evaluate(f, "personality", 1, arch=target) == "ERRNO(1 EPERM)"
        assert evaluate(f, "clone3", arch=target) == "ERRNO(38 ENOSYS)"
        assert evaluate(f, "mount", arch=target) == "ERRNO(1 EPERM)"
    f = _quiet_compile(docker, caps=(), arch="aarch64")
    # a syscall from an arch the filter does not cover is killed
    assert bpf.action_name(bpf.evaluate(f.export_bpf(), 0, int(Arch.X86_64))) == "KILL_THREAD"


def test_cross_endian_export_is_checked(docker: Profile) -> None:
    """libseccomp 2.5 byte-swaps some shared ret instructions twice when it exports
    a big-endian filter (s390x + s390) on a little-endian host; check_export()
    catches the corrupt program instead of letting it out."""
    from seccomp_py.errors import FilterVerificationError
    from seccomp_py.profile import check_export

    f = _quiet_compile(docker, caps=(), arch=Arch.S390X)
    try:
        f.export_bpf()
    except FilterVerificationError:
        pass  # the verifier refuses the corrupt program before it leaves
    else:
        return  # a fixed libseccomp
    f.verify = False
    data = f.export_bpf()
    bad = [i for i in bpf.parse(data) if i.cls == bpf.RET and not bpf.is_action(i.k)]
    if not bad:
        check_export(data, Arch.S390X)  # a fixed libseccomp: nothing to catch
        return
    with pytest.raises(ProfileError, match="corrupt"):
        check_export(data, Arch.S390X)


def b_path(path: str) -> int:
    """A C string pointer to ``path`` that stays alive for the process."""
    buf = ctypes.create_string_buffer(path.encode())
    _KEEP.append(buf)
    return ctypes.addressof(buf)


_KEEP: list[Any] = []
