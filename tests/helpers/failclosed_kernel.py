"""Run a model policy for real: build it with seccomp_py, load it in a forked
child, make the probe syscalls there with raw syscall(2), and compare what the
kernel did with what tests/helpers/model.py predicts.

Used by tests/test_model_core.py (a few hundred cases) and
scripts/model_long.py (ten thousand).

Probe syscalls are x86_64 syscalls that are harmless with any arguments and
that nothing on the child's reporting path uses: getppid (returns the parent's
pid, so "allowed" and ERRNO(0) differ) and six numbers the kernel leaves
unimplemented (they return ENOSYS when allowed).  The child reports each result
with one write() of a fixed-size record, so a kill is seen as "the record for
call k never came, and the child died of SIGSYS".
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import resource
import select
import signal
import struct
import sys
import time
from typing import Callable, Protocol

from seccomp_py import Action, Arch, Arg, Filter, InvalidArgumentError, SeccompError
from seccomp_py.arg import ArgCmp, Op

from . import model as M

#: name -> x86_64 number.  getppid runs; the others are sys_ni_syscall (ENOSYS).
PROBES: dict[str, int] = {
    "getppid": 110,
    "afs_syscall": 183,
    "tuxcall": 184,
    "security": 185,
    "getpmsg": 181,
    "putpmsg": 182,
    "vserver": 236,
}

#: What the child itself needs after load() when the default action denies:
#: reporting (write), exiting, the SIGSYS handler's return, and the allocator.
HARNESS = ("write", "exit_group", "exit", "rt_sigreturn", "brk", "mmap", "munmap",
           "mremap", "madvise", "futex", "rt_sigprocmask", "sigaltstack")

EXTRA_ARCHES = ("x86", "x32", "aarch64", "riscv64")

_RECORD = struct.Struct("<iqii")  # call index, return value, errno, trapped
_LOAD_FAILED = -1


#: libseccomp bugs found by this harness (see docs/failclosed.md and the
#: xfail(strict=True) tests in tests/test_model_core.py).  ``known_bug(policy)``
#: says whether a policy has the shape that triggers one, so the CI property
#: test can steer around them and scripts/model_long.py can count them apart.
KNOWN_BUGS = {
    "LSC-X32-PHANTOM": "libseccomp 2.5.4: with the x32 arch in the filter, an x32 entry "
                       "without a real rule (a priority on a syscall that has no rule, or a "
                       "conditional rule for a syscall x32 lacks, e.g. vserver) makes the "
                       "generated BPF skip loading the syscall number: every rule is ignored "
                       "and every syscall gets the default action (an ALLOW default then "
                       "allows what rules deny)",
    "LSC-RANGE-MERGE": "libseccomp 2.5.4: conditional rules with different actions for one "
                       "syscall that use a range comparison (GT/GE/LT/LE) on the same "
                       "argument are merged into a tree where one rule's sub-conditions are "
                       "grafted under the other's branch: a rule's action is taken for "
                       "arguments it does not match (can be ALLOW under a deny default)",
}

_RANGE_OPS = frozenset({"GT", "GE", "LT", "LE"})

#: Probe syscalls that libseccomp's x32 table does not have (checked by
#: test_x32_missing_probes_are_what_libseccomp_says).
X32_MISSING = frozenset({"vserver"})


def known_bug(policy: M.MPolicy) -> str | None:
    """The id of a known libseccomp bug this policy's shape can trigger, or None."""
    if "x32" in policy.arches and policy.priorities:
        # a syscall counts as ruled only when a rule for it is surely accepted
        # (a refused rule leaves the priority's phantom entry behind)
        replay = M.Model(policy)
        ruled = set()
        for r in policy.rules:
            if replay.verdict(r).allowed == {0}:
                replay.add(r, 0)
                ruled.add(r.syscall)
        if any(name not in ruled for name, _ in policy.priorities):
            return "LSC-X32-PHANTOM"
    if "x32" in policy.arches and any(r.syscall in X32_MISSING and not r.unconditional
                                      for r in policy.rules):
        return "LSC-X32-PHANTOM"
    by_syscall: dict[str, list[M.MRule]] = {}
    for r in policy.rules:
        by_syscall.setdefault(r.syscall, []).append(r)
    for rules in by_syscall.values():
        for i, a in enumerate(rules):
            for b in rules[i + 1:]:
                # (seen with different actions, which can fail open, and with the
                # same action, e.g. ERRNO for Arg(2) <= 0 or Arg(2) >= 2**32 plus a
                # rule on another argument, which refused a call no rule matched)
                if not a.cmps or not b.cmps:
                    continue
                a_idx = {c.index for c in a.cmps}
                shared = a_idx & {c.index for c in b.cmps}
                if any(c.op in _RANGE_OPS for c in (*a.cmps, *b.cmps) if c.index in shared):
                    return "LSC-RANGE-MERGE"
    return None


def supported() -> str | None:
    """None when this machine can run the model tests, else the reason."""
    if Arch.native() is not Arch.X86_64:
        return f"probe syscall numbers are for x86_64, this is {Arch.native().name}"
    return None


def to_action(a: M.MAction) -> Action:
    if a.kind == "ERRNO":
        return Action.errno(a.data)
    if a.kind == "TRACE":
        return Action.trace(a.data)
    action: Action = getattr(Action, a.kind)
    return action


def to_cmp(c: M.MCmp) -> ArgCmp:
    arg = Arg(c.index, bits=c.bits)
    if c.op == "MASKED_EQ":
        return arg.masked_eq(c.a, c.b)
    return ArgCmp(c.index, Op[c.op], c.a, bits=c.bits)


@dataclasses.dataclass(frozen=True)
class Call:
    syscall: str
    args: tuple[int, ...]
    x32: bool = False

    def __repr__(self) -> str:
        args = ", ".join(hex(a) for a in self.args)
        return f"{self.syscall}{'|X32' if self.x32 else ''}({args})"


@dataclasses.dataclass
class Result:
    """The outcome of one case."""

    policy: M.MPolicy
    calls: tuple[Call, ...]
    mismatches: list[str] = dataclasses.field(default_factory=list)
    refusals: int = 0
    #: refused by seccomp_py's verifier before anything was loaded (fail closed)
    verify_refused: int = 0
    #: libseccomp's program was wrong and seccomp_py loaded its verified repair
    repaired: int = 0
    ambiguous: int = 0
    checked: int = 0

    def report(self) -> str:
        out = ["policy:", self.policy.describe(), "calls: " + repr(list(self.calls))]
        out += ["MISMATCH: " + m for m in self.mismatches]
        return "\n".join(out)


def natural(call: Call, parent_pid: int) -> M.Seen:
    """What the probe does when the filter lets it run."""
    if call.syscall == "getppid":
        return M.Seen(ret=parent_pid)
    return M.Seen(ret=-1, err=errno.ENOSYS)


class Refused(Exception):
    """libseccomp refused the policy as a whole, as the model predicted."""


def _expect_refusal(result: Result, what: str, action: M.MAction, call: Callable[[], object],
                    ) -> bool:
    """Run ``call``; True when it was (rightly) refused for an invalid action."""
    try:
        call()
    except InvalidArgumentError:
        if M.action_valid(action):
            result.mismatches.append(f"{what} {action!r} refused, model accepts it")
        return True
    if not M.action_valid(action):
        result.mismatches.append(f"{what} {action!r} accepted, libseccomp refuses it")
    return False


def build(policy: M.MPolicy, result: Result, model: M.Model) -> Filter:
    """Build the real filter, checking every add result against the model.

    Raises Refused when the default (or bad-arch) action is one libseccomp
    refuses, after checking that the refusal was expected.
    """
    holder: list[Filter] = []
    if _expect_refusal(result, "default action", policy.default,
                       lambda: holder.append(Filter(to_action(policy.default)))):
        raise Refused()
    f = holder[0]
    try:
        bad_arch = policy.bad_arch
        if bad_arch is not None:
            def set_bad_arch() -> None:
                f.bad_arch_action = to_action(bad_arch)
            if _expect_refusal(result, "bad-arch action", bad_arch, set_bad_arch):
                raise Refused()
        if policy.optimize is not None:
            f.optimize = policy.optimize
        for arch in policy.arches:
            f.add_arch(arch)
        if policy.default.kind not in ("ALLOW", "LOG"):
            for name in HARNESS:
                f.add_rule(Action.ALLOW, name)
        for name, prio in policy.priorities:
            f.set_priority(name, prio)
        for rule in policy.rules:
            err = 0
            try:
                f.add_rule(to_action(rule.action), rule.syscall, *map(to_cmp, rule.cmps))
            except SeccompError as exc:
                err = exc.errno or -1
            verdict = model.add(rule, err)
            if err:
                result.refusals += 1
            if not verdict.permits(err):
                got = errno.errorcode.get(err, err) if err else "success"
                want = sorted(errno.errorcode.get(e, "success") for e in verdict.allowed)
                result.mismatches.append(
                    f"{rule!r}: got {got}, model allows {want} ({verdict.reason})")
    except BaseException:
        f.close()
        raise
    return f


def _child(f: Filter, calls: tuple[Call, ...], wfd: int) -> None:
    """In the forked child: load, make each call, report each result."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    trapped = [0]

    def on_sigsys(signum: int, frame: object) -> None:
        trapped[0] += 1

    signal.signal(signal.SIGSYS, on_sigsys)
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long] * 7
    prepared = []
    for c in calls:
        nr = PROBES[c.syscall] | (M.X32_BIT if c.x32 else 0)
        prepared.append((nr, [ctypes.c_long(a - (1 << 64) if a >= 1 << 63 else a)
                              for a in c.args]))
    records = [bytearray(_RECORD.size) for _ in calls]
    try:
        f.load()
    except SeccompError as exc:
        os.write(wfd, _RECORD.pack(_LOAD_FAILED, 0, exc.errno or 0, 0))
        os._exit(3)
    for i, (nr, args) in enumerate(prepared):
        before = trapped[0]
        ctypes.set_errno(0)
        ret = syscall(nr, *args)
        err = ctypes.get_errno() if ret == -1 else 0
        for _ in range(3):  # let the Python-level SIGSYS handler run
            pass
        _RECORD.pack_into(records[i], 0, i, ret, err, int(trapped[0] != before))
        os.write(wfd, records[i])
    os._exit(0)


def run_policy(policy: M.MPolicy, calls: tuple[Call, ...], timeout: float = 20.0) -> Result:
    """Build, load in a child, call, compare.  Mismatches land in ``result.mismatches``."""
    result = Result(policy, calls)
    model = M.Model(policy)
    try:
        f = build(policy, result, model)
    except Refused:
        result.refusals += 1
        return result
    from seccomp_py.errors import FilterVerificationError

    try:
        f.export_bpf()  # the program load() would hand over, verified
    except FilterVerificationError:
        result.verify_refused += 1
        f.close()
        return result
    result.repaired = int(f._repaired == f._generation)
    return run_filter(f, model, calls, result, timeout)


class Monitor(Protocol):
    """A supervisor for NOTIFY rules (see tests/test_model_notify.py)."""

    def before_fork(self, f: Filter) -> None: ...
    def after_fork(self) -> None: ...  # in the parent
    def stop(self) -> None: ...
    def answer(self, call: Call) -> M.Seen: ...  # what a notified call sees


def run_filter(f: Filter, model: M.Model, calls: tuple[Call, ...], result: Result,
               timeout: float = 20.0, monitor: Monitor | None = None) -> Result:
    """Load ``f`` in a child, make ``calls``, compare with ``model``; closes ``f``.

    With ``monitor``, the filter hands its listener to it at load and NOTIFY
    decisions are observed as ``monitor.answer(call)``.
    """
    if monitor is not None:
        monitor.before_fork(f)
    try:
        rfd, wfd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(rfd)
                _child(f, calls, wfd)
            finally:
                os._exit(4)
        os.close(wfd)
        if monitor is not None:
            try:
                monitor.after_fork()
            except BaseException:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    raise TimeoutError(f"child {pid} did not finish within {timeout}s")
                ready, _, _ = select.select([rfd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(rfd)
        _, status = os.waitpid(pid, 0)
    finally:
        if monitor is not None:
            monitor.stop()
        f.close()
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    seen: dict[int, M.Seen] = {}
    for off in range(0, len(data) - len(data) % _RECORD.size, _RECORD.size):
        idx, ret, err, trap = _RECORD.unpack_from(data, off)
        if idx == _LOAD_FAILED:
            result.mismatches.append(f"load() failed in the child: errno {err}")
            return result
        seen[idx] = M.Seen(ret=ret, err=err, trapped=bool(trap))
    parent = os.getpid()
    for i, call in enumerate(calls):
        actions = model.decide(call.syscall, call.args, call.x32)
        if len(actions) > 1:
            result.ambiguous += 1
        expected = [monitor.answer(call) if a.kind == "NOTIFY" and monitor is not None
                    else M.observe(a, natural(call, parent)) for a in actions]
        got = seen.get(i)
        if got is None:
            got = M.Seen(signal=sig) if sig is not None else None
        if got is None:
            result.mismatches.append(f"{call!r}: no report and the child exited ({status:#x})")
            return result
        result.checked += 1
        if not any(M.same(e, got) for e in expected):
            result.mismatches.append(
                f"{call!r}: kernel did {got!r}, model expects one of "
                f"{sorted(map(repr, actions))} -> {expected!r}")
        if got.signal is not None:
            break  # the child is dead: later calls were never made
    else:
        if sig is not None:
            result.mismatches.append(f"the child died of signal {sig} after all calls")
    return result
