"""A pure-Python model of what a libseccomp filter does, for differential tests.

Nothing here imports seccomp_py or libseccomp: the model is written from
libseccomp's documentation (seccomp_rule_add(3), seccomp_attr_set(3)) and the
kernel's (seccomp(2)), plus the behaviour of libseccomp's rule database that the
man pages leave implicit (read in libseccomp's src/db.c and src/api.c, and
written down here in our own words):

Adding a rule (``Model.add``)
  * an action equal to the filter's default action is refused with EACCES
    (api.c checks this before anything else);
  * two comparisons on the same argument in one rule are refused with EINVAL
    (seccomp_rule_add(3): "you can only compare each argument once");
  * every rule is added inside an internal transaction
    (db_col_rule_add): a refused rule leaves the filter exactly as it was;
  * for one syscall, a rule *without* comparisons (unconditional; a rule whose
    only comparisons are MASKED_EQ with mask 0 counts as one, since libseccomp
    generates no code for them) decides the
    syscall for every argument: the first unconditional rule wins; an
    unconditional rule added after conditional ones replaces them
    (db_rule_add: "syscall exists with chains but the new filter has no
    chains"), and any rule added after an unconditional one is silently
    dropped ("existing filter is at least as large as the new entry"), even
    with a different action;
  * conditional rules with *different* actions for one syscall are merged
    into a decision tree; where their conditions share a prefix libseccomp
    may refuse the newcomer with EEXIST (_db_tree_add), or silently keep the
    shorter rule.  The model allows EEXIST exactly in that situation (the
    syscall already has a conditional rule with another action), and never
    otherwise.

Evaluating a syscall (``Model.decide``)
  * no accepted rule for the syscall: the default action;
  * an unconditional rule: the first one's action, whatever the arguments;
  * otherwise the accepted conditional rules whose comparisons all hold: none
    -> the default action; one action among them -> that action; several
    different actions -> libseccomp documents no precedence, so the model
    returns all of them and the kernel's answer must be one of them (never the
    default, never the action of a rule that does not match).
  * comparisons are on the full unsigned 64-bit argument; MASKED_EQ is
    ``(arg & mask) == (datum & mask)`` (libseccomp masks the datum); a 32-bit
    comparison (SCMP_CMP32, ``Arg(i, bits=32)``) is a 64-bit comparison whose
    datum was truncated to 32 bits (libseccomp 2.5's macro casts the datum).
  * priorities and the optimizer (OPTIMIZE=2, binary tree) change the order of
    the generated code, never the result; extra architectures change nothing
    for native calls.
  * a call made with the x32 bit (0x40000000) on x86_64 when the filter has no
    X32 arch gets the bad-arch action (libseccomp's x86_64 filter refuses x32
    numbers; the DESIGN pitfall).

What the kernel then does with the action (``observe``), seccomp(2):
  ALLOW / LOG: the syscall runs; ERRNO(n): returns -1 with errno n (and 0 with
  n == 0: not run, "success"); TRACE(n) with no tracer: -1 / ENOSYS; TRAP: a
  SIGSYS is delivered and the call is not run; KILL_PROCESS / KILL_THREAD (the
  only thread): the process dies of SIGSYS.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
from collections.abc import Iterable

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
X32_BIT = 0x40000000

# -- actions -------------------------------------------------------------------------

#: Kinds the model knows.  What a NOTIFY call sees depends on the supervisor's
#: answer, so ``observe`` leaves it to the caller (tests/test_model_notify.py).
KINDS = ("ALLOW", "LOG", "ERRNO", "TRACE", "TRAP", "KILL_PROCESS", "KILL_THREAD", "NOTIFY")


@dataclasses.dataclass(frozen=True)
class MAction:
    """An action as the model sees it: kind and 16-bit data."""

    kind: str
    data: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown action kind {self.kind}")

    def __repr__(self) -> str:
        if self.kind in ("ERRNO", "TRACE"):
            return f"{self.kind}({self.data})"
        return self.kind


ALLOW = MAction("ALLOW")
LOG = MAction("LOG")
TRAP = MAction("TRAP")
NOTIFY = MAction("NOTIFY")
KILL_PROCESS = MAction("KILL_PROCESS")
KILL_THREAD = MAction("KILL_THREAD")


def ERRNO(n: int) -> MAction:
    return MAction("ERRNO", n)


def TRACE(n: int) -> MAction:
    return MAction("TRACE", n)


#: libseccomp's sys_chk_seccomp_action() accepts ERRNO(n) only for n < 4095
#: (its MAX_ERRNO); seccomp_init(), seccomp_rule_add() and seccomp_attr_set()
#: refuse the others with EINVAL.
LIBSECCOMP_MAX_ERRNO = 4095


def action_valid(action: MAction) -> bool:
    """Would libseccomp accept this action at all?"""
    return not (action.kind == "ERRNO" and action.data >= LIBSECCOMP_MAX_ERRNO)


# -- comparisons ---------------------------------------------------------------------

OPS = ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")


@dataclasses.dataclass(frozen=True)
class MCmp:
    """One argument comparison; ``a`` is the datum (the mask for MASKED_EQ).

    ``a``/``b`` are given as the user gives them to ``Arg``: possibly negative,
    of width ``bits``.
    """

    index: int
    op: str
    a: int
    b: int = 0
    bits: int = 64

    def datum(self, value: int) -> int:
        """The unsigned 64-bit datum libseccomp receives for ``value``."""
        width = MASK32 if self.bits == 32 else MASK64
        return value & width

    @property
    def tautology(self) -> bool:
        """Always true: libseccomp drops it from the rule (see MRule.unconditional)."""
        return self.op == "MASKED_EQ" and self.datum(self.a) == 0

    def holds(self, args: tuple[int, ...]) -> bool:
        x = args[self.index] & MASK64
        a = self.datum(self.a)
        if self.op == "EQ":
            return x == a
        if self.op == "NE":
            return x != a
        if self.op == "LT":
            return x < a
        if self.op == "LE":
            return x <= a
        if self.op == "GT":
            return x > a
        if self.op == "GE":
            return x >= a
        if self.op == "MASKED_EQ":
            b = self.datum(self.b)
            return (x & a) == (b & a)
        raise ValueError(self.op)

    def __repr__(self) -> str:
        width = "" if self.bits == 64 else ", bits=32"
        if self.op == "MASKED_EQ":
            return f"Arg({self.index}{width}).masked_eq({self.a:#x}, {self.b:#x})"
        sym = {"NE": "!=", "LT": "<", "LE": "<=", "EQ": "==", "GE": ">=", "GT": ">"}
        return f"Arg({self.index}{width}) {sym[self.op]} {self.a:#x}"


@dataclasses.dataclass(frozen=True)
class MRule:
    action: MAction
    syscall: str
    cmps: tuple[MCmp, ...] = ()

    @property
    def unconditional(self) -> bool:
        """No comparison, or only tautologies (MASKED_EQ with mask 0).

        libseccomp generates no code for a comparison that is always true
        (db.c skips a MASKED_EQ whose mask half is 0), so a rule made only of
        them is an unconditional rule, with the precedence of one.
        """
        return all(c.tautology for c in self.cmps)

    def matches(self, args: tuple[int, ...]) -> bool:
        return all(c.holds(args) for c in self.cmps)

    def __repr__(self) -> str:
        inner = ", ".join([repr(self.action), repr(self.syscall), *map(repr, self.cmps)])
        return f"add_rule({inner})"


@dataclasses.dataclass(frozen=True)
class MPolicy:
    """A whole policy: what a test builds, in order."""

    default: MAction
    rules: tuple[MRule, ...] = ()
    priorities: tuple[tuple[str, int], ...] = ()
    arches: tuple[str, ...] = ()  # extra arches, libseccomp names ("x86", "x32", ...)
    optimize: int | None = None  # None: leave libseccomp's default (1)
    bad_arch: MAction | None = None  # None: libseccomp's default, KILL_THREAD

    def describe(self) -> str:
        lines = [f"Filter({self.default!r})"]
        if self.bad_arch is not None:
            lines.append(f"bad_arch_action = {self.bad_arch!r}")
        if self.optimize is not None:
            lines.append(f"optimize = {self.optimize}")
        lines += [f"add_arch({a!r})" for a in self.arches]
        lines += [f"set_priority({s!r}, {p})" for s, p in self.priorities]
        lines += [repr(r) for r in self.rules]
        return "\n".join(lines)


# -- libseccomp's shared-chain loop (docs/failclosed.md) -----------------------------


def _chain_key(c: MCmp) -> tuple[int, str, int, int]:
    """A comparison as libseccomp chains it: argument, operator, masked datum, mask."""
    if c.op == "MASKED_EQ":
        mask = c.datum(c.a)
        return (c.index, c.op, c.datum(c.b) & mask, mask)
    return (c.index, c.op, c.datum(c.a), MASK64)


def _high_word_first(new: tuple[int, str, int, int], old: tuple[int, str, int, int]) -> bool:
    """libseccomp puts new's high-word node before old's on their level (db.c
    _db_chain_lt: argument, operator class, then the high word, reversed for < <=)."""
    def node(k: tuple[int, str, int, int]) -> tuple[int, str, int, int]:
        op = {"NE": "EQ", "GE": "GT", "LT": "GT", "LE": "GT"}.get(k[1], k[1])
        return (k[0], op, (k[2] & k[3]) >> 32, k[3] >> 32)
    if node(new) == node(old):
        return False  # the same node: libseccomp goes down into it
    cls = {"EQ": 3, "NE": 3, "MASKED_EQ": 3, "LT": 2, "LE": 2, "GT": 1, "GE": 1}
    a = (new[0], cls[new[1]], new[2] >> 32 if new[1] not in ("LT", "LE") else -(new[2] >> 32))
    b = (old[0], cls[old[1]], old[2] >> 32 if old[1] not in ("LT", "LE") else -(old[2] >> 32))
    return a > b


def libseccomp_loops(earlier: MRule, rule: MRule) -> bool:
    """Adding ``rule`` after ``earlier`` (same syscall) is the shape on which
    libseccomp 2.5/2.6 loops forever, which seccomp_py refuses (EDEADLK):
    the same comparisons up to one on NE/LT/LE/GT/GE, then a comparison on
    each whose high-word node libseccomp orders before the earlier one's."""
    old = sorted(_chain_key(c) for c in earlier.cmps if not c.tautology)
    new = sorted(_chain_key(c) for c in rule.cmps if not c.tautology)
    for j in range(1, min(len(old), len(new))):
        if old[j - 1] != new[j - 1]:
            return False
        if old[j - 1][1] in ("NE", "LT", "LE", "GT", "GE") and _high_word_first(new[j], old[j]):
            return True
    return False

# -- add-time verdicts ---------------------------------------------------------------

OK = "ok"


@dataclasses.dataclass(frozen=True)
class AddVerdict:
    """What the model allows ``add_rule`` to do: a set of errnos (0 = success)."""

    allowed: frozenset[int]
    reason: str

    def permits(self, err: int) -> bool:
        return err in self.allowed


class Model:
    """Replays a policy's rules and predicts add results and decisions."""

    def __init__(self, policy: MPolicy) -> None:
        self.policy = policy
        self.accepted: list[MRule] = []

    # -- building --------------------------------------------------------------

    def verdict(self, rule: MRule) -> AddVerdict:
        """What adding ``rule`` now may do (before knowing the real result)."""
        if not action_valid(rule.action):
            return AddVerdict(frozenset({_errno.EINVAL}), "libseccomp refuses ERRNO >= 4095")
        if rule.action == self.policy.default:
            return AddVerdict(frozenset({_errno.EACCES}), "action equals the default action")
        indexes = [c.index for c in rule.cmps]
        if len(set(indexes)) != len(indexes):
            return AddVerdict(frozenset({_errno.EINVAL}), "two comparisons on one argument")
        same = [r for r in self.accepted if r.syscall == rule.syscall]
        loops_with = [r for r in same if libseccomp_loops(r, rule)]
        if loops_with:
            return AddVerdict(frozenset({_errno.EDEADLK}),
                              f"libseccomp would loop after {loops_with[0]!r} "
                              "(LibseccompHangError, docs/failclosed.md)")
        conditional = not rule.unconditional
        if conditional and any(not r.unconditional and r.action != rule.action
                               for r in same) and not any(r.unconditional for r in same):
            return AddVerdict(frozenset({0, _errno.EEXIST}),
                              "conditional rules with different actions may collide")
        return AddVerdict(frozenset({0}), "plain add")

    def add(self, rule: MRule, err: int) -> AddVerdict:
        """Record that adding ``rule`` gave ``err`` (0: success); return the verdict.

        The caller checks ``verdict.permits(err)``; a refused rule changes nothing.
        """
        v = self.verdict(rule)
        if err == 0:
            self.accepted.append(rule)
        return v

    # -- deciding --------------------------------------------------------------

    def decide(self, syscall: str, args: Iterable[int], x32: bool = False) -> frozenset[MAction]:
        """The set of actions the kernel may take for this call (usually one)."""
        args = tuple(a & MASK64 for a in args)
        if x32 and "x32" not in self.policy.arches:
            return frozenset({self.policy.bad_arch or KILL_THREAD})
        rules = [r for r in self.accepted if r.syscall == syscall]
        for r in rules:
            if r.unconditional:
                return frozenset({r.action})
        hits = {r.action for r in rules if r.matches(args)}
        return frozenset(hits) if hits else frozenset({self.policy.default})


# -- what a process sees -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seen:
    """What the calling process observed.

    ``signal`` set: the process died of it.  Otherwise ``ret`` (the raw return
    of syscall(2)), ``err`` (errno when ret == -1, else 0) and ``trapped``.
    """

    ret: int | None = None
    err: int = 0
    trapped: bool = False
    signal: int | None = None

    def __repr__(self) -> str:
        if self.signal is not None:
            return f"<killed by signal {self.signal}>"
        if self.trapped:
            return "<SIGSYS trap>"
        if self.ret == -1:
            return f"<-1 {_errno.errorcode.get(self.err, self.err)}>"
        return f"<returned {self.ret}>"


SIGSYS = 31


def observe(action: MAction, natural: Seen) -> Seen:
    """What a process sees when the kernel applies ``action``.

    ``natural`` is what the syscall does when it is allowed to run.
    """
    if action.kind in ("ALLOW", "LOG"):
        return natural
    if action.kind == "ERRNO":
        return Seen(ret=0) if action.data == 0 else Seen(ret=-1, err=action.data)
    if action.kind == "TRACE":
        return Seen(ret=-1, err=_errno.ENOSYS)
    if action.kind == "TRAP":
        return Seen(trapped=True)
    if action.kind == "NOTIFY":
        raise ValueError("a NOTIFY outcome is the supervisor's answer: ask the monitor")
    return Seen(signal=SIGSYS)


def same(expected: Seen, seen: Seen) -> bool:
    """True when ``seen`` is ``expected`` (the return value of a trap is not compared)."""
    if expected.signal is not None or seen.signal is not None:
        return expected.signal == seen.signal
    if expected.trapped or seen.trapped:
        return expected.trapped == seen.trapped
    return (expected.ret, expected.err) == (seen.ret, seen.err)
