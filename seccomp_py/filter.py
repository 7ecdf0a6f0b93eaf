"""Filter: a libseccomp filter context (seccomp_init(3) ... seccomp_load(3)).

A Filter collects rules, exports them as BPF or PFC, and loads them into the
kernel.  It is not thread-safe (libseccomp contexts are not): using one Filter
from two threads at once raises ConcurrentUseError instead of corrupting it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import weakref
from _thread import allocate_lock as _allocate_lock

from . import arch as _arch
from . import model as _model
from ._export import _export_bpf, _export_via_memfd, _generated, _optimize, _own_candidate
from ._kernel import LIBSECCOMP_MAX_ERRNO as _LIBSECCOMP_MAX_ERRNO
from ._kernel import SECCOMP_RET_ACTION_FULL as _RET_ACTION_FULL
from ._native import HAS_PRECOMPUTE as _HAS_PRECOMPUTE
from ._native import HAS_TRANSACTIONS as _HAS_TRANSACTIONS
from ._native import check, ffi, lib
from .action import Action, ActionKind
from .arch import Arch
from .attribute import (
    ACTION_ATTRIBUTES,
    HAS_WAIT_KILL,
    Attribute,
    Optimize,
    _Attr,
    _check_attribute,
)
from .errors import (
    AlreadyLoadedError,
    ConcurrentUseError,
    FilterClosedError,
    FilterFailedError,
    FilterTooLargeError,
    FilterVerificationError,
    InvalidArgumentError,
    SeccompError,
    UnsupportedError,
)
from .features import kernel_actions
from .model import Policy
from .multiplex import _mux_arches
from .program import (
    BPF_INSN_SIZE,
    BPF_MAXINSNS,
    FLAG_LOG,
    FLAG_SPEC_ALLOW,
    FLAG_TSYNC,
    FLAG_WAIT_KILLABLE_RECV,
    Program,
)
from .rule import (
    RuleRecord,
    _record,
    _Rules,
)

# typing is not imported at run time: it (and the re module it pulls in) was
# the largest part of `import seccomp_py` (docs/benchmarks.md, scenario 6)
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import IO, Any, Union

    from .arch import ArchLike
    from .spawn import SeccompPopen

    AttrValue = Union[bool, int, Action]
    PathOrFile = Union[str, "os.PathLike[str]", int, IO[bytes]]

#: Automatic layout: above this many rules a filter whose OPTIMIZE attribute
#: the user never set is compiled as a binary tree (runc's threshold).
AUTO_BINARY_TREE_RULES = 32
_OPTIMIZE = int(Attribute.OPTIMIZE)
_SYSRAWRC = int(Attribute.RETURN_SYSTEM_RETURN_CODES)

class Filter(_Rules):
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

    def __init__(self, default_action: Action | int, *, verify: bool = True) -> None:
        action = Action.coerce(default_action)
        self._verify = bool(verify)
        # the generation whose program seccomp_py repaired (load() loads it itself)
        self._repaired = -1
        # arch -> [start, end) ranges of rule positions that apply to it (end None: open)
        self._arch_rules: dict[Arch, list[list[int | None]]] = {_arch.native(): [[0, None]]}
        self._lock = _allocate_lock()
        self._closed: str | None = "the filter failed to initialize"
        self._failed: str | None = None
        self._loaded = False
        self._generation = 0
        # (generation, BPF, binary tree chosen automatically)
        self._bpf: tuple[int, bytes, bool] | None = None
        # (generation, the Program compile() made of it)
        self._program: tuple[int, Program] | None = None
        # RuleRecords, or the (Action, name) tuples add_rules() was given for
        # rules without comparisons (made RuleRecords when read: see rules)
        self._rules: list[RuleRecord | tuple[Action, str]] = []
        # caches of libseccomp state, kept in step by every method that changes it
        self._default = action
        self._arch_set: set[Arch] = {_arch.native()}
        self._mux = _arch.native() in _mux_arches()
        # True once the user set OPTIMIZE (then no automatic layout)
        self._optimize_set = False
        # False for filters that must compile exactly like libseccomp (compat)
        self._auto_layout = True
        # True when the user chose Optimize.RANGES (kept here: libseccomp knows 1, 2)
        self._ranges_set = False
        # the generation whose cached program seccomp_py generated (RANGES)
        self._ranges_gen = -1
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
    def _use(self, func: str, *, change: bool = False,
             failed_ok: bool = False) -> Iterator[Any]:
        """Hold the filter for one operation: not closed, not failed (see
        add_rules), not used by another thread."""
        if not self._lock.acquire(False):
            raise ConcurrentUseError(func)
        try:
            if self._closed is not None:
                raise FilterClosedError(func, self._closed)
            if self._failed is not None and not failed_ok:
                raise FilterFailedError(func, self._failed)
            yield self._ctx
        finally:
            if change:
                self._generation += 1
            self._lock.release()

    @property
    def verify(self) -> bool:
        """Prove every program against the rules before it leaves (default True).

        ``False`` opts out: export_bpf() gives libseccomp's program as is and
        load() uses seccomp_load(3).  See docs/failclosed.md for the cost.
        """
        return self._verify

    @verify.setter
    def verify(self, value: bool) -> None:
        if bool(value) != self._verify:
            self._verify = bool(value)
            self._generation += 1  # the cached program was made under the other setting

    def _arches_changed(self, arches: set[Arch]) -> None:
        # seccomp_arch_add(3): a new arch gets the rules added from now on only
        for gone in self._arch_set - arches:
            self._arch_rules.pop(gone, None)
        for new in arches - self._arch_set:
            self._arch_rules[new] = [[len(self._rules), None]]
        self._arch_set = arches
        self._mux = not arches.isdisjoint(_mux_arches())

    def _set_raw(self, attr: Attribute, value: int) -> None:
        if not self._lock.acquire(False):
            raise ConcurrentUseError("seccomp_attr_set")
        try:
            if self._closed is not None:
                raise FilterClosedError("seccomp_attr_set", self._closed)
            if self._failed is not None:
                raise FilterFailedError("seccomp_attr_set", self._failed)
            rc = lib.seccomp_attr_set(self._ctx, int(attr), value)
        finally:
            self._generation += 1
            self._lock.release()
        if rc < 0:
            check(rc, "seccomp_attr_set", f"{attr.name} = {value}")

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Free the libseccomp context now.  Safe to call twice."""
        with self._lock:
            if self._closed is None:
                ffi.release(self._ctx)
                self._closed = "the filter is closed"
            self._ctx = ffi.NULL

    @property
    def failed(self) -> bool:
        """True after an add_rules() batch failed midway on libseccomp < 2.6:
        every use then raises FilterFailedError until reset()."""
        return self._failed is not None

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
        return f"<Filter default={self._default!r} loaded={self._loaded}>"

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
            return int(Optimize.RANGES) if self._ranges_set else raw
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
                raise TypeError("OPTIMIZE takes an Optimize value (1, 2 or 3)")
            try:
                raw = int(Optimize(value))
            except ValueError:
                raise InvalidArgumentError(
                    func="seccomp_attr_set",
                    detail=f"OPTIMIZE must be 1, 2 or 3, not {value}") from None
            if raw == Optimize.RANGES:
                with self._use("seccomp_attr_set", change=True):
                    self._ranges_set = self._optimize_set = True
                return
            self._ranges_set = False
        else:
            if not isinstance(value, (bool, int)) or isinstance(value, Action):
                raise TypeError(f"{attr.name} takes a bool, not {type(value).__name__}")
            if value not in (0, 1):
                raise InvalidArgumentError(func="seccomp_attr_set",
                                           detail=f"{attr.name} takes a bool, not {value}")
            raw = int(value)
        self._set_raw(attr, raw)
        if attr is Attribute.OPTIMIZE:
            self._optimize_set = True

    @property
    def default_action(self) -> Action:
        """The action for syscalls no rule matches.  Raises FilterClosedError."""
        if self._closed is not None:
            raise FilterClosedError("seccomp_attr_get", self._closed)
        if self._failed is not None:
            raise FilterFailedError("seccomp_attr_get", self._failed)
        return self._default

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
        self._arches_changed(self._arch_set | {a})
        return True

    def remove_arch(self, arch: ArchLike) -> bool:
        """Remove an architecture (seccomp_arch_remove(3)); False if it was absent."""
        a = _arch.coerce(arch)
        with self._use("seccomp_arch_remove", change=True) as ctx:
            rc = lib.seccomp_arch_remove(ctx, int(a))
        if rc == -errno.EEXIST:
            return False
        check(rc, "seccomp_arch_remove", a.libseccomp_name)
        self._arches_changed(self._arch_set - {a})
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
                if other._failed is not None:
                    raise FilterFailedError("seccomp_merge", f"the other filter: {other._failed}")
                rc = lib.seccomp_merge(ctx, other._ctx)
                if rc < 0:
                    detail = "the filters must share attribute values and have no arch in common"
                    check(rc, "seccomp_merge", detail)
                # libseccomp freed other's context: drop our destructor, never free twice.
                ffi.gc(other._ctx, None)
                other._ctx = ffi.NULL
                other._closed = "the filter was merged into another filter"
                # seccomp_merge(3): each side's rules stay on its own arches
                start, extra = len(self._rules), len(other._rules)
                ranges: dict[Arch, list[list[int | None]]] = {}
                for a, spans in self._arch_rules.items():
                    ranges[a] = [[s, start if e is None else e] for s, e in spans]
                for a, spans in other._arch_rules.items():
                    ranges[a] = [[s + start, start + extra if e is None else e + start]
                                 for s, e in spans if s is not None]
                for spans in ranges.values():
                    spans.append([start + extra, None])
                self._rules.extend(other._rules)
                self._arch_set = self._arch_set | other._arch_set
                self._arch_rules = ranges
                self._arches_changed(self._arch_set)
            finally:
                other._lock.release()

    def reset(self, default_action: Action | int | None = None) -> None:
        """Drop every rule and arch (but native) and reset attributes (seccomp_reset(3)).

        The default action is kept unless a new one is given (unlike
        libseccomp's own Python module, which loses it).
        """
        action = self._default if default_action is None else Action.coerce(default_action)
        with self._use("seccomp_reset", change=True, failed_ok=True) as ctx:
            check(lib.seccomp_reset(ctx, action.value), "seccomp_reset", repr(action))
            self._loaded = False
            self._failed = None
            self._rules.clear()
            self._default = action
            self._optimize_set = self._ranges_set = False
            self._arch_set = set()
            self._arch_rules = {}
            self._arches_changed({_arch.native()})
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
            self._arches_changed({a for a in Arch.available() if self.has_arch(a)})
            raise
        with self._use("seccomp_transaction_commit", change=True) as ctx:
            check(lib.spy_transaction_commit(ctx), "seccomp_transaction_commit")

    def precompute(self) -> None:
        """Build the BPF now so load() is quick (libseccomp 2.6+, a no-op before)."""
        with self._use("seccomp_precompute") as ctx:
            if _HAS_PRECOMPUTE:
                tree = self._export_locked(ctx)[1]
                with _optimize(ctx, tree):
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
            return self._export_locked(ctx)[0]

    def compile(self) -> Program:
        """The filter as a :class:`~seccomp_py.program.Program`: the program
        :meth:`export_bpf` gives (verified against the rules unless
        :attr:`verify` is off), with the seccomp(2) flags the attributes ask for
        (THREAD_SYNC, LOG, DISABLE_SSB, WAIT_KILL), NO_NEW_PRIVILEGES and the
        arches.  Cached until the filter changes.

        Raises what export_bpf() raises (FilterClosedError,
        FilterVerificationError, ...).
        """
        cached = self._program
        if cached is not None and cached[0] == self._generation and self._closed is None:
            return cached[1]  # the common case of spawn(): nothing changed
        bpf = self.export_bpf()
        generation = self._generation
        if cached is not None and cached[0] == generation and cached[1].bpf is bpf:
            return cached[1]
        flags = 0
        if self.thread_sync:
            flags |= FLAG_TSYNC
        if self.log:
            flags |= FLAG_LOG
        if self.disable_ssb:
            flags |= FLAG_SPEC_ALLOW
        if HAS_WAIT_KILL and self.wait_kill:
            flags |= FLAG_WAIT_KILLABLE_RECV
        program = Program(bpf, flags=flags, no_new_privs=bool(self.no_new_privileges),
                          arches=[a for a in Arch.available() if a in self._arch_set])
        # read again: a change made meanwhile (another thread) is caught
        if self.export_bpf() is not bpf:
            raise ConcurrentUseError("Filter.compile")
        self._program = (generation, program)
        return program

    def _export_locked(self, ctx: Any) -> tuple[bytes, bool]:
        """The BPF and whether the automatic layout chose the binary tree (cached
        per generation); the caller holds the lock."""
        cached = self._bpf
        generation = self._generation
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        data = None
        tree = (self._auto_layout and not self._optimize_set
                and len(self._rules) > AUTO_BINARY_TREE_RULES)
        ranges = self._ranges_set or self._auto_ranges(tree)
        policy = self._policy(ctx) if ranges else None
        own = _own_candidate(policy) if policy is not None else None
        if policy is not None and own is not None and not self._ranges_set:
            # the automatic layout: when seccomp_py's program is smaller than any program
            # libseccomp could export (codegen.libseccomp_floor), it wins the comparison
            # whatever libseccomp would give, so libseccomp's export is skipped
            from .codegen import libseccomp_floor

            if len(own) // BPF_INSN_SIZE < libseccomp_floor(policy):
                data = _generated(policy, None, False, program=own)
                if data is not None:
                    self._ranges_gen = generation
                    self._bpf = (generation, data, tree)
                    return data, tree
        if tree:
            with _optimize(ctx, True):
                data = _export_bpf(ctx)
            if len(data) // BPF_INSN_SIZE > BPF_MAXINSNS:
                data, tree = None, False  # too big as a tree: libseccomp's default layout
        if data is None:
            data = _export_bpf(ctx)
        generated = (_generated(policy, data, self._ranges_set, program=own)
                     if policy is not None else None)
        if generated is not None:
            data = generated
        elif self.verify:
            # libseccomp's program, or (when it is wrong) that program behind a verified
            # prefix deciding the syscalls it gets wrong (verify.repair); when neither
            # (or it is too long for any kernel), seccomp_py's own program if it verifies
            # (not for compat filters, which keep libseccomp's layout): docs/failclosed.md
            too_long = len(data) // BPF_INSN_SIZE > BPF_MAXINSNS
            try:
                if not too_long:
                    data = self._verified(ctx, data, generation)
            except FilterVerificationError:
                generated = self._fallback(ctx, policy)
                if generated is None:
                    raise
            if too_long:  # refused by every kernel (check_size/load say so) unless replaced
                generated = self._fallback(ctx, policy)
            if generated is not None:
                data = generated
        self._ranges_gen = generation if generated is not None else -1
        self._bpf = (generation, data, tree)
        return data, tree

    def _fallback(self, ctx: Any, policy: Policy | None) -> bytes | None:
        """seccomp_py's own program (verified) in place of libseccomp's, or None."""
        if not self._auto_layout:
            return None
        return _generated(policy or self._policy(ctx), None, True, quiet=True)

    def _auto_ranges(self, tree: bool) -> bool:
        """The automatic layout tries RANGES where it tries the binary tree, for
        verified filters without NOTIFY actions (load() hands those to libseccomp
        for its listener fd)."""
        return (self.verify and self._auto_layout and not self._optimize_set
                and len(self._rules) > AUTO_BINARY_TREE_RULES and not self._has_notify())

    def _has_notify(self) -> bool:
        notify = int(ActionKind.NOTIFY)
        return (self._default.value & _RET_ACTION_FULL == notify
                or any(r[0].value & _RET_ACTION_FULL == notify for r in self._rules))

    def _is_ranges(self) -> bool:
        cached = self._bpf
        return cached is not None and cached[0] == self._ranges_gen

    def policy(self) -> Policy:
        """What this filter's rules ask for, as the verifier's model sees it
        (seccomp_py.model.Policy)."""
        with self._use("seccomp_attr_get") as ctx:
            return self._policy(ctx)

    def _policy(self, ctx: Any) -> Policy:
        value = ffi.new("uint32_t *")
        check(lib.seccomp_attr_get(ctx, int(Attribute.BAD_ARCH_ACTION), value),
              "seccomp_attr_get", "BAD_ARCH_ACTION")
        spans = [(a, [(s or 0, e) for s, e in ranges]) for a, ranges in self._arch_rules.items()
                 if a in self._arch_set]
        rules = []
        cache: dict[tuple[Arch, ...], frozenset[Arch]] = {}
        if all(r == [(0, None)] for _, r in spans):  # every rule on every arch
            every = frozenset(a for a, _ in spans)
            make, cmp = _model.Rule, _model.Cmp
            for pos, item in enumerate(self._rules):
                if len(item) == 2:  # (Action, name) from add_rules(): no comparisons
                    rules.append(make(item[0]._value, item[1], (), every, pos))
                    continue
                rec = _record(item)
                cmps = tuple(cmp(c.index, int(c.op), c.a, c.b) for c in rec.comparisons)
                rules.append(make(rec.action._value, rec.syscall, cmps, every, pos))
            return _model.Policy(self._default.value, int(value[0]), self._arch_set, rules)
        for pos, rec in enumerate(map(_record, self._rules)):
            key = tuple(a for a, ranges in spans
                        if any(s <= pos and (e is None or pos < e) for s, e in ranges))
            arches = cache.get(key)
            if arches is None:
                arches = cache[key] = frozenset(key)
            cmps = tuple(_model.Cmp(c.index, int(c.op), c.a, c.b) for c in rec.comparisons)
            rules.append(_model.Rule(rec.action.value, rec.syscall, cmps, arches, pos))
        return _model.Policy(self._default.value, int(value[0]), self._arch_set, rules)

    def _own_program(self) -> bool:
        """The cached program is seccomp_py's (repaired or generated, both verified):
        load() loads it with seccomp(2), never seccomp_load(3)."""
        cached = self._bpf
        return cached is not None and cached[0] in (self._repaired, self._ranges_gen)

    def _verified(self, ctx: Any, data: bytes, generation: int) -> bytes:
        """``data`` when it decides as the rules say; else a repaired program
        (seccomp_py decides the syscalls libseccomp got wrong itself, verified
        again: load() then loads it), else FilterVerificationError."""
        from .verify import repair, verify

        policy = self._policy(ctx)
        try:
            verify(policy, data)
        except FilterVerificationError as err:
            fixed = repair(policy, data, err)
            self._repaired = generation
            return fixed
        return data

    @property
    def layout(self) -> Optimize:
        """The layout export_bpf(), load() and spawn() use: the OPTIMIZE attribute
        when set, else the automatic choice (above AUTO_BINARY_TREE_RULES rules:
        RANGES when seccomp_py's program is smaller than libseccomp's, else
        BINARY_TREE when it fits in 4096 instructions).  RANGES also when
        libseccomp's program failed verification and seccomp_py's replaced it."""
        with self._use("seccomp_export_bpf") as ctx:
            tree = self._export_locked(ctx)[1]
            if self._is_ranges():
                return Optimize.RANGES
            if not tree:
                value = ffi.new("uint32_t *")
                check(lib.seccomp_attr_get(ctx, _OPTIMIZE, value), "seccomp_attr_get",
                      "OPTIMIZE")
                tree = int(value[0]) == Optimize.BINARY_TREE
        return Optimize.BINARY_TREE if tree else Optimize.PRIORITY

    def export_pfc(self) -> str:
        """The filter as libseccomp's pseudo filter code (seccomp_export_pfc(3)),
        in the layout export_bpf() uses."""
        with self._use("seccomp_export_pfc") as ctx:
            tree = self._export_locked(ctx)[1]
            with _optimize(ctx, tree):
                data = _export_via_memfd(ctx, lib.seccomp_export_pfc, "seccomp_export_pfc")
            return data.decode()

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
            self._load_with_notifier()
            return
        self.check_size()  # exports, and so verifies (or repairs) the program
        if self._verify:
            self.export_bpf()
        if self._own_program():  # repaired or generated: seccomp_py loads it itself
            self._load_own()
            return
        with self._use("seccomp_load") as ctx:
            data, tree = self._export_locked(ctx)
            if self._own_program():  # changed meanwhile: never libseccomp's
                raise ConcurrentUseError("seccomp_load")
            count = len(data) // BPF_INSN_SIZE
            if count > BPF_MAXINSNS:
                raise FilterTooLargeError(count, BPF_MAXINSNS)
            # RETURN_SYSTEM_RETURN_CODES only changes how a failure is reported:
            # force it on so the kernel's errno is never masked as ECANCELED.
            raw = ffi.new("uint32_t *")
            attr = _SYSRAWRC
            check(lib.seccomp_attr_get(ctx, attr, raw), "seccomp_attr_get",
                  "RETURN_SYSTEM_RETURN_CODES")
            if not raw[0]:
                check(lib.seccomp_attr_set(ctx, attr, 1), "seccomp_attr_set",
                      "RETURN_SYSTEM_RETURN_CODES = 1")
            try:
                with _optimize(ctx, tree):
                    check(lib.seccomp_load(ctx), "seccomp_load")
            finally:
                if not raw[0]:
                    lib.seccomp_attr_set(ctx, attr, 0)
            self._loaded = True

    def _load_with_notifier(self) -> None:
        """load() with a notifier: this filter's verified program, flags and
        no_new_privs go to seccomp_py.notify's two-layer handoff, which takes
        them as plain values; the exempt calls go into its prologue, never
        into these rules (see set_notifier)."""
        from .notify.install import install_with_notifier

        bpf = self.export_bpf()
        self.check_size()
        flags = 0
        if self.get_attribute(Attribute.THREAD_SYNC):
            flags |= int(lib.SPY_FILTER_FLAG_TSYNC)
        if self.get_attribute(Attribute.LOG):
            flags |= int(lib.SPY_FILTER_FLAG_LOG)
        if self.get_attribute(Attribute.DISABLE_SSB):
            flags |= int(lib.SPY_FILTER_FLAG_SPEC_ALLOW)
        if HAS_WAIT_KILL and self.get_attribute(Attribute.WAIT_KILL):
            flags |= int(lib.SPY_FILTER_FLAG_WAIT_KILLABLE_RECV)
        nnp = bool(self.get_attribute(Attribute.NO_NEW_PRIVILEGES))

        def installed() -> None:
            self._loaded = True

        install_with_notifier(bpf, self._notifier, self._notifier_timeout, flags=flags,
                              no_new_privs=nnp,
                              guard=lambda: self._use("seccomp(SECCOMP_SET_MODE_FILTER)"),
                              on_installed=installed)

    def _load_own(self) -> None:
        """Load seccomp_py's verified program (repaired, or generated: RANGES) with
        seccomp(2) and the flags the attributes ask for, as seccomp_load(3) would
        (libseccomp's seccomp_load() would compile and load its own program)."""
        program = self.compile()
        ranges = self._is_ranges()
        if program.wants_listener and ranges:
            raise UnsupportedError("seccomp_load", "a RANGES program with NOTIFY rules is "
                                   "loaded by set_notifier()+load() or spawn(), which take "
                                   "its listener; choose another layout for libseccomp's "
                                   "notify_fd()")
        if program.wants_listener:
            raise FilterVerificationError(
                func="seccomp_load",
                detail="libseccomp's program for this filter is wrong and seccomp_py's "
                       "repaired program has NOTIFY rules, which it cannot load itself "
                       "(libseccomp keeps the listener); nothing was loaded")
        count = program.instruction_count
        if count > BPF_MAXINSNS:
            raise FilterTooLargeError(count, BPF_MAXINSNS, func="seccomp_load")
        program.check_kernel()
        what = ("seccomp_py's program (Optimize.RANGES)" if ranges
                else "seccomp_py's repaired program")
        prog = ffi.from_buffer("char[]", program.bpf)
        with self._use("seccomp_load"):
            rc = check(lib.spy_load_program(prog, count, program.flags,
                                            int(program.no_new_privs)), "seccomp",
                       f"loading {what}")
            if rc > 0:
                raise SeccompError(errno.ESRCH, "seccomp",
                                   f"THREAD_SYNC: thread {rc} could not be synchronized")
            self._loaded = True

    def spawn(self, args: Any, **popen_options: Any) -> SeccompPopen:
        """Start ``args`` in a child confined by this filter (see seccomp_py.spawn.spawn)."""
        from .spawn import spawn

        return spawn(args, self, **popen_options)

    # -- user notification (see seccomp_py.notify) ------------------------------------------

    def set_notifier(self, notifier: Any, *, timeout: float | None = 10.0) -> None:
        """Hand the listener fd to ``notifier`` at load() (the seed's Notifier protocol).

        load() then runs ``notifier.prepare(timeout)``, installs the filter
        with a new listener behind a prologue allowing exactly
        ``notifier.exempt()``, hands the fd over, and seals it with a second
        layer so the policy is exactly this filter's (the rules are not
        changed; see seccomp_py.notify.Notifier and docs/notify.md).
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
            rc = lib.spy_notify_fd(ctx)
        if rc in (-1, -errno.EFAULT):  # libseccomp's "no listener yet" (2.5 says -EFAULT)
            raise SeccompError(errno.ENOENT, "seccomp_notify_fd",
                               "no listener: load a filter with NOTIFY rules first")
        return check(rc, "seccomp_notify_fd")


# Every open Filter, so that a forked child can disown those another thread
# was using at the moment of fork() (their lock would stay held forever, and
# the context may be half-changed).
_LIVE: weakref.WeakSet[Filter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for flt in list(_LIVE):
        if flt._lock.locked():
            flt._lock = _allocate_lock()
            if flt._closed is None:
                # never free a context another thread was changing: leak it in the child
                ffi.gc(flt._ctx, None)
                flt._ctx = ffi.NULL
                flt._closed = "another thread was using the filter when the process forked"


os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["BPF_MAXINSNS", "Filter", "RuleRecord", "SeccompError"]
