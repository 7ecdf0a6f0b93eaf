"""Ticking target processes with stacked filters, for the inspect tests.

A :class:`Target` runs tests/helpers/inspect_target.py: it loads the filters it is given
and prints a counter, so a test can check after every inspection that the process goes on,
not stopped and not traced.  ``OLD`` and ``NEW`` are two layers whose stack exercises the
kernel's precedence (docs/inspect.md).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from seccomp_py import Action

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inspect_target.py")
ALLOW = int(Action.ALLOW)
LOG = int(Action.LOG)
KILL_PROCESS = int(Action.KILL_PROCESS)
EXDEV = int(Action.errno(errno.EXDEV))
ENOMSG = int(Action.errno(errno.ENOMSG))
TRACE5 = int(Action.trace(5))


def assert_not_stopped(pid: int) -> None:
    """The process is neither stopped nor traced (/proc/PID/status)."""
    with open(f"/proc/{pid}/status") as fh:
        status = dict(line.split(":", 1) for line in fh.read().splitlines())
    assert status["State"].split()[0] not in ("T", "t"), status["State"]
    assert status["TracerPid"].strip() == "0"


class Target:
    """A ticking process with filters; ``wrap`` makes it a grandchild (via sh)."""

    def __init__(self, spec: dict[str, Any], wrap: bool = False) -> None:
        cmd = [sys.executable, HELPER, json.dumps(spec)]
        if wrap:
            cmd = ["sh", "-c", 'exec 3<&0; "$@" <&3 3<&- & wait', "sh", *cmd]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.last = -1
        threading.Thread(target=self._read, daemon=True).start()
        first = self._line()
        assert first.startswith("ready "), first
        self.pid = int(first.split()[1])
        assert (self.pid == self.proc.pid) != wrap

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")

    def _line(self, timeout: float = 20) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the target {self.pid} printed nothing for {timeout} s")
        if not line:
            pytest.fail(f"the target ended: {self.proc.poll()}")
        if line.startswith("tick "):
            number = int(line.split()[1])
            assert number == self.last + 1, (number, self.last)
            self.last = number
        return line

    def assert_unharmed(self) -> None:
        """Not stopped, not traced, and the counter goes on (3 more ticks)."""
        assert_not_stopped(self.pid)
        goal = self.last + 3
        while self.last < goal:
            self._line()

    def probe(self, probes: list[tuple[int, list[int]]]) -> list[int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"probes": probes}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self._line()
            if line.startswith("["):
                return list(json.loads(line))

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.proc.kill()
        self.proc.wait(timeout=20)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# Two layers: the first (oldest) and the second (most recent); the comments say what
# the kernel makes of a call given both.
OLD: dict[str, Any] = {"rules": [
    ["dup", EXDEV, None],          # both refuse: the most recent one's errno
    ["getsid", EXDEV, None],       # only the old one refuses
    ["setpgid", EXDEV, None],      # old refuses, new logs: ERRNO outranks LOG
    ["sched_yield", EXDEV, None],  # old refuses, new traces: ERRNO outranks TRACE
    ["getpriority", EXDEV, [0, 7]],
    ["syncfs", KILL_PROCESS, None],
]}
NEW: dict[str, Any] = {"log": True, "rules": [
    ["dup", ENOMSG, None],
    ["getpgid", ENOMSG, None],     # only the new one refuses
    ["setpgid", LOG, None],
    ["sched_yield", TRACE5, None],
    ["getcwd", TRACE5, None],      # TRACE without a tracer: ENOSYS
    ["getpriority", ENOMSG, [0, 8]],
    ["syncfs", ENOMSG, None],
]}


def free_pid() -> int:
    """A pid no process can have (above pid_max)."""
    with open("/proc/sys/kernel/pid_max") as fh:
        return int(fh.read()) + 1
