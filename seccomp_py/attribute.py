"""Filter attributes: ``Attribute`` (each libseccomp ``SCMP_FLTATR_*``) and ``Optimize``.

See seccomp_attr_set(3), and docs/api.md ("Attributes") for each attribute and its default.
"""

from __future__ import annotations

import enum

from ._native import HAS_WAIT_KILL as HAS_WAIT_KILL
from ._native import lib
from .errors import InvalidArgumentError, UnsupportedError

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Generic, Protocol, TypeVar, overload

    from .action import Action

    class _HasAttributes(Protocol):
        """What _Attr needs of its owner (a Filter)."""

        def get_attribute(self, attr: Attribute) -> bool | int | Action: ...

        def set_attribute(self, attr: Attribute, value: bool | int | Action) -> None: ...

    T = TypeVar("T")
else:
    T = None

    class Generic:
        """Stand-in for typing.Generic: ``_Attr[bool]`` is ``_Attr`` at run time."""

        def __class_getitem__(cls, item: object) -> type:
            return cls

# SCMP_FLTATR_CTL_WAITKILL is 10 in libseccomp 2.6; on 2.5 the shim reports -1
# and Filter.set_attribute raises UnsupportedError.
_WAITKILL = int(lib.SPY_FLTATR_CTL_WAITKILL)


class Attribute(enum.IntEnum):
    """A filter attribute; see the table in this module's docstring."""

    DEFAULT_ACTION = int(lib.SCMP_FLTATR_ACT_DEFAULT)
    BAD_ARCH_ACTION = int(lib.SCMP_FLTATR_ACT_BADARCH)
    NO_NEW_PRIVILEGES = int(lib.SCMP_FLTATR_CTL_NNP)
    THREAD_SYNC = int(lib.SCMP_FLTATR_CTL_TSYNC)
    NEGATIVE_SYSCALLS = int(lib.SCMP_FLTATR_API_TSKIP)
    LOG = int(lib.SCMP_FLTATR_CTL_LOG)
    DISABLE_SSB = int(lib.SCMP_FLTATR_CTL_SSB)
    OPTIMIZE = int(lib.SCMP_FLTATR_CTL_OPTIMIZE)
    RETURN_SYSTEM_RETURN_CODES = int(lib.SCMP_FLTATR_API_SYSRAWRC)
    WAIT_KILL = _WAITKILL if HAS_WAIT_KILL else 10

    @property
    def available(self) -> bool:
        """False only for WAIT_KILL on libseccomp < 2.6."""
        return self is not Attribute.WAIT_KILL or HAS_WAIT_KILL


class Optimize(enum.IntEnum):
    """Values of Attribute.OPTIMIZE."""

    #: libseccomp's default: rules ordered by priority and complexity.
    PRIORITY = 1
    #: a binary tree over syscall numbers: fewer instructions per syscall on
    #: big filters (runc turns it on above 32 rules).
    BINARY_TREE = 2
    #: seccomp_py's own code generator (seccomp_py.codegen): ranges of equal
    #: decision and a balanced search over their boundaries; kept in Python
    #: (libseccomp knows 1 and 2 only), always verified.  See docs/api.md.
    RANGES = 3


ACTION_ATTRIBUTES = frozenset({Attribute.DEFAULT_ACTION, Attribute.BAD_ARCH_ACTION})


class _Attr(Generic[T]):
    """A typed property over one attribute (``f.no_new_privileges = False``)."""

    def __init__(self, attr: Attribute) -> None:
        self.attr = attr

    def __set_name__(self, owner: type, name: str) -> None:
        self.__doc__ = f"Attribute.{self.attr.name} (see seccomp_attr_set(3))."

    if TYPE_CHECKING:
        @overload
        def __get__(self, obj: None, owner: type) -> _Attr[T]: ...
        @overload
        def __get__(self, obj: _HasAttributes, owner: type) -> T: ...

    def __get__(self, obj: _HasAttributes | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj.get_attribute(self.attr)

    def __set__(self, obj: _HasAttributes, value: T) -> None:
        obj.set_attribute(self.attr, value)  # type: ignore[arg-type]


def _check_attribute(attr: object, func: str) -> Attribute:
    if not isinstance(attr, Attribute):
        if isinstance(attr, int) and not isinstance(attr, bool):
            try:
                attr = Attribute(attr)
            except ValueError:
                raise InvalidArgumentError(func=func,
                                           detail=f"unknown attribute {attr}") from None
        else:
            raise TypeError(f"expected an Attribute, not {type(attr).__name__}")
    if attr is Attribute.WAIT_KILL and not HAS_WAIT_KILL:
        raise UnsupportedError(func, "WAIT_KILL needs libseccomp >= 2.6")
    assert isinstance(attr, Attribute)
    return attr
