"""``seccomp-py verify --pid/--runc`` and ``diff --pid``: a live filter stack proved
against a profile (under a runtime) or compared with another process's.

The comparison is the partition proof of ``diff`` (every syscall number and
argument value any program of either stack compares with, and its
neighbours), each stack decided as the kernel runs it (inspect.stack_verdict's
precedence).  Targets are real processes: a runc container under Docker's
profile (skipped with the reason where runc cannot run), processes started by
``seccomp-py run --profile``, and a process that stacked two filters itself
(tests/helpers/inspect_target.py); after every reading each target must go on
printing its counter, not stopped and not traced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.filter_stacks import ENOMSG, EXDEV, NEW, OLD, Target, free_pid
from helpers.runc import RUNC_CAPS, Container

from seccomp_py.arch import Arch, native

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="reading filters needs CAP_SYS_ADMIN (root)"),
    pytest.mark.skipif(native() is not Arch.X86_64, reason="probe numbers are x86_64's"),
]


def _cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "seccomp_py", *args],
                          capture_output=True, text=True, timeout=300, env=env,
                          user=user, group=user, extra_groups=[] if user is not None else None)


def _text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


class Run:
    """``seccomp-py run --profile NAME [FLAGS] -- sh`` printing a counter; ``pid`` is the
    sandboxed shell (run's child), which is what carries the filter."""

    def __init__(self, profile: str, *flags: str) -> None:
        loop = "echo ready; i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done"
        self.proc = subprocess.Popen([sys.executable, "-m", "seccomp_py", "run", "--profile",
                                      profile, *flags, "--", "sh", "-c", loop],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 20
        while True:
            children = _text(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").split()
            if children:
                self.pid = int(children[0])
                break
            assert time.monotonic() < deadline, "run started no child"
            time.sleep(0.01)
        self.last = -1

    def assert_unharmed(self) -> None:
        status = dict(line.split(":", 1) for line in _text(f"/proc/{self.pid}/status")
                      .splitlines())
        assert status["State"].split()[0] not in ("T", "t"), status["State"]
        assert status["TracerPid"].strip() == "0"
        assert self.proc.stdout is not None
        goal = self.last + 3
        while self.last < goal:
            line = self.proc.stdout.readline()
            assert line.startswith("tick "), f"the target's output ended: {line!r}"
            number = int(line.split()[1])
            assert self.last < 0 or number == self.last + 1, (number, self.last)
            self.last = number

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def runs() -> Iterator[dict[str, Run]]:
    started: dict[str, Run] = {}
    try:
        started["docker"] = Run("docker")
        started["docker2"] = Run("docker")
        started["podman"] = Run("podman")
        yield started
    finally:
        for r in started.values():
            r.close()


# -- processes started by `seccomp-py run` --------------------------------------------------


@pytest.mark.timeout(300)
def test_run_docker_verifies_against_docker_under_runc(runs: dict[str, Run]) -> None:
    """run puts runc's -ENOSYS stub in front by default: the process decides as
    Docker's profile under runc, not as libseccomp's program alone, nor as Podman's."""
    docker = runs["docker"]
    ok = _cli("verify", "--pid", str(docker.pid), "--profile", "docker", "--runtime", "runc")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == (f"verified: pid {docker.pid} (1 filter) decides as docker under runc "
                         "(with runc's -ENOSYS stub) on every input\n")
    docker.assert_unharmed()
    js = _cli("verify", "--pid", str(docker.pid), "--profile", "docker", "--runtime", "runc",
              "--json")
    assert js.returncode == 0, js.stderr
    out = json.loads(js.stdout)
    assert out == {"subject": f"pid {docker.pid}", "profile": "docker", "runtime": "runc",
                   "filters": 1, "verified": True, "differences": {},
                   "sampled": []}
    docker.assert_unharmed()
    # without the stub: syscall numbers past the table get ENOSYS live, EPERM in the profile
    bare = _cli("verify", "--pid", str(docker.pid), "--profile", "docker")
    assert bare.returncode == 1, bare.stdout + bare.stderr
    assert bare.stdout.startswith(f"DIFFERS: pid {docker.pid} (1 filter) does not decide as "
                                  "docker\n")
    assert "ERRNO(38 ENOSYS) -> ERRNO(1 EPERM)" in bare.stdout
    docker.assert_unharmed()
    podman = _cli("verify", "--pid", str(docker.pid), "--profile", "podman", "--runtime", "runc",
                  "--json")
    assert podman.returncode == 1, podman.stderr
    found = json.loads(podman.stdout)
    assert found["verified"] is False
    # Podman's profile allows clone3, which Docker's answers with ENOSYS
    assert "clone3" in found["differences"], sorted(found["differences"])
    docker.assert_unharmed()
    # the stack compared with itself under a profile whose caps change the decisions
    caps = _cli("verify", "--pid", str(docker.pid), "--profile", "docker", "--runtime", "runc",
                "--caps", "all")
    assert caps.returncode == 1 and "mount:" in caps.stdout, caps.stdout + caps.stderr
    docker.assert_unharmed()


@pytest.mark.timeout(300)
def test_run_no_stub_verifies_without_runtime() -> None:
    bare = Run("docker", "--no-runc-stub")
    try:
        ok = _cli("verify", "--pid", str(bare.pid), "--profile", "docker")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith(f"verified: pid {bare.pid} (1 filter) decides as docker "
                                    "on every input")
        bare.assert_unharmed()
        stub = _cli("verify", "--pid", str(bare.pid), "--profile", "docker", "--runtime",
                    "runc")
        assert stub.returncode == 1 and "ERRNO(1 EPERM) -> ERRNO(38 ENOSYS)" in stub.stdout
        bare.assert_unharmed()
    finally:
        bare.close()


@pytest.mark.timeout(300)
def test_diff_pids(runs: dict[str, Run]) -> None:
    a, b, podman = runs["docker"], runs["docker2"], runs["podman"]
    same = _cli("diff", "--pid", str(a.pid), "--pid", str(b.pid))
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout == (f"--- pid {a.pid}\n+++ pid {b.pid}\n"
                           "same decisions on every input\n")
    a.assert_unharmed()
    b.assert_unharmed()
    differ = _cli("diff", "--pid", str(a.pid), "--pid", str(podman.pid), "--json")
    assert differ.returncode == 1, differ.stderr
    out = json.loads(differ.stdout)
    assert out["a"] == f"pid {a.pid}" and out["b"] == f"pid {podman.pid}"
    assert out["same"] is False
    # Docker's profile makes clone3 fail with ENOSYS (so that glibc falls back to
    # clone, whose flags it checks), Podman's allows it
    assert {"arch": "x86_64", "nr": 435, "args": "any", "a": "ERRNO(38 ENOSYS)",
            "b": "ALLOW"} in out["syscalls"]["clone3"], sorted(out["syscalls"])
    a.assert_unharmed()
    podman.assert_unharmed()
    # a pid against a profile, in either order: the sides keep the command line's order
    first = _cli("diff", "--pid", str(podman.pid), "podman", "--runtime", "runc")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[:2] == [f"--- pid {podman.pid}", "+++ podman"]
    second = _cli("diff", "docker", "--pid", str(podman.pid), "--runtime", "runc")
    assert second.returncode == 1, second.stderr
    lines = second.stdout.splitlines()
    assert lines[:2] == ["--- docker", f"+++ pid {podman.pid}"]
    assert "  x86: any arguments: ERRNO(1 EPERM) -> ERRNO(38 ENOSYS)" in \
        lines[lines.index("mount:"):]
    # without --runtime the profile side has no stub: numbers past the table differ
    # (Podman's default action is ENOSYS already, Docker's is EPERM)
    nostub = _cli("diff", "--pid", str(a.pid), "docker")
    assert nostub.returncode == 1 and "ERRNO(38 ENOSYS) -> ERRNO(1 EPERM)" in nostub.stdout
    podman.assert_unharmed()
    a.assert_unharmed()


# -- a stack of two filters -----------------------------------------------------------------


def _merged(tmp_path: Path, priority8: int = ENOMSG) -> str:
    """A profile deciding as the OLD and NEW layers of test_inspect do together."""
    def errno_of(value: int) -> int:
        return value & 0xFFFF

    rules: list[dict[str, Any]] = [
        {"names": ["dup", "getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_of(ENOMSG)},
        {"names": ["getsid", "setpgid", "sched_yield"], "action": "SCMP_ACT_ERRNO",
         "errnoRet": errno_of(EXDEV)},
        {"names": ["getcwd"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_of(EXDEV),
         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_of(priority8),
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["syncfs"], "action": "SCMP_ACT_KILL_PROCESS"},
    ]
    path = tmp_path / f"merged-{priority8:x}.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}))
    return str(path)


@pytest.mark.timeout(300)
def test_two_filter_stack_verifies_against_its_merged_profile(stacked: Target,
                                                              tmp_path: Path) -> None:
    """The stack is decided as the kernel runs it: the most restrictive action of
    both filters, the newest filter's errno of equals (dup: ENOMSG, not EXDEV)."""
    merged = _merged(tmp_path)
    ok = _cli("verify", "--pid", str(stacked.pid), "--profile", merged)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == (f"verified: pid {stacked.pid} (2 filters) decides as {merged} "
                         "on every input\n")
    stacked.assert_unharmed()
    # one argument class decided otherwise: found, and only it
    wrong = _merged(tmp_path, priority8=EXDEV)
    bad = _cli("verify", "--pid", str(stacked.pid), "--profile", wrong, "--json")
    assert bad.returncode == 1, bad.stderr
    out = json.loads(bad.stdout)
    assert out["filters"] == 2 and out["verified"] is False
    assert list(out["differences"]) == ["getpriority"]
    assert out["differences"]["getpriority"] == [
        {"arch": "x86_64", "nr": 140, "args": ["0x8", "0x0", "0x0", "0x0", "0x0", "0x0"],
         "a": "ERRNO(42 ENOMSG)", "b": "ERRNO(18 EXDEV)"}]
    stacked.assert_unharmed()
    # diff of the profile and the process, the profile first
    same = _cli("diff", merged, "--pid", str(stacked.pid))
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.splitlines()[:2] == [f"--- {merged}", f"+++ pid {stacked.pid}"]
    stacked.assert_unharmed()


@pytest.mark.timeout(300)
def test_stack_against_single_filter_processes(stacked: Target) -> None:
    """diff --pid of a two-filter process and a one-filter process: exactly the
    syscalls the missing layer decides."""
    old = Target({"filters": [OLD]})
    try:
        done = _cli("diff", "--pid", str(old.pid), "--pid", str(stacked.pid), "--json")
        assert done.returncode == 1, done.stderr
        out = json.loads(done.stdout)["syscalls"]
        assert sorted(out) == ["dup", "getcwd", "getpgid", "getpriority"], sorted(out)
        assert out["dup"] == [{"arch": "x86_64", "nr": 32, "args": "any",
                               "a": "ERRNO(18 EXDEV)", "b": "ERRNO(42 ENOMSG)"}]
        assert out["getcwd"][0]["b"] == "TRACE(5)"
        # setpgid: EXDEV outranks the new layer's LOG; syncfs: KILL_PROCESS its ENOMSG
        old.assert_unharmed()
        stacked.assert_unharmed()
    finally:
        old.close()


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_errors_are_one_line(stacked: Target) -> None:
    missing = _cli("verify", "--pid", str(free_pid()), "--profile", "docker")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == (f"seccomp-py: error: verify: no process with pid "
                              f"{free_pid()} (ESRCH)\n")
    gone = _cli("diff", "--pid", str(free_pid()), "docker")
    assert gone.returncode == 1 and gone.stdout == ""
    assert gone.stderr == (f"seccomp-py: error: diff: no process with pid "
                           f"{free_pid()} (ESRCH)\n")
    for args in (["verify", "--pid", str(stacked.pid), "--profile", "docker"],
                 ["diff", "--pid", str(stacked.pid), "--pid", str(os.getpid())]):
        nobody = _cli(*args, user=65534)
        assert nobody.returncode == 1 and nobody.stdout == "", nobody
        assert nobody.stderr.count("\n") == 1
        assert nobody.stderr.startswith(f"seccomp-py: error: {args[0]}: not permitted to "
                                        f"trace pid {stacked.pid}"), nobody.stderr
        assert nobody.stderr.endswith("(EPERM)\n")
        stacked.assert_unharmed()
    for args in (["verify", "--pid", str(stacked.pid)],
                 ["verify", "--pid", "nope", "--profile", "docker"],
                 ["verify", "--pid", str(stacked.pid), "--runc", "c", "--profile", "docker"],
                 ["verify", "--pid", str(stacked.pid), "--profile", "docker", "--runtime",
                  "crun"],
                 ["diff", "--pid", str(stacked.pid)],
                 ["diff", "--pid", str(stacked.pid), "--pid", "1", "docker"],
                 ["diff", "--pid", "x", "docker"]):
        usage = _cli(*args)
        assert usage.returncode == 2 and usage.stdout == "", (args, usage)
        assert usage.stderr.count("\n") == 1, (args, usage.stderr)
    stacked.assert_unharmed()
    unknown = _cli("verify", "--runc", "no-such-container", "--root", "/nonexistent-runc",
                   "--profile", "docker")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1, unknown
    assert unknown.stderr.startswith("seccomp-py: error: verify: ")


# -- a runc container -----------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_runc_container_verifies_against_docker(container: Container) -> None:
    caps = ",".join(RUNC_CAPS)  # runc spec's capabilities, which the bundle keeps
    container.assert_unharmed()
    for target in (["--runc", container.id, "--root", container.root],
                   ["--pid", str(container.pid)]):
        ok = _cli("verify", *target, "--profile", "docker", "--runtime", "runc",
                  "--caps", caps)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith("verified: ") and "(1 filter)" in ok.stdout
        container.assert_unharmed()
    bad = _cli("verify", "--runc", container.id, "--root", container.root, "--profile",
               "podman", "--runtime", "runc", "--caps", caps)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    lines = bad.stdout.splitlines()
    assert lines[0] == (f"DIFFERS: container {container.id} (1 filter) does not decide as "
                        "podman under runc (with runc's -ENOSYS stub)")
    assert "clone3:" in lines or "mount:" in lines, lines
    container.assert_unharmed()
    diff = _cli("diff", "--runc", container.id, "docker", "--root", container.root,
                "--runtime", "runc", "--caps", caps)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert diff.stdout.splitlines()[:2] == [f"--- container {container.id}", "+++ docker"]
    container.assert_unharmed()


# a raw filter that never looks at the arch: getpid (39 on x86_64) -> EPERM, else ALLOW
_NO_ARCH_CHECK = r"""
import ctypes, struct, sys, time
def ins(code, jt, jf, k): return struct.pack("=HBBI", code, jt, jf, k)
prog = (ins(0x20, 0, 0, 0) + ins(0x15, 0, 1, 39) + ins(0x06, 0, 0, 0x00050001)
        + ins(0x06, 0, 0, 0x7FFF0000))
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(fp), 0, 0) == 0
i = 0
while True:
    print(f"tick {i}", flush=True)
    i += 1
    time.sleep(0.05)
"""


@pytest.mark.timeout(300)
def test_arches_no_side_names_are_compared(tmp_path: Path) -> None:
    """A live filter that never checks the arch decides i386's mkdir (39 there) as
    x86_64's getpid; a profile naming only x86_64 kills every other arch.  Neither
    names i386, yet the process can make i386 syscalls (int 0x80): compared too."""
    profile = tmp_path / "getpid.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    proc = subprocess.Popen([sys.executable, "-c", _NO_ARCH_CHECK], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "tick 0\n"
        done = _cli("verify", "--pid", str(proc.pid), "--profile", str(profile), "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        diffs = json.loads(done.stdout)["differences"]
        assert {"arch": "x86", "nr": 39, "args": "any", "a": "ERRNO(1 EPERM)",
                "b": "KILL_THREAD"} in diffs["mkdir"]
        assert {"arch": "x86", "nr": 20, "args": "any", "a": "ALLOW",
                "b": "KILL_THREAD"} in diffs["getpid"]
        assert "x86_64" not in {d["arch"] for d in diffs["getpid"]}  # there they agree
        assert proc.stdout.readline().startswith("tick ")  # unharmed
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.timeout(300)
def test_install_order_and_repeated_layers(stacked: Target) -> None:
    """Of two equally restrictive results the newest filter's value is the one the
    kernel returns: the same two layers installed the other way round differ in
    exactly dup (both refuse it, with different errnos).  Repeating the layers 40
    times changes no decision."""
    reversed_ = Target({"filters": [NEW, OLD]})
    many = Target({"filters": [OLD, NEW] * 40})
    try:
        swapped = _cli("diff", "--pid", str(stacked.pid), "--pid", str(reversed_.pid), "--json")
        assert swapped.returncode == 1, swapped.stderr
        assert json.loads(swapped.stdout)["syscalls"] == {"dup": [
            {"arch": "x86_64", "nr": 32, "args": "any", "a": "ERRNO(42 ENOMSG)",
             "b": "ERRNO(18 EXDEV)"}]}
        # and the kernel agrees: dup(-1) fails with the newest refusing layer's errno
        assert reversed_.probe([(32, [-1])]) == [EXDEV & 0xFFFF]
        assert stacked.probe([(32, [-1])]) == [ENOMSG & 0xFFFF]
        same = _cli("diff", "--pid", str(many.pid), "--pid", str(stacked.pid))
        assert same.returncode == 0, same.stdout + same.stderr
        assert same.stdout.endswith("same decisions on every input\n")
        for target in (stacked, reversed_, many):
            target.assert_unharmed()
    finally:
        reversed_.close()
        many.close()


@pytest.mark.timeout(300)
def test_too_many_argument_combinations_are_reported(tmp_path: Path) -> None:
    """Six arguments compared each: more combinations than are tried, so each
    argument varies alone there; verify says so instead of claiming every input.
    The same for a filter that reads the instruction pointer (tried as 0 only)."""
    rules = [["getpriority", EXDEV, [i, i + 1]] for i in range(6)]
    target = Target({"filters": [{"rules": rules}]})
    profile = tmp_path / "four.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": EXDEV & 0xFFFF,
                      "args": [{"index": i, "value": i + 1, "op": "SCMP_CMP_EQ"}]}
                     for i in range(6)]}))
    try:
        done = _cli("verify", "--pid", str(target.pid), "--profile", str(profile))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.endswith(
            "on every input (except for getpriority: too many argument combinations, each "
            "argument varied alone, or the instruction pointer read, tried as 0 only)\n")
        js = json.loads(_cli("verify", "--pid", str(target.pid), "--profile", str(profile),
                             "--json").stdout)
        assert js["verified"] is True and js["sampled"] == ["getpriority"]
        # a difference on one argument alone is still found
        wrong = json.loads(profile.read_text())
        wrong["syscalls"][5]["args"][0]["value"] = 5
        profile.write_text(json.dumps(wrong))
        bad = _cli("verify", "--pid", str(target.pid), "--profile", str(profile), "--json")
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert list(json.loads(bad.stdout)["differences"]) == ["getpriority"]
        target.assert_unharmed()
    finally:
        target.close()
    allow = tmp_path / "allow.json"
    allow.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                 "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                   "SCMP_ARCH_X32"]}))
    proc = subprocess.Popen([sys.executable, "-c", _READS_IP], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "tick 0\n"
        done = _cli("verify", "--pid", str(proc.pid), "--profile", str(allow), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        # 39 is getpid on x86_64 and mkdir on i386 (the program does not check the arch)
        assert json.loads(done.stdout)["sampled"] == ["getpid", "mkdir"]
        assert proc.stdout.readline().startswith("tick ") and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# getpid refused only when called from one instruction address, else ALLOW
_READS_IP = _NO_ARCH_CHECK.replace(
    "prog = (ins(0x20, 0, 0, 0) + ins(0x15, 0, 1, 39) + ins(0x06, 0, 0, 0x00050001)\n"
    "        + ins(0x06, 0, 0, 0x7FFF0000))",
    "prog = (ins(0x20, 0, 0, 0) + ins(0x15, 0, 3, 39) + ins(0x20, 0, 0, 8)\n"
    "        + ins(0x15, 0, 1, 0x1234) + ins(0x06, 0, 0, 0x00050001)\n"
    "        + ins(0x06, 0, 0, 0x7FFF0000))")
assert _READS_IP != _NO_ARCH_CHECK
