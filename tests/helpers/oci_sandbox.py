"""A sandbox that speaks the runtime's side of the OCI agent protocol: a forked child loads
a filter sending mkdir/mkdirat to the agent, hands its listener over the way runc does
(the container process state and the fd in one message), then runs a script of calls."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from seccomp_py import Action, Filter


def process_state(**over: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "fds": ["seccompFd"],
        "pid": 4242,
        "metadata": "meta",
        "state": {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 4242,
                  "bundle": "/b"},
    }
    msg.update(over)
    return msg


def sandbox(sock_path: str, script: list[tuple[str, str]], result_w: int,
            message: bytes | None = None, cid: str = "c1", metadata: str = "meta") -> None:
    """Child: load a filter sending mkdir/mkdirat to the agent, hand the fd over the
    way runc does, then run ``script`` and write the errnos to ``result_w``."""
    f = Filter(Action.ALLOW)
    f.add_rule(Action.NOTIFY, "mkdir")
    f.add_rule(Action.NOTIFY, "mkdirat")
    f.load()
    fd = f.notify_fd()
    msg = message if message is not None else json.dumps(
        process_state(pid=os.getpid(), metadata=metadata,
                      state={"ociVersion": "1.0.2", "id": cid, "status": "creating",
                             "pid": os.getpid(), "bundle": "/"})).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, "little"))])
    s.close()
    os.close(fd)
    out = []
    for op, path in script:
        try:
            if op == "mkdir":
                os.mkdir(path)
            out.append(0)
        except OSError as exc:
            out.append(exc.errno or -1)
    os.write(result_w, json.dumps(out).encode())


def start_sandbox(sock_path: str, script: list[tuple[str, str]],
                  **kw: Any) -> tuple[int, int]:
    """Fork a child running ``sandbox``; returns (pid, read end of its result pipe)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            sandbox(sock_path, script, w, **kw)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def run_sandbox(sock_path: str, script: list[tuple[str, str]], **kw: Any) -> list[int]:
    pid, r = start_sandbox(sock_path, script, **kw)
    deadline = time.monotonic() + 20
    data = b""
    while time.monotonic() < deadline:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return list(json.loads(data))
