"""`seccomp-py run` and `seccomp-py learn`, end to end through the console script.

Every command runs as a subprocess with a timeout; what is asserted is what
the kernel did to the command (its output, its errno, its exit status).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers.paths import PROFILES, REPO

from seccomp_py import Arch
from seccomp_py.syscall import resolve_name

SCRIPT = os.path.join(os.path.dirname(sys.executable), "seccomp-py")
DOCKER = os.path.join(PROFILES, "docker.json")
PY = sys.executable

# A Python one-liner that opens files and a socket; with an argument it then
# probes: mkdir(ARG) (a syscall it never made otherwise) and syscall 1000
# (above every syscall number it used), printing the errno of each.
SCRIPT_PY = """
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
with open('/etc/hostname') as f:
    f.read()
with open(sys.argv[1] + '/data', 'w') as f:
    f.write('x' * 100)
a, b = socket.socketpair()
a.sendall(b'ping')
assert b.recv(4) == b'ping'
a.close(); b.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.close()
if len(sys.argv) > 2:
    try:
        os.mkdir(sys.argv[2])
        print('mkdir ok')
    except OSError as e:
        print('mkdir', e.errno)
    rc = libc.syscall(1000)
    print('sys1000', ctypes.get_errno() if rc == -1 else 'ok')
else:
    print('done')
"""


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SCRIPT, *args], capture_output=True, timeout=timeout, cwd=REPO,
                          check=False)


def one_error_line(proc: subprocess.CompletedProcess[bytes], status: int = 1) -> str:
    assert proc.returncode == status, proc
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("seccomp-py: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def learned_py(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(profile, work dir) learned from SCRIPT_PY, default ERRNO(EACCES)."""
    d = tmp_path_factory.mktemp("learn_py")
    out = d / "py.json"
    proc = cli("learn", "-o", str(out), "--default-errno", "EACCES", "--",
               PY, "-S", "-c", SCRIPT_PY, str(d))
    assert proc.returncode == 0, proc
    assert proc.stdout == b"done\n"
    err = proc.stderr.decode()
    assert "seccomp-py: learn: " in err and "wrote" in err
    return out, d


def test_learn_then_run_python(learned_py: tuple[Path, Path]) -> None:
    profile, d = learned_py
    data = json.loads(profile.read_text())
    assert data["defaultAction"] == "SCMP_ACT_ERRNO" and data["defaultErrnoRet"] == errno.EACCES
    names = data["syscalls"][0]["names"]
    for name in ("openat", "socketpair", "socket", "bind", "execve", "exit_group"):
        assert name in names, name
    assert "mkdir" not in names
    proc = cli("run", "--profile", str(profile), "--", PY, "-S", "-c", SCRIPT_PY, str(d))
    assert (proc.returncode, proc.stdout) == (0, b"done\n"), proc


def test_run_refuses_what_was_not_learned(learned_py: tuple[Path, Path]) -> None:
    profile, d = learned_py
    target = d / "never"
    args = ["--", PY, "-S", "-c", SCRIPT_PY, str(d), str(target)]
    proc = cli("run", "--profile", str(profile), *args)
    # mkdir: not learned -> the default errno; 1000: above every learned number ->
    # ENOSYS from runc's stub (on by default)
    assert proc.stdout.decode().split("\n")[:2] == [f"mkdir {errno.EACCES}",
                                                    f"sys1000 {errno.ENOSYS}"], proc
    assert proc.returncode == 0
    assert not target.exists()
    proc = cli("run", "--profile", str(profile), "--no-runc-stub", *args)
    assert proc.stdout.decode().split("\n")[:2] == [f"mkdir {errno.EACCES}",
                                                    f"sys1000 {errno.EACCES}"], proc


def test_learn_then_run_shell_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "sh.json"
    cmd = ["sh", "-c", "printf 'b\\na\\nb\\n' | sort | uniq -c | tr -s ' '"]
    proc = cli("learn", "-o", str(out), "--", *cmd)
    assert proc.returncode == 0, proc
    expected = proc.stdout
    assert expected == b" 1 a\n 2 b\n"
    proc = cli("run", "--profile", str(out), "--", *cmd)
    assert (proc.returncode, proc.stdout) == (0, expected), proc
    # the same shell asked for something else: running `uname` needs fork (clone),
    # which the pipeline (vfork) never made, and uname(2)
    proc = cli("run", "--profile", str(out), "--", "sh", "-c", "uname")
    assert proc.returncode != 0 and proc.stdout == b"", proc
    proc = cli("run", "--profile", str(out), "--", "sh", "-c", "exec uname")
    assert proc.returncode != 0 and proc.stdout == b"", proc


def test_learn_default_action_kill(tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    proc = cli("learn", "-q", "-o", str(out), "--default-action", "KILL_PROCESS", "--", "true")
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert json.loads(out.read_text())["defaultAction"] == "SCMP_ACT_KILL_PROCESS"
    proc = cli("run", "--profile", str(out), "--", "true")
    assert proc.returncode == 0, proc
    # uname(2) is not in the profile: the process is killed with SIGSYS
    proc = cli("run", "--profile", str(out), "--", "uname")
    assert proc.returncode == 128 + 31, proc


def test_learn_exit_status_and_stdout_output(tmp_path: Path) -> None:
    proc = cli("learn", "-q", "-o", "-", "--", "sh", "-c", "echo out; exit 5")
    assert proc.returncode == 5
    text = proc.stdout.decode()
    assert text.startswith("out\n")
    assert json.loads(text[4:])["syscalls"][0]["action"] == "SCMP_ACT_ALLOW"


@pytest.mark.parametrize(("cmd", "status"), [
    ("exit 0", 0), ("exit 3", 3), ("exit 255", 255), ("kill -KILL $$", 128 + 9),
    ("kill -TERM $$", 128 + 15),
])
def test_run_exit_status(cmd: str, status: int) -> None:
    proc = cli("run", "--profile", DOCKER, "--", "sh", "-c", cmd)
    assert proc.returncode == status, proc


def test_run_docker_profile_behaves_as_in_a_container() -> None:
    # personality(0xffffffff) is allowed (query), personality(0x0040000) refused (EPERM)
    code = ("import ctypes;l=ctypes.CDLL(None,use_errno=True);U=ctypes.c_ulong;"
            "a=l.personality(U(0xffffffff));b=l.personality(U(0x0040000));"
            "print(a!=-1, b, ctypes.get_errno())")
    proc = cli("run", "--profile", DOCKER, "--caps", "", "--", PY, "-S", "-c", code)
    assert proc.returncode == 0, proc
    assert proc.stdout.decode().split() == ["True", "-1", str(errno.EPERM)]


def test_run_errors() -> None:
    line = one_error_line(cli("run", "--profile", "/nonexistent.json", "--", "true"))
    assert line == "seccomp-py: error: cannot read /nonexistent.json: No such file or directory"
    line = one_error_line(cli("run", "--profile", DOCKER, "--", "no-such-command-xyz"), 127)
    assert line == "seccomp-py: error: run: no-such-command-xyz: command not found"
    line = one_error_line(cli("run", "--profile", DOCKER, "--", "/etc/passwd"), 126)
    assert line == "seccomp-py: error: run: /etc/passwd: Permission denied"
    line = one_error_line(cli("run", "--profile", DOCKER), 2)
    assert "give the command after '--'" in line
    assert cli("run", "--", "true").returncode == 2  # --profile is required


def test_run_refuses_a_profile_that_forbids_execve(tmp_path: Path) -> None:
    p = tmp_path / "noexec.json"
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]}))
    line = one_error_line(cli("run", "--profile", str(p), "--", "true"))
    assert line.startswith("seccomp-py: error: run: the filter's action for execve is ")


def test_run_notify_without_listener_path(tmp_path: Path) -> None:
    p = tmp_path / "notify.json"
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}))
    line = one_error_line(cli("run", "--profile", str(p), "--", "true"))
    assert "SCMP_ACT_NOTIFY rules but no listenerPath" in line


def test_run_hands_the_listener_to_listener_path(tmp_path: Path) -> None:
    """runc's way: connect to listenerPath, send the container process state with the
    listener attached; the agent answers getppid() with 4242."""
    from seccomp_py.notify import Listener, Response

    path = str(tmp_path / "agent.sock")
    p = tmp_path / "notify.json"
    p.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "meta",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(30)
    got: dict[str, Any] = {}

    def agent() -> None:
        conn, _ = server.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
        got["state"] = json.loads(msg)
        got["nfds"] = len(fds)
        with Listener(fds[0]) as listener:
            n = listener.receive(timeout=20)
            got["syscall"] = n.syscall
            listener.respond(n, Response.value(4242))

    t = threading.Thread(target=agent, daemon=True)
    t.start()
    try:
        proc = cli("run", "--profile", str(p), "--", PY, "-S", "-c",
                   "import os; print(os.getppid())")
    finally:
        t.join(30)
        server.close()
    assert (proc.returncode, proc.stdout) == (0, b"4242\n"), proc
    state = got["state"]
    assert got["nfds"] == 1 and got["syscall"] == resolve_name("getppid", Arch.native())
    assert state["fds"] == ["seccompFd"] and state["metadata"] == "meta"
    assert state["state"]["status"] == "creating" and state["state"]["pid"] == state["pid"] > 0
    assert set(state) == {"ociVersion", "fds", "pid", "metadata", "state"}


def test_run_listener_path_unreachable(tmp_path: Path) -> None:
    p = tmp_path / "notify.json"
    p.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "none.sock"),
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}))
    line = one_error_line(cli("run", "--profile", str(p), "--", "true"))
    assert "cannot hand the listener to listenerPath" in line


def test_learn_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "x.json")
    line = one_error_line(cli("learn", "-o", out, "--", "no-such-command-xyz"), 127)
    assert line == "seccomp-py: error: learn: no-such-command-xyz: command not found"
    line = one_error_line(cli("learn", "-o", out, "--default-action", "SCMP_ACT_FOO", "--",
                              "true"), 2)
    assert "unknown action 'SCMP_ACT_FOO'" in line
    line = one_error_line(cli("learn", "-o", out, "--default-action", "ALLOW", "--", "true"), 2)
    assert "would not restrict anything" in line
    line = one_error_line(cli("learn", "-o", out, "--default-errno", "EWHAT", "--", "true"), 2)
    assert line == "seccomp-py: error: learn: unknown errno 'EWHAT'"
    line = one_error_line(cli("learn", "-o", out), 2)
    assert "give the command after '--'" in line
    line = one_error_line(cli("learn", "-q", "-o", "/nonexistent/dir/x.json", "--", "true"))
    assert line.startswith("seccomp-py: error: cannot write /nonexistent/dir/x.json")
    assert not os.path.exists(out)


def test_help() -> None:
    for sub in ("run", "learn"):
        proc = cli(sub, "--help")
        assert proc.returncode == 0
        assert proc.stdout.decode().startswith(f"usage: seccomp-py {sub}")


# -- spawn(program=): what `run` builds on --------------------------------------------------


def test_spawn_loads_the_given_program_not_the_filter(tmp_path: Path) -> None:
    from seccomp_py import Action, Filter
    from seccomp_py.spawn import spawn

    other = Filter(Action.ALLOW)
    other.add_rule(Action.errno(errno.EACCES), "mkdir")
    other.add_rule(Action.errno(errno.EACCES), "mkdirat")
    program = other.export_bpf()
    target = tmp_path / "d"
    code = ("import os,sys\ntry:\n os.mkdir(sys.argv[1]); print('ok')\n"
            "except OSError as e:\n print(e.errno)")
    with Filter(Action.ALLOW) as f:
        with spawn([PY, "-S", "-c", code, str(target)], f, program=program,
                   stdout=subprocess.PIPE) as p:
            out, _ = p.communicate(timeout=20)
        assert out == f"{errno.EACCES}\n".encode()
        assert not target.exists()
        with spawn([PY, "-S", "-c", code, str(target)], f, stdout=subprocess.PIPE) as p:
            out, _ = p.communicate(timeout=20)
        assert out == b"ok\n"  # the filter itself allows mkdir: the program was used
    other.close()


def test_spawn_program_is_checked() -> None:
    from seccomp_py import Action, Filter
    from seccomp_py.spawn import ExecForbiddenError, spawn

    deny = Filter(Action.ALLOW)
    deny.add_rule(Action.KILL_PROCESS, "execve")
    with Filter(Action.ALLOW) as f:
        with pytest.raises(ExecForbiddenError) as info:
            spawn(["true"], f, program=deny.export_bpf())
        assert info.value.syscall == "execve"
        for bad in (b"", b"\x06\x00\x00"):
            with pytest.raises(ValueError):
                spawn(["true"], f, program=bad)
        with pytest.raises(TypeError):
            spawn(["true"], f, program="nope")  # type: ignore[arg-type]
    deny.close()


def test_learn_progress_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    proc = cli("learn", "--interval", "0.1", "-o", str(out), "--", "sh", "-c", "sleep 0.45")
    assert proc.returncode == 0, proc
    lines = proc.stderr.decode().splitlines()
    progress = [ln for ln in lines if ln.endswith("distinct syscalls")]
    assert len(progress) >= 2, lines
    assert all(ln.startswith("seccomp-py: learn: ") and " calls " in ln for ln in progress)
    assert lines[-2].startswith("seccomp-py: learn: sh exited with status 0 after ")
    assert lines[-1] == (f"seccomp-py: learn: wrote {out}: "
                         f"{len(json.loads(out.read_text())['syscalls'][0]['names'])} syscalls "
                         "allowed, default SCMP_ACT_ERRNO(EPERM)")


def test_module_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    proc = subprocess.run([PY, "-m", "seccomp_py", "learn", "-q", "-o", str(out), "--", "true"],
                          capture_output=True, timeout=60, cwd=REPO, check=False)
    assert proc.returncode == 0, proc
    proc = subprocess.run([PY, "-m", "seccomp_py", "run", "--profile", str(out), "--", "true"],
                          capture_output=True, timeout=60, cwd=REPO, check=False)
    assert (proc.returncode, proc.stderr) == (0, b""), proc


@pytest.mark.parametrize("sig", [2, 15])  # SIGINT, SIGTERM
def test_learn_interrupted_kills_the_command_and_writes_nothing(tmp_path: Path,
                                                                sig: int) -> None:
    import time

    out = tmp_path / "i.json"
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen([SCRIPT, "learn", "-o", str(out), "--", "sh", "-c",
                             f"echo $$ > {pidfile}; exec sleep 30"],
                            stderr=subprocess.PIPE, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
        child = int(pidfile.read_text())
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert err.decode().splitlines()[-1] == "seccomp-py: interrupted"
    assert not out.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_run_passes_sigterm_on_and_ignores_sigint() -> None:
    import signal
    import time

    proc = subprocess.Popen([SCRIPT, "run", "--profile", DOCKER, "--", PY, "-S", "-c",
                             "import signal,sys,time\n"
                             "signal.signal(signal.SIGINT, lambda *a: None)\n"
                             "print('ready', flush=True)\ntime.sleep(30)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGINT)  # for the command (which ignores it), not for run
        time.sleep(0.2)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # passed on: the command dies of it
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
