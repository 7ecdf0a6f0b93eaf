"""How a Filter's program is exported: libseccomp's (seccomp_export_bpf(3), in
either of its layouts) or seccomp_py's own (seccomp_py.codegen, verified by
seccomp_py.verify).  Filter.export_bpf chooses; see docs/failclosed.md.
"""

from __future__ import annotations

import contextlib
import errno
import os

from ._kernel import BPF_INSN_SIZE, BPF_MAXINSNS
from ._native import HAS_EXPORT_BPF_MEM as _HAS_EXPORT_MEM
from ._native import check, ffi, lib
from .attribute import Attribute, Optimize
from .errors import FilterTooLargeError, FilterVerificationError, UnsupportedError

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any

    from .model import Policy

_OPTIMIZE = int(Attribute.OPTIMIZE)


@contextlib.contextmanager
def _optimize(ctx: Any, tree: bool) -> Iterator[None]:
    """Compile with the binary tree inside the block when ``tree`` (the automatic
    layout), then put the OPTIMIZE attribute back as the user left it."""
    if not tree:
        yield
        return
    old = ffi.new("uint32_t *")
    check(lib.seccomp_attr_get(ctx, _OPTIMIZE, old), "seccomp_attr_get", "OPTIMIZE")
    check(lib.seccomp_attr_set(ctx, _OPTIMIZE, int(Optimize.BINARY_TREE)), "seccomp_attr_set",
          "OPTIMIZE = 2")
    try:
        yield
    finally:
        lib.seccomp_attr_set(ctx, _OPTIMIZE, int(old[0]))


def _own_candidate(policy: Policy) -> bytes | None:
    """seccomp_py's program for ``policy`` (seccomp_py.codegen), not verified yet;
    None when the generator cannot compile it (UnsupportedError)."""
    from .codegen import generate

    try:
        return generate(policy)
    except UnsupportedError:
        return None


def _generated(policy: Policy, rival: bytes | None, wanted: bool, *,
               quiet: bool = False, program: bytes | None = None) -> bytes | None:
    """seccomp_py's program for ``policy`` (seccomp_py.codegen; ``program`` when
    already generated), verified; None when it is not wanted: bigger than
    ``rival`` (libseccomp's) unless ``wanted``, or (``quiet``) too big or
    refused by the verifier.  Raises FilterVerificationError /
    FilterTooLargeError when ``wanted`` and not quiet."""
    from .codegen import generate
    from .verify import verify

    try:
        data = program if program is not None else generate(policy)
    except UnsupportedError:
        if quiet or not wanted:
            return None
        raise
    count = len(data) // BPF_INSN_SIZE
    if rival is not None and not wanted and count >= len(rival) // BPF_INSN_SIZE:
        return None
    if count > BPF_MAXINSNS:
        if quiet or not wanted:
            return None
        raise FilterTooLargeError(count, BPF_MAXINSNS, func="Filter.export_bpf")
    try:
        verify(policy, data)
    except FilterVerificationError:
        if quiet or not wanted:
            return None
        raise
    return data


def _export_via_memfd(ctx: Any, func: Any, name: str) -> bytes:
    fd = os.memfd_create("seccomp_py-export", os.MFD_CLOEXEC)
    try:
        check(func(ctx, fd), name)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _export_bpf(ctx: Any) -> bytes:
    if _HAS_EXPORT_MEM:
        size = ffi.new("size_t *", 0)
        rc = lib.spy_export_bpf_mem(ctx, ffi.NULL, size)
        if rc >= 0:
            buf = ffi.new("char[]", max(int(size[0]), 1))
            check(lib.spy_export_bpf_mem(ctx, buf, size), "seccomp_export_bpf_mem")
            return bytes(ffi.buffer(buf, int(size[0])))
        if rc != -errno.EOPNOTSUPP:
            check(rc, "seccomp_export_bpf_mem")
    return _export_via_memfd(ctx, lib.seccomp_export_bpf, "seccomp_export_bpf")

