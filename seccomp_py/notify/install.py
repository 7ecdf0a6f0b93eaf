"""The two-layer handoff: install a program and hand its listener over.

What ``Filter.load()`` does when a notifier is set (see
:class:`~.notifier.Notifier` and docs/notify.md, "How the handoff stays
inside the policy").  This module takes plain values (the program's BPF
bytes, its SECCOMP_FILTER_FLAG_* flags and no_new_privs) and never looks
inside a Filter.  See seccomp(2) (SECCOMP_SET_MODE_FILTER,
SECCOMP_FILTER_FLAG_NEW_LISTENER) and seccomp_unotify(2).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable

from .. import _kernel as _k
from .._native import check, ffi, lib
from ..arch import Arch
from ..arg import ArgCmp
from ..errors import FilterTooLargeError, HandoffError, InvalidArgumentError
from .notifier import Notifier

_INSN = struct.Struct("=HBBI")
_RET_ACTION_FULL = _k.SECCOMP_RET_ACTION_FULL
_RET_ALLOW = _k.SECCOMP_RET_ALLOW


def bpf_run(bpf: bytes, nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> int:
    """Run a seccomp BPF program on one syscall and return its SECCOMP_RET_* value.

    The same evaluator as :func:`seccomp_py.bpf.evaluate` (C, in the shim).
    Used before load() to prove the handoff's own syscalls will be allowed.
    Raises InvalidArgumentError (BpfError) for a program the kernel refuses.
    """
    from ..bpf import evaluate

    return evaluate(bpf, nr, arch, args, ip)


_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


# -- the two-layer handoff --------------------------------------------------
#
# Filters cannot be removed, so the handoff's own syscalls are never added to
# the user's rules.  Layer 1 (installed with SECCOMP_FILTER_FLAG_NEW_LISTENER)
# is a short prologue that allows, on the native arch only, exactly the
# handoff's calls with their exact arguments, in front of the user's program
# (everything else falls through to it).  Layer 2, installed right after the
# handoff, is the user's program with each NOTIFY return turned into ALLOW.
# The kernel runs every filter and keeps the most restrictive action
# (seccomp(2)), so once layer 2 is in force each call gets exactly the user's
# decision: NOTIFY (layer 1) beats ALLOW (layer 2), and for every other call
# both layers agree.  The prologue's exemptions are then dead.

_LD_W_ABS = _k.BPF_LD | _k.BPF_W | _k.BPF_ABS
_JEQ_K = _k.BPF_JMP | _k.BPF_JEQ | _k.BPF_K
_AND_K = _k.BPF_ALU | _k.BPF_AND | _k.BPF_K
_RET_K = _k.BPF_RET | _k.BPF_K
_RET_USER_NOTIF = _k.SECCOMP_RET_USER_NOTIF
_RET_ERRNO = _k.SECCOMP_RET_ERRNO
_SET_MODE_FILTER = _k.SECCOMP_SET_MODE_FILTER
_JUMP_MAX = 255


@dataclass(frozen=True)
class _Exempt:
    """One call the prologue allows: ``name``, and (arg index, mask, value) checks."""

    name: str
    checks: tuple[tuple[int, int, int], ...] = ()


def _arg_offsets(index: int) -> tuple[int, int]:
    """Offsets of args[index]'s low and high 32-bit words in struct seccomp_data."""
    base = 16 + 8 * index
    return (base, base + 4) if _LITTLE else (base + 4, base)


def _exempt_from_rule(rule: object) -> _Exempt:
    """An exempt() rule (a syscall, or (syscall, *ArgCmp) with == or masked_eq)."""
    from ..arg import Op
    from ..syscall import Syscall

    if isinstance(rule, tuple):
        syscall, *cmps = rule
    else:
        syscall, cmps = rule, []
    name = Syscall.coerce(syscall).name
    checks = []
    for cmp in cmps:
        if not isinstance(cmp, ArgCmp):
            raise TypeError(f"exempt rule {rule!r}: conditions must be ArgCmp")
        full = 0xFFFFFFFFFFFFFFFF if cmp.bits == 64 else 0xFFFFFFFF
        if cmp.op is Op.EQ:
            checks.append((cmp.index, full, cmp.a & full))
        elif cmp.op is Op.MASKED_EQ:
            checks.append((cmp.index, cmp.a & full, cmp.b & full))
        else:
            raise HandoffError(errno.EINVAL, "Filter.load",
                               f"exempt rule {rule!r}: only == and masked_eq conditions can "
                               f"be exempted exactly")
    return _Exempt(name, tuple(checks))


def handoff_prologue(calls: Sequence[_Exempt], arch: int | None = None,
                     marker: int | None = None) -> tuple[bytes, int]:
    """The layer-1 prologue: ALLOW exactly ``calls`` on ``arch``, else fall through.

    Returns the BPF bytes (to be put in front of the user's program) and the
    index of the instruction comparing the first argument check equal to
    ``marker`` (-1 when none): the C handoff patches it with the listener's
    fd number.  Raises HandoffError when the prologue cannot be assembled.
    """
    from ..syscall import resolve_name

    native = int(Arch.native()) if arch is None else arch
    blocks: list[list[tuple[int, int, int, int]]] = []
    marked = -1
    at = 2
    for call in calls:
        block: list[tuple[int, int, int, int]] = [(_LD_W_ABS, 0, 0, 0)]
        jumps: list[int] = []

        def jeq(k: int, block: list[tuple[int, int, int, int]] = block,
                jumps: list[int] = jumps) -> None:
            jumps.append(len(block))
            block.append((_JEQ_K, 0, 0, k))

        jeq(resolve_name(call.name))
        for index, mask, value in call.checks:
            for off, shift in zip(_arg_offsets(index), (0, 32)):
                m = (mask >> shift) & 0xFFFFFFFF
                if not m:
                    continue
                block.append((_LD_W_ABS, 0, 0, off))
                if m != 0xFFFFFFFF:
                    block.append((_AND_K, 0, 0, m))
                if marker is not None and marked < 0 and shift == 0 and value == marker:
                    marked = at + len(block)
                jeq((value >> shift) & m)
        block.append((_RET_K, 0, 0, _RET_ALLOW))
        for j in jumps:
            code, _, _, k = block[j]
            jf = len(block) - j - 1
            if jf > _JUMP_MAX:
                raise HandoffError(errno.E2BIG, "Filter.load", "an exempt rule is too long")
            block[j] = (code, 0, jf, k)
        blocks.append(block)
        at += len(block)
    rest = sum(len(b) for b in blocks)
    if rest > _JUMP_MAX:
        raise HandoffError(errno.E2BIG, "Filter.load", "too many exempt rules")
    insns = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 0, rest, native)]
    for block in blocks:
        insns.extend(block)
    return b"".join(_INSN.pack(*i) for i in insns), marked


def seal_program(bpf: bytes, notify_to: int = _RET_ALLOW) -> bytes:
    """Layer 2: ``bpf`` with every NOTIFY return replaced by ``notify_to``.

    Only ``ret #k`` instructions change, so for every call the result is the
    original's, except NOTIFY.  Raises HandoffError for a program that
    returns a computed value (libseccomp never makes one).
    """
    out = bytearray(bpf)
    for off in range(0, len(bpf) - len(bpf) % _INSN.size, _INSN.size):
        code, jt, jf, k = _INSN.unpack_from(bpf, off)
        if code & 0x07 != 0x06:
            continue
        if code != _RET_K:
            raise HandoffError(errno.EINVAL, "Filter.load",
                               "the program returns a computed action; cannot seal it")
        if k & _RET_ACTION_FULL == _RET_USER_NOTIF:
            _INSN.pack_into(out, off, code, jt, jf, notify_to)
    return bytes(out)


def _layers(bpf: bytes, calls: Sequence[_Exempt], marker: int | None
            ) -> tuple[bytes, int, bytes, bytes]:
    """(layer 1, its patch index, layer 2, layer 2 when the handoff failed)."""
    prologue, marked = handoff_prologue(calls, marker=marker)
    layer1 = prologue + bpf
    count = len(layer1) // _INSN.size
    if count > _k.BPF_MAXINSNS:
        raise FilterTooLargeError(count, _k.BPF_MAXINSNS, "Filter.load")
    return (layer1, marked, seal_program(bpf),
            seal_program(bpf, _RET_ERRNO | errno.ENOSYS))


_NEW_LISTENER = int(lib.SPY_FILTER_FLAG_NEW_LISTENER)
_TSYNC = int(lib.SPY_FILTER_FLAG_TSYNC)
_TSYNC_ESRCH = int(lib.SPY_FILTER_FLAG_TSYNC_ESRCH)
_WAIT_KILLABLE_RECV = int(lib.SPY_FILTER_FLAG_WAIT_KILLABLE_RECV)


def install_with_notifier(bpf: bytes, notifier: Notifier, timeout: float | None, *,
                          flags: int = 0, no_new_privs: bool = True,
                          guard: Callable[[], AbstractContextManager[object]] | None = None,
                          on_installed: Callable[[], None] | None = None) -> None:
    """Install the program ``bpf`` and hand its listener to ``notifier``.

    ``flags`` are the program's own SECCOMP_FILTER_FLAG_* (TSYNC, LOG,
    SPEC_ALLOW, WAIT_KILLABLE_RECV; NEW_LISTENER and TSYNC_ESRCH are the
    handoff's own) and ``no_new_privs`` sets PR_SET_NO_NEW_PRIVS first.
    ``guard()``, when given, is entered around the install (Filter.load
    holds its filter there); ``on_installed()`` is called, inside it, the
    moment the first layer is in force (whatever happens next).

    Two layers (see docs/notify.md, "How the handoff stays inside the
    policy"): layer 1, the program behind a prologue that allows exactly
    the handoff's calls, with a new listener; the handoff; layer 2, the
    program with NOTIFY made ALLOW, which leaves the combined decision equal
    to the program's for every call.  Installed with raw seccomp(2) (not
    seccomp_load(3)), so libseccomp's process-wide notify fd is left
    untouched.  Raises HandoffError (with ``installed`` True when the
    program is in force despite the failure: its NOTIFY rules then fail with
    ENOSYS), TimeoutError, FilterTooLargeError, SeccompError.
    """
    if not isinstance(bpf, (bytes, bytearray)) or not bpf or len(bpf) % _INSN.size:
        raise InvalidArgumentError(func="Filter.load",
                                   detail="the program must be BPF bytes (8 per instruction)")
    bpf = bytes(bpf)
    flags &= ~(_NEW_LISTENER | _TSYNC_ESRCH)
    nnp = bool(no_new_privs)
    installed = on_installed if on_installed is not None else _nothing
    use = guard if guard is not None else contextlib.nullcontext
    notifier.prepare(timeout)
    fast = getattr(notifier, "handoff_target", None)
    try:
        # Layer 2 has no listener: WAIT_KILLABLE_RECV needs one (EINVAL otherwise).
        flags2 = flags & ~_WAIT_KILLABLE_RECV
        if flags & _TSYNC:
            flags2 |= _TSYNC_ESRCH
        seal = _Exempt("seccomp", ((0, 2**64 - 1, _SET_MODE_FILTER), (1, 2**64 - 1, flags2)))
        if fast is not None:
            sockfd, payload = fast()
            marker = 0xFFFFFFFF  # patched in C with the listener's number
            calls = [
                _Exempt("sendmsg", ((0, 2**64 - 1, sockfd),
                                    (2, 2**64 - 1, socket.MSG_NOSIGNAL))),
                _Exempt("close", ((0, 2**64 - 1, marker),)),
                _Exempt("close", ((0, 2**64 - 1, sockfd),)),
                seal,
            ]
        else:
            marker = None
            calls = [_exempt_from_rule(r) for r in notifier.exempt()] + [seal]
        layer1, marked, layer2, layer2_fail = _layers(bpf, calls, marker)
    except BaseException:
        _abort(notifier)
        raise
    buf1 = ffi.new("char[]", layer1)
    if fast is not None:
        stage = ffi.new("int *")
        sealed = ffi.new("int *")
        with use():
            rc = lib.spy_install_and_send(buf1, len(layer1), layer2, layer2_fail, len(layer2),
                                          marked, flags, flags2, int(nnp), sockfd, payload,
                                          len(payload), stage, sealed)
            if stage[0] >= 1:
                installed()
        if stage[0] >= 1:
            # C closed the socket under layer 1: forget it without closing again.
            _forget_socket(notifier)
        if rc < 0:
            if stage[0] == 0:
                _abort(notifier)
                check(rc, "seccomp(SECCOMP_SET_MODE_FILTER)")
            why = ("another thread took the listener's fd number during the handoff"
                   if rc == -errno.EADDRINUSE else os.strerror(-rc))
            err = HandoffError(-rc, "sendmsg",
                               f"the filter IS in force but its listener could not be sent "
                               f"({why}): its NOTIFY rules now fail with ENOSYS")
            err.installed = True
            _abort(notifier)
            raise err
        done = getattr(notifier, "handed_over", None)
        if done is not None:
            done()
        return
    with use():
        fd = lib.spy_load_program(buf1, len(layer1) // 8, flags | _NEW_LISTENER, int(nnp))
        if fd >= 0:
            installed()
    if fd < 0:
        _abort(notifier)
        check(fd, "seccomp(SECCOMP_SET_MODE_FILTER)")
    sealed_prog = layer2_fail
    try:
        notifier.handle(fd)
        sealed_prog = layer2
    finally:
        # A handle() that failed may have kept the fd: then NOTIFY = ENOSYS.
        if lib.spy_load_program(sealed_prog, len(sealed_prog) // 8, flags2, 0) != 0:
            os._exit(127)  # never run on with the prologue's exemptions live


def load_with_notifier(filt: Any, notifier: Notifier, timeout: float | None) -> None:
    """``filt.set_notifier(notifier, timeout=timeout)`` then ``filt.load()``.

    Kept for callers of the earlier API; ``Filter.load()`` itself calls
    :func:`install_with_notifier` with the filter's program.  Raises what
    ``Filter.load()`` raises.
    """
    filt.set_notifier(notifier, timeout=timeout)
    filt.load()


def _nothing() -> None:
    pass


def _forget_socket(notifier: object) -> None:
    sock = getattr(notifier, "_sock", None)
    if isinstance(sock, socket.socket):
        sock.detach()


def _abort(notifier: object) -> None:
    close = getattr(notifier, "close", None)
    if close is not None:
        with contextlib.suppress(OSError):
            close()
