"""What the kernel enforces: read the seccomp filters of a live process.

:func:`read` copies a process's filter stack (ptrace(2) ``PTRACE_SECCOMP_GET_FILTER``) and
never leaves it stopped; :func:`stack_decision` and :func:`decide` run a stack the way the
kernel does.  Failures raise :class:`~seccomp_py.errors.InspectError`.  See ptrace(2),
seccomp(2) and docs/inspect.md (what it needs, and the kernel's precedence).
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from . import _kernel as _k
from . import bpf
from . import syscall as _syscall
from ._native import ffi, lib
from .arch import Arch
from .arch import coerce as _coerce_arch
from .errors import InspectError

#: The kernel's MAX_INSNS_PER_PATH: instructions over a whole stack, each
#: filter counting 4 more than its length (so at most 32768 // 5 filters).
MAX_STACK_INSNS = _k.MAX_INSNS_PER_PATH
MAX_FILTERS = MAX_STACK_INSNS // 5 + 1

#: SECCOMP_FILTER_FLAG_LOG, the one flag PTRACE_SECCOMP_GET_METADATA reports.
FLAG_LOG = _k.SECCOMP_FILTER_FLAG_LOG

ALLOW = _k.SECCOMP_RET_ALLOW
_AUDIT_X86_64 = _k.AUDIT_ARCH_X86_64
_X32_BIT = _k.X32_SYSCALL_BIT
_MODES = {_k.SECCOMP_MODE_DISABLED: "disabled", _k.SECCOMP_MODE_STRICT: "strict",
          _k.SECCOMP_MODE_FILTER: "filter"}


# -- one process's stack ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LiveFilter:
    """One filter of a process's stack, as the kernel holds it.

    ``index`` is the position in install order (0 = the oldest filter, the
    first that was loaded); ``program`` the raw ``struct sock_filter`` array in
    host byte order; ``insns`` the same parsed; ``flags`` what
    PTRACE_SECCOMP_GET_METADATA reports (only ``FLAG_LOG``); ``metadata_errno``
    is 0, or the errno when the kernel would not report the flags (then
    ``log`` is None).
    """

    index: int
    program: bytes
    insns: tuple[bpf.Insn, ...]
    flags: int = 0
    metadata_errno: int = 0

    @property
    def log(self) -> bool | None:
        """Whether the filter was loaded with SECCOMP_FILTER_FLAG_LOG (None: unknown)."""
        return None if self.metadata_errno else bool(self.flags & FLAG_LOG)

    def __len__(self) -> int:
        return len(self.insns)

    def disassemble(self) -> str:
        """The listing of :func:`seccomp_py.bpf.disassemble`."""
        return bpf.disassemble(self.insns)

    def evaluate(self, nr: int, arch: Arch | str | int, args: Sequence[int] = (),
                 ip: int = 0) -> int:
        """This filter alone on one syscall (see :func:`stack_decision` for ``arch``)."""
        token, number = _audit(arch, nr)
        return bpf.evaluate(self.insns, number, token, args=args, ip=ip)


class Decision(NamedTuple):
    """The stack's result for one syscall: the 32-bit ``value`` the kernel acts
    on, and ``filter_index``, the position (install order) of the filter that
    decided it, None when every filter allowed (or there are none)."""

    value: int
    filter_index: int | None

    @property
    def action(self) -> str:
        """A readable name: ``ALLOW``, ``ERRNO(1 EPERM)``, ``KILL_PROCESS``..."""
        return bpf.action_name(self.value)


@dataclasses.dataclass(frozen=True)
class Stack:
    """What :func:`read` found: the process's seccomp ``mode`` ("disabled",
    "strict" or "filter"), its ``filters`` (oldest first), the filter count
    /proc/PID/status gave (``status_count``), and ``passed_signal``, the
    signal the target was stopped with and that was passed on when detaching
    (0 for none)."""

    pid: int
    mode: str
    filters: tuple[LiveFilter, ...]
    status_count: int | None = None
    passed_signal: int = 0

    def decide(self, syscall: str | int, args: Sequence[int] = (),
               arch: Arch | str | int | None = None, ip: int = 0) -> Decision:
        """Decide one syscall on this stack, as :func:`stack_verdict` does.

        ``syscall`` is a name (resolved on ``arch``) or a number; ``arch``
        defaults to the native one.  Raises InspectError for a process in
        strict mode (no filter decides there: only read, write, _exit and
        sigreturn are allowed, everything else is killed).
        """
        if self.mode == "strict":
            raise InspectError(_errno.EINVAL, "seccomp", f"pid {self.pid} is in strict mode "
                               "(SECCOMP_MODE_STRICT): only read, write, _exit and "
                               "sigreturn run, every other syscall kills it", self.pid)
        target = _coerce_arch(arch if arch is not None else Arch.NATIVE)
        return stack_verdict(self.filters, _number(syscall, target), target, args, ip)


# -- running a stack ------------------------------------------------------------------------


def _rank(value: int) -> int:
    """The kernel's ACTION_ONLY(): the action bits, compared as a signed 32-bit int."""
    action = value & _k.SECCOMP_RET_ACTION_FULL
    return action - (1 << 32) if action & 0x80000000 else action


def _audit(arch: Arch | str | int, nr: int) -> tuple[int, int]:
    """The AUDIT_ARCH token and syscall number a process of ``arch`` shows the
    kernel (x32: x86_64's token, the number with bit 30 set)."""
    a = _coerce_arch(arch)
    if a is Arch.X32:
        return _AUDIT_X86_64, nr | _X32_BIT
    return int(a), nr


def _number(syscall: str | int, arch: Arch) -> int:
    if isinstance(syscall, bool) or not isinstance(syscall, (str, int)):
        raise TypeError(f"a syscall is a name or a number, not {type(syscall).__name__}")
    if isinstance(syscall, int):
        return syscall
    number = _syscall.resolve_name(syscall, arch)
    if number < 0:
        raise InspectError(_errno.EINVAL, "seccomp_syscall_resolve_name_arch",
                           f"{syscall!r} is not a direct syscall on {arch.name.lower()} "
                           "(multiplexed through socketcall/ipc); give its number")
    return number


Program = bytes | bytearray | memoryview | Sequence[bpf.Insn] | LiveFilter


def _insns(program: Program) -> Sequence[bpf.Insn]:
    if isinstance(program, LiveFilter):
        return program.insns
    if isinstance(program, (bytes, bytearray, memoryview)):
        return bpf.parse(program, sys.byteorder)
    return program


def stack_verdict(programs: Sequence[Program], nr: int, arch: Arch | str | int,
                  args: Sequence[int] = (), ip: int = 0) -> Decision:
    """Run a stack of filters on one syscall as the kernel does.

    ``programs`` in install order (oldest first, as :func:`filters` returns
    them): LiveFilter objects, raw programs in host byte order, or parsed
    instructions.  ``arch`` is an Arch, a libseccomp name or an AUDIT_ARCH
    token (``Arch.X32``: the number is given without bit 30; it is added).
    Every filter runs; the one with the lowest signed action bits wins, the
    most recent of equals (seccomp_run_filters in kernel/seccomp.c).  An
    empty stack allows.  Raises BpfError for a malformed program.
    """
    token, number = _audit(arch, nr)
    value, index = ALLOW, None
    for i in range(len(programs) - 1, -1, -1):
        result = bpf.evaluate(_insns(programs[i]), number, token, args=args, ip=ip)
        if _rank(result) < _rank(value):
            value, index = result, i
    return Decision(value, index)


def stack_decision(programs: Sequence[Program], nr: int, arch: Arch | str | int,
                   args: Sequence[int] = (), ip: int = 0) -> int:
    """The 32-bit value the kernel acts on for this syscall (see :func:`stack_verdict`)."""
    return stack_verdict(programs, nr, arch, args, ip).value


# -- reading a process ----------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InspectError(_errno.ESRCH, "open(/proc/PID/status)",
                           f"no process with pid {pid}", pid) from None
    except OSError as exc:
        raise InspectError(exc.errno or _errno.EIO, "open(/proc/PID/status)",
                           f"cannot read /proc/{pid}/status: {exc.strerror}", pid) from None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def _yama() -> int | None:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _why_eperm(pid: int, status: Mapping[str, str]) -> str:
    reasons = []
    tracer = status.get("TracerPid", "0")
    if tracer not in ("", "0"):
        reasons.append(f"it is already traced by pid {tracer} (a debugger, strace, or "
                       "another inspection)")
    scope = _yama()
    if scope:
        reasons.append(f"Yama's kernel.yama.ptrace_scope is {scope}"
                       + (" (no process may attach)" if scope >= 3 else
                          " (only CAP_SYS_PTRACE may attach)" if scope == 2 else
                          " (only to descendants, unless CAP_SYS_PTRACE)"))
    reasons.append("ptrace needs CAP_SYS_PTRACE, or the target's uid and gid and a "
                   "target that gained no privilege (set-uid, file capabilities)")
    return f"not permitted to trace pid {pid}: " + "; ".join(reasons)


def _why_eacces() -> str:
    mode = _status(os.getpid()).get("Seccomp", "0")
    if mode not in ("", "0"):
        return ("the kernel hands out filters only to a caller that is not itself under "
                f"seccomp, and this process is (seccomp mode {mode}; a container's "
                "profile?)")
    return ("reading seccomp filters needs CAP_SYS_ADMIN in the initial user namespace "
            "(PTRACE_SECCOMP_GET_FILTER); run as root")


_FUNCS = {
    int(lib.SPY_INSPECT_STEP_SEIZE): "ptrace(PTRACE_SEIZE)",
    int(lib.SPY_INSPECT_STEP_INTERRUPT): "ptrace(PTRACE_INTERRUPT)",
    int(lib.SPY_INSPECT_STEP_WAIT): "waitid",
    int(lib.SPY_INSPECT_STEP_GET_FILTER): "ptrace(PTRACE_SECCOMP_GET_FILTER)",
    int(lib.SPY_INSPECT_STEP_SPACE): "ptrace(PTRACE_SECCOMP_GET_FILTER)",
    int(lib.SPY_INSPECT_STEP_DETACH): "ptrace(PTRACE_DETACH)",
    int(lib.SPY_INSPECT_STEP_EXITED): "waitid",
}


def _error(req: Any, pid: int, status: Mapping[str, str]) -> InspectError:
    step, err = int(req.err_step), int(req.err)
    func = _FUNCS.get(step, "ptrace")
    if step == lib.SPY_INSPECT_STEP_EXITED or err == _errno.ESRCH:
        return InspectError(_errno.ESRCH, func, f"pid {pid} exited while being inspected"
                            if step != lib.SPY_INSPECT_STEP_SEIZE
                            else f"no process with pid {pid}", pid)
    if step == lib.SPY_INSPECT_STEP_SEIZE and err == _errno.EPERM:
        return InspectError(err, func, _why_eperm(pid, status), pid)
    if step == lib.SPY_INSPECT_STEP_GET_FILTER:
        index = int(req.filter_index)
        if err == _errno.EACCES:
            return InspectError(err, func, _why_eacces(), pid)
        if err == _errno.EINVAL:
            return InspectError(err, func, "this kernel hands out no seccomp filters (it was "
                                "built without CONFIG_CHECKPOINT_RESTORE)", pid)
        if err == _errno.EMEDIUMTYPE:
            return InspectError(err, func, f"filter {index} (in install order) is not"
                                " a classic BPF program", pid)
        return InspectError(err, func, f"cannot read filter {index} (in install order) "
                            f"of pid {pid}", pid)
    if step == lib.SPY_INSPECT_STEP_SPACE:
        return InspectError(err, func, f"pid {pid} has more filters or instructions than "
                            "the kernel allows (MAX_INSNS_PER_PATH)", pid)
    return InspectError(err, func, f"cannot inspect pid {pid}", pid)


def _check_pid(pid: object) -> int:
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"a pid is an int, not {type(pid).__name__}")
    if pid <= 0:
        raise InspectError(_errno.ESRCH, "inspect", f"no process with pid {pid}", pid)
    return pid


def read(pid: int) -> Stack:
    """Read the seccomp state and every filter of process (or thread) ``pid``.

    The target is seized and interrupted, its filters copied, and it is
    detached again before this returns or raises, in a single C call (see the
    module docstring); a process without a filter is not attached at all.
    Filters are returned oldest first (``PTRACE_SECCOMP_GET_FILTER``'s index 0 is
    the oldest filter, whatever ptrace(2) says).  Do not wait for the target
    from another thread while this runs (the ptrace stop would be reported
    there).  Raises InspectError (ESRCH,
    EPERM, EACCES, EINVAL, see :class:`~seccomp_py.errors.InspectError`) and
    TypeError for a pid that is not an int.
    """
    pid = _check_pid(pid)
    status = _status(pid)
    mode = _MODES.get(int(status.get("Seccomp", "0") or 0), "filter")
    count = status.get("Seccomp_filters")
    status_count = int(count) if count and count.isdigit() else None
    if mode != "filter":
        return Stack(pid, mode, (), status_count)
    if status.get("Tgid") == str(os.getpid()):
        raise InspectError(_errno.EPERM, "ptrace(PTRACE_SEIZE)", f"pid {pid} is this process "
                           "(a thread cannot trace its own process): inspect it from another "
                           "one", pid)
    if status.get("State", "").startswith(("Z", "X")):
        raise InspectError(_errno.ESRCH, "ptrace(PTRACE_SEIZE)", f"pid {pid} has exited "
                           "(a zombie keeps no filters)", pid)
    buf = ffi.new("char[]", MAX_STACK_INSNS * bpf.INSN_SIZE)
    lens = ffi.new("unsigned int[]", MAX_FILTERS)
    flags = ffi.new("uint64_t[]", MAX_FILTERS)
    meta = ffi.new("int[]", MAX_FILTERS)
    req = ffi.new("struct spy_inspect_req *")
    req.pid = pid
    req.own_child = int(status.get("PPid") == str(os.getpid()))
    req.buf = buf
    req.buf_cap = MAX_STACK_INSNS
    req.lens = lens
    req.flags = flags
    req.meta_err = meta
    req.max_filters = MAX_FILTERS
    if lib.spy_inspect_read(req) < 0:
        raise _error(req, pid, status)
    raw = ffi.buffer(buf, int(req.used) * bpf.INSN_SIZE)[:]
    found: list[LiveFilter] = []
    offset = 0
    # The kernel's index 0 is the oldest filter (get_nth_filter walks back
    # count - index filters from the most recent one): install order.
    for i in range(int(req.count)):
        program = raw[offset:offset + int(lens[i]) * bpf.INSN_SIZE]
        offset += len(program)
        found.append(LiveFilter(i, program, tuple(bpf.parse(program, sys.byteorder)),
                                int(flags[i]), int(meta[i])))
    return Stack(pid, "filter", tuple(found), status_count, int(req.passed_signal))


def filters(pid: int) -> list[LiveFilter]:
    """The filters of ``pid``, oldest first ([] without any).  See :func:`read`."""
    return list(read(pid).filters)


def decide(pid: int, syscall: str | int, args: Sequence[int] = (),
           arch: Arch | str | int | None = None, ip: int = 0) -> int:
    """Read ``pid``'s filters and return the value its kernel stack gives
    ``syscall`` (a name or number on ``arch``, native by default) with
    ``args``: the 32-bit SECCOMP_RET_* value (``bpf.action_name`` names it).
    Raises InspectError (see :func:`read`)."""
    return read(pid).decide(syscall, args, arch, ip).value


# -- summaries ------------------------------------------------------------------------------


@dataclasses.dataclass
class ArchSummary:
    """What a stack does with every syscall libseccomp knows on one arch.

    ``allowed``: names the stack allows whatever the arguments;
    ``refused``: action name -> names refused that way whatever the arguments;
    ``conditional``: names whose result depends on the arguments or the
    instruction pointer (the path of the filter loads them).
    """

    arch: str
    allowed: list[str] = dataclasses.field(default_factory=list)
    refused: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    conditional: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "allowed": self.allowed, "refused": self.refused,
                "conditional": self.conditional}


def named_arches(programs: Iterable[Program]) -> list[Arch]:
    """The arches the programs compare the arch field with (x32 with x86_64)."""
    known = {int(a): a for a in Arch.available()}
    found: list[Arch] = []
    for program in programs:
        loaded: int | None = None  # the seccomp_data offset A was last loaded from
        for ins in _insns(program):
            if ins.cls == bpf.LD:
                loaded = ins.k if ins.code == bpf.LD | _k.BPF_W | _k.BPF_ABS else None
            elif ins.cls in (bpf.ALU, bpf.MISC):
                loaded = None
            elif (ins.cls == bpf.JMP and ins.code == bpf.JMP | _k.BPF_JEQ | _k.BPF_K
                  and loaded == _k.SECCOMP_DATA_ARCH
                  and ins.k in known and known[ins.k] not in found):
                found.append(known[ins.k])
    if Arch.X86_64 in found and Arch.X32 in known.values() and Arch.X32 not in found:
        found.append(Arch.X32)
    return found


def _marked(insns: Sequence[bpf.Insn]) -> tuple[list[bpf.Insn], int]:
    """``insns`` with every load of the instruction pointer or an argument
    replaced by ``ret #marker``: evaluating it gives the marker exactly when
    the syscall's path reads them (jump offsets are unchanged)."""
    constants = {ins.k for ins in insns}
    marker = next(m for m in range(ALLOW - 0x10000 + 0x5EC, ALLOW) if m not in constants)
    out = [bpf.Insn(bpf.RET, 0, 0, marker)
           if ins.code == bpf.LD | _k.BPF_W | _k.BPF_ABS and ins.k >= _k.SECCOMP_DATA_IP else ins
           for ins in insns]
    return out, marker


def summarize(programs: Sequence[Program], arch: Arch | str | int) -> ArchSummary:
    """Classify every syscall libseccomp knows on ``arch`` for this stack.

    Exact, not sampled: a syscall is ``conditional`` when the path some filter
    takes for it loads an argument or the instruction pointer (the outcome
    may then differ with them), else its outcome is the same for every
    argument.  A conditional filter cannot change a result that another filter
    makes KILL_PROCESS (nothing ranks lower).
    """
    target = _coerce_arch(arch)
    marked = [_marked(_insns(p)) for p in programs]
    out = ArchSummary(target.name.lower())
    table = _syscall._table(target)
    for name, nr in sorted(table.items(), key=lambda item: (item[1], item[0])):
        token, number = _audit(target, nr)
        value, conditional = ALLOW, False
        for insns, marker in reversed(marked):
            result = bpf.evaluate(insns, number, token)
            if result == marker:
                conditional = True
            elif _rank(result) < _rank(value):
                value = result
        if conditional and _rank(value) > _rank(_k.SECCOMP_RET_KILL_PROCESS):
            out.conditional.append(name)
        elif _rank(value) >= _rank(ALLOW):
            out.allowed.append(name)
        else:
            out.refused.setdefault(bpf.action_name(value), []).append(name)
    return out


# -- what a profile loads under a runtime ---------------------------------------------------


def runc_program(profile: Any, *, arch: Arch | str | int | None = None,
                 caps: Iterable[str] | None = None,
                 kernel: tuple[int, int] | str | None = None) -> bytes:
    """The program runc would load for ``profile`` (a Profile, or a path to a
    profile JSON file): libseccomp's filter compiled for ``caps`` and
    ``kernel`` (default: the current ones, as Profile.compile) with runc's
    -ENOSYS stub in front (profile.Compiled.runc_program).  Compare it with a
    live stack through :func:`stack_verdict` (``[runc_program(...)]`` is the
    one-filter stack runc installs).  Raises ProfileError."""
    from .profile import Profile

    if not isinstance(profile, Profile):
        profile = Profile.load(profile)
    compiled = profile.compile(arch, caps=None if caps is None else set(caps), kernel=kernel,
                               unknown="ignore")
    with compiled.filter:
        program: bytes = compiled.runc_program()
    return program


def profile_stack(profile: Any, runtime: str | None = "runc", *,
                  arch: Arch | str | int | None = None, caps: Iterable[str] | None = None,
                  kernel: tuple[int, int] | str | None = None) -> list[bytes]:
    """The stack of programs ``runtime`` installs for ``profile`` (install order),
    to compare with a live one through :func:`stack_verdict`:

    - ``"runc"``: ``[runc_program(...)]``, one filter with runc's -ENOSYS stub;
    - ``None``: ``[libseccomp's program]``, the profile loaded as it compiles
      (``seccomp-py run --no-runc-stub``, or any runtime that adds no stub).

    Raises ProfileError, and ValueError for another runtime name.
    """
    if runtime == "runc":
        return [runc_program(profile, arch=arch, caps=caps, kernel=kernel)]
    if runtime is not None:
        raise ValueError(f"unknown runtime {runtime!r} (known: 'runc', or None for none)")
    from .profile import Profile

    if not isinstance(profile, Profile):
        profile = Profile.load(profile)
    compiled = profile.compile(arch, caps=None if caps is None else set(caps), kernel=kernel,
                               unknown="ignore")
    with compiled.filter:
        return [compiled.program()]


__all__ = ["ALLOW", "FLAG_LOG", "MAX_FILTERS", "MAX_STACK_INSNS", "ArchSummary", "Decision",
           "LiveFilter", "Stack", "decide", "filters", "named_arches", "profile_stack", "read",
           "runc_program", "stack_decision", "stack_verdict", "summarize"]
