"""The compiled cffi module and the one error checker.

Everything that calls into C goes through ``check(rc, func)``: libseccomp (and
the shim) return a negative errno on failure; ``check`` turns it into the
matching :class:`~seccomp_py.errors.SeccompError` subclass.
"""

from __future__ import annotations

from .errors import error_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

try:
    from ._seccomp import ffi as _ffi
    from ._seccomp import lib as _lib
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "seccomp_py's compiled extension is missing: build it with `pip install .` "
        "(libseccomp-dev is needed to build from source)"
    ) from exc

ffi: Any = _ffi
lib: Any = _lib


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
