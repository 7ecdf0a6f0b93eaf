"""Rules before libseccomp sees them: RuleRecord, and what libseccomp would refuse.

Filter.add_rule, add_rule_exact and add_rules check a rule here first, so that
a batch is refused before any rule of it is added (see docs/api.md, Batches).
"""

from __future__ import annotations

import errno
import warnings
from array import array as _array
from collections import namedtuple
from itertools import compress as _compress
from itertools import repeat as _repeat
from operator import attrgetter, itemgetter
from operator import sub as _sub

from ._kernel import LIBSECCOMP_MAX_ERRNO as _LIBSECCOMP_MAX_ERRNO
from ._kernel import SECCOMP_RET_ACTION_FULL as _RET_ACTION_FULL
from ._native import HAS_TRANSACTIONS as _HAS_TRANSACTIONS
from ._native import check, ffi, lib
from .action import Action, ActionKind
from .arg import ArgCmp, Op
from .errors import (
    ConcurrentUseError,
    FilterClosedError,
    FilterFailedError,
    InvalidArgumentError,
    LibseccompHangError,
    SeccompError,
    WidenedRuleWarning,
    error_for,
)
from .multiplex import _widened_message
from .syscall import _NATIVE_NUMBERS, Syscall, libseccomp_number, resolve_number

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from _thread import LockType
    from collections.abc import Iterable
    from contextlib import AbstractContextManager
    from typing import Any, NamedTuple, Union

    from .arch import Arch
    from .syscall import SyscallLike

    # _add_many's input for C: records, action values, native numbers,
    # comparison counts (None: no comparisons), comparisons, positions of the
    # rules to check for widening
    _Prepared = tuple[list[Any], list[int], list[int], Union[list[int], None],
                      list[tuple[int, int, int, int]], list[int]]

_ERRNO_KIND = int(ActionKind.ERRNO)


_RULE_RECORD_DOC = """A rule as it was added to a Filter (see :attr:`Filter.rules`).

    ``syscall`` is the name given, or the number as text when a number that
    has no native name was given.
    """

if TYPE_CHECKING:
    class RuleRecord(NamedTuple):
        """A rule as it was added to a Filter (see _RULE_RECORD_DOC)."""

        action: Action
        syscall: str
        comparisons: tuple[ArgCmp, ...]
        exact: bool
else:
    RuleRecord = namedtuple("RuleRecord", ("action", "syscall", "comparisons", "exact"),
                            module="seccomp_py.filter")
    RuleRecord.__doc__ = _RULE_RECORD_DOC


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


def _rule_parts(action: Action | int, syscall: SyscallLike,
                comparisons: tuple[Any, ...]) -> tuple[Action, int, str, str]:
    """The one check of a rule before libseccomp sees it, for add_rule,
    add_rule_exact and add_rules (and so for profiles, which add theirs with
    add_rules): the Action, libseccomp's syscall number, the name for messages
    and the name recorded (:attr:`Filter.rules`).

    What libseccomp itself refuses whatever the arches -- the action equal to
    the default (EACCES), an errno above 4094, two comparisons on one argument
    (EINVAL) -- is left to it: seccomp_rule_add(3) for one rule, and for a
    batch the shim's check of every rule before the first is added
    (spy_rule_add_many), so a refused batch changes nothing with any
    libseccomp; :func:`_rule_error` words both.  Raises TypeError,
    UnknownSyscallError, InvalidArgumentError.  add_rule's and add_rules'
    fast paths are this routine for the input it takes as it is (an Action,
    a name seen before, ArgCmp comparisons), inlined.
    """
    act = action if type(action) is Action else Action.coerce(action)
    if type(syscall) is str:
        number = _NATIVE_NUMBERS.get(syscall)
        if number is None:
            number = libseccomp_number(syscall)
        name = record = syscall
    else:
        number, name = _syscall_number(syscall)
        record = _record_name(syscall, name)
    for cmp in comparisons:
        if type(cmp) is not ArgCmp and not isinstance(cmp, ArgCmp):
            raise TypeError("comparisons must be ArgCmp (e.g. Arg(0) == 1), "
                            f"not {type(cmp).__name__}")
    return act, number, name, record


# -- libseccomp's shared-chain defect -------------------------------------------------
#
# On a 64-bit arch libseccomp (2.5.4, 2.6.0: src/db.c) splits a comparison into
# a node on the high 32 bits and one on the low 32 bits.  After a comparison
# that can pass on either node (!=, <, <=, >, >=) both nodes point at the same
# next level, so that level's head is held by two parents.  A later rule that
# shares the chain up to and including such a comparison and then inserts a
# node *before* that head (libseccomp's level order: argument, then operator
# class == != masked_eq > < <= > > >=, then the high word of the value,
# reversed for < <=) updates one parent only; through the other,
# _db_tree_add finds the old head already linked after the new node and links
# the new node to itself: seccomp_rule_add never returns.  _chain_hazard finds
# that shape before libseccomp sees it (docs/failclosed.md).

_M32 = 0xFFFFFFFF
_ALL64 = (1 << 64) - 1
_EQ, _NE, _ME = int(Op.EQ), int(Op.NE), int(Op.MASKED_EQ)
_GT, _GE, _LT, _LE = int(Op.GT), int(Op.GE), int(Op.LT), int(Op.LE)
# operators whose two (or three) 32-bit nodes share the next level
_FORKING = frozenset((_NE, _GT, _GE, _LT, _LE))
_OP_CLASS = {_EQ: 3, _NE: 3, _ME: 3, _LT: 2, _LE: 2, _GT: 1, _GE: 1}


def _chain(cmps: Iterable[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """A rule's comparisons as libseccomp chains them: by argument, each as
    (argument, operator, masked value, mask); masked_eq with mask 0 dropped."""
    out = []
    for index, op, a, b in cmps:
        if op == _ME:
            if not a:
                continue
            out.append((index, op, b & a, a))
        else:
            out.append((index, op, a, _ALL64))
    out.sort()
    return out


def _high_node(c: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    op = c[1]
    node_op = _EQ if op == _NE else (_GT if op in (_GE, _LT, _LE) else op)
    return (c[0], node_op, c[2] >> 32 & (c[3] >> 32), c[3] >> 32)


def _goes_first(new: tuple[int, int, int, int], old: tuple[int, int, int, int]) -> bool:
    """libseccomp inserts the high node of ``new`` before that of ``old`` on a level."""
    if _high_node(new) == _high_node(old):
        return False
    if new[0] != old[0]:
        return new[0] > old[0]
    cn, co = _OP_CLASS[new[1]], _OP_CLASS[old[1]]
    if cn != co:
        return cn > co
    hn, ho = new[2] >> 32, old[2] >> 32
    return hn < ho if old[1] in (_LT, _LE) else hn > ho


def _chain_hazard(earlier: Iterable[list[tuple[int, int, int, int]]],
                  new: list[tuple[int, int, int, int]]) -> int | None:
    """The position in ``earlier`` (chains, _chain) of a rule with which
    adding ``new`` makes libseccomp loop forever, or None."""
    if len(new) < 2:
        return None
    for pos, old in enumerate(earlier):
        for j in range(1, min(len(old), len(new))):
            if old[j - 1] != new[j - 1]:
                break
            if old[j - 1][1] in _FORKING and _goes_first(new[j], old[j]):
                return pos
    return None


def _chain_hazard_cmps(rules: list[list[tuple[int, int, int, int]]]) -> bool:
    """Whether adding ``rules`` (comparison tuples) for one syscall in this order
    meets the defect (for tests and sweeps)."""
    chains = [_chain(r) for r in rules]
    return any(_chain_hazard(chains[:k], chains[k]) is not None for k in range(1, len(chains)))


def _record_number(name: str) -> int:
    number = _NATIVE_NUMBERS.get(name)
    if number is None:
        try:
            return int(name)
        except ValueError:
            return libseccomp_number(name)
    return number


def _forking_chain(comparisons: tuple[ArgCmp, ...]) -> list[tuple[int, int, int, int]] | None:
    """The rule's chain (_chain) when it has a forking comparison before its last."""
    if len(comparisons) < 2:
        return None
    chain = _chain([(c.index, int(c.op), c.a, c.b) for c in comparisons])
    for c in chain[:-1]:
        if c[1] in _FORKING:
            return chain
    return None


def _hang_check(existing: list[RuleRecord | tuple[Action, str]], numbers: list[int],
                records: list[Any], counts: list[int] | None,
                default: Action) -> tuple[int, RuleRecord] | None:
    """Whether adding ``records`` (for the native ``numbers``; ``counts`` of
    comparisons, None: none) in order after the filter's ``existing`` rules
    meets libseccomp's shared-chain loop (_chain_hazard): the position of the
    first such new rule and the earlier rule it meets, or None.  A rule
    libseccomp refuses anyway (the default action, an errno above 4094, two
    comparisons on one argument) is left to its own error."""
    if counts is None:
        return None
    todo = {}
    for k, count in enumerate(counts):
        if count >= 2:
            act, cmps = records[k][0], records[k][2]
            if (act == default or len({c.index for c in cmps}) < count
                    or (act.kind is ActionKind.ERRNO and act.data > _LIBSECCOMP_MAX_ERRNO)):
                continue
            chain = _forking_chain(cmps)
            if chain is not None:
                todo[k] = chain
    if not todo:
        return None
    wanted = {numbers[k] for k in todo}
    seen: dict[int, list[tuple[list[tuple[int, int, int, int]], RuleRecord]]] = {}
    for rec in existing:
        if len(rec) > 2 and len(rec[2]) >= 2:
            number = _record_number(rec[1])
            if number in wanted:
                seen.setdefault(number, []).append((_chain(
                    [(c.index, int(c.op), c.a, c.b) for c in rec[2]]), rec))
    for k, rec in enumerate(records):
        if numbers[k] not in wanted or counts[k] < 2:
            continue
        chain = todo.get(k)
        earlier = seen.setdefault(numbers[k], [])
        if chain is not None:
            pos = _chain_hazard([old for old, _r in earlier], chain)
            if pos is not None:
                return k, earlier[pos][1]
        else:
            chain = _chain([(c.index, int(c.op), c.a, c.b) for c in rec[2]])
        earlier.append((chain, rec))
    return None

_new_tuple = tuple.__new__
_first = itemgetter(0)
_second = itemgetter(1)
_value_of = attrgetter("_value")


def _prepare_fast(rules: list[Any], default: Action, widened: bool) -> _Prepared | None:
    """_add_many's preparation with C-level map() over the whole batch, for
    the common input: tuples of (Action, a name seen before, ArgCmp...).  None
    for anything else (the slow path then checks rule by rule with
    _rule_parts and raises the exact error)."""
    if set(map(type, rules)) != _ONLY_TUPLE:
        return None
    try:
        acts = list(map(_first, rules))
        names = list(map(_second, rules))
    except IndexError:
        return None
    if set(map(type, acts)) != _ONLY_ACTION or set(map(type, names)) != _ONLY_STR:
        return None
    found = list(map(_NATIVE_NUMBERS.get, names))
    if None in found:
        return None
    numbers: list[int] = found  # type: ignore[assignment]
    values: list[int] = list(map(_value_of, acts))
    counts = list(map(_sub, map(len, rules), _repeat(2)))
    if not any(counts):
        return rules, values, numbers, None, [], []
    records: list[Any] = list(rules)
    cmps: list[tuple[int, int, int, int]] = []
    check_later: list[int] = []
    default_level = _permissiveness(default)
    for i in _compress(range(len(counts)), counts):
        rule = records[i]
        comparisons = rule[2:]
        for c in comparisons:
            if type(c) is not ArgCmp:
                return None
        cmps.extend([(c.index, c.op, c.a, c.b) for c in comparisons])
        records[i] = _new_tuple(RuleRecord, (rule[0], rule[1], comparisons, False))
        if widened and _permissiveness(rule[0]) > default_level:
            check_later.append(i)
    return records, values, numbers, counts, cmps, check_later


_ONLY_TUPLE = {tuple}
_ONLY_ACTION = {Action}
_ONLY_STR = {str}


def _record(rule: RuleRecord | tuple[Action, str]) -> RuleRecord:
    if len(rule) == 2:  # an (Action, name) tuple add_rules() was given
        return _new_tuple(RuleRecord, (rule[0], rule[1], (), False))
    return rule


def _prepare_rule(pos: int, rule: Any, default: Action, widened: bool,
                  cmps: list[tuple[int, int, int, int]],
                  check_later: list[int]) -> tuple[RuleRecord | tuple[Action, str], int]:
    """Check rule ``pos`` of add_rules() as add_rule does (_rule_parts); append
    its comparisons to ``cmps`` (and ``pos`` to ``check_later`` when it may be
    widened); return its record and native number."""
    if type(rule) is not tuple:
        if not isinstance(rule, (tuple, list)):
            raise TypeError(f"add_rules: rule {pos} must be a tuple (action, syscall, "
                            f"*comparisons), not {type(rule).__name__}")
        rule = tuple(rule)
    if len(rule) < 2:
        raise TypeError(f"add_rules: rule {pos} must be (action, syscall, "
                        f"*comparisons), not {rule!r}")
    comparisons = rule[2:]
    try:
        act, number, _name, record = _rule_parts(rule[0], rule[1], comparisons)
    except SeccompError as exc:
        exc.rule_index = pos
        raise
    except TypeError as exc:
        raise TypeError(f"add_rules: rule {pos}: {exc}") from None
    if not comparisons:  # stored as add_rules() stores its plain rules (see Filter.rules)
        return (act, record), number
    cmps.extend([(c.index, c.op, c.a, c.b) for c in comparisons])
    if widened and _permissiveness(act) > _permissiveness(default):
        check_later.append(pos)
    return _new_tuple(RuleRecord, (act, record, comparisons, False)), number


def _rule_error(rc: int, func: str, act: Action, name: str,
                comparisons: tuple[ArgCmp, ...]) -> SeccompError:
    """The exception for libseccomp's ``rc`` refusing a rule (add_rule, add_rules)."""
    detail = f"{act!r} for {name}"
    if comparisons:
        detail += " with " + ", ".join(map(repr, comparisons))
    if rc == -errno.EACCES:
        return InvalidArgumentError(
            errno.EACCES, func, detail + " (the action equals the filter's default action)")
    if (rc == -errno.EINVAL and act.kind is ActionKind.ERRNO
            and act.data > _LIBSECCOMP_MAX_ERRNO):
        detail += f" (libseccomp accepts errno values up to {_LIBSECCOMP_MAX_ERRNO})"
    elif rc == -errno.EINVAL and len({c.index for c in comparisons}) < len(comparisons):
        detail += " (two comparisons on the same argument are not allowed in one rule)"
    return error_for(-rc, func, detail)


def _prepare_slow(rules: list[Any], default: Action, widened: bool) -> _Prepared:
    """Filter.add_rules' preparation, rule by rule (any input; the exact errors)."""
    records: list[RuleRecord | tuple[Action, str]] = []
    actions: list[int] = []
    numbers: list[int] = []
    counts: list[int] = []
    cmps: list[tuple[int, int, int, int]] = []
    check_later: list[int] = []
    native_get = _NATIVE_NUMBERS.get
    actions_append, numbers_append = actions.append, numbers.append
    counts_append, records_append = counts.append, records.append
    for rule in rules:
        # fast path: (Action, known name)
        if type(rule) is tuple and len(rule) == 2:
            act, syscall = rule
            if type(act) is Action and type(syscall) is str:
                number = native_get(syscall)
                if number is not None:
                    actions_append(act._value)
                    numbers_append(number)
                    counts_append(0)
                    records_append(rule)
                    continue
        elif (type(rule) is tuple and len(rule) == 3 and type(rule[0]) is Action
                and type(rule[1]) is str and type(rule[2]) is ArgCmp):
            # fast path: one comparison
            act, syscall, cmp = rule
            number = native_get(syscall)
            if number is not None:
                cmps.append((cmp.index, cmp.op, cmp.a, cmp.b))
                if widened and _permissiveness(act) > _permissiveness(default):
                    check_later.append(len(records))
                actions_append(act._value)
                numbers_append(number)
                counts_append(1)
                records_append(_new_tuple(RuleRecord, (act, syscall, (cmp,), False)))
                continue
        full, number = _prepare_rule(len(records), rule, default, widened, cmps,
                                     check_later)
        actions_append(full[0]._value)
        numbers_append(number)
        counts_append(len(full[2]) if len(full) > 2 else 0)
        records_append(full)
    return records, actions, numbers, counts, cmps, check_later


def _permissiveness(action: Action) -> int:
    """The kernel's precedence: a higher value lets more through (seccomp(2))."""
    raw = action.value & _RET_ACTION_FULL
    return raw - (1 << 32) if raw & 0x80000000 else raw


class _Rules:
    """Filter's rule methods (add_rule, add_rule_exact, add_rules, rules,
    set_priority): the hot path of every filter build, and the one place
    that checks a rule before libseccomp sees it."""

    if TYPE_CHECKING:
        _lock: LockType
        _ctx: Any
        _closed: str | None
        _failed: str | None
        _generation: int
        _rules: list[RuleRecord | tuple[Action, str]]
        _default: Action
        _mux: bool
        _arch_set: set[Arch]

        def _use(self, func: str, *, change: bool = False,
                 failed_ok: bool = False) -> AbstractContextManager[Any]: ...

    # -- rules -----------------------------------------------------------------------------

    def add_rule(self, action: Action | int, syscall: SyscallLike,
                 *comparisons: ArgCmp) -> None:
        """Add a rule: ``action`` when ``syscall`` is made and all comparisons hold.

        libseccomp may rewrite the rule for the filter's arches (e.g. socket()
        on x86 via socketcall).  See seccomp_rule_add(3).  Raises
        UnknownSyscallError, InvalidArgumentError (errno EACCES when the action
        equals the default action, EINVAL otherwise), TypeError.
        """
        if not comparisons and type(action) is Action and type(syscall) is str:
            # the hot path of a filter build, inline: a cached name, no comparison
            number = _NATIVE_NUMBERS.get(syscall)
            if number is not None:
                if not self._lock.acquire(False):
                    raise ConcurrentUseError("seccomp_rule_add_array")
                try:
                    if self._closed is not None:
                        raise FilterClosedError("seccomp_rule_add_array", self._closed)
                    if self._failed is not None:
                        raise FilterFailedError("seccomp_rule_add_array", self._failed)
                    rc = lib.seccomp_rule_add_array(self._ctx, action._value, number, 0,
                                                    ffi.NULL)
                finally:
                    self._generation += 1
                    self._lock.release()
                if rc < 0:
                    raise _rule_error(rc, "seccomp_rule_add_array", action, syscall, ())
                self._rules.append((action, syscall))
                return
        self._add(action, syscall, comparisons, exact=False)

    def add_rule_exact(self, action: Action | int, syscall: SyscallLike,
                       *comparisons: ArgCmp) -> None:
        """Like add_rule, but fail rather than let libseccomp rewrite the rule
        (seccomp_rule_add_exact(3))."""
        self._add(action, syscall, comparisons, exact=True)

    def _add(self, action: Action | int, syscall: SyscallLike,
             comparisons: tuple[ArgCmp, ...], exact: bool) -> None:
        # The hot path of every filter build: no contextmanager, no repeated
        # validation of what is cached (see docs/benchmarks.md).
        act, number, name, record = _rule_parts(action, syscall, comparisons)
        count = len(comparisons)
        if count:
            array = ffi.new("struct scmp_arg_cmp[]",
                            [(c.index, c.op, c.a, c.b) for c in comparisons])
        else:
            array = ffi.NULL
        if exact:
            func = "seccomp_rule_add_exact_array"
            call = lib.seccomp_rule_add_exact_array
        else:
            func = "seccomp_rule_add_array"
            call = lib.seccomp_rule_add_array
        full = _new_tuple(RuleRecord, (act, record, comparisons, exact))
        if not self._lock.acquire(False):
            raise ConcurrentUseError(func)
        try:
            if self._closed is not None:
                raise FilterClosedError(func, self._closed)
            if self._failed is not None:
                raise FilterFailedError(func, self._failed)
            if count >= 2:
                hit = _hang_check(self._rules, [number], [full], [count], self._default)
                if hit is not None:
                    raise LibseccompHangError(full, hit[1], func)
            rc = call(self._ctx, act._value, number, count, array)
        finally:
            self._generation += 1
            self._lock.release()
        if rc < 0:
            raise _rule_error(rc, func, act, name, comparisons)
        self._rules.append(full)
        if (count and self._mux and not exact
                and _permissiveness(act) > _permissiveness(self._default)):
            message = _widened_message(self._arch_set, act, number, comparisons)
            if message:
                warnings.warn(message, WidenedRuleWarning, stacklevel=4)

    def add_rules(self, rules: Iterable[tuple[Any, ...]]) -> None:
        """Add many rules at once: each item is ``(action, syscall, *comparisons)``,
        as the arguments of :meth:`add_rule`.

        Every rule is validated first (same exceptions as add_rule); then all go
        to libseccomp in one C call (seccomp_rule_add(3) per rule).  A
        SeccompError raised for one rule has ``rule_index`` set to its position.
        All or nothing with libseccomp 2.6 (one transaction).  With libseccomp
        2.5 a rule refused midway leaves the ones before it in the filter, so
        the filter is marked failed (:attr:`failed`): every later use raises
        FilterFailedError until :meth:`reset`, because a deny list cut short
        would allow more than asked.  Raises UnknownSyscallError,
        InvalidArgumentError, SeccompError, TypeError.
        """
        for _pos, message in self._add_many(rules, widened=True):
            warnings.warn(message, WidenedRuleWarning, stacklevel=2)

    def _add_many(self, rules: Iterable[tuple[Any, ...]], *,
                  widened: bool) -> list[tuple[int, str]]:
        """add_rules(); returns (position, message) of the widened rules (if ``widened``)."""
        func = "seccomp_rule_add_array"
        default = self._default
        if type(rules) is not list:
            rules = list(rules)
        prepared = _prepare_fast(rules, default, widened)
        if prepared is None:
            prepared = _prepare_slow(rules, default, widened)
        records, actions, numbers, counts, cmps, check_later = prepared
        n = len(records)
        if not n:
            return []
        # array.array + from_buffer: a C array from a list without a Python loop
        actions_buf = _array("I", actions)
        numbers_buf = _array("i", numbers)
        c_actions = ffi.from_buffer("uint32_t[]", actions_buf)
        c_numbers = ffi.from_buffer("int[]", numbers_buf)
        if cmps:
            assert counts is not None
            counts_buf = _array("I", counts)
            c_counts = ffi.from_buffer("unsigned int[]", counts_buf)
            c_cmps = ffi.new("struct scmp_arg_cmp[]", cmps)
        else:
            c_counts = c_cmps = ffi.NULL
        failed_at = ffi.new("size_t *")
        kept = ffi.new("size_t *")
        if not self._lock.acquire(False):
            raise ConcurrentUseError(func)
        try:
            if self._closed is not None:
                raise FilterClosedError(func, self._closed)
            if self._failed is not None:
                raise FilterFailedError(func, self._failed)
            hit = _hang_check(self._rules, numbers, records, counts, default)
            if hit is not None:
                hang = LibseccompHangError(_record(records[hit[0]]), hit[1], func)
                hang.rule_index = hit[0]
                raise hang
            rc = lib.spy_rule_add_many(self._ctx, n, c_actions, c_numbers, c_counts, c_cmps,
                                       failed_at, kept)
            if rc < 0:
                at = int(failed_at[0])
                if at > n:  # nothing could start: nothing changed
                    raise error_for(-rc, "seccomp_transaction_start" if _HAS_TRANSACTIONS
                                    else "seccomp_attr_get")
                if at == n:  # the commit failed: the filter's state is unknown
                    self._failed = ("add_rules() could not commit its transaction; "
                                    "reset() the filter")
                    raise error_for(-rc, "seccomp_transaction_commit")
                r = _record(records[at])
                error = _rule_error(rc, func, r.action, r.syscall, r.comparisons)
                error.rule_index = at
                left = int(kept[0])
                if left:
                    # libseccomp < 2.6 kept the rules before one it refused for an
                    # arch (the shim's check refused the rest before adding any)
                    self._rules.extend(records[:left])
                    self._failed = (f"add_rules() failed at rule {at} after adding the "
                                    f"{left} before it (libseccomp < 2.6 has no "
                                    "transactions): the filter holds part of the batch "
                                    "and would allow more than asked; reset() it")
                raise error
            self._rules.extend(records)
        finally:
            self._generation += 1
            self._lock.release()
        messages = []
        if check_later and self._mux:
            for pos in check_later:
                r = _record(records[pos])
                message = _widened_message(self._arch_set, r.action, numbers[pos], r.comparisons)
                if message:
                    messages.append((pos, message))
        return messages

    @property
    def rules(self) -> tuple[RuleRecord, ...]:
        """Every rule added so far, in order (what profile.Profile.from_filter() saves).

        Cleared by reset(); merge() appends the other filter's rules.
        """
        return tuple(map(_record, self._rules))

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
