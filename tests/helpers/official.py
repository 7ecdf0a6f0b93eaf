"""Shared helpers for the compat tests: find libseccomp's official module.

The official Cython module (Debian's python3-seccomp) is imported under its own
name; ``OFFICIAL`` is None when it is absent, and ``needs_official`` skips with
the reason.  Care is taken never to pick up seccomp_py.compat installed as
``seccomp``.
"""

from __future__ import annotations

import importlib
import re
import sys
import tempfile
from types import ModuleType
from typing import Any, Callable

import pytest

import seccomp_py.compat as compat


def _load_official() -> ModuleType | None:
    saved = sys.modules.get("seccomp")
    if saved is compat:
        del sys.modules["seccomp"]
    try:
        module = importlib.import_module("seccomp")
    except ImportError:
        return None
    finally:
        if saved is compat:
            sys.modules["seccomp"] = compat
    if module is compat or not hasattr(module, "SyscallFilter"):
        return None
    return module


OFFICIAL: Any = _load_official()  # ModuleType | None; Any: tests use it after a skip

needs_official = pytest.mark.skipif(
    OFFICIAL is None,
    reason="libseccomp's official Python module is not importable (Debian/Ubuntu: "
    "apt-get install python3-seccomp, then use a venv made from /usr/bin/python3 "
    "with --system-site-packages); the byte-for-byte comparison needs it",
)


def exports(filt: Any) -> tuple[bytes, str]:
    """(BPF, PFC) of a SyscallFilter, exported to real files as callers do."""
    with tempfile.TemporaryFile() as bpf, tempfile.TemporaryFile() as pfc:
        filt.export_bpf(bpf)
        filt.export_pfc(pfc)
        bpf.seek(0)
        pfc.seek(0)
        return bpf.read(), pfc.read().decode()


_LIBRARY_ERRNO = re.compile(r"errno = (-?\d+)")


def outcome(func: Callable[[], Any]) -> tuple[str, Any]:
    """('ok', value) or ('error', exception) for a call."""
    try:
        return ("ok", func())
    except Exception as exc:
        return ("error", exc)


def assert_same_failure(official_exc: BaseException, compat_exc: BaseException,
                        same_errno: bool = True) -> None:
    """compat's exception must be catchable as the official one, with the same errno
    (``same_errno=False``: any errno, for input compat refuses before libseccomp)."""
    for builtin in (RuntimeError, ValueError, OverflowError, TypeError):
        if isinstance(official_exc, builtin):
            assert isinstance(compat_exc, builtin), (official_exc, compat_exc)
    match = _LIBRARY_ERRNO.search(str(official_exc))
    if match:
        assert isinstance(compat_exc, OSError), compat_exc
        assert compat_exc.errno, compat_exc
        if same_errno:
            assert compat_exc.errno == abs(int(match.group(1))), (official_exc, compat_exc)
