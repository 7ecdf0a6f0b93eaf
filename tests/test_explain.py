"""Explain and complain (seccomp_py.explain, `run --explain`, `run --complain -o`):
the kernel enforces a watched copy of the policy; every check below is on what
the command really did (exit status, errno, output)."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Action, Arg, Filter
from seccomp_py.errors import UnsupportedError
from seccomp_py.explain import Policy, Refusal, watch

TIMEOUT = 30
PY = sys.executable


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "seccomp_py", *args], capture_output=True, text=True,
                          timeout=TIMEOUT)


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A profile learned from `ls /`: `ls -l /usr` needs more."""
    path = str(tmp_path_factory.mktemp("explain") / "ls.json")
    r = cli("learn", "-q", "-o", path, "--", "ls", "/")
    assert r.returncode == 0, r.stderr
    return path


def _write(tmp_path: Any, data: dict[str, Any]) -> str:
    path = os.path.join(tmp_path, "p.json")
    with open(path, "w") as fh:
        json.dump(data, fh)
    return path


LINE = re.compile(r"^seccomp-py: explain: (\w+)\((.*)\) -> (\S+) \[(.+)\]$")


def test_explain_names_what_ls_l_is_refused(narrow: str) -> None:
    plain = cli("run", "--profile", narrow, "--", "ls", "-l", "/usr")
    r = cli("run", "--explain", "--profile", narrow, "--", "ls", "-l", "/usr")
    assert r.returncode == plain.returncode  # explain enforces the same policy
    assert r.stdout == plain.stdout
    found = [LINE.match(ln) for ln in r.stderr.splitlines() if ln.startswith("seccomp-py: expl")]
    assert found and all(found), r.stderr
    calls = {m.group(1): m for m in found if m}
    # ls -l reads extended attributes: the first refusal, with its path decoded
    xattr = calls.get("lgetxattr") or calls.get("getxattr") or calls.get("statx")
    assert xattr is not None, r.stderr
    assert '"/usr"' in xattr.group(2)
    assert xattr.group(3) == "ERRNO(EPERM)" and xattr.group(4) == "default"


def test_explain_kill_and_entries(tmp_path: Any) -> None:
    path = _write(tmp_path, {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["unlinkat", "unlink"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})
    target = os.path.join(tmp_path, "made")
    plain = cli("run", "--profile", path, "--", "mkdir", target)
    r = cli("run", "--explain", "--profile", path, "--", "mkdir", target)
    assert plain.returncode == r.returncode == 128 + 31  # SIGSYS, as the kernel's kill
    assert not os.path.exists(target)
    assert f'seccomp-py: killed by seccomp: mkdir("{target}", 0o777)' in r.stderr \
        or f'seccomp-py: killed by seccomp: mkdirat(AT_FDCWD, "{target}", 0o777)' in r.stderr
    assert "KILL_PROCESS [syscalls[0].names[" in r.stderr
    victim = os.path.join(tmp_path, "keep")
    open(victim, "w").close()
    r = cli("run", "--explain", "--profile", path, "--", "rm", victim)
    assert r.returncode == 1 and os.path.exists(victim)
    assert re.search(rf'unlinkat?\((AT_FDCWD, )?"{re.escape(victim)}"(, 0)?\) -> '
                     r"ERRNO\(EACCES\) \[syscalls\[1\]\.names\[\d\]\]", r.stderr), r.stderr


def test_complain_then_enforced(narrow: str, tmp_path: Any) -> None:
    fixed = os.path.join(tmp_path, "fixed.json")
    unconfined = subprocess.run(["ls", "-l", "/usr"], capture_output=True, text=True,
                                timeout=TIMEOUT)
    r = cli("run", "--complain", "-o", fixed, "--profile", narrow, "--", "ls", "-l", "/usr")
    assert r.returncode == 0 and r.stdout == unconfined.stdout  # nothing enforced
    names = [ln.split("complain: ", 1)[1].split("(", 1)[0] for ln in r.stderr.splitlines()
             if " -> " in ln]
    assert names and len(names) == len(set(names))  # each reported once
    with open(narrow) as fh:
        before = json.load(fh)
    with open(fixed) as fh:
        after = json.load(fh)
    assert after["syscalls"][:-1] == before["syscalls"]  # the profile, plus one entry
    assert after["syscalls"][-1]["names"] == sorted(set(names))
    assert after["syscalls"][-1]["action"] == "SCMP_ACT_ALLOW"
    enforced = cli("run", "--profile", fixed, "--", "ls", "-l", "/usr")
    assert enforced.returncode == 0 and enforced.stdout == unconfined.stdout
    again = cli("run", "--complain", "--profile", fixed, "--", "ls", "-l", "/usr")
    assert "complain: 0 syscalls" in again.stderr
    assert cli("run", "-o", fixed, "--profile", fixed, "--", "true").returncode == 1
    r = cli("run", "--explain", "--no-network", "--profile", fixed, "--", "true")
    assert r.returncode == 1 and r.stderr.count("\n") == 1


def test_watch_api_with_a_filter() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EACCES), "socket", Arg(0) == 2)  # AF_INET
    f.add_rule(Action.errno(errno.EXDEV), "connect")
    code = ("import socket, os\n"
            "for fam in (socket.AF_INET, socket.AF_UNIX):\n"
            "    try: socket.socket(fam)\n"
            "    except OSError as e: print(e.errno)\n"
            "s = socket.socket(socket.AF_INET6)\n"
            "try: s.connect(('::1', 9))\n"
            "except OSError as e: print(e.errno)\n")

    def run() -> tuple[int, list[str]]:
        seen: list[Refusal] = []
        result = watch([PY, "-I", "-S", "-c", code], Policy.from_filter(f), report=seen.append)
        assert [str(r) for r in seen] == [str(r) for r in result.refusals]
        return result.returncode, [str(r) for r in seen]

    out = in_child(run, timeout=TIMEOUT)
    assert out.error is None, out.error
    rc, lines = out.value
    assert rc == 0
    assert lines[0].startswith("socket(AF_INET, SOCK_STREAM") and \
        lines[0].endswith("-> ERRNO(EACCES) [rule 0]")
    assert lines[1].startswith("connect(3, {AF_INET6, [::1]:9}, 28) -> ERRNO(EXDEV) [rule 1]") \
        or (lines[1].startswith("connect(") and "[::1]:9" in lines[1])
    assert len(lines) == 2  # socket(AF_UNIX) was allowed: not reported


def test_refuses_notify_policies_and_bad_modes() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.NOTIFY, "mkdir")
    with pytest.raises(UnsupportedError):
        watch(["true"], Policy.from_filter(f))
    with pytest.raises(ValueError):
        watch(["true"], Policy.from_filter(Filter(Action.ALLOW)), mode="enforce")


def test_spawn_explain_callback(narrow: str) -> None:
    import signal
    import warnings

    from seccomp_py import Profile, spawn

    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EACCES), "mkdir")
    f.add_rule(Action.KILL_PROCESS, "rmdir")
    code = ("import os\ntry: os.mkdir('/nonexistent-dir/x')\n"
            "except OSError as e: print(e.errno, flush=True)\nos.rmdir('/nonexistent-y')\n")
    seen: list[Refusal] = []
    with spawn([PY, "-I", "-S", "-c", code], f, explain=seen.append,
               stdout=subprocess.PIPE, text=True) as p:
        out, _ = p.communicate(timeout=TIMEOUT)
    assert out.split() == [str(errno.EACCES)]
    assert p.returncode == -signal.SIGSYS  # as the kernel's KILL_PROCESS
    assert p.killed_by is not None and p.killed_by.syscall == "rmdir"
    assert [str(r) for r in seen] == [
        "mkdir(\"/nonexistent-dir/x\", 0o777) -> ERRNO(EACCES) [rule 0]",
        "rmdir(\"/nonexistent-y\") -> KILL_PROCESS [rule 1]"]
    # a narrow learned policy that does not allow sendmsg: the handoff still works,
    # and the command sees exactly what it sees without explain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = Profile.load(narrow).compile()
    with spawn(["ls", "-l", "/usr"], compiled.filter, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE, text=True) as plain:
        plain_out = plain.communicate(timeout=TIMEOUT)
    got: list[Refusal] = []
    with spawn(["ls", "-l", "/usr"], compiled.filter, explain=got.append,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        assert p.communicate(timeout=TIMEOUT) == plain_out
    assert p.returncode == plain.returncode
    assert got and all(r.action == Action.errno(errno.EPERM) for r in got)
    assert any('"/usr"' in r.text for r in got)
    with pytest.raises(TypeError):
        spawn(["true"], f, explain="print")
