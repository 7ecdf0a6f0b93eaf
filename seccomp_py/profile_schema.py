"""What a seccomp profile document says: its vocabulary (actions, operators,
flags), its entries (ArgSpec, Conditions, SyscallEntry, ArchMapEntry) and
the errors that name a JSON path.

Shared by the reader (seccomp_py.profile_parser), compilation
(seccomp_py.profile) and the other formats (seccomp_py.formats); all of it is
re-exported by seccomp_py.profile.  See docs/profiles.md.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
from collections.abc import Sequence

from . import _kernel as _k
from . import arch as _arch
from .action import Action, ActionKind
from .arch import Arch
from .arg import ArgCmp, Op
from .errors import ProfileError as ProfileError
from .errors import ProfileWarning as ProfileWarning
from .errors import WeakenedPolicyWarning as WeakenedPolicyWarning

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any

# -- vocabulary -------------------------------------------------------------------------

#: Action names of the runtime spec (and libseccomp).  SCMP_ACT_KILL is
#: KILL_THREAD, as in libseccomp and runc.
ACTIONS: dict[str, ActionKind] = {
    "SCMP_ACT_KILL": ActionKind.KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": ActionKind.KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ActionKind.KILL_PROCESS,
    "SCMP_ACT_TRAP": ActionKind.TRAP,
    "SCMP_ACT_ERRNO": ActionKind.ERRNO,
    "SCMP_ACT_TRACE": ActionKind.TRACE,
    "SCMP_ACT_ALLOW": ActionKind.ALLOW,
    "SCMP_ACT_LOG": ActionKind.LOG,
    "SCMP_ACT_NOTIFY": ActionKind.NOTIFY,
}
_ACTION_NAMES = {
    ActionKind.KILL_THREAD: "SCMP_ACT_KILL_THREAD",
    ActionKind.KILL_PROCESS: "SCMP_ACT_KILL_PROCESS",
    ActionKind.TRAP: "SCMP_ACT_TRAP",
    ActionKind.ERRNO: "SCMP_ACT_ERRNO",
    ActionKind.TRACE: "SCMP_ACT_TRACE",
    ActionKind.ALLOW: "SCMP_ACT_ALLOW",
    ActionKind.LOG: "SCMP_ACT_LOG",
    ActionKind.NOTIFY: "SCMP_ACT_NOTIFY",
}

OPERATORS: dict[str, Op] = {
    "SCMP_CMP_NE": Op.NE,
    "SCMP_CMP_LT": Op.LT,
    "SCMP_CMP_LE": Op.LE,
    "SCMP_CMP_EQ": Op.EQ,
    "SCMP_CMP_GE": Op.GE,
    "SCMP_CMP_GT": Op.GT,
    "SCMP_CMP_MASKED_EQ": Op.MASKED_EQ,
}
_OP_NAMES = {op: name for name, op in OPERATORS.items()}

#: Filter flags of the runtime spec.
FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)

_ERRNO_BY_NAME: dict[str, int] = {name: num for num, name in _errno.errorcode.items()}
_U64 = 2**64 - 1
_EPERM = _errno.EPERM

# -- errors and warnings ---------------------------------------------------------------


#: Largest profile accepted (bytes); Docker's default profile is about 20 KB.
MAX_PROFILE_BYTES = 16 << 20
#: Deepest JSON nesting accepted in a profile (a real one nests 5 levels).
MAX_PROFILE_DEPTH = 32


def widened_report(widened: Sequence[str]) -> str:
    """One line naming every rule whose argument checks cannot apply on some
    arch of the filter (socketcall/ipc multiplexing)."""
    paths = ", ".join(w.split(":", 1)[0] for w in widened)
    via = " and ".join(m for m in ("socketcall(2)", "ipc(2)") if any(m in w for w in widened))
    return (f"{len(widened)} rule(s) with argument checks do not hold on an arch that "
            f"multiplexes calls through {via} (seccomp cannot read those arguments), so "
            f"there they match every call, as under runc: {paths}; strict_multiplexed "
            f"(seccomp-py --strict-multiplexed) refuses {via} on those arches instead")

# -- the typed profile ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArgSpec:
    """One ``args[]`` condition: ``index``, ``value``, ``valueTwo``, ``op``.

    For SCMP_CMP_MASKED_EQ the test is ``(arg & value) == valueTwo``;
    other operators compare ``arg`` with ``value``.
    """

    index: int
    value: int
    op: str
    value_two: int = 0

    def comparison(self) -> ArgCmp:
        """The ArgCmp libseccomp gets (valueTwo passed through, as runc does)."""
        return ArgCmp(self.index, OPERATORS[self.op], self.value, self.value_two)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "value": self.value, "valueTwo": self.value_two,
                "op": self.op}


@dataclasses.dataclass(frozen=True)
class Conditions:
    """An ``includes`` / ``excludes`` object: ``caps``, ``arches``, ``minKernel``."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: str | None = None

    def __bool__(self) -> bool:
        return bool(self.caps or self.arches or self.min_kernel)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.caps:
            out["caps"] = list(self.caps)
        if self.arches:
            out["arches"] = list(self.arches)
        if self.min_kernel is not None:
            out["minKernel"] = self.min_kernel
        return out


@dataclasses.dataclass(frozen=True)
class SyscallEntry:
    """One ``syscalls[]`` entry.

    ``names`` holds the names of ``names`` or of the old single ``name``
    (``used_name`` remembers which).  ``errno_ret`` is None when absent
    (EPERM is then used for ERRNO and TRACE, as runc does).
    """

    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[ArgSpec, ...] = ()
    includes: Conditions = Conditions()
    excludes: Conditions = Conditions()
    comment: str = ""
    used_name: bool = False

    def resolved_action(self) -> Action:
        """The Action this entry's rules get."""
        return _make_action(self.action, self.errno_ret)

    def expanded_names(self) -> tuple[str, ...]:
        """``names`` with every ``@group`` (a seccomp_py extension) replaced by its
        syscalls (seccomp_py.groups), in order, without duplicates."""
        if not any(n.startswith("@") for n in self.names):
            return self.names
        from .groups import expand

        return tuple(expand(self.names))

    def to_dict(self, *, keep_groups: bool = False) -> dict[str, Any]:
        """The entry as JSON data; ``@group`` names are expanded unless ``keep_groups``."""
        names = self.names if keep_groups else self.expanded_names()
        out: dict[str, Any] = {"names": list(names), "action": self.action}
        if self.errno_ret is not None:
            out["errnoRet"] = self.errno_ret
        if self.args:
            out["args"] = [a.to_dict() for a in self.args]
        if self.comment:
            out["comment"] = self.comment
        if self.includes:
            out["includes"] = self.includes.to_dict()
        if self.excludes:
            out["excludes"] = self.excludes.to_dict()
        return out


@dataclasses.dataclass(frozen=True)
class ArchMapEntry:
    """One ``archMap[]`` entry: an arch and the sub-arches it brings along."""

    architecture: str
    sub_architectures: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": self.architecture,
                "subArchitectures": list(self.sub_architectures)}

# -- actions and tokens ---------------------------------------------------------------------

def action_text(action: Action) -> str:
    """An action as a profile names it: ``SCMP_ACT_ERRNO(EPERM)``, ``SCMP_ACT_KILL_PROCESS``,
    ``SCMP_ACT_TRACE(7)``."""
    name, number = _action_fields(action)
    if number is None:
        return name
    if action.kind is ActionKind.ERRNO:
        return f"{name}({_errno.errorcode.get(number, number)})"
    return f"{name}({number})"

def _make_action(name: str, errno_ret: int | None) -> Action:
    kind = ACTIONS[name]
    if kind is ActionKind.ERRNO:
        return Action.errno(_EPERM if errno_ret is None else errno_ret)
    if kind is ActionKind.TRACE:
        return Action.trace(_EPERM if errno_ret is None else errno_ret)
    return Action(int(kind))


def _action_fields(action: Action) -> tuple[str, int | None]:
    name = _ACTION_NAMES[action.kind]
    if action.kind in (ActionKind.ERRNO, ActionKind.TRACE):
        return name, action.data
    return name, None

def _arch_token(name: str, path: str) -> Arch:
    if not name.startswith("SCMP_ARCH_"):
        raise ProfileError(path, f"unknown architecture {name!r} (expected SCMP_ARCH_...)")
    key = name[len("SCMP_ARCH_"):]
    if key == "NATIVE":
        return _arch.native()
    try:
        return Arch[key]
    except KeyError:
        raise ProfileError(path, f"unknown architecture {name!r}") from None

def check_errno_name(name: str) -> int:
    """The number of errno ``name`` (``"EPERM"`` -> 1); raises ValueError."""
    try:
        return _ERRNO_BY_NAME[name.upper()]
    except KeyError:
        raise ValueError(f"unknown errno name {name!r}") from None


def errno_number(text: str | int, *, limit: int = _k.MAX_ERRNO) -> int:
    """An errno from a number (``"13"``, ``"0x0d"``, 13) or a name (``"EACCES"``,
    any case), checked to be in 1..``limit`` (4095 for the kernel; libseccomp
    refuses 4095 in rules).  Raises ValueError naming what is wrong."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"unknown errno {text!r}")
    if isinstance(text, int):
        number = text
    else:
        try:
            number = int(text, 0)
        except ValueError:
            try:
                number = check_errno_name(text)
            except ValueError:
                raise ValueError(f"unknown errno {text!r}") from None
    if not 0 < number <= limit:
        raise ValueError(f"errno {number} is out of range (1..{limit})")
    return number


def action_named(name: str, errno: str | int | None = None) -> Action:
    """The Action of a profile action name (the ``SCMP_ACT_`` prefix optional,
    any case) with ``errno`` for ERRNO and TRACE (a number or a name; EPERM when
    None, as runc).  Raises ValueError for an unknown name or errno."""
    key = name.strip().upper()
    if not key.startswith("SCMP_ACT_"):
        key = "SCMP_ACT_" + key
    if key not in ACTIONS:
        raise ValueError(f"unknown action {name!r} (one of " + ", ".join(sorted(ACTIONS)) + ")")
    number = None if errno is None else errno_number(errno, limit=_k.LIBSECCOMP_MAX_ERRNO)
    return _make_action(key, number)
