"""What a spawned child loads: the plan built from a filter (see docs/spawn.md).

A :class:`Plan` is the BPF program with everything the child needs to load it
with seccomp(2) -- the ``SECCOMP_FILTER_FLAG_*`` flags, whether to set
prctl(PR_SET_NO_NEW_PRIVS) first, whether the program has a NOTIFY return (a
listener to hand back) -- and a way to run the program in the parent
(:meth:`Plan.evaluate`, the shim's classic-BPF interpreter) to check, before
forking, what the filter will do to the calls the child makes under it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence

from ._kernel import BPF_MAXINSNS
from ._kernel import SECCOMP_RET_ACTION_FULL as _RET_ACTION_FULL
from ._native import check, ffi, lib
from .action import Action, ActionKind
from .errors import FilterClosedError, FilterTooLargeError, SeccompError
from .program import BPF_INSN_SIZE, FLAG_NAMES, Program
from .program import has_notify as has_notify

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Union

    # what spawn() confines a child with: a Program, or a Filter (anything with
    # compile() -> Program; spawn never imports filter.py)
    Confinement = Union[Program, Any]

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


# id(Program) -> its plan, while the Program lives (a finalizer drops it): a
# lookup by identity, the cost of every spawn() of a cached program
_plans: dict[int, Plan] = {}
_plans_lock = threading.Lock()


def program_of(target: Confinement, program: bytes | None = None) -> Program:
    """The Program spawn() loads for ``target``: a Program as it is, or a Filter's
    ``compile()``.  With ``program`` (a raw BPF program compiled elsewhere, e.g. a
    profile's program with runc's -ENOSYS stub in front), that program with
    ``target``'s load options (flags, no_new_privs).  Raises TypeError, ValueError
    (a ragged program), FilterClosedError, and what ``compile()`` raises."""
    if not isinstance(target, Program):
        compile_ = getattr(target, "compile", None)
        if not callable(compile_) or not hasattr(target, "closed"):
            raise TypeError("spawn() needs a seccomp_py.Filter or Program, not "
                            f"{type(target).__name__}")
        if target.closed:
            raise FilterClosedError("spawn", "the filter is closed: spawn() needs an open Filter")
        target = compile_()
        if not isinstance(target, Program):
            raise TypeError(f"compile() gave a {type(target).__name__}, not a Program")
    if program is None:
        return target
    if not isinstance(program, (bytes, bytearray, memoryview)):
        raise TypeError(f"program must be bytes, not {type(program).__name__}")
    try:
        return target.with_bpf(program)
    except ValueError:
        raise ValueError(f"program must be a non-empty array of {BPF_INSN_SIZE}-byte BPF "
                         f"instructions, not {len(bytes(program))} bytes") from None


def plan_for(target: Confinement, program: bytes | None = None) -> Plan:
    """The plan for ``target`` (a Filter or a Program; see program_of), cached per
    Program: a Filter's program is rebuilt only when the filter changed.  Raises
    what program_of raises, FilterTooLargeError, UnsupportedError (flags this
    kernel refuses)."""
    loaded = program_of(target, program)
    key = id(loaded)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    with _plans_lock:
        plan = _plans.get(key)
        if plan is None:
            plan = _plans[key] = build_plan(loaded)
            weakref.finalize(loaded, _plans.pop, key, None)
        return plan


def build_plan(program: Program) -> Plan:
    """The plan that loads ``program`` (its flags, no_new_privs and listener wish come
    from the Program: Filter.compile() reads the attributes, see docs/spawn.md).
    Raises FilterTooLargeError, UnsupportedError (flags this kernel refuses)."""
    count = program.instruction_count
    if count > BPF_MAXINSNS:
        raise FilterTooLargeError(count, BPF_MAXINSNS, func="spawn")
    program.check_kernel()
    return Plan(program.bpf, program.flags, program.no_new_privs, program.wants_listener)
