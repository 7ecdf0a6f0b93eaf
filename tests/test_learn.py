"""seccomp_py.learn: record what a command uses (notify + CONTINUE, counted in C).

learn() loads no filter in the calling process (the command's child does), but
each call runs in a forked child (in_child) anyway, for the time bound.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import subprocess
import sys
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Action, Arch
from seccomp_py.learn import LEARN_PROGRAM, LearnProgress, LearnResult, learn
from seccomp_py.profile import Profile
from seccomp_py.syscall import resolve_name

X86_64 = platform.machine() == "x86_64"


def _learn(argv: list[str], **kw: Any) -> LearnResult:
    out = in_child(lambda: learn(argv, **kw), timeout=30)
    assert out.exitcode == 0, out
    assert isinstance(out.value, LearnResult), out
    return out.value


def test_program_is_one_notify_return() -> None:
    from seccomp_py import bpf

    (insn,) = bpf.parse(LEARN_PROGRAM, sys.byteorder)
    assert (insn.code, insn.k) == (0x06, 0x7FC00000)


def test_pipeline_and_every_process_of_the_tree() -> None:
    r = _learn(["sh", "-c", "uname >/dev/null; echo hello | cat >/dev/null"])
    assert r.returncode == 0
    names = r.names()
    # uname(2) is made only by the uname program, a child of the shell: the tree is followed
    for name in ("execve", "uname", "exit_group", "wait4", "read", "write"):
        assert name in names, name
    assert "pipe2" in names or "pipe" in names
    native = Arch.native()
    # sh, uname and cat each execve'd once, under the filter
    assert r.counts[(native, resolve_name("execve", native))] == 3
    assert r.calls == sum(r.counts.values()) + r.other
    assert r.other == 0 and r.unnamed == []
    assert r.arches() == [native]


def test_exit_status_and_signal() -> None:
    assert _learn(["sh", "-c", "exit 3"]).returncode == 3
    r = _learn(["sh", "-c", "kill -9 $$"])
    assert r.returncode == -9
    assert "kill" in r.names()


def test_progress_is_reported() -> None:
    def run() -> list[LearnProgress]:
        seen: list[LearnProgress] = []
        learn(["sh", "-c", "sleep 0.3"], progress=seen.append, interval=0.1)
        return seen

    out = in_child(run, timeout=30)
    assert out.exitcode == 0, out
    seen = out.value
    assert len(seen) >= 2
    assert seen[-1].calls > 0 and seen[-1].distinct > 5
    assert [p.calls for p in seen] == sorted(p.calls for p in seen)


def test_exec_errors() -> None:
    out = in_child(learn, ["/nonexistent/program"])
    assert out.exitcode == 1 and out.error is not None
    assert "FileNotFoundError" in out.error
    out = in_child(learn, ["no-such-command-xyz"])
    assert "FileNotFoundError" in str(out.error)
    out = in_child(learn, ["/etc/passwd"])  # not executable: execve fails under the filter
    assert "PermissionError" in str(out.error)
    with pytest.raises(ValueError):
        learn([])
    with pytest.raises(ValueError):
        learn(["sh", "-c", "a\0b"])


def test_env_is_passed() -> None:
    r = _learn(["sh", "-c", 'test "$LEARN_X" = 42'], env={"LEARN_X": "42", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0


def test_profile_is_minimal_and_loadable() -> None:
    r = _learn(["true"])
    profile = r.to_profile()
    data = json.loads(profile.dumps())
    assert data["defaultAction"] == "SCMP_ACT_ERRNO"
    assert data["defaultErrnoRet"] == errno.EPERM
    assert data["architectures"] == [f"SCMP_ARCH_{Arch.native().name}"]
    assert data["syscalls"] == [{"names": r.names(), "action": "SCMP_ACT_ALLOW"}]
    assert Profile.loads(profile.dumps()) == profile
    compiled = profile.compile(unknown="error")
    assert sorted({rule.syscall for rule in compiled.rules}) == r.names()

    kill = r.to_profile(Action.KILL_PROCESS)
    assert kill.default_action == "SCMP_ACT_KILL_PROCESS" and kill.default_errno_ret is None
    assert r.to_profile(Action.errno(errno.EACCES)).default_errno_ret == errno.EACCES
    with pytest.raises(ValueError):
        r.to_profile(Action.ALLOW)


@pytest.mark.skipif(not X86_64, reason="i386 / x32 syscalls from x86_64")
def test_other_arches_are_recorded(c_helpers: dict[str, str]) -> None:
    probe = c_helpers["probe"]
    r = _learn([probe, "int80", "20"])  # i386 getpid
    assert (Arch.X86, 20) in r.counts
    assert "getpid" in r.names()
    assert r.arches() == [Arch.X86_64, Arch.X86]
    assert "SCMP_ARCH_X86" in r.to_profile().architectures
    r = _learn([probe, "x32", str(resolve_name("getpid", Arch.X32) & ~0x40000000)])
    assert (Arch.X32, resolve_name("getpid", Arch.X32)) in r.counts


def test_learned_profile_runs_the_command_and_refuses_the_rest() -> None:
    """The learned profile, loaded by spawn (as `run` does), lets the command
    succeed; a syscall it never made fails with the profile's errno."""
    from seccomp_py.spawn import spawn

    script = ("import os, sys\n"
              "open('/etc/hostname').read()\n"
              "if len(sys.argv) > 1:\n"
              "    try:\n"
              "        os.mkdir(sys.argv[1])\n"
              "        print('made')\n"
              "    except OSError as e:\n"
              "        print('errno', e.errno)\n"
              "else:\n"
              "    print('ok')\n")
    r = _learn([sys.executable, "-S", "-c", script])
    assert r.returncode == 0 and "mkdir" not in r.names()
    profile = r.to_profile(Action.errno(errno.EACCES))

    def run(extra: list[str]) -> tuple[int, bytes]:
        import subprocess

        with profile.compile().filter as f, spawn([sys.executable, "-S", "-c", script, *extra], f,
                                         stdout=subprocess.PIPE) as p:
            out, _ = p.communicate(timeout=20)
        assert p.returncode is not None
        return p.returncode, out

    assert run([]) == (0, b"ok\n")
    target = f"/tmp/seccomp-py-learn-{os.getpid()}"
    assert run([target]) == (0, f"errno {errno.EACCES}\n".encode())
    assert not os.path.exists(target)


def test_stdio_redirection() -> None:
    def run() -> tuple[int, bytes]:
        r, w = os.pipe()
        try:
            res = learn(["sh", "-c", "echo to-stdout; echo to-stderr >&2"], stdout=w,
                        stderr=subprocess.DEVNULL)
        finally:
            os.close(w)
        with os.fdopen(r, "rb") as f:
            return res.returncode, f.read()

    out = in_child(run, timeout=30)
    assert out.value == (0, b"to-stdout\n"), out


def test_threads_are_followed() -> None:
    plain = _learn([sys.executable, "-S", "-c", "pass"]).names()
    threaded = _learn([sys.executable, "-S", "-c",
                       "import threading; t = threading.Thread(target=len, args=('',)); "
                       "t.start(); t.join()"]).names()
    # exit(2) ends a thread (a process ends with exit_group): only the thread made it
    assert "exit" in threaded and "exit" not in plain
    assert {"clone", "clone3"} & set(threaded)
