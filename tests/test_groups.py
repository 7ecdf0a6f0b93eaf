"""Named syscall groups (seccomp_py.groups): the table, Filter helpers, the
profile extension and `seccomp-py groups`, enforced in children."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import warnings
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Action, Filter, Profile
from seccomp_py._native import lib
from seccomp_py.errors import UnknownSyscallWarning
from seccomp_py.groups import Group, add_group, expand, group_names
from seccomp_py.profile import ProfileError
from seccomp_py.spawn import spawn

TIMEOUT = 20
# syscalls newer than libseccomp 2.5 (the only names a group may hold that the
# linked libseccomp does not know: anything else is a typo)
NEWER = {"listmount", "statmount", "open_tree_attr", "getxattrat", "setxattrat",
         "listxattrat", "removexattrat", "file_getattr", "file_setattr"}
ISSUE_NAMES = {"@file-system", "@network-io", "@process", "@system-service", "@privileged",
               "@basic-io", "@io-event", "@ipc", "@signal", "@timer", "@memlock", "@mount",
               "@module", "@raw-io", "@reboot", "@swap", "@clock", "@cpu-emulation", "@debug",
               "@keyring", "@obsolete", "@resources", "@setuid", "@sync", "@aio", "@chown",
               "@default"}


def test_table() -> None:
    assert set(group_names()) >= ISSUE_NAMES
    for name in group_names():
        g = Group[name]
        assert g.name == name and g.description and len(g) > 0
        assert set(g.unknown()) <= NEWER, (name, g.unknown())
        assert set(g.known()) | set(g.unknown()) == set(g.names())
        for m in g.members:
            assert (m.startswith("@") and m in Group) or m.replace("_", "").isalnum(), m
        assert list(g.names()) == sorted(set(g.names()))
    # nesting: @privileged holds all of @chown, @system-service all of @default
    assert set(Group["@chown"]) <= set(Group["@privileged"])
    assert set(Group["@default"]) <= set(Group["@system-service"])
    assert "@chown" in Group["@privileged"].groups()
    # the groups a service allows never contain what @privileged/@debug guard
    assert not {"ptrace", "init_module", "reboot", "mount", "kexec_load", "bpf"} & set(
        Group["@system-service"])
    assert Group["network-io"] == Group["@network-io"]
    with pytest.raises(KeyError, match="did you mean"):
        Group["@network"]
    with pytest.raises(TypeError):
        Group[3]  # type: ignore[index]
    assert expand(["read", "@swap", "swapon", "write"]) == ["read", "swapoff", "swapon", "write"]


def test_unknown_members_are_reported() -> None:
    unknown = Group["@mount"].unknown()
    f = Filter(Action.ALLOW)
    if unknown:  # libseccomp 2.5: listmount/statmount are too new
        with pytest.warns(UnknownSyscallWarning, match=unknown[0]):
            added = add_group(f, Action.errno(errno.EPERM), "@mount")
        with pytest.warns(UnknownSyscallWarning):
            Group["@mount"].rules(Action.ALLOW)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            added = add_group(f, Action.errno(errno.EPERM), "@mount")
    assert "mount" in added and not set(unknown) & set(added)
    assert "umount" not in added  # absent on x86_64: no dead rule
    f.close()


def test_add_group_enforced() -> None:
    def run() -> tuple[int, int, int]:
        f = Filter(Action.ALLOW)
        add_group(f, Action.errno(errno.EACCES), "@network-io")
        add_group(f, Action.errno(errno.EROFS), Group["@chown"])
        f.load()
        results = []
        try:
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            results.append(0)
        except OSError as exc:
            results.append(exc.errno or -1)
        try:
            os.chown("/", 0, 0)
            results.append(0)
        except OSError as exc:
            results.append(exc.errno or -1)
        with open("/proc/self/status") as fh:  # @file-system untouched
            results.append(len(fh.read()) > 0)
        return tuple(results)  # type: ignore[return-value]

    out = in_child(run)
    assert out.error is None, out.error
    assert out.value == (errno.EACCES, errno.EROFS, True)


def test_system_service_runs_programs() -> None:
    # An allow-list made of @system-service alone runs ls and a shell pipeline.
    f = Filter(Action.errno(errno.ENOSYS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownSyscallWarning)
        f.add_rules(Group["@system-service"].rules(Action.ALLOW))
    with spawn(["sh", "-c", "ls / | grep -c . && echo ok"], f, stdout=subprocess.PIPE,
               text=True) as p:
        out, _ = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0 and out.split()[-1] == "ok"
    # and without @file-system, ls cannot even open its libraries
    g = Filter(Action.errno(errno.ENOSYS))
    g.add_rules([(Action.ALLOW, n) for n in Group["@system-service"].known()
                 if n not in Group["@file-system"] or n in Group["@basic-io"]])
    with spawn(["ls", "/"], g, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as p:
        p.wait(timeout=TIMEOUT)
    assert p.returncode != 0


PROFILE: dict[str, Any] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
           "syscalls": [{"names": ["@system-service"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["@network-io", "@chown"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": 13}]}


def test_profile_extension() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = Profile.from_dict(PROFILE)
    out = p.to_dict()
    names = out["syscalls"][0]["names"]
    assert not any(n.startswith("@") for e in out["syscalls"] for n in e["names"])
    assert names == list(Group["@system-service"].names())
    assert out["syscalls"][1]["names"] == list(expand(["@network-io", "@chown"]))
    assert p.to_dict(keep_groups=True)["syscalls"][0]["names"] == ["@system-service"]
    assert "@" not in p.dumps()
    # the written profile reads back as the same policy
    again = Profile.from_dict(json.loads(p.dumps()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert again.compile().filter.export_bpf() == p.compile().filter.export_bpf()
    # unknown members are reported with the group they came from
    with pytest.warns(Warning, match=r"\(from @system-service\)"):
        Profile.from_dict(PROFILE).compile()
    with pytest.raises(ProfileError, match="unknown syscall group"):
        Profile.from_dict({"defaultAction": "SCMP_ACT_ALLOW",
                           "syscalls": [{"names": ["@nope"], "action": "SCMP_ACT_KILL"}]})


def test_profile_with_groups_enforced(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "p.json")
    with open(path, "w") as fh:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [PROFILE["syscalls"][1]]}, fh)
    code = ("import socket,os\n"
            "try: socket.socket()\n"
            "except OSError as e: print(e.errno)\n"
            "try: os.chown('/', 0, 0)\n"
            "except OSError as e: print(e.errno)\n")
    out = subprocess.run([sys.executable, "-m", "seccomp_py", "run", "--profile", path, "--",
                          sys.executable, "-I", "-S", "-c", code],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(errno.EACCES), str(errno.EACCES)]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seccomp_py", "groups", *args],
                          capture_output=True, text=True, timeout=TIMEOUT)


def test_cli_groups() -> None:
    out = cli()
    assert out.returncode == 0
    listed = [ln.split()[0] for ln in out.stdout.splitlines()]
    assert listed == list(group_names())
    out = cli("@swap")
    assert out.returncode == 0 and out.stdout.split("\n")[1:3] == ["  swapoff", "  swapon"]
    data = json.loads(cli("network-io", "--json").stdout)
    assert data["name"] == "@network-io" and "connect" in data["syscalls"]
    data = json.loads(cli("--json").stdout)
    assert {d["name"] for d in data} == set(group_names())
    mount = json.loads(cli("@mount", "--json").stdout)
    assert mount["unknown"] == [n for n in mount["syscalls"]
                                if lib.seccomp_syscall_resolve_name(n.encode())
                                == lib.__NR_SCMP_ERROR]
    if mount["unknown"]:
        assert f"{mount['unknown'][0]}  (unknown to libseccomp)" in cli("@mount").stdout
    out = cli("@nope")
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "@nope" in out.stderr
