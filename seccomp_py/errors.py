"""Exceptions raised by seccomp_py.

All of them derive from :class:`SeccompError`, itself an :class:`OSError`, so
``errno`` and ``strerror`` work as usual, and ``func`` names the libseccomp or
kernel function that failed.  Subclasses also derive from the builtin a caller
would naturally catch (``ValueError``, ``LookupError``...).
"""

from __future__ import annotations

import errno as _errno
import os


class SeccompError(OSError):
    """A libseccomp or kernel call failed.

    Attributes: ``errno`` (the real errno, never libseccomp's ECANCELED mask),
    ``func`` (the C function, e.g. ``"seccomp_load"``) and ``detail``.
    """

    func: str
    detail: str
    #: set by :meth:`Filter.add_rules`: the position of the rule that failed
    rule_index: int | None = None

    def __init__(self, errnum: int, func: str, detail: str = "") -> None:
        message = os.strerror(errnum)
        if detail:
            message = f"{message}: {detail}"
        super().__init__(errnum, f"{func}: {message}")
        self.func = func
        self.detail = detail

    def __reduce__(self) -> tuple[type[SeccompError], tuple[int, str, str]]:
        return (type(self), (self.errno or 0, self.func, self.detail))


class InvalidArgumentError(SeccompError, ValueError):
    """An argument was refused (EINVAL): bad index, value, action or arch."""

    def __init__(self, errnum: int = _errno.EINVAL, func: str = "", detail: str = "") -> None:
        super().__init__(errnum, func, detail)


class UnknownSyscallError(SeccompError, LookupError, ValueError):
    """A syscall name or number that libseccomp does not know for the arch.

    ``name`` is what was asked for; ``suggestions`` lists close names.
    """

    name: str
    suggestions: list[str]

    def __init__(
        self,
        name: str,
        arch: str = "",
        suggestions: list[str] | None = None,
        func: str = "seccomp_syscall_resolve_name_arch",
    ) -> None:
        self.name = name
        self.suggestions = list(suggestions or [])
        detail = f"unknown syscall {name!r}"
        if arch:
            detail += f" on {arch}"
        if self.suggestions:
            detail += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(_errno.ENOENT, func, detail)

    def __reduce__(self) -> tuple[type[SeccompError], tuple[object, ...]]:  # type: ignore[override]
        return (type(self), (self.name, "", self.suggestions, self.func))


class UnknownArchError(SeccompError, LookupError, ValueError):
    """An architecture name or token that the linked libseccomp does not know."""

    def __init__(self, arch: object, func: str = "seccomp_arch_resolve_name") -> None:
        super().__init__(_errno.EINVAL, func, f"unknown architecture {arch!r}")

    def __reduce__(self) -> tuple[type[SeccompError], tuple[object, ...]]:  # type: ignore[override]
        return (type(self), (self.detail, self.func))


class ClosedError(SeccompError):
    """An object was used after it was closed (errno EBADF): a Filter
    (:class:`FilterClosedError`) or a notify Listener or server
    (:class:`ListenerClosedError`)."""


class FilterClosedError(SeccompError, ValueError):
    """The filter was closed, merged into another filter, or never opened."""

    def __init__(self, func: str = "", detail: str = "the filter is closed") -> None:
        super().__init__(_errno.EBADF, func, detail)

    def __reduce__(self) -> tuple[type[SeccompError], tuple[object, ...]]:  # type: ignore[override]
        return (type(self), (self.func, self.detail))


class FilterFailedError(FilterClosedError):
    """A :meth:`Filter.add_rules` batch failed midway on libseccomp < 2.6.

    Without transactions the rules before the failing one stay in the filter,
    which would then allow more than asked (a deny list cut short): the filter
    refuses every use until :meth:`Filter.reset` (or ``close()``).
    """

    def __init__(self, func: str = "", detail: str = "") -> None:
        super().__init__(func, detail or "an add_rules() batch failed midway; reset() the filter")


class AlreadyLoadedError(SeccompError):
    """``load()`` was called a second time on the same Filter."""

    def __init__(self, func: str = "seccomp_load", detail: str = "") -> None:
        super().__init__(
            _errno.EALREADY,
            func,
            detail or "this filter is already loaded; build a new Filter to stack another",
        )


class FilterTooLargeError(InvalidArgumentError):
    """The compiled filter exceeds the kernel's BPF_MAXINSNS (4096) instructions."""

    def __init__(self, instructions: int, limit: int, func: str = "seccomp_load") -> None:
        self.instructions = instructions
        self.limit = limit
        super().__init__(
            _errno.EINVAL,
            func,
            f"the filter compiles to {instructions} BPF instructions; the kernel refuses "
            f"more than {limit} (split the policy, drop rules, or use the binary-tree "
            f"optimizer: Attribute.OPTIMIZE = 2)",
        )

    def __reduce__(self) -> tuple[type[SeccompError], tuple[object, ...]]:  # type: ignore[override]
        return (type(self), (self.instructions, self.limit, self.func))


class ConcurrentUseError(SeccompError, RuntimeError):
    """Two threads used the same Filter at once; libseccomp filters are not thread-safe."""

    def __init__(self, func: str = "") -> None:
        super().__init__(
            _errno.EBUSY,
            func,
            "the Filter is in use by another thread; libseccomp filter contexts are not "
            "thread-safe: use one Filter per thread or a lock of your own",
        )


class UnsupportedError(SeccompError):
    """The linked libseccomp or the running kernel lacks this feature."""

    def __init__(self, func: str, detail: str) -> None:
        super().__init__(_errno.EOPNOTSUPP, func, detail)


class InspectError(SeccompError):
    """Reading the seccomp filters of another process failed (seccomp_py.inspect).

    ``errno`` says why, ``detail`` says it in words, ``pid`` is the target and
    ``func`` the ptrace(2) request or file that failed:

    - ESRCH: no such process (or it exited while being inspected);
    - EPERM: not allowed to trace it (ptrace_may_access: another uid, a
      set-uid target, Yama's ptrace_scope, already traced, the caller itself);
    - EACCES: PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN and a caller that
      is not itself under seccomp;
    - EINVAL: the kernel hands out no filters (built without
      CONFIG_CHECKPOINT_RESTORE), or the target is in strict mode;
    - EMEDIUMTYPE: a filter is not a classic BPF program.
    """

    pid: int

    def __init__(self, errnum: int, func: str, detail: str = "", pid: int = 0) -> None:
        super().__init__(errnum, func, detail)
        self.pid = pid

    def __reduce__(self) -> tuple[type[SeccompError], tuple[object, ...]]:  # type: ignore[override]
        return (type(self), (self.errno or 0, self.func, self.detail, self.pid))
class ChildSetupError(SeccompError):
    """A sandbox step failed in a spawned child before its program started.

    ``func`` names the call (``"setrlimit"``, ``"setgroups"``, ``"setresgid"``,
    ``"setresuid"``), ``errno`` is the kernel's answer and ``detail`` says what
    was asked (e.g. ``RLIMIT_NOFILE to (16, 16)``).  The child was reaped.
    """


class RuntimeMeasureError(SeccompError):
    """A container runtime's needs could not be measured (``func``: the runtime):
    missing binary or busybox, no root, or a container that did not run."""


class UnknownSyscallWarning(UserWarning):
    """Syscall names the linked libseccomp does not know were left out
    (e.g. members of a syscall group newer than this libseccomp)."""


class WidenedRuleWarning(UserWarning):
    """libseccomp had to widen a rule on some architecture.

    The case that matters: an argument comparison on socket(2)-family or
    ipc(2)-family calls on an ABI that multiplexes them (x86's socketcall,
    s390, ppc, mips).  There the real arguments sit in memory where seccomp
    cannot read them, so libseccomp drops the comparison and the action
    applies to every call.  Warned about when the action is more permissive
    than the default (the rule then allows more than asked); use
    ``add_rule_exact`` to make it an error instead.
    """


class UnsafeSocketPathWarning(UserWarning):
    """A Unix socket path for a seccomp handoff sits in a directory that
    others may write to (world- or group-writable without the sticky bit, or
    owned by another user): someone else could bind the path first.  The
    peer's credentials are still checked (SO_PEERCRED), but use a private
    directory."""


def error_for(errnum: int, func: str, detail: str = "") -> SeccompError:
    """Build the exception for ``errnum`` raised by ``func`` (used by ``_native.check``)."""
    if errnum == _errno.EINVAL:
        return InvalidArgumentError(errnum, func, detail)
    return SeccompError(errnum, func, detail)


class FilterVerificationError(SeccompError):
    """The BPF program does not decide as the filter's rules say (seccomp_py's verifier).

    Raised before anything is loaded or written (Filter.load, export_bpf,
    write, spawn, profile compilation, the CLI): see docs/failclosed.md.
    Attributes: ``arch`` (libseccomp name or AUDIT_ARCH token), ``syscall``
    (name or None), ``nr``, ``args``, ``expected`` (the action names the
    rules allow), ``actual`` (the program's action name), ``version``
    (libseccomp's), ``reason`` (a "cannot prove" refusal instead of a
    counterexample) and ``hint`` (how to rewrite conflicting rules).
    """

    arch: str = ""
    syscall: str | None = None
    nr: int = 0
    args: tuple[int, ...] = ()
    expected: tuple[str, ...] = ()
    actual: str = ""
    version: str = ""
    reason: str = ""
    hint: str = ""
    token: int = 0  # the AUDIT_ARCH token of the input

    def __init__(self, errnum: int = _errno.EPROTO, func: str = "verify",
                 detail: str = "") -> None:
        super().__init__(errnum, func, detail)


# notify

class NotificationGoneError(SeccompError, LookupError):
    """The notification is no longer pending (ENOENT).

    The target was killed or interrupted by a signal, the id was already
    answered, or it was never received on this listener.
    """

    def __init__(self, func: str = "SECCOMP_IOCTL_NOTIF_SEND", detail: str = "",
                 errnum: int = _errno.ENOENT) -> None:
        super().__init__(errnum, func, detail or "the notification is no longer pending")

    def __reduce__(self) -> tuple[type[SeccompError], tuple[object, ...]]:  # type: ignore[override]
        return (type(self), (self.func, self.detail, self.errno))


class HangupError(SeccompError, EOFError):
    """The listener hung up: no task uses the filter any more (POLLHUP)."""

    def __init__(self, func: str = "poll", detail: str = "") -> None:
        super().__init__(_errno.EPIPE, func, detail or "no task uses the filter any more")


class ListenerClosedError(ClosedError, ValueError):
    """The Listener (or server) was closed."""

    def __init__(self, func: str = "", detail: str = "the listener is closed") -> None:
        super().__init__(_errno.EBADF, func, detail)


class NotAListenerError(SeccompError, ValueError):
    """The fd is not a seccomp user-notification listener."""

    def __init__(self, fd: int, func: str = "SECCOMP_IOCTL_NOTIF_ID_VALID") -> None:
        super().__init__(_errno.ENOTTY, func, f"fd {fd} is not a seccomp listener")


class HandoffError(SeccompError):
    """Handing a listener fd over failed, or a received handoff was malformed.

    ``installed`` is True when raised by ``Filter.load()`` after the filter
    was put in force (the listener could not be sent: its NOTIFY rules now
    fail with ENOSYS), False otherwise (nothing was loaded).
    """

    installed: bool = False


class PeerRefusedError(HandoffError, PermissionError):
    """The peer's credentials (SO_PEERCRED) are not allowed."""
