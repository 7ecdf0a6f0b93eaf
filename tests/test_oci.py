"""The OCI seccomp agent: the runtime-spec handoff protocol, refused connections,
and built-in handlers, against sandboxes in real child processes.

The runc end-to-end tests are in test_oci_runc.py.
"""

from __future__ import annotations

import errno
import io
import json
import os
import socket
import threading
import time
from typing import Any

import pytest
from helpers.oci_sandbox import process_state, run_sandbox

from seccomp_py.oci import (
    MAX_MESSAGE,
    Agent,
    AgentProtocolError,
    deny,
    log_calls,
    mkdir_under,
    parse_process_state,
)

# -- the message parser -------------------------------------------------------------------


def test_parse_valid_state() -> None:
    ps = parse_process_state(json.dumps(process_state()).encode(), 1)
    assert ps.fds == ("seccompFd",)
    assert ps.pid == 4242
    assert ps.metadata == "meta"
    assert ps.state.id == "c1"
    assert ps.state.status == "creating"


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda m: m.pop("ociVersion"), "ociVersion: missing"),
        (lambda m: m.update(fds="seccompFd"), "fds: expected list"),
        (lambda m: m.update(fds=[]), "fds: no 'seccompFd'"),
        (lambda m: m.update(fds=["seccompFd", "seccompFd"]), "fds: names must be unique"),
        (lambda m: m.update(fds=["seccompFd", 3]), "fds[1]"),
        (lambda m: m.update(pid="12"), "pid: expected an integer"),
        (lambda m: m.update(pid=True), "pid: expected an integer"),
        (lambda m: m.update(pid=0), "pid: must be positive"),
        (lambda m: m.update(metadata=5), "metadata: expected str"),
        (lambda m: m.pop("state"), "state: missing"),
        (lambda m: m["state"].update(status="weird"), "state.status"),
        (lambda m: m["state"].update(id=""), "state.id"),
        (lambda m: m["state"].pop("bundle"), "state.bundle: missing"),
        (lambda m: m["state"].update(annotations={"a": 1}), "state.annotations.a"),
    ],
)
def test_parse_rejects_with_field_path(mutate: Any, where: str) -> None:
    msg = process_state()
    mutate(msg)
    with pytest.raises(AgentProtocolError) as info:
        parse_process_state(json.dumps(msg).encode(), 1)
    assert where in str(info.value)
    assert info.value.errno == errno.EBADMSG
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b"\xff\xfe", b"null", b'"x"', b"1e999999"])
def test_parse_rejects_non_objects(data: bytes) -> None:
    with pytest.raises(AgentProtocolError):
        parse_process_state(data, 1)


def test_parse_checks_fd_count_and_size() -> None:
    with pytest.raises(AgentProtocolError, match="names 1 fds but 2"):
        parse_process_state(json.dumps(process_state()).encode(), 2)
    with pytest.raises(AgentProtocolError) as info:
        parse_process_state(b" " * (MAX_MESSAGE + 1), 1)
    assert info.value.errno == errno.EMSGSIZE


# -- the agent against sandboxes (helpers.oci_sandbox) ------------------------------------------


@pytest.fixture
def agent_dir(tmp_path: Any) -> Any:
    return tmp_path


def test_agent_serves_a_sandbox_with_routes_by_syscall_and_metadata(agent_dir: Any) -> None:
    allowed = agent_dir / "ok"
    allowed.mkdir()
    events = io.StringIO()
    calls = io.StringIO()
    path = str(agent_dir / "agent.sock")
    with Agent(path, events=events) as agent:
        agent.route(deny(errno.EROFS), metadata="readonly")
        agent.route(log_calls(calls, mkdir_under([str(allowed)])), syscalls=["mkdir", "mkdirat"])
        agent.start()
        results = run_sandbox(path, [("mkdir", str(allowed / "a")),
                                     ("mkdir", str(agent_dir / "outside")),
                                     ("mkdir", str(allowed / ".." / "escape")),
                                     ("mkdir", str(allowed / "a"))])
        ro = run_sandbox(path, [("mkdir", str(allowed / "b"))], cid="c2", metadata="readonly")
    assert results == [0, errno.EACCES, errno.EACCES, errno.EEXIST]
    assert ro == [errno.EROFS]
    assert (allowed / "a").is_dir()
    assert not (agent_dir / "outside").exists()
    assert not (agent_dir / "escape").exists()
    assert not (allowed / "b").exists()
    logged = [json.loads(line) for line in calls.getvalue().splitlines()]
    assert [entry["syscall"] for entry in logged] == ["mkdir"] * 4
    assert {entry["container"] for entry in logged} == {"c1"}
    kinds = [json.loads(line)["event"] for line in events.getvalue().splitlines()]
    assert kinds.count("container") == 2
    assert kinds.count("decision") == 5


def test_mkdir_under_does_not_follow_symlinks(agent_dir: Any) -> None:
    allowed = agent_dir / "ok"
    allowed.mkdir()
    target = agent_dir / "secret"
    target.mkdir()
    (allowed / "link").symlink_to(target)
    path = str(agent_dir / "agent.sock")
    with Agent(path) as agent:
        agent.route(mkdir_under([str(allowed)]))
        agent.start()
        results = run_sandbox(path, [("mkdir", str(allowed / "link" / "x"))])
    assert results[0] in (errno.ELOOP, errno.ENOTDIR)
    assert not (target / "x").exists()


def test_unrouted_calls_and_raising_handlers_fail_closed(agent_dir: Any) -> None:
    path = str(agent_dir / "agent.sock")

    def broken(container: Any, n: Any) -> Any:
        raise RuntimeError("handler bug")

    events = io.StringIO()
    with Agent(path, events=events) as agent:
        agent.route(broken, metadata="broken")
        agent.start()
        assert run_sandbox(path, [("mkdir", str(agent_dir / "x"))]) == [errno.EPERM]
        assert run_sandbox(path, [("mkdir", str(agent_dir / "y"))], metadata="broken") == \
            [errno.EPERM]
    assert not (agent_dir / "x").exists()
    assert "handler-error" in events.getvalue()


def _connect_and_send(path: str, payload: bytes, fds: list[int]) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(f.to_bytes(4, "little") for f in fds))]
    s.sendmsg([payload], anc if fds else [])
    s.close()


def _wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_bad_connections_are_refused_and_the_agent_keeps_serving(agent_dir: Any) -> None:
    path = str(agent_dir / "agent.sock")
    events = io.StringIO()
    before = len(os.listdir("/proc/self/fd"))
    with Agent(path, events=events) as agent:
        agent.route(deny(errno.EXDEV))
        agent.start()
        r, w = os.pipe()
        try:
            _connect_and_send(path, b"not json", [r])                        # garbage
            _connect_and_send(path, json.dumps(process_state()).encode(), [])       # no fd
            _connect_and_send(path, json.dumps(process_state()).encode(), [r, w])   # 2 fds, 1 name
            _connect_and_send(path, json.dumps(process_state()).encode(), [r])      # not a listener
            _connect_and_send(path, b"{" * 70000, [r])                       # oversized
            _connect_and_send(path, b"", [])                                 # nothing
        finally:
            os.close(r)
            os.close(w)
        _wait_for(lambda: agent.refused >= 6)
        assert agent.accepted == 0
        # one bad container never stops the agent
        assert run_sandbox(path, [("mkdir", str(agent_dir / "z"))]) == [errno.EXDEV]
    reasons = [json.loads(line).get("reason", "") for line in events.getvalue().splitlines()]
    assert any("not JSON" in x for x in reasons)
    assert any("not a seccomp listener" in x for x in reasons)
    assert any("names 1 fds but 2" in x for x in reasons)
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_peer_with_the_wrong_uid_is_refused() -> None:
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="spy-oci-")  # reachable by uid 65534, unlike tmp_path
    os.chmod(base, 0o755)
    path = os.path.join(base, "agent.sock")
    try:
        with Agent(path, mode=0o666) as agent:
            agent.start()
            pid = os.fork()
            if pid == 0:
                code = 100
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    _connect_and_send(path, json.dumps(process_state()).encode(), [])
                    code = 0
                except OSError as exc:
                    code = 100 + (exc.errno or 0)
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            # the agent may refuse (close) before the peer's sendmsg: EPIPE/ECONNRESET
            allowed = {0, 100 + errno.EPIPE, 100 + errno.ECONNRESET}
            assert os.waitstatus_to_exitcode(status) in allowed, f"child status {status:#x}"
            _wait_for(lambda: agent.refused >= 1)
            assert (agent.refused, agent.accepted) == (1, 0)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_agent_rejects_bad_configuration(agent_dir: Any) -> None:
    from seccomp_py.notify import Response

    with pytest.raises(TypeError):
        Agent(str(agent_dir / "a.sock")).route(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Agent(str(agent_dir / "b.sock"), default=Response.HANDLED)
    with pytest.raises(ValueError):
        mkdir_under(["relative/path"])
    with pytest.raises(OSError):
        Agent(str(agent_dir / "missing-dir" / "c.sock"))


def test_close_wakes_the_thread_and_removes_the_socket(agent_dir: Any) -> None:
    path = str(agent_dir / "agent.sock")
    agent = Agent(path)
    thread = agent.start()
    assert os.path.exists(path)
    agent.close()
    thread.join(5)
    assert not thread.is_alive()
    assert not os.path.exists(path)
    assert threading.active_count() >= 1


# -- the `seccomp-py agent` command ---------------------------------------------------------


def _start_cli_agent(path: str, *extra: str) -> Any:
    import subprocess
    import sys

    cli = os.path.join(os.path.dirname(sys.executable), "seccomp-py")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([cli, "agent", "--socket", path, *extra], env=env,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: os.path.exists(path) or proc.poll() is not None)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    return proc


def _stop_cli_agent(proc: Any) -> str:
    import signal

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return str(err)


def test_cli_agent_with_mkdir_under_deny_and_log(agent_dir: Any) -> None:
    allowed = agent_dir / "ok"
    allowed.mkdir()
    path = str(agent_dir / "agent.sock")
    log = agent_dir / "events.jsonl"
    proc = _start_cli_agent(path, "--mkdir-under", str(allowed), "--deny", "EROFS",
                            "--log", str(log))
    try:
        results = run_sandbox(path, [("mkdir", str(allowed / "a")),
                                     ("mkdir", str(agent_dir / "outside"))])
    finally:
        err = _stop_cli_agent(proc)
    assert results == [0, errno.EACCES]
    assert (allowed / "a").is_dir() and not (agent_dir / "outside").exists()
    assert "listening on" in err and "1 containers served" in err
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events.count("container") == 1 and events.count("decision") == 2
    assert not os.path.exists(path)  # the socket file is removed on exit


def test_cli_agent_handler_option_and_default_errno(agent_dir: Any) -> None:
    path = str(agent_dir / "agent.sock")
    # tests/helpers/oci_handlers.py provides deny_with_exdev
    proc = _start_cli_agent(path, "--handler", "helpers.oci_handlers:deny_with_exdev",
                            "--deny", "EROFS")
    try:
        results = run_sandbox(path, [("mkdir", str(agent_dir / "x"))])
    finally:
        _stop_cli_agent(proc)
    assert results == [errno.EXDEV]


def test_cli_agent_bad_options_are_one_line_errors(agent_dir: Any) -> None:
    import subprocess
    import sys

    cli = os.path.join(os.path.dirname(sys.executable), "seccomp-py")
    for extra, status in ((["--handler", "no_such_module:fn"], 1),
                          (["--deny", "ENOTANERRNO"], 2),  # a bad option value: usage
                          (["--handler", "os:getcwd_nope"], 1)):
        done = subprocess.run([cli, "agent", "--socket", str(agent_dir / "s.sock"), *extra],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == status, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "error:" in lines[0], done.stderr
