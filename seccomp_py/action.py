"""Filter actions: what the kernel does when a rule (or the default) matches.

See seccomp_rule_add(3) and seccomp(2), section "Filter return values".
"""

from __future__ import annotations

import enum

from ._kernel import MAX_ERRNO, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_DATA
from ._native import lib
from .errors import InvalidArgumentError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar

_ERRNO_BASE: int = int(lib.SPY_ACT_ERRNO_BASE)
_TRACE_BASE: int = int(lib.SPY_ACT_TRACE_BASE)
_DATA_MASK = SECCOMP_RET_DATA
_ACTION_MASK = SECCOMP_RET_ACTION_FULL


class ActionKind(enum.IntEnum):
    """The action without its 16-bit data (SECCOMP_RET_* of seccomp(2))."""

    KILL_PROCESS = int(lib.SCMP_ACT_KILL_PROCESS)
    KILL_THREAD = int(lib.SCMP_ACT_KILL_THREAD)
    TRAP = int(lib.SCMP_ACT_TRAP)
    ERRNO = _ERRNO_BASE
    TRACE = _TRACE_BASE
    LOG = int(lib.SCMP_ACT_LOG)
    ALLOW = int(lib.SCMP_ACT_ALLOW)
    NOTIFY = int(lib.SCMP_ACT_NOTIFY)


class Action:
    """A seccomp action, as the 32-bit value libseccomp and the kernel use.

    Constants: ``KILL_PROCESS``, ``KILL_THREAD`` (alias ``KILL``), ``TRAP``,
    ``LOG``, ``ALLOW``, ``NOTIFY``; with data: ``Action.errno(n)`` and
    ``Action.trace(n)``.  Actions are immutable, hashable and compare by value.

    Raises :class:`~seccomp_py.errors.InvalidArgumentError` for an errno outside
    0..4095, trace data outside 0..65535 or an unknown action value.
    """

    __slots__ = ("_value",)

    KILL_PROCESS: ClassVar[Action]
    KILL_THREAD: ClassVar[Action]
    KILL: ClassVar[Action]
    TRAP: ClassVar[Action]
    LOG: ClassVar[Action]
    ALLOW: ClassVar[Action]
    NOTIFY: ClassVar[Action]

    _value: int

    def __init__(self, value: int) -> None:
        if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"an action value must be an int, not {type(value).__name__}")
        if not 0 <= value <= 0xFFFFFFFF:
            raise InvalidArgumentError(func="Action",
                                       detail=f"action value {value:#x} is not 32-bit")
        kind = value & _ACTION_MASK
        if kind not in _KINDS:
            raise InvalidArgumentError(
                func="Action", detail=f"unknown action value {value:#010x}"
            )
        data = value & _DATA_MASK
        if kind == _ERRNO_BASE and data > MAX_ERRNO:
            raise InvalidArgumentError(
                func="Action", detail=f"errno {data} is outside 0..{MAX_ERRNO}"
            )
        if data and kind not in (_ERRNO_BASE, _TRACE_BASE):
            raise InvalidArgumentError(
                func="Action", detail=f"action {ActionKind(kind).name} takes no data ({data})"
            )
        _set_value(self, int(value))

    @classmethod
    def errno(cls, errnum: int) -> Action:
        """SCMP_ACT_ERRNO(errnum): the syscall fails with ``errnum`` (0..4095)."""
        if isinstance(errnum, bool) or not isinstance(errnum, int):
            raise TypeError(f"errno must be an int, not {type(errnum).__name__}")
        if not 0 <= errnum <= MAX_ERRNO:
            raise InvalidArgumentError(
                func="Action.errno", detail=f"errno {errnum} is outside 0..{MAX_ERRNO}"
            )
        return cls(_ERRNO_BASE | errnum)

    @classmethod
    def trace(cls, msg: int) -> Action:
        """SCMP_ACT_TRACE(msg): notify a ptrace tracer with ``msg`` (0..65535)."""
        if isinstance(msg, bool) or not isinstance(msg, int):
            raise TypeError(f"trace data must be an int, not {type(msg).__name__}")
        if not 0 <= msg <= _DATA_MASK:
            raise InvalidArgumentError(
                func="Action.trace", detail=f"trace data {msg} is outside 0..65535"
            )
        return cls(_TRACE_BASE | msg)

    @classmethod
    def coerce(cls, action: Action | int) -> Action:
        """Accept an Action or its raw 32-bit value."""
        if isinstance(action, Action):
            return action
        if isinstance(action, int) and not isinstance(action, bool):
            return cls(action)
        raise TypeError(f"expected an Action, not {type(action).__name__}")

    @property
    def value(self) -> int:
        """The 32-bit value passed to libseccomp."""
        return self._value

    @property
    def kind(self) -> ActionKind:
        """The action without its data."""
        return ActionKind(self._value & _ACTION_MASK)

    @property
    def data(self) -> int:
        """The errno or trace value (0 for other actions)."""
        return self._value & _DATA_MASK

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        return self._value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Action):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Action", self._value))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Action is immutable")

    def __reduce__(self) -> tuple[type[Action], tuple[int]]:
        return (Action, (self._value,))

    def __str__(self) -> str:
        """The readable name: ``ERRNO(EPERM)``, ``TRACE(7)``, ``KILL_PROCESS``."""
        kind = self.kind
        if kind is ActionKind.ERRNO:
            import errno

            return f"ERRNO({errno.errorcode.get(self.data, self.data)})"
        if kind is ActionKind.TRACE:
            return f"TRACE({self.data})"
        return kind.name

    def __repr__(self) -> str:
        kind = self.kind
        if kind is ActionKind.ERRNO:
            return f"Action.errno({self.data})"
        if kind is ActionKind.TRACE:
            return f"Action.trace({self.data})"
        return f"Action.{kind.name}"


_set_value = vars(Action)["_value"].__set__
_KINDS = frozenset(int(k) for k in ActionKind)

Action.KILL_PROCESS = Action(ActionKind.KILL_PROCESS)
Action.KILL_THREAD = Action(ActionKind.KILL_THREAD)
Action.KILL = Action.KILL_THREAD
Action.TRAP = Action(ActionKind.TRAP)
Action.LOG = Action(ActionKind.LOG)
Action.ALLOW = Action(ActionKind.ALLOW)
Action.NOTIFY = Action(ActionKind.NOTIFY)
