#!/usr/bin/env python3
"""Load test for the OCI agent: many containers, hostile peers.

The agent (seccomp_py.oci.Agent, in its own process) serves CONTAINERS
containers' notifications concurrently while PEERS misbehaving peers hammer
the same socket the whole time, in five kinds:

  silent      connect and never send anything
  trickling   send a state message one byte every 0.1 s
  junk-fds    a well-formed state whose fds are not seccomp listeners (16 of them)
  deep-json   a 10 KB message nested 5,000 levels deep
  disconnect  half a message, then close

Each container is a forked process that loads a NOTIFY filter for getppid,
hands its listener over exactly as runc does (the container process state
JSON + SCM_RIGHTS over a stream socket), waits for the start signal, then
makes CALLS notified getppid() calls, timing each from the call to its
return.  The agent answers 4242.  A call is *answered* when it returned
4242, *late* when that took more than 1 s, *lost* when it never came back
(within --deadline) or came back wrong.  Prints the counts (and latency
percentiles); exits 1 if any call was lost or late.

    .venv/bin/python scripts/agent_load.py [--containers 200] [--peers 50] [--calls 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

LATE = 1.0
ANSWER = 4242


# -- the agent process --------------------------------------------------------------------------


def serve(path: str, events_path: str) -> int:
    import logging

    from seccomp_py.notify import Response
    from seccomp_py.oci import Agent

    logging.getLogger("seccomp_py").setLevel(logging.ERROR)  # refusals are expected here
    answer = Response.value(ANSWER)
    events = open(events_path, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    with events, Agent(path, events=events) as agent:
        agent.route(lambda c, n: answer, syscalls=["getppid"])
        signal.signal(signal.SIGTERM, lambda *_: agent.stop(timeout=0))
        print("ready", flush=True)
        agent.serve_forever()
        print(json.dumps({"accepted": agent.accepted, "refused": agent.refused}), flush=True)
    return 0


# -- misbehaving peers ------------------------------------------------------------------------


def _state(pid: int, cid: str, nfds: int = 1) -> bytes:
    names = ["seccompFd"] + [f"junk{i}" for i in range(nfds - 1)]
    return json.dumps({"ociVersion": "1.0.2", "fds": names, "pid": pid, "metadata": "load",
                       "state": {"ociVersion": "1.0.2", "id": cid, "status": "creating",
                                 "pid": pid, "bundle": "/"}}).encode()


def _peer(kind: str, path: str, stop: threading.Event, counts: dict[str, int]) -> None:
    deep = b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    while not stop.is_set():
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            if kind == "silent":
                stop.wait(30)
            elif kind == "trickling":
                for byte in _state(os.getpid(), "trickle"):
                    if stop.wait(0.1):
                        break
                    s.send(bytes([byte]))
            elif kind == "junk-fds":
                fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(16)]
                try:
                    s.sendmsg([_state(os.getpid(), "junk", 16)],
                              [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                b"".join(f.to_bytes(4, sys.byteorder) for f in fds))])
                finally:
                    for f in fds:
                        os.close(f)
                s.recv(1)  # until the agent closes it
            elif kind == "deep-json":
                s.sendall(deep)
                s.recv(1)
            elif kind == "disconnect":
                msg = _state(os.getpid(), "half")
                s.sendall(msg[:len(msg) // 2])
            counts[kind] = counts.get(kind, 0) + 1
        except OSError:
            counts[kind] = counts.get(kind, 0) + 1  # the agent cut us off: try again
        finally:
            s.close()
        stop.wait(0.01)


def peers(path: str, n: int) -> int:
    kinds = ["silent", "trickling", "junk-fds", "deep-json", "disconnect"]
    stop = threading.Event()
    counts: dict[str, int] = {}
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=_peer, args=(kinds[i % len(kinds)], path, stop, counts),
                                daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    while not stop.wait(0.2):
        pass
    for t in threads:
        t.join(2)
    print(json.dumps(counts), flush=True)
    return 0


# -- containers -----------------------------------------------------------------------------------


def _container(path: str, cid: str, go_r: int, out_w: int, calls: int) -> None:
    from seccomp_py import Action, Filter

    f = Filter(Action.ALLOW)
    f.add_rule(Action.NOTIFY, "getppid")
    f.load()
    fd = f.notify_fd()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendmsg([_state(os.getpid(), cid)],
              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))])
    s.close()
    os.close(fd)
    os.read(go_r, 1)
    results = []
    for _ in range(calls):
        t0 = time.monotonic()
        value = os.getppid()
        results.append([time.monotonic() - t0, value])
    line = (json.dumps({"id": cid, "calls": results}) + "\n").encode()
    os.write(out_w, line)


def _served(events_path: str) -> int:
    try:
        with open(events_path, encoding="utf-8") as fh:
            return sum('"event": "container"' in line for line in fh)
    except OSError:
        return 0


def _helper(mode: str, path: str, extra: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, __file__, mode, path, *extra],
                            stdout=subprocess.PIPE, text=True, close_fds=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"the {mode} helper did not start")
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--calls", type=int, default=5, help="notified calls per container")
    parser.add_argument("--deadline", type=float, default=60.0,
                        help="seconds after the start signal before a call counts as lost")
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="agent-load-")
    path = os.path.join(tmp, "agent.sock")
    events_path = os.path.join(tmp, "events.jsonl")
    agent = _helper("--serve", path, [events_path])
    bad = _helper("--peers", path, [str(args.peers)])
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pids = []
    started = time.monotonic()
    try:
        for i in range(args.containers):
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    os.close(go_w)
                    os.close(out_r)
                    _container(path, f"c{i}", go_r, out_w, args.calls)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            pids.append(pid)
        os.close(go_r)
        os.close(out_w)
        # start the calls once the agent serves every container (its events say so)
        wait_until = time.monotonic() + args.deadline
        while _served(events_path) < args.containers:
            if time.monotonic() > wait_until:
                raise SystemExit("the agent did not accept every container in time")
            time.sleep(0.05)
        handed = time.monotonic()
        os.write(go_w, b"g" * args.containers)
        data = b""
        deadline = time.monotonic() + args.deadline
        while time.monotonic() < deadline:
            ready, _, _ = select.select([out_r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(out_r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for proc in (bad, agent):
            proc.send_signal(signal.SIGTERM)
        bad_out = bad.communicate(timeout=30)[0]
        agent_out = agent.communicate(timeout=30)[0]
        os.close(out_r)
        os.close(go_w)
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)

    latencies: list[float] = []
    lost = args.containers * args.calls
    for line in data.decode().splitlines():
        record: dict[str, Any] = json.loads(line)
        for latency, value in record["calls"]:
            if value == ANSWER:
                latencies.append(latency)
                lost -= 1
    late = sum(1 for x in latencies if x > LATE)
    answered = len(latencies) - late
    latencies.sort()

    def pct(p: float) -> str:
        if not latencies:
            return "-"
        return f"{latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000:.2f} ms"

    agent_stats = agent_out.strip().splitlines()[-1] if agent_out.strip() else "{}"
    peer_stats = bad_out.strip().splitlines()[-1] if bad_out.strip() else "{}"
    print(f"containers={args.containers} calls/container={args.calls} "
          f"misbehaving peers={args.peers} (wall {time.monotonic() - started:.1f} s, "
          f"calls phase {time.monotonic() - handed:.1f} s)")
    print(f"agent: {agent_stats}")
    print(f"misbehaving connections made: {peer_stats}")
    print(f"latency: p50 {pct(0.5)}  p99 {pct(0.99)}  max {pct(1.0)}")
    print(f"answered={answered} late={late} lost={lost}")
    return 0 if late == 0 and lost == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        sys.exit(serve(sys.argv[2], sys.argv[3]))
    if len(sys.argv) >= 4 and sys.argv[1] == "--peers":
        sys.exit(peers(sys.argv[2], int(sys.argv[3])))
    sys.exit(main())
