"""Filter: a libseccomp filter context (seccomp_init(3) ... seccomp_load(3)).

A Filter collects rules, exports them as BPF or PFC, and loads them into the
kernel.  It is not thread-safe (libseccomp contexts are not): using one Filter
from two threads at once raises ConcurrentUseError instead of corrupting it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import warnings
import weakref
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Generic, NamedTuple, Optional, TypeVar, Union, overload

from . import arch as _arch
from ._native import check, ffi, lib
from .action import Action, ActionKind
from .arch import Arch, ArchLike
from .arg import ArgCmp
from .attribute import ACTION_ATTRIBUTES, HAS_WAIT_KILL, Attribute, Optimize
from .errors import (
    AlreadyLoadedError,
    ConcurrentUseError,
    FilterClosedError,
    FilterTooLargeError,
    InvalidArgumentError,
    SeccompError,
    UnsupportedError,
    WidenedRuleWarning,
)
from .features import kernel_actions
from .syscall import Syscall, SyscallLike, libseccomp_number, resolve_number

if TYPE_CHECKING:  # pragma: no cover
    from .spawn import SeccompPopen

BPF_MAXINSNS = int(lib.SPY_BPF_MAXINSNS)
BPF_INSN_SIZE = 8
# libseccomp refuses SCMP_ACT_ERRNO(4095) although the kernel accepts it.
_LIBSECCOMP_MAX_ERRNO = 4094
_HAS_EXPORT_MEM = bool(lib.SPY_HAS_EXPORT_BPF_MEM)
_HAS_TRANSACTIONS = bool(lib.SPY_HAS_TRANSACTIONS)
_HAS_PRECOMPUTE = bool(lib.SPY_HAS_PRECOMPUTE)

AttrValue = Union[bool, int, Action]
PathOrFile = Union[str, "os.PathLike[str]", int, IO[bytes]]
T = TypeVar("T")


class _Attr(Generic[T]):
    """A typed property over one attribute (``f.no_new_privileges = False``)."""

    def __init__(self, attr: Attribute) -> None:
        self.attr = attr

    def __set_name__(self, owner: type, name: str) -> None:
        self.__doc__ = f"Attribute.{self.attr.name} (see seccomp_attr_set(3))."

    @overload
    def __get__(self, obj: None, owner: type) -> _Attr[T]: ...
    @overload
    def __get__(self, obj: Filter, owner: type) -> T: ...
    def __get__(self, obj: Filter | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj.get_attribute(self.attr)

    def __set__(self, obj: Filter, value: T) -> None:
        obj.set_attribute(self.attr, value)  # type: ignore[arg-type]


class RuleRecord(NamedTuple):
    """A rule as it was added to a Filter (see :attr:`Filter.rules`).

    ``syscall`` is the name given, or the number as text when a number that
    has no native name was given.
    """

    action: Action
    syscall: str
    comparisons: tuple[ArgCmp, ...]
    exact: bool


def _record_name(syscall: SyscallLike, name: str) -> str:
    if isinstance(syscall, int) and not isinstance(syscall, bool):
        try:
            return resolve_number(syscall)
        except (LookupError, ValueError):
            return name
    return name


def _syscall_number(syscall: SyscallLike) -> tuple[int, str]:
    """The native number libseccomp wants in a rule, and a name for messages."""
    if isinstance(syscall, Syscall):
        return libseccomp_number(syscall.name), syscall.name
    if isinstance(syscall, str):
        return libseccomp_number(syscall), syscall
    if isinstance(syscall, int) and not isinstance(syscall, bool):
        if not -(2**31) <= syscall < 2**31:
            raise InvalidArgumentError(func="Filter.add_rule",
                                       detail=f"syscall number {syscall} is not a C int")
        return syscall, str(syscall)
    raise TypeError(f"expected a Syscall, a name or a number, not {type(syscall).__name__}")


class Filter:
    """A seccomp filter under construction (libseccomp's ``scmp_filter_ctx``).

    ``Filter(default_action)`` creates it (seccomp_init(3)); rules are added
    with :meth:`add_rule`; :meth:`export_bpf`, :meth:`export_pfc` and
    :meth:`write` compile it; :meth:`load` enforces it on the calling thread
    (or process, with THREAD_SYNC).  Use it as a context manager or call
    :meth:`close` to free it at once.

    Every filter is created with RETURN_SYSTEM_RETURN_CODES on, so a refused
    load reports the kernel's errno rather than libseccomp's ECANCELED.

    Raises SeccompError (an OSError) subclasses throughout; TypeError for
    arguments of the wrong type.
    """

    bad_arch_action = _Attr[Action](Attribute.BAD_ARCH_ACTION)
    no_new_privileges = _Attr[bool](Attribute.NO_NEW_PRIVILEGES)
    thread_sync = _Attr[bool](Attribute.THREAD_SYNC)
    negative_syscalls = _Attr[bool](Attribute.NEGATIVE_SYSCALLS)
    log = _Attr[bool](Attribute.LOG)
    disable_ssb = _Attr[bool](Attribute.DISABLE_SSB)
    optimize = _Attr[int](Attribute.OPTIMIZE)
    return_system_return_codes = _Attr[bool](Attribute.RETURN_SYSTEM_RETURN_CODES)
    wait_kill = _Attr[bool](Attribute.WAIT_KILL)

    def __init__(self, default_action: Action | int) -> None:
        action = Action.coerce(default_action)
        self._lock = threading.Lock()
        self._closed: str | None = "the filter failed to initialize"
        self._loaded = False
        self._generation = 0
        self._bpf: tuple[int, bytes] | None = None
        self._rules: list[RuleRecord] = []
        self._notifier: Any = None
        self._notifier_timeout: float | None = None
        ctx = lib.seccomp_init(action.value)
        if ctx == ffi.NULL:
            detail = f"libseccomp refused default action {action!r}"
            if action.kind is ActionKind.ERRNO and action.data > _LIBSECCOMP_MAX_ERRNO:
                detail += f" (it accepts errno values up to {_LIBSECCOMP_MAX_ERRNO})"
            elif action.kind not in kernel_actions():
                detail += " (the running kernel does not support it)"
            raise InvalidArgumentError(errno.EINVAL, "seccomp_init", detail)
        self._ctx: Any = ffi.gc(ctx, lib.seccomp_release)
        self._closed = None
        _LIVE.add(self)
        self._set_raw(Attribute.RETURN_SYSTEM_RETURN_CODES, 1)

    # -- plumbing ----------------------------------------------------------------

    @contextlib.contextmanager
    def _use(self, func: str, *, change: bool = False) -> Iterator[Any]:
        """Hold the filter for one operation: not closed, not used by another thread."""
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError(func)
        try:
            if self._closed is not None:
                raise FilterClosedError(func, self._closed)
            yield self._ctx
        finally:
            if change:
                self._generation += 1
            self._lock.release()

    def _set_raw(self, attr: Attribute, value: int) -> None:
        with self._use("seccomp_attr_set", change=True) as ctx:
            check(lib.seccomp_attr_set(ctx, int(attr), value), "seccomp_attr_set",
                  f"{attr.name} = {value}")

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Free the libseccomp context now.  Safe to call twice."""
        with self._lock:
            if self._closed is None:
                ffi.release(self._ctx)
                self._closed = "the filter is closed"
            self._ctx = ffi.NULL

    @property
    def closed(self) -> bool:
        """True after close(), or after this filter was merged into another."""
        return self._closed is not None

    @property
    def loaded(self) -> bool:
        """True after a successful load()."""
        return self._loaded

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed is not None:
            return "<Filter closed>"
        return f"<Filter default={self.default_action!r} loaded={self._loaded}>"

    def __getstate__(self) -> None:
        raise TypeError("a Filter cannot be pickled; export_bpf() or a profile can be")

    # -- attributes ------------------------------------------------------------------

    def get_attribute(self, attr: Attribute) -> AttrValue:
        """Read an attribute (seccomp_attr_get(3)).

        Returns an Action for DEFAULT_ACTION / BAD_ARCH_ACTION, an int for
        OPTIMIZE and a bool otherwise.  Raises UnsupportedError for WAIT_KILL
        on libseccomp < 2.6.
        """
        attr = _check_attribute(attr, "seccomp_attr_get")
        value = ffi.new("uint32_t *")
        with self._use("seccomp_attr_get") as ctx:
            check(lib.seccomp_attr_get(ctx, int(attr), value), "seccomp_attr_get", attr.name)
        raw = int(value[0])
        if attr in ACTION_ATTRIBUTES:
            return Action(raw)
        if attr is Attribute.OPTIMIZE:
            return raw
        return bool(raw)

    def set_attribute(self, attr: Attribute, value: AttrValue) -> None:
        """Set an attribute (seccomp_attr_set(3)).

        DEFAULT_ACTION is read-only (use :meth:`reset`).  Raises
        InvalidArgumentError for a value libseccomp refuses, UnsupportedError
        for WAIT_KILL on libseccomp < 2.6, TypeError for a wrong type.
        """
        attr = _check_attribute(attr, "seccomp_attr_set")
        if attr is Attribute.DEFAULT_ACTION:
            raise InvalidArgumentError(func="seccomp_attr_set",
                                       detail="DEFAULT_ACTION is read-only; use reset(action)")
        raw: int
        if attr in ACTION_ATTRIBUTES:
            raw = Action.coerce(value).value
        elif attr is Attribute.OPTIMIZE:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("OPTIMIZE takes an Optimize value (1 or 2)")
            try:
                raw = int(Optimize(value))
            except ValueError:
                raise InvalidArgumentError(func="seccomp_attr_set",
                                           detail=f"OPTIMIZE must be 1 or 2, not {value}") from None
        else:
            if not isinstance(value, (bool, int)) or isinstance(value, Action):
                raise TypeError(f"{attr.name} takes a bool, not {type(value).__name__}")
            if value not in (0, 1):
                raise InvalidArgumentError(func="seccomp_attr_set",
                                           detail=f"{attr.name} takes a bool, not {value}")
            raw = int(value)
        self._set_raw(attr, raw)

    @property
    def default_action(self) -> Action:
        """The action for syscalls no rule matches."""
        value = self.get_attribute(Attribute.DEFAULT_ACTION)
        assert isinstance(value, Action)
        return value

    # -- rules -----------------------------------------------------------------------------

    def add_rule(self, action: Action | int, syscall: SyscallLike,
                 *comparisons: ArgCmp) -> None:
        """Add a rule: ``action`` when ``syscall`` is made and all comparisons hold.

        libseccomp may rewrite the rule for the filter's arches (e.g. socket()
        on x86 via socketcall).  See seccomp_rule_add(3).  Raises
        UnknownSyscallError, InvalidArgumentError (errno EACCES when the action
        equals the default action, EINVAL otherwise), TypeError.
        """
        self._add(action, syscall, comparisons, exact=False)

    def add_rule_exact(self, action: Action | int, syscall: SyscallLike,
                       *comparisons: ArgCmp) -> None:
        """Like add_rule, but fail rather than let libseccomp rewrite the rule
        (seccomp_rule_add_exact(3))."""
        self._add(action, syscall, comparisons, exact=True)

    def _add(self, action: Action | int, syscall: SyscallLike,
             comparisons: tuple[ArgCmp, ...], exact: bool) -> None:
        act = Action.coerce(action)
        number, name = _syscall_number(syscall)
        for cmp in comparisons:
            if not isinstance(cmp, ArgCmp):
                raise TypeError(
                    f"comparisons must be ArgCmp (e.g. Arg(0) == 1), not {type(cmp).__name__}")
        count = len(comparisons)
        array = ffi.new("struct scmp_arg_cmp[]", count) if count else ffi.NULL
        for i, cmp in enumerate(comparisons):
            array[i].arg = cmp.index
            array[i].op = int(cmp.op)
            array[i].datum_a = cmp.a
            array[i].datum_b = cmp.b
        func = "seccomp_rule_add_exact_array" if exact else "seccomp_rule_add_array"
        call = lib.seccomp_rule_add_exact_array if exact else lib.seccomp_rule_add_array
        with self._use(func, change=True) as ctx:
            rc = call(ctx, act.value, number, count, array)
        if rc < 0:
            detail = f"{act!r} for {name}"
            if comparisons:
                detail += " with " + ", ".join(map(repr, comparisons))
            if rc == -errno.EACCES:
                raise InvalidArgumentError(
                    errno.EACCES, func,
                    detail + " (the action equals the filter's default action)")
            elif (rc == -errno.EINVAL and act.kind is ActionKind.ERRNO
                  and act.data > _LIBSECCOMP_MAX_ERRNO):
                detail += f" (libseccomp accepts errno values up to {_LIBSECCOMP_MAX_ERRNO})"
            elif rc == -errno.EINVAL and len({c.index for c in comparisons}) < count:
                detail += " (two comparisons on the same argument are not allowed in one rule)"
            check(rc, func, detail)
        self._rules.append(RuleRecord(act, _record_name(syscall, name), tuple(comparisons), exact))
        if comparisons and not exact and _permissiveness(act) > _permissiveness(
                self.default_action):
            self._warn_if_widened(act, number, comparisons)

    @property
    def rules(self) -> tuple[RuleRecord, ...]:
        """Every rule added so far, in order (what profile.Profile.from_filter() saves).

        Cleared by reset(); merge() appends the other filter's rules.
        """
        return tuple(self._rules)

    def _warn_if_widened(self, act: Action, number: int,
                         comparisons: tuple[ArgCmp, ...]) -> None:
        """Warn when libseccomp dropped this rule's comparisons on a multiplexing arch."""
        try:
            name = resolve_number(number)
        except SeccompError:
            return
        widened = []
        for a in self.arches:
            try:
                nr = libseccomp_number(name, a)
            except SeccompError:
                continue
            lo_s, hi_s = _SOCKET_PSEUDO
            lo_i, hi_i = _IPC_PSEUDO
            if lo_s <= nr <= hi_s or lo_i <= nr <= hi_i:
                widened.append(a.libseccomp_name)
        if widened:
            via = "socketcall(2)" if _is_socket_family(name) else "ipc(2)"
            warnings.warn(
                f"{act!r} for {name} with {', '.join(map(repr, comparisons))}: on "
                f"{', '.join(widened)} the call can also be made through {via}, whose "
                f"arguments seccomp cannot see, so there the rule matches every {name} call "
                f"(use add_rule_exact to refuse, or deny {via.split('(')[0]})",
                WidenedRuleWarning, stacklevel=4)

    def set_priority(self, syscall: SyscallLike, priority: int) -> None:
        """Hint that ``syscall`` should be checked early (0..255, higher first).

        See seccomp_syscall_priority(3).
        """
        number, name = _syscall_number(syscall)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError("priority must be an int")
        if not 0 <= priority <= 255:
            raise InvalidArgumentError(func="seccomp_syscall_priority",
                                       detail=f"priority {priority} is outside 0..255")
        with self._use("seccomp_syscall_priority", change=True) as ctx:
            check(lib.seccomp_syscall_priority(ctx, number, priority),
                  "seccomp_syscall_priority", name)

    # -- architectures -------------------------------------------------------------------

    def add_arch(self, arch: ArchLike) -> bool:
        """Add an architecture (seccomp_arch_add(3)); False if it was already there."""
        a = _arch.coerce(arch)
        with self._use("seccomp_arch_add", change=True) as ctx:
            rc = lib.seccomp_arch_add(ctx, int(a))
        if rc == -errno.EEXIST:
            return False
        if rc == -errno.EDOM:
            raise InvalidArgumentError(
                errno.EDOM, "seccomp_arch_add",
                f"{a.libseccomp_name}: a filter holds arches of one byte order only "
                "(build another Filter for the other endianness)")
        check(rc, "seccomp_arch_add", a.libseccomp_name)
        return True

    def remove_arch(self, arch: ArchLike) -> bool:
        """Remove an architecture (seccomp_arch_remove(3)); False if it was absent."""
        a = _arch.coerce(arch)
        with self._use("seccomp_arch_remove", change=True) as ctx:
            rc = lib.seccomp_arch_remove(ctx, int(a))
        if rc == -errno.EEXIST:
            return False
        check(rc, "seccomp_arch_remove", a.libseccomp_name)
        return True

    def has_arch(self, arch: ArchLike) -> bool:
        """True when the filter covers ``arch`` (seccomp_arch_exist(3))."""
        a = _arch.coerce(arch)
        with self._use("seccomp_arch_exist") as ctx:
            rc = lib.seccomp_arch_exist(ctx, int(a))
        if rc == -errno.EEXIST:
            return False
        check(rc, "seccomp_arch_exist", a.libseccomp_name)
        return True

    @property
    def arches(self) -> tuple[Arch, ...]:
        """The architectures this filter covers."""
        return tuple(a for a in Arch.available() if self.has_arch(a))

    # -- whole-filter operations --------------------------------------------------------

    def merge(self, other: Filter) -> None:
        """Move all of ``other``'s arches and rules into this filter (seccomp_merge(3)).

        Both filters must have the same attributes and no arch in common.  On
        success ``other`` is consumed: it is closed, and any further use raises
        FilterClosedError.  On failure both filters are left as they were.
        """
        if not isinstance(other, Filter):
            raise TypeError(f"can only merge a Filter, not {type(other).__name__}")
        if other is self:
            raise InvalidArgumentError(func="seccomp_merge",
                                       detail="cannot merge a filter into itself")
        with self._use("seccomp_merge", change=True) as ctx:
            if not other._lock.acquire(blocking=False):
                raise ConcurrentUseError("seccomp_merge")
            try:
                if other._closed is not None:
                    raise FilterClosedError("seccomp_merge", f"the other filter: {other._closed}")
                rc = lib.seccomp_merge(ctx, other._ctx)
                if rc < 0:
                    detail = "the filters must share attribute values and have no arch in common"
                    check(rc, "seccomp_merge", detail)
                # libseccomp freed other's context: drop our destructor, never free twice.
                ffi.gc(other._ctx, None)
                other._ctx = ffi.NULL
                other._closed = "the filter was merged into another filter"
                self._rules.extend(other._rules)
            finally:
                other._lock.release()

    def reset(self, default_action: Action | int | None = None) -> None:
        """Drop every rule and arch (but native) and reset attributes (seccomp_reset(3)).

        The default action is kept unless a new one is given (unlike
        libseccomp's own Python module, which loses it).
        """
        action = self.default_action if default_action is None else Action.coerce(default_action)
        with self._use("seccomp_reset", change=True) as ctx:
            check(lib.seccomp_reset(ctx, action.value), "seccomp_reset", repr(action))
            self._loaded = False
            self._rules.clear()
        self._set_raw(Attribute.RETURN_SYSTEM_RETURN_CODES, 1)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Filter]:
        """Group changes: all are kept, or none if the block raises (libseccomp 2.6+).

        Raises UnsupportedError on libseccomp < 2.6.
        """
        if not _HAS_TRANSACTIONS:
            raise UnsupportedError("seccomp_transaction_start",
                                   "transactions need libseccomp >= 2.6")
        with self._use("seccomp_transaction_start", change=True) as ctx:
            check(lib.spy_transaction_start(ctx), "seccomp_transaction_start")
        recorded = len(self._rules)
        try:
            yield self
        except BaseException:
            with self._use("seccomp_transaction_reject", change=True) as ctx:
                lib.spy_transaction_reject(ctx)
            del self._rules[recorded:]
            raise
        with self._use("seccomp_transaction_commit", change=True) as ctx:
            check(lib.spy_transaction_commit(ctx), "seccomp_transaction_commit")

    def precompute(self) -> None:
        """Build the BPF now so load() is quick (libseccomp 2.6+, a no-op before)."""
        with self._use("seccomp_precompute") as ctx:
            if _HAS_PRECOMPUTE:
                check(lib.spy_precompute(ctx), "seccomp_precompute")

    # -- export ----------------------------------------------------------------------------

    def export_bpf(self) -> bytes:
        """The filter as raw BPF (``struct sock_filter`` array), as loaded by the kernel.

        Cached until the filter changes.  See seccomp_export_bpf(3).
        """
        if self._closed is not None:
            raise FilterClosedError("seccomp_export_bpf", self._closed)
        cached = self._bpf
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        with self._use("seccomp_export_bpf") as ctx:
            generation = self._generation
            data = _export_bpf(ctx)
        self._bpf = (generation, data)
        return data

    def export_pfc(self) -> str:
        """The filter as libseccomp's pseudo filter code (seccomp_export_pfc(3))."""
        with self._use("seccomp_export_pfc") as ctx:
            return _export_via_memfd(ctx, lib.seccomp_export_pfc, "seccomp_export_pfc").decode()

    @property
    def instruction_count(self) -> int:
        """Number of BPF instructions the filter compiles to."""
        return len(self.export_bpf()) // BPF_INSN_SIZE

    def write(self, dest: PathOrFile, format: str = "bpf") -> None:
        """Write the BPF (or ``format="pfc"``) to a path, an fd or a binary file object."""
        if format not in ("bpf", "pfc"):
            raise InvalidArgumentError(func="Filter.write",
                                       detail=f"format must be 'bpf' or 'pfc', not {format!r}")
        data = self.export_bpf() if format == "bpf" else self.export_pfc().encode()
        if isinstance(dest, int) and not isinstance(dest, bool):
            view = memoryview(data)
            while view:
                view = view[os.write(dest, view):]
        elif isinstance(dest, (str, os.PathLike)):
            with open(dest, "wb") as fh:
                fh.write(data)
        elif hasattr(dest, "write"):
            dest.write(data)
        else:
            raise TypeError(
                f"write() takes a path, an fd or a file object, not {type(dest).__name__}")

    # -- load ------------------------------------------------------------------------------

    def check_size(self) -> int:
        """Raise FilterTooLargeError if the kernel would refuse the filter's size.

        Returns the instruction count.
        """
        count = self.instruction_count
        if count > BPF_MAXINSNS:
            raise FilterTooLargeError(count, BPF_MAXINSNS)
        return count

    def load(self) -> None:
        """Enforce the filter on this thread (all threads with THREAD_SYNC).

        A loaded filter cannot be removed.  See seccomp_load(3).  Raises
        AlreadyLoadedError on a second call, FilterTooLargeError above 4096
        instructions, and SeccompError with the kernel's errno otherwise
        (e.g. EACCES without no_new_privs and CAP_SYS_ADMIN).
        """
        if self._loaded:
            raise AlreadyLoadedError()
        if self._notifier is not None:
            from .notify import load_with_notifier

            load_with_notifier(self, self._notifier, self._notifier_timeout)
            return
        self.check_size()
        with self._use("seccomp_load") as ctx:
            # RETURN_SYSTEM_RETURN_CODES only changes how a failure is reported:
            # force it on so the kernel's errno is never masked as ECANCELED.
            raw = ffi.new("uint32_t *")
            attr = int(Attribute.RETURN_SYSTEM_RETURN_CODES)
            check(lib.seccomp_attr_get(ctx, attr, raw), "seccomp_attr_get",
                  "RETURN_SYSTEM_RETURN_CODES")
            if not raw[0]:
                check(lib.seccomp_attr_set(ctx, attr, 1), "seccomp_attr_set",
                      "RETURN_SYSTEM_RETURN_CODES = 1")
            try:
                check(lib.seccomp_load(ctx), "seccomp_load")
            finally:
                if not raw[0]:
                    lib.seccomp_attr_set(ctx, attr, 0)
            self._loaded = True

    def spawn(self, args: Any, **popen_options: Any) -> SeccompPopen:
        """Start ``args`` in a child confined by this filter (see seccomp_py.spawn.spawn)."""
        from .spawn import spawn

        return spawn(args, self, **popen_options)

    # -- user notification (see seccomp_py.notify) ------------------------------------------

    def set_notifier(self, notifier: Any, *, timeout: Optional[float] = 10.0) -> None:
        """Hand the listener fd to ``notifier`` at load() (the seed's Notifier protocol).

        load() then runs ``notifier.prepare(timeout)``, adds ALLOW rules for
        ``notifier.exempt()``, installs the filter with a new listener and hands
        the fd over (see seccomp_py.notify.Notifier and docs/notify.md).
        ``None`` removes it.  Raises TypeError for an object without the protocol.
        """
        if notifier is not None:
            for method in ("exempt", "prepare", "handle"):
                if not callable(getattr(notifier, method, None)):
                    raise TypeError(f"a notifier needs an {method}() method")
        self._notifier = notifier
        self._notifier_timeout = timeout

    def notify_fd(self) -> int:
        """libseccomp's process-wide listener fd after a plain load() (seccomp_notify_fd(3)).

        libseccomp keeps ONE notify fd per process: a second filter with NOTIFY
        rules loaded in the same process reuses it (seccomp_reset(NULL, 0) forgets
        it).  The fd stays owned by libseccomp.  Raises SeccompError if there is none.
        """
        with self._use("seccomp_notify_fd") as ctx:
            fd = check(lib.spy_notify_fd(ctx), "seccomp_notify_fd")
        if fd < 0 or fd == 2**32 - 1:
            raise SeccompError(errno.ENOENT, "seccomp_notify_fd", "no listener fd was created")
        return fd


# Every open Filter, so that a forked child can disown those another thread
# was using at the moment of fork() (their lock would stay held forever, and
# the context may be half-changed).
_LIVE: weakref.WeakSet[Filter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for flt in list(_LIVE):
        if flt._lock.locked():
            flt._lock = threading.Lock()
            if flt._closed is None:
                # never free a context another thread was changing: leak it in the child
                ffi.gc(flt._ctx, None)
                flt._ctx = ffi.NULL
                flt._closed = "another thread was using the filter when the process forked"


os.register_at_fork(after_in_child=_after_fork_in_child)


# libseccomp's pseudo-syscall numbers for the calls multiplexed by socketcall(2)
# and ipc(2) (__PNR_socket.. and __PNR_semop.. in seccomp-syscalls.h).
_SOCKET_PSEUDO = (-120, -101)
_IPC_PSEUDO = (-224, -201)


def _is_socket_family(name: str) -> bool:
    """True for the socket(2) family, False for the SysV ipc(2) family."""
    return not name.startswith(("sem", "msg", "shm", "ipc"))


def _permissiveness(action: Action) -> int:
    """The kernel's precedence: a higher value lets more through (seccomp(2))."""
    raw = action.value & 0xFFFF0000
    return raw - (1 << 32) if raw & 0x80000000 else raw


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


__all__ = ["BPF_MAXINSNS", "Filter", "RuleRecord", "SeccompError"]
