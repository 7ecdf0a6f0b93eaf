"""seccomp_py.inspect: reading the filters of a live process and deciding on its stack.

Each target is a real process (tests/helpers/inspect_target.py) that loads its
filters with seccomp_py, then prints a counter every 20 ms: after every
inspection the test checks that the counter goes on, that the process is not
stopped and not traced any more.  Decisions are checked against what the
kernel does to the syscalls the target makes itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from conftest import in_child

from seccomp_py import Action, bpf
from seccomp_py import inspect as spi
from seccomp_py import syscall as _syscall
from seccomp_py.arch import Arch, native
from seccomp_py.errors import InspectError

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers",
                      "inspect_target.py")
ALLOW = int(Action.ALLOW)
LOG = int(Action.LOG)
KILL_PROCESS = int(Action.KILL_PROCESS)
EXDEV = int(Action.errno(errno.EXDEV))
ENOMSG = int(Action.errno(errno.ENOMSG))
TRACE5 = int(Action.trace(5))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="reading filters needs CAP_SYS_ADMIN (root)"),
    pytest.mark.skipif(native() is not Arch.X86_64, reason="probe numbers are x86_64's"),
]


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


def nr(name: str) -> int:
    return _syscall.resolve_name(name, Arch.X86_64)


# Two layers: the first (oldest) and the second (most recent), and what the
# kernel must make of each probe given both.
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
# (name, args, errno when no filter refuses it)
PROBES: list[tuple[str, list[int], int]] = [
    ("dup", [-1], errno.EBADF),
    ("getsid", [0x7FFFFFF0], errno.ESRCH),
    ("getpgid", [0x7FFFFFF0], errno.ESRCH),
    ("setpgid", [0x7FFFFFF0, 0], errno.ESRCH),
    ("sched_yield", [], 0),
    ("getcwd", [0, 0], errno.EFAULT),
    ("getpriority", [7, 0], errno.EINVAL),
    ("getpriority", [8, 0], errno.EINVAL),
    ("getpriority", [9, 0], errno.EINVAL),
    ("close", [-1], errno.EBADF),
]


def expected_errno(value: int, unfiltered: int) -> int:
    """The errno a syscall shows when the stack returns ``value``."""
    kind = value & 0xFFFF0000
    if kind == 0x00050000:
        return value & 0xFFFF
    if kind == 0x7FF00000:
        return errno.ENOSYS  # SECCOMP_RET_TRACE and nobody traces with TRACESECCOMP
    assert value in (ALLOW, LOG), bpf.action_name(value)
    return unfiltered


@pytest.fixture
def stacked() -> Any:
    target = Target({"filters": [OLD, NEW]})
    try:
        yield target
    finally:
        target.close()


@pytest.mark.timeout(120)
def test_two_stacked_filters_decide_as_the_kernel_does(stacked: Target) -> None:
    stack = spi.read(stacked.pid)
    stacked.assert_unharmed()
    assert stack.mode == "filter" and stack.status_count == 2 and len(stack.filters) == 2
    assert [f.index for f in stack.filters] == [0, 1]
    assert [f.log for f in stack.filters] == [False, True]
    # oldest first: the old layer has getsid, the new one getpgid
    assert spi.stack_decision(stack.filters[:1], nr("getsid"), Arch.X86_64) == EXDEV
    assert spi.stack_decision(stack.filters[1:], nr("getpgid"), Arch.X86_64) == ENOMSG
    decided = [stack.decide(name, args) for name, args, _ in PROBES]
    assert [d.action for d in decided] == [
        "ERRNO(42 ENOMSG)", "ERRNO(18 EXDEV)", "ERRNO(42 ENOMSG)", "ERRNO(18 EXDEV)",
        "ERRNO(18 EXDEV)", "TRACE(5)", "ERRNO(18 EXDEV)", "ERRNO(42 ENOMSG)", "ALLOW", "ALLOW"]
    assert [d.filter_index for d in decided] == [1, 0, 1, 0, 0, 1, 0, 1, None, None]
    observed = stacked.probe([(nr(name), args) for name, args, _ in PROBES])
    want = [expected_errno(d.value, unfiltered) for d, (_, _, unfiltered) in zip(decided, PROBES)]
    assert observed == want, list(zip([p[0] for p in PROBES], observed, want))
    # the one-call form agrees, and KILL_PROCESS outranks the new layer's errno
    assert spi.decide(stacked.pid, "syncfs") == KILL_PROCESS
    assert spi.decide(stacked.pid, nr("dup"), [-1], arch="x86_64") == ENOMSG
    stacked.assert_unharmed()
    assert stacked.proc.stdin is not None
    stacked.proc.stdin.write(json.dumps({"probes": [[nr("syncfs"), [0]]]}) + "\n")
    stacked.proc.stdin.flush()
    assert stacked.proc.wait(timeout=20) == -signal.SIGSYS


def test_filters_are_the_loaded_programs() -> None:
    """The bytes the kernel hands out are the programs seccomp_py exported."""
    from seccomp_py import Arg, Filter

    target = Target({"filters": [OLD, NEW]})
    try:
        found = spi.filters(target.pid)
        target.assert_unharmed()
    finally:
        target.close()
    for layer, live in zip((OLD, NEW), found):
        with Filter(Action.ALLOW) as filt:
            for name, action, cond in layer["rules"]:
                filt.add_rule(Action(action), name, *([Arg(cond[0]) == cond[1]] if cond else []))
            assert live.program == filt.export_bpf()
        assert list(live.insns) == bpf.parse(live.program)
        assert len(live) == len(live.program) // 8
        assert "ret" in live.disassemble()


def test_grandchild_target_and_group_stop() -> None:
    """A target that is not our child (its exit is not ours to reap), and a
    target stopped by SIGSTOP stays stopped (by its own job control, not by
    us) and resumes with SIGCONT."""
    target = Target({"filters": [OLD]}, wrap=True)
    try:
        assert len(spi.filters(target.pid)) == 1
        target.assert_unharmed()
        os.kill(target.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while _state(target.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(target.pid) == "T"
        stack = spi.read(target.pid)
        assert len(stack.filters) == 1 and stack.passed_signal == 0
        time.sleep(0.1)
        assert _state(target.pid) == "T"
        os.kill(target.pid, signal.SIGCONT)
        target.assert_unharmed()
    finally:
        target.close()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("State:"):
                return line.split()[1]
    return "?"


@pytest.mark.timeout(120)
def test_keyboard_interrupt_never_leaves_the_target_stopped(stacked: Target) -> None:
    """SIGINT at random moments during many inspections: whatever raised, the
    target is detached and keeps running."""
    done = threading.Event()
    rng = random.Random(19)
    active = [True]

    def on_sigint(_signum: int, _frame: Any) -> None:
        if active[0]:
            raise KeyboardInterrupt

    def interrupter() -> None:
        while not done.is_set():
            time.sleep(rng.uniform(0.0005, 0.004))
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_sigint)
    thread = threading.Thread(target=interrupter, daemon=True)
    interrupted = completed = 0
    thread.start()
    try:
        while completed + interrupted < 300:
            try:
                assert len(spi.read(stacked.pid).filters) == 2
                completed += 1
            except KeyboardInterrupt:
                interrupted += 1
    finally:
        active[0] = False
        done.set()
        thread.join()
        signal.signal(signal.SIGINT, previous)
    assert interrupted > 0 and completed > 0, (interrupted, completed)
    stacked.assert_unharmed()
    assert stacked.probe([(nr("getpgid"), [0x7FFFFFF0])]) == [errno.ENOMSG]


def test_signals_arriving_during_inspection_are_not_lost(stacked: Target) -> None:
    """A signal that arrives while the target is being attached shows up as a
    signal-delivery stop; it must be passed on when detaching.  Real-time
    signals queue, so the target must count exactly as many as were sent."""
    sent = passed = 0
    stop = threading.Event()

    def sender() -> None:
        nonlocal sent
        while not stop.is_set() and sent < 3000:
            os.kill(stacked.pid, signal.SIGRTMIN)
            sent += 1
            time.sleep(0.0002)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        for _ in range(200):
            stack = spi.read(stacked.pid)
            assert len(stack.filters) == 2
            passed += stack.passed_signal == signal.SIGRTMIN
    finally:
        stop.set()
        thread.join()
    print(f"{sent} SIGRTMIN sent during 200 inspections; {passed} caught in a "
          "signal-delivery stop and passed on")
    stacked.assert_unharmed()
    assert stacked.proc.stdin is not None
    deadline = time.monotonic() + 20
    while True:
        stacked.proc.stdin.write('{"signals": true}\n')
        stacked.proc.stdin.flush()
        line = stacked._line()
        while not line.startswith("{"):
            line = stacked._line()
        got = json.loads(line)["signals"]
        if got == sent or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == sent


def test_target_exiting_during_inspection() -> None:
    """Targets that exit at any moment: ESRCH or a result, never a hang, and the
    exit status of our own child is left for us to reap."""
    from seccomp_py import Filter

    rng = random.Random(7)
    outcomes = {"read": 0, "esrch": 0}
    for _ in range(60):
        delay = rng.uniform(0, 0.003)
        pid = os.fork()
        if pid == 0:
            try:
                with Filter(Action.ALLOW) as filt:
                    filt.add_rule(Action.errno(errno.EXDEV), "getsid")
                    filt.load()
                time.sleep(delay)
            finally:
                os._exit(7)
        time.sleep(rng.uniform(0, 0.003))
        try:
            spi.read(pid)
            outcomes["read"] += 1
        except InspectError as exc:
            assert exc.errno == errno.ESRCH, exc
            outcomes["esrch"] += 1
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 7
    print(outcomes)


def _forked(setup: Any) -> tuple[int, int, Any]:
    """Fork a child that runs ``setup(write_fd)`` and then sleeps; returns
    (pid, read fd, first message)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            setup(wfd)
            while True:
                time.sleep(1)
        finally:
            os._exit(1)
    os.close(wfd)
    with os.fdopen(os.dup(rfd), "r") as fh:
        first = json.loads(fh.readline())
    return pid, rfd, first


def _end(pid: int, rfd: int) -> None:
    os.close(rfd)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_hundred_stacked_filters_in_order() -> None:
    """100 filters, filter i refusing getsid with errno i+1: read back in install
    order, and the stack gives the most recent one's errno, as the kernel does."""
    from seccomp_py import Filter

    def setup(wfd: int) -> None:
        for i in range(100):
            with Filter(Action.ALLOW) as filt:
                filt.add_rule(Action.errno(i + 1), "getsid")
                filt.load()
        try:
            os.getsid(0x7FFFFFF0)
            seen = 0
        except OSError as exc:
            seen = exc.errno or 0
        os.write(wfd, (json.dumps(seen) + "\n").encode())

    pid, rfd, seen = _forked(setup)
    try:
        stack = spi.read(pid)
        assert stack.status_count == len(stack.filters) == 100
        for i, live in enumerate(stack.filters):
            assert live.index == i
            assert live.evaluate(nr("getsid"), Arch.X86_64) == int(Action.errno(i + 1))
        verdict = stack.decide("getsid")
        assert seen == 100 and verdict == (int(Action.errno(100)), 99)
    finally:
        _end(pid, rfd)


def test_threads_have_their_own_stacks() -> None:
    """Filters are per thread: a thread that loaded one more filter (no TSYNC)
    is read by its tid and has one more than the main thread."""
    from seccomp_py import Filter

    def setup(wfd: int) -> None:
        with Filter(Action.ALLOW) as filt:
            filt.add_rule(Action.errno(errno.EXDEV), "getsid")
            filt.load()

        def worker() -> None:
            with Filter(Action.ALLOW) as filt:
                filt.add_rule(Action.errno(errno.ENOMSG), "getsid")
                filt.load()
            os.write(wfd, (json.dumps(threading.get_native_id()) + "\n").encode())
            while True:
                time.sleep(1)

        threading.Thread(target=worker, daemon=True).start()

    pid, rfd, tid = _forked(setup)
    try:
        assert tid != pid
        main, thread = spi.read(pid), spi.read(tid)
        assert len(main.filters) == 1 and len(thread.filters) == 2
        assert main.filters[0].program == thread.filters[0].program
        assert main.decide("getsid").value == EXDEV
        assert thread.decide("getsid").value == ENOMSG
        assert spi.read(pid).filters == main.filters  # both still attachable: detached
    finally:
        _end(pid, rfd)


def test_process_without_filters_is_not_attached() -> None:
    target = Target({"filters": []})
    try:
        stack = spi.read(target.pid)
        assert stack.mode == "disabled" and stack.filters == () and stack.status_count == 0
        assert spi.decide(target.pid, "dup") == ALLOW
        target.assert_unharmed()
    finally:
        target.close()


# -- errors -----------------------------------------------------------------------------------


def _free_pid() -> int:
    with open("/proc/sys/kernel/pid_max") as fh:
        return int(fh.read()) + 1


def test_nonexistent_pid_is_esrch() -> None:
    for pid in (_free_pid(), 0, -5):
        with pytest.raises(InspectError) as info:
            spi.read(pid)
        assert info.value.errno == errno.ESRCH
        assert f"no process with pid {pid}" in str(info.value)
    with pytest.raises(TypeError):
        spi.read("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        spi.read(True)


def test_exited_pid_is_esrch() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    with pytest.raises(InspectError) as info:
        spi.read(proc.pid)
    assert info.value.errno == errno.ESRCH


def test_self_is_refused() -> None:
    def in_filtered_child() -> tuple[int, str]:
        from seccomp_py import Filter

        with Filter(Action.ALLOW) as filt:
            filt.add_rule(Action.errno(errno.EXDEV), "getsid")
            filt.load()
        try:
            spi.read(os.getpid())
        except InspectError as exc:
            return (exc.errno or 0, str(exc))
        return (0, "no error")

    out = in_child(in_filtered_child)
    assert out.value[0] == errno.EPERM and "this process" in out.value[1], out


def _as_nobody(pid: int) -> tuple[int, str]:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    try:
        spi.read(pid)
    except InspectError as exc:
        return (exc.errno or 0, exc.detail)
    return (0, "no error")


def test_unprivileged_caller_on_root_target_is_eperm(stacked: Target) -> None:
    out = in_child(_as_nobody, stacked.pid)
    assert out.value is not None, out
    assert out.value[0] == errno.EPERM, out
    assert out.value[1].startswith(f"not permitted to trace pid {stacked.pid}")
    stacked.assert_unharmed()


def test_unprivileged_caller_on_own_uid_target_is_eacces() -> None:
    """Same uid: ptrace may attach, but the filters need CAP_SYS_ADMIN."""
    target = Target({"filters": [OLD], "setuid": 65534})
    try:
        out = in_child(_as_nobody, target.pid)
        assert out.value is not None, out
        assert out.value[0] == errno.EACCES, out
        assert "CAP_SYS_ADMIN" in out.value[1]
        target.assert_unharmed()
        assert len(spi.filters(target.pid)) == 1
        target.assert_unharmed()
    finally:
        target.close()


def test_caller_under_seccomp_is_eacces(stacked: Target) -> None:
    def filtered() -> tuple[int, str]:
        from seccomp_py import Filter

        with Filter(Action.ALLOW) as filt:
            filt.add_rule(Action.errno(errno.EXDEV), "getsid")
            filt.load()
        try:
            spi.read(stacked.pid)
        except InspectError as exc:
            return (exc.errno or 0, exc.detail)
        return (0, "no error")

    out = in_child(filtered)
    assert out.value is not None and out.value[0] == errno.EACCES, out
    assert "itself under seccomp" in out.value[1]
    stacked.assert_unharmed()


def test_already_traced_target_is_eperm_naming_the_tracer(stacked: Target) -> None:
    rfd, wfd = os.pipe()
    tracer = subprocess.Popen([sys.executable, "-c", (
        "import ctypes, os, sys, time\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"rc = libc.ptrace(0x4206, {stacked.pid}, 0, 0)\n"
        f"os.write({wfd}, str(rc).encode())\n"
        "time.sleep(60)\n")], pass_fds=(wfd,))
    os.close(wfd)
    try:
        assert os.read(rfd, 16) == b"0"
        with pytest.raises(InspectError) as info:
            spi.read(stacked.pid)
        assert info.value.errno == errno.EPERM
        assert f"already traced by pid {tracer.pid}" in info.value.detail
    finally:
        os.close(rfd)
        tracer.kill()
        tracer.wait()
    stacked.assert_unharmed()


# -- stack semantics without a process --------------------------------------------------------


def _ret(value: int) -> list[bpf.Insn]:
    return [bpf.Insn(bpf.RET, 0, 0, value)]


@pytest.mark.parametrize(("values", "want", "index"), [
    ([], ALLOW, None),
    ([ALLOW, ALLOW], ALLOW, None),
    ([EXDEV, ENOMSG], ENOMSG, 1),                   # tie: the most recent value
    ([ENOMSG, EXDEV, ALLOW], EXDEV, 1),
    ([KILL_PROCESS, int(Action.KILL_THREAD)], KILL_PROCESS, 0),
    ([int(Action.KILL_THREAD), int(Action.TRAP)], int(Action.KILL_THREAD), 0),
    ([int(Action.TRAP), EXDEV], int(Action.TRAP), 0),
    ([int(Action.NOTIFY), EXDEV], EXDEV, 1),
    ([TRACE5, int(Action.NOTIFY)], int(Action.NOTIFY), 1),
    ([LOG, TRACE5], TRACE5, 1),
    ([ALLOW, LOG], LOG, 1),
    ([0x7FFF0001, ALLOW], ALLOW, None),            # data on ALLOW: the action bits rank
    ([0xFFFF0000, KILL_PROCESS], KILL_PROCESS, 1),  # signed: 0x80000000 is the lowest
])
def test_stack_precedence(values: list[int], want: int, index: int | None) -> None:
    programs = [_ret(v) for v in values]
    verdict = spi.stack_verdict(programs, 0, Arch.X86_64)
    assert (verdict.value, verdict.filter_index) == (want, index)
    assert spi.stack_decision([bpf.assemble(p) for p in programs], 0, "x86_64") == want


def test_summary_is_exact_about_arguments(stacked: Target) -> None:
    stack = spi.read(stacked.pid)
    summary = spi.summarize(stack.filters, Arch.X86_64)
    assert "getpriority" in summary.conditional
    assert summary.refused["ERRNO(42 ENOMSG)"] == sorted(["dup", "getpgid"], key=nr)
    assert summary.refused["KILL_PROCESS"] == ["syncfs"]
    assert summary.refused["TRACE(5)"] == ["getcwd"]
    assert "close" in summary.allowed and "setpgid" not in summary.allowed
    total = len(summary.allowed) + len(summary.conditional) + sum(
        len(v) for v in summary.refused.values())
    assert total == len(_syscall.names(Arch.X86_64))
    # every claim checked against the evaluator with random arguments
    rng = random.Random(5)
    for name in summary.allowed[::7] + [n for v in summary.refused.values() for n in v]:
        args = [rng.getrandbits(64) for _ in range(6)]
        value = spi.stack_decision(stack.filters, nr(name), Arch.X86_64, args)
        assert (value == ALLOW) == (name in summary.allowed), name
    # foreign arches: libseccomp's filter kills them (bad arch action)
    assert spi.named_arches(stack.filters) == [Arch.X86_64, Arch.X32]
    x86 = spi.summarize(stack.filters, Arch.X86)
    assert not x86.allowed and list(x86.refused) == ["KILL_THREAD"]


# -- the command line -------------------------------------------------------------------------


def _cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "seccomp_py", "inspect", *args],
                          capture_output=True, text=True, timeout=120, env=env,
                          user=user, group=user, extra_groups=[] if user is not None else None)


def test_cli_text_json_and_disasm(stacked: Target) -> None:
    done = _cli(str(stacked.pid), "--syscall", "dup", "--syscall", "getpriority:7",
                "--syscall", "getpriority:9")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"pid {stacked.pid}: seccomp mode filter, 2 filters (oldest first)"
    assert lines[1].startswith("filter 0: ") and "log flag off" in lines[1]
    assert any(line.startswith("filter 1: ") and "log flag on" in line for line in lines)
    assert "    ERRNO(42 ENOMSG): getpgid, dup" in lines or \
        "    ERRNO(42 ENOMSG): dup, getpgid" in lines
    assert "    depend on arguments: getpriority" in lines
    assert lines[-3:] == [
        f"dup (nr {nr('dup')} on x86_64): ERRNO(42 ENOMSG) (filter 1)",
        f"getpriority:7 (nr {nr('getpriority')} on x86_64, args 0x7): ERRNO(18 EXDEV) "
        "(filter 0)",
        f"getpriority:9 (nr {nr('getpriority')} on x86_64, args 0x9): ALLOW"]
    stacked.assert_unharmed()
    js = _cli(str(stacked.pid), "--json", "--disasm", "--arch", "x86_64")
    assert js.returncode == 0, js.stderr
    out = json.loads(js.stdout)
    assert [f["instructions"] for f in out["filters"]] == [
        len(f) for f in spi.filters(stacked.pid)]
    assert [f["log"] for f in out["filters"]] == [False, True]
    assert bytes.fromhex(out["filters"][0]["program"]) == spi.filters(stacked.pid)[0].program
    assert any("ret" in line for line in out["filters"][1]["disassembly"])
    assert [a["arch"] for a in out["stack"]] == ["x86_64"]
    assert out["stack"][0]["refused"]["KILL_PROCESS"] == ["syncfs"]
    stacked.assert_unharmed()
    listing = _cli(str(stacked.pid), "--disasm")
    assert listing.returncode == 0 and "ret #0x7fff0000" in listing.stdout
    stacked.assert_unharmed()


def test_cli_errors_are_one_line(stacked: Target) -> None:
    missing = _cli(str(_free_pid()))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == (f"seccomp-py: error: inspect: no process with pid "
                              f"{_free_pid()} (ESRCH)\n")
    nobody = _cli(str(stacked.pid), user=65534)
    assert nobody.returncode == 1 and nobody.stdout == ""
    assert nobody.stderr.count("\n") == 1
    assert nobody.stderr.startswith(f"seccomp-py: error: inspect: not permitted to trace pid "
                                    f"{stacked.pid}")
    assert nobody.stderr.endswith("(EPERM)\n")
    stacked.assert_unharmed()
    for args in ([], ["1", "--runc", "x"], ["nope"], ["--root", "/tmp", "1"]):
        usage = _cli(*args)
        assert usage.returncode == 2 and usage.stderr.count("\n") == 1, (args, usage.stderr)
    bad = _cli(str(stacked.pid), "--syscall", "no_such_call")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "unknown syscall 'no_such_call'" in bad.stderr
    stacked.assert_unharmed()


def test_profile_stack_matches_a_process_run_under_the_profile() -> None:
    """`seccomp-py run --profile docker` (runc's stub by default, or none) loads
    exactly the programs profile_stack() builds for it."""
    from conftest import PROFILES

    docker = os.path.join(PROFILES, "docker.json")
    for flag, runtime in (("--runc-stub", "runc"), ("--no-runc-stub", None)):
        proc = subprocess.Popen([sys.executable, "-m", "seccomp_py", "run", "--profile",
                                 docker, flag, "--", "sh", "-c",
                                 "echo ready; exec sleep 60"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            deadline = time.monotonic() + 20
            while True:
                children = _text(f"/proc/{proc.pid}/task/{proc.pid}/children").split()
                pid = int(children[0]) if children else proc.pid
                if _text(f"/proc/{pid}/comm").strip() == "sleep":
                    break
                assert time.monotonic() < deadline
                time.sleep(0.01)
            live = [f.program for f in spi.filters(pid)]
            assert live == spi.profile_stack(docker, runtime), flag
        finally:
            proc.kill()
            proc.wait()
    with pytest.raises(ValueError):
        spi.profile_stack(docker, "crun")


def _text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def test_strict_mode_target(tmp_path: Any) -> None:
    src = tmp_path / "strict.c"
    src.write_text(
        "#include <linux/seccomp.h>\n#include <sys/prctl.h>\n#include <unistd.h>\n"
        "int main(void) { char c; write(1, \"s\\n\", 2);\n"
        "  prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT);\n"
        "  write(1, \"r\\n\", 2); read(0, &c, 1); return 0; }\n")
    exe = tmp_path / "strict"
    done = subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        pytest.skip(f"cannot build the strict-mode helper: {done.stderr[:200]}")
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "s\n" and proc.stdout.readline() == "r\n"
        stack = spi.read(proc.pid)
        assert stack.mode == "strict" and stack.filters == ()
        with pytest.raises(InspectError, match="strict mode"):
            stack.decide("getpid")
        out = _cli(str(proc.pid))
        assert out.returncode == 0
        assert out.stdout == (f"pid {proc.pid}: seccomp mode strict: only read, write, _exit "
                              "and sigreturn run\n")
        assert _state(proc.pid) == "S" and proc.poll() is None  # not attached, not stopped
        assert proc.stdin is not None
        proc.stdin.write("x")
        proc.stdin.close()
        # strict mode: exit_group is not _exit, so returning from main kills it (SIGKILL);
        # the read itself worked: it was not stopped or killed by the inspection
        assert proc.wait(timeout=20) == -9
    finally:
        proc.kill()
        proc.wait()


def test_many_reads_leak_no_fd_and_no_memory(stacked: Target) -> None:
    import resource

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    for _ in range(50):
        spi.read(stacked.pid)
    before_fds = fds()
    before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(2000):
        spi.read(stacked.pid)
    assert fds() == before_fds
    # 2000 reads of two programs: a leak of the 256 KiB buffer alone would be ~500 MB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_rss < 20_000
    stacked.assert_unharmed()
