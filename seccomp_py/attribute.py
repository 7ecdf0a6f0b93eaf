"""Filter attributes: ``Attribute`` (each libseccomp ``SCMP_FLTATR_*``) and ``Optimize``.

See seccomp_attr_set(3), and docs/api.md ("Attributes") for each attribute and its default.
"""

from __future__ import annotations

import enum

from ._kernel import HAS_WAIT_KILL as HAS_WAIT_KILL
from ._native import lib

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
