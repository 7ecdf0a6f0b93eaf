"""Every exception and warning class of seccomp_py.

The subsystems re-export theirs (``seccomp_py.profile.ProfileError`` is
``seccomp_py.errors.ProfileError``).  The errors derive from
:class:`SeccompError`, itself an :class:`OSError`, so ``errno`` and
``strerror`` work as usual, and ``func`` names the libseccomp or kernel
function that failed.  Subclasses also derive from the builtin a caller would
naturally catch (``ValueError``, ``LookupError``...).  Every class pickles
(one :func:`_reduce` for all: the exception is rebuilt from its ``args`` and
attributes, without calling its ``__init__`` again).
"""

from __future__ import annotations

import errno as _errno
import os
from types import GetSetDescriptorType

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Callable, Protocol

    from .action import Action

    class _RuleLike(Protocol):  # RuleRecord (rule.py imports this module)
        @property
        def action(self) -> Action: ...
        @property
        def syscall(self) -> str: ...
        @property
        def comparisons(self) -> tuple[object, ...]: ...

    _State = dict[str, object]
    _Reduced = tuple[Callable[[type[BaseException], tuple[object, ...], _State], BaseException],
                     tuple[type[BaseException], tuple[object, ...], _State]]

#: BaseException.args itself (the class attribute is the descriptor): a subclass
#: may use the name ``args`` for its own attribute (FilterVerificationError: the
#: syscall's arguments).
_ARGS: GetSetDescriptorType = getattr(BaseException, "args")  # noqa: B009


def _restore(cls: type[BaseException], args: tuple[object, ...],
             state: _State) -> BaseException:
    """Rebuild a pickled exception: ``args`` as the base class keeps them, then its
    attributes (``func``, ``detail``, ``rule_index``...)."""
    exc = cls.__new__(cls, *args)
    if isinstance(exc, OSError):
        OSError.__init__(exc, *args)  # errno and strerror
    _ARGS.__set__(exc, args)
    for name, value in state.items():
        setattr(exc, name, value)
    return exc


def _reduce(self: BaseException) -> _Reduced:
    """The one ``__reduce__`` of seccomp_py's exceptions (see :func:`_restore`)."""
    args: tuple[object, ...] = _ARGS.__get__(self, type(self))
    state: _State = self.__dict__
    return (_restore, (type(self), args, dict(state)))


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

    __reduce__ = _reduce


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


class UnknownArchError(SeccompError, LookupError, ValueError):
    """An architecture name or token that the linked libseccomp does not know."""

    def __init__(self, arch: object, func: str = "seccomp_arch_resolve_name") -> None:
        super().__init__(_errno.EINVAL, func, f"unknown architecture {arch!r}")


class ClosedError(SeccompError, ValueError):
    """An object was used after it was closed (EBADF): a Filter, a Listener...

    The base of :class:`FilterClosedError` and ``notify.ListenerClosedError``.
    """

    def __init__(self, func: str = "", detail: str = "the object is closed") -> None:
        super().__init__(_errno.EBADF, func, detail)


class FilterClosedError(ClosedError):
    """The filter was closed, merged into another filter, or never opened."""

    def __init__(self, func: str = "", detail: str = "the filter is closed") -> None:
        super().__init__(func, detail)


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


class LibseccompHangError(InvalidArgumentError):
    """A rule libseccomp (2.5.4, 2.6.0) would never finish adding (errno EDEADLK).

    Refused before libseccomp sees it: ``rule`` shares its comparisons with
    the earlier ``earlier`` (both RuleRecords) up to one on ``!=``, ``<``, ``<=``,
    ``>`` or ``>=`` and goes on with a comparison libseccomp orders first, a
    shape on which seccomp_rule_add(3) loops forever on 64-bit arches (see
    docs/failclosed.md).  Nothing was added.
    """

    def __init__(self, rule: _RuleLike, earlier: _RuleLike,
                 func: str = "seccomp_rule_add_array") -> None:
        self.rule = rule
        self.earlier = earlier
        super().__init__(
            _errno.EDEADLK,
            func,
            f"libseccomp would never return from adding {_rule_text(rule)} after "
            f"{_rule_text(earlier)}: they share the comparisons up to one on !=, <, <=, > "
            "or >=, and libseccomp's rule tree then links the new comparison to itself "
            "(a libseccomp defect, docs/failclosed.md); add the two rules in the other "
            "order, or write the shared comparison differently (e.g. != as two rules "
            "on < and >)",
        )


def _rule_text(rule: _RuleLike) -> str:
    comparisons = ", ".join(map(repr, rule.comparisons))
    return f"({rule.action!r}, {rule.syscall!r}{', ' if comparisons else ''}{comparisons})"


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


# -- the subsystems' errors and warnings -------------------------------------------------


class BpfError(InvalidArgumentError):
    """A malformed BPF program (bad size, opcode, jump or load offset); seccomp_py.bpf."""

    def __init__(self, detail: str, func: str = "bpf") -> None:
        super().__init__(_errno.EINVAL, func, detail)


class ExecForbiddenError(SeccompError, PermissionError):
    """The filter would stop the child before its program starts (seccomp_py.spawn).

    spawn() loads the filter in the child and then calls execve(), so execve
    (and, for notify filters, the sendmsg() that hands the listener back and
    exit_group) is itself subject to the policy; a SpawnTemplate also needs
    the syscalls of its server loop.  ``syscall`` names the call and
    ``action`` is what the filter would do to it.
    """

    syscall: str
    action: Action

    def __init__(self, syscall: str, action: Action, detail: str) -> None:
        self.syscall = syscall
        self.action = action
        super().__init__(_errno.EPERM, syscall, detail)


class LearnError(SeccompError):
    """Learn mode could not start the command (errno, C function, detail); seccomp_py.learn."""


class ProfileError(InvalidArgumentError):
    """A profile is malformed or cannot be compiled (seccomp_py.profile).

    ``path`` is the JSON path of the problem (``syscalls[3].args[0].op``) and
    ``problem`` what is wrong; ``str(err)`` is ``"path: problem"``.  A
    SeccompError (errno EINVAL) and a ValueError.
    """

    path: str
    problem: str

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(_errno.EINVAL, "profile", f"{path}: {problem}" if path else problem)

    def __str__(self) -> str:
        return self.detail


class ProfileWarning(UserWarning):
    """Something in a profile was ignored (an unknown key or syscall name)."""


class WeakenedPolicyWarning(ProfileWarning):
    """A rule that refuses something was dropped: the filter allows more than the profile says."""


class LibseccompSecurityWarning(UserWarning):
    """The loaded libseccomp predates fixes for published security advisories
    (seccomp_py.features.warn_if_vulnerable)."""


class JsonLimitError(ValueError):
    """The text is too big, too deep, or not JSON (one-line message).

    ``kind`` is "size", "depth", "encoding" or "syntax"; ``detail`` the
    message without the document's name.
    """

    kind: str
    detail: str

    def __init__(self, what: str, kind: str, detail: str) -> None:
        super().__init__(f"{what} {detail}")
        self.kind = kind
        self.detail = detail

    __reduce__ = _reduce


class CliError(Exception):
    """A failure of the seccomp-py command, reported as one line and exit status 1."""

    status = 1

    __reduce__ = _reduce


class UsageError(CliError):
    """Bad usage found after parsing (a missing command, a bad option value): exit 2."""

    status = 2


# -- seccomp_py.compat: the official module's builtins as SeccompErrors ---------------------
# SeccompError subclasses that are also the builtins the official module
# raised, so that old ``except RuntimeError`` clauses still catch them.


class LibraryError(SeccompError, RuntimeError):
    """A libseccomp or kernel failure (the official module's ``RuntimeError``)."""


class InvalidArgumentLibraryError(InvalidArgumentError, RuntimeError):
    """EINVAL: a ValueError, a RuntimeError and an OSError at once."""


class UnknownSyscallLibraryError(UnknownSyscallError, RuntimeError):
    """An unknown syscall name or number (also ValueError and LookupError)."""


class UnknownArchLibraryError(UnknownArchError, RuntimeError):
    """An unknown architecture (also ValueError and LookupError)."""


class FilterTooLargeLibraryError(FilterTooLargeError, RuntimeError):
    """The filter exceeds the kernel's BPF_MAXINSNS instructions."""


class UnsupportedLibraryError(UnsupportedError, RuntimeError):
    """The linked libseccomp or the kernel lacks the feature."""


class FilterClosedLibraryError(FilterClosedError, RuntimeError):
    """The filter was closed."""


class AlreadyLoadedLibraryError(AlreadyLoadedError, RuntimeError):
    """Kept for completeness: compat filters may be loaded more than once."""


class ArgumentOverflowError(InvalidArgumentError, OverflowError):
    """A value does not fit its C type (the official module's OverflowError)."""

    def __init__(self, detail: str, func: str = "Arg") -> None:
        super().__init__(_errno.ERANGE, func, detail)


class NotAFileError(TypeError, AttributeError):
    """export_*() was given something that is neither a file nor an fd (the
    official module's AttributeError from ``file.fileno()``)."""

    __reduce__ = _reduce


class ExportTargetError(InvalidArgumentLibraryError):
    """Binary BPF for a stream without a file descriptor (the official
    module's io.UnsupportedOperation: an OSError and a ValueError)."""


# -- seccomp_py.notify ---------------------------------------------------------------

class NotificationGoneError(SeccompError, LookupError):
    """The notification is no longer pending (ENOENT).

    The target was killed or interrupted by a signal, the id was already
    answered, or it was never received on this listener.
    """

    def __init__(self, func: str = "SECCOMP_IOCTL_NOTIF_SEND", detail: str = "",
                 errnum: int = _errno.ENOENT) -> None:
        super().__init__(errnum, func, detail or "the notification is no longer pending")


class HangupError(SeccompError, EOFError):
    """The listener hung up: no task uses the filter any more (POLLHUP)."""

    def __init__(self, func: str = "poll", detail: str = "") -> None:
        super().__init__(_errno.EPIPE, func, detail or "no task uses the filter any more")


class ListenerClosedError(ClosedError):
    """The Listener (or server) was closed."""

    def __init__(self, func: str = "", detail: str = "the listener is closed") -> None:
        super().__init__(func, detail)


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


# -- seccomp_py.oci ------------------------------------------------------------------


class AgentProtocolError(SeccompError, ValueError):
    """A container process state message was malformed; ``detail`` names the field."""

    def __init__(self, detail: str, errnum: int = _errno.EBADMSG, func: str = "oci-agent") -> None:
        super().__init__(errnum, func, detail)


class AgentPeerError(AgentProtocolError, PermissionError):
    """The connecting process's uid is not allowed (SO_PEERCRED)."""


# -- errno -> class ----------------------------------------------------------------------

#: The class ``_native.check`` raises for an errno (SeccompError for the others).
ERRNO_CLASSES: dict[int, type[SeccompError]] = {
    _errno.EINVAL: InvalidArgumentError,
}


def error_for(errnum: int, func: str, detail: str = "") -> SeccompError:
    """Build the exception for ``errnum`` raised by ``func`` (used by ``_native.check``)."""
    return ERRNO_CLASSES.get(errnum, SeccompError)(errnum, func, detail)
