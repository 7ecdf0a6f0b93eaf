"""What a spawned child loads: the plan built from a filter (see docs/spawn.md).

A :class:`Plan` is the BPF program with everything the child needs to load it
with seccomp(2) -- the ``SECCOMP_FILTER_FLAG_*`` flags, whether to set
prctl(PR_SET_NO_NEW_PRIVS) first, whether the program has a NOTIFY return (a
listener to hand back) -- and a way to run the program in the parent
(:meth:`Plan.evaluate`, the shim's classic-BPF interpreter) to check, before
forking, what the filter will do to the calls the child makes under it.
"""

from __future__ import annotations

import errno as _errno
import struct
import threading
import weakref
from collections.abc import Callable, Sequence

from ._native import check, ffi, lib
from .action import Action, ActionKind
from .attribute import HAS_WAIT_KILL
from .errors import FilterClosedError, FilterTooLargeError, SeccompError, UnsupportedError
from .filter import BPF_INSN_SIZE, BPF_MAXINSNS, Filter

# SECCOMP_FILTER_FLAG_* of seccomp(2)
FLAG_TSYNC = 1 << 0
FLAG_LOG = 1 << 1
FLAG_SPEC_ALLOW = 1 << 2
FLAG_NEW_LISTENER = 1 << 3
FLAG_TSYNC_ESRCH = 1 << 4
FLAG_WAIT_KILLABLE_RECV = 1 << 5
FLAG_NAMES = {
    FLAG_TSYNC: "TSYNC (Attribute.THREAD_SYNC)",
    FLAG_LOG: "LOG (Attribute.LOG)",
    FLAG_SPEC_ALLOW: "SPEC_ALLOW (Attribute.DISABLE_SSB)",
    FLAG_NEW_LISTENER: "NEW_LISTENER (a NOTIFY rule)",
    FLAG_TSYNC_ESRCH: "TSYNC_ESRCH (THREAD_SYNC with a NOTIFY rule)",
    FLAG_WAIT_KILLABLE_RECV: "WAIT_KILLABLE_RECV (Attribute.WAIT_KILL)",
}

_RET_ACTION_FULL = 0xFFFF0000
_RET_USER_NOTIF = int(ActionKind.NOTIFY)
_BPF_RET_K = 0x06  # BPF_RET | BPF_K
_NATIVE_ARCH = int(lib.seccomp_arch_native())


def flag_text(flags: int) -> str:
    """``flags`` as ``TSYNC | LOG`` (for error messages)."""
    return " | ".join(n.split(" ")[0] for f, n in FLAG_NAMES.items() if f & flags) or "0"


class Plan:
    """A BPF program and how to load it, ready for the child (see the module)."""

    __slots__ = ("_fixed", "bpf", "count", "flags", "has_notify", "no_new_privs", "prog")

    def __init__(self, bpf: bytes, flags: int, no_new_privs: bool, has_notify: bool) -> None:
        self.bpf = bpf
        self.count = len(bpf) // BPF_INSN_SIZE
        self.prog = ffi.from_buffer("char[]", bpf)
        self.flags = flags
        self.no_new_privs = no_new_privs
        self.has_notify = has_notify
        # syscall -> (its action, kind) when no argument (nor the instruction
        # pointer) decides it, else None: see decide()
        self._fixed: dict[int, tuple[Action, ActionKind] | None] = {}

    def decide(self, nr: int, args: Callable[[], Sequence[int]]
               ) -> tuple[Action, ActionKind]:
        """:meth:`evaluate` (on the arguments ``args()`` returns) and the action's
        kind, for spawn's checks.

        The first call for ``nr`` runs the program with every argument word
        unknown (the shim's ``spy_bpf_scan`` stops when the path taken reads
        one); when none decides, the result is the same for every argument
        and is kept, so later spawns skip the run.  Raises SeccompError
        (func ``spy_bpf_eval``) for a malformed program.
        """
        try:
            fixed = self._fixed[nr]
        except KeyError:
            fixed = self._fixed[nr] = self._scan(nr)
        if fixed is not None:
            return fixed
        action = self.evaluate(nr, args())
        return action, action.kind

    def _scan(self, nr: int) -> tuple[Action, ActionKind] | None:
        check(lib.spy_bpf_check(self.prog, self.count), "spy_bpf_eval",
              "the exported BPF program is malformed")
        result = ffi.new("uint32_t[1]")
        dep = ffi.new("uint8_t[1]")
        lib.spy_bpf_scan(self.prog, self.count, 1, ffi.new("uint32_t[1]", [_NATIVE_ARCH]),
                         ffi.new("uint32_t[1]", [nr & 0xFFFFFFFF]), result, dep)
        if dep[0]:
            return None
        action = _action(int(result[0]))
        return action, action.kind

    def evaluate(self, nr: int, args: Sequence[int]) -> Action:
        """What the filter does to syscall ``nr`` with ``args`` (native arch).

        Raises SeccompError (func ``spy_bpf_eval``) for a malformed program.
        """
        padded = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
        values = ffi.new("uint64_t[6]", padded)
        result = ffi.new("uint32_t *")
        check(lib.spy_bpf_eval(self.prog, self.count, nr & 0xFFFFFFFF, _NATIVE_ARCH, 0, values,
                               result),
              "spy_bpf_eval", "the exported BPF program is malformed")
        return _action(int(result[0]))


def _action(raw: int) -> Action:
    try:
        return Action(raw)
    except SeccompError:  # a data field the Action class refuses: keep the kind
        return Action(raw & _RET_ACTION_FULL)


_plans: weakref.WeakKeyDictionary[Filter, Plan] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()


def has_notify(bpf: bytes) -> bool:
    """True when the program has a SECCOMP_RET_USER_NOTIF return (needs a listener)."""
    for code, _jt, _jf, k in struct.iter_unpack("=HBBI", bpf):
        if code == _BPF_RET_K and k & _RET_ACTION_FULL == _RET_USER_NOTIF:
            return True
    return False


def plan_for(filter: Filter, program: bytes | None = None) -> Plan:
    """The cached plan for ``filter``'s current generation (rebuilt when it changed).

    With ``program`` (a raw BPF program compiled elsewhere, e.g. a profile's
    program with runc's -ENOSYS stub in front), the plan loads that program
    instead of ``filter.export_bpf()``; the seccomp flags still come from
    ``filter``'s attributes.  Such plans are not cached.  Raises TypeError,
    ValueError (a ragged program), FilterClosedError, FilterTooLargeError,
    UnsupportedError (flags this kernel refuses).
    """
    if not isinstance(filter, Filter):
        raise TypeError(f"spawn() needs a seccomp_py.Filter, not {type(filter).__name__}")
    if filter.closed:
        raise FilterClosedError("spawn", "the filter is closed: spawn() needs an open Filter")
    if program is not None:
        if not isinstance(program, (bytes, bytearray, memoryview)):
            raise TypeError(f"program must be bytes, not {type(program).__name__}")
        program = bytes(program)
        if not program or len(program) % BPF_INSN_SIZE:
            raise ValueError(f"program must be a non-empty array of {BPF_INSN_SIZE}-byte BPF "
                             f"instructions, not {len(program)} bytes")
        with _plans_lock:
            return build_plan(filter, program)
    plan = _plans.get(filter)
    if plan is not None and filter.export_bpf() is plan.bpf:
        return plan
    with _plans_lock:
        bpf = filter.export_bpf()
        plan = build_plan(filter, bpf)
        # This check reads the filter again: a change made meanwhile is caught.
        if filter.export_bpf() is not bpf:
            raise SeccompError(_errno.EAGAIN, "spawn",
                               "the filter changed while spawn() compiled it")
        _plans[filter] = plan
        return plan


def build_plan(filter: Filter, bpf: bytes) -> Plan:
    """The plan that loads ``bpf`` with the flags ``filter``'s attributes ask for.

    The one place that reads a Filter's load settings (see docs/spawn.md, the
    attribute -> flag table).  Raises FilterTooLargeError, UnsupportedError.
    """
    count = len(bpf) // BPF_INSN_SIZE
    if count > BPF_MAXINSNS:
        raise FilterTooLargeError(count, BPF_MAXINSNS, func="spawn")
    notify = has_notify(bpf)
    flags = 0
    if filter.thread_sync:
        flags |= FLAG_TSYNC | (FLAG_TSYNC_ESRCH if notify else 0)
    if filter.log:
        flags |= FLAG_LOG
    if filter.disable_ssb:
        flags |= FLAG_SPEC_ALLOW
    if notify:
        flags |= FLAG_NEW_LISTENER
        if HAS_WAIT_KILL and filter.wait_kill:
            flags |= FLAG_WAIT_KILLABLE_RECV
    from .features import kernel_flags

    missing = flags & ~int(kernel_flags())
    if missing:
        names = ", ".join(n for f, n in FLAG_NAMES.items() if f & missing)
        raise UnsupportedError("seccomp",
                               f"this kernel does not accept the filter flag(s) {names}")
    return Plan(bpf, flags, bool(filter.no_new_privileges), notify)
