"""The compiled cffi module and the one error checker.

``ffi`` and ``lib`` are typed by ``_seccomp.pyi`` (generated from the cdefs by
scripts/gen-seccomp-stub.py), so mypy checks every C call's arguments.

Everything that calls into C goes through ``check(rc, func)``: libseccomp (and
the shim) return a negative errno on failure; ``check`` turns it into the
matching :class:`~seccomp_py.errors.SeccompError` subclass.
"""

from __future__ import annotations

from .errors import error_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from ._seccomp import CData

try:
    from ._seccomp import ffi as ffi
    from ._seccomp import lib as lib
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "seccomp_py's compiled extension is missing: build it with `pip install .` "
        "(libseccomp-dev is needed to build from source)"
    ) from exc


# -- what the linked libseccomp build offers (shim.h's SPY_HAS_* gates), read once ----------

#: libseccomp 2.6 functions and attributes, gated at build time in the shim.
HAS_EXPORT_BPF_MEM: bool = bool(lib.SPY_HAS_EXPORT_BPF_MEM)
HAS_TRANSACTIONS: bool = bool(lib.SPY_HAS_TRANSACTIONS)
HAS_PRECOMPUTE: bool = bool(lib.SPY_HAS_PRECOMPUTE)
HAS_WAIT_KILL: bool = bool(lib.SPY_HAS_WAITKILL)


def check(rc: int, func: str, detail: str = "") -> int:
    """Return ``rc`` when it is >= 0, else raise the matching SeccompError.

    libseccomp reports failure as ``-errno``; ``func`` names the C function for
    the exception and ``detail`` adds context (the syscall, the arch...).
    """
    if rc >= 0:
        return rc
    fail(-rc, func, detail)


def fail(errnum: int, func: str, detail: str = "") -> NoReturn:
    """Raise the SeccompError for ``errnum`` raised by C function ``func``."""
    raise error_for(errnum, func, detail)


class CStrings:
    """C strings and NULL-terminated string arrays that stay alive as long as this object.

    For C calls that take ``char *`` / ``char **`` (argv, envp, paths): keep the
    object in a local variable until the call returns.
    """

    def __init__(self) -> None:
        self._keep: list[CData] = []

    def str(self, value: bytes) -> CData:
        """A ``char[]`` holding ``value`` and a NUL."""
        buf = ffi.new("char[]", value)
        self._keep.append(buf)
        return buf

    def array(self, items: list[bytes]) -> CData:
        """A ``char *[]`` of the items, NULL-terminated."""
        arr = ffi.new("char *[]", [*(self.str(i) for i in items), ffi.NULL])
        self._keep.append(arr)
        return arr
