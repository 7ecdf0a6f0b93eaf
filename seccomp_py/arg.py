"""Argument comparisons for rules (the ``scmp_arg_cmp`` of seccomp_rule_add(3)).

``Arg(0) == 1``, ``Arg(2) >= 10``, ``Arg(1).masked_eq(mask, value)``; an
``Arg(i, bits=32)`` compares only the low 32 bits of the values given (like
libseccomp's SCMP_A*_32 macros).  Negative values are taken in two's
complement of the width.  Several comparisons in one rule are ANDed.
"""

from __future__ import annotations

import enum

from ._native import lib
from .errors import InvalidArgumentError

MAX_ARGS = 6


class Op(enum.IntEnum):
    """Comparison operators (SCMP_CMP_*)."""

    NE = int(lib.SCMP_CMP_NE)
    LT = int(lib.SCMP_CMP_LT)
    LE = int(lib.SCMP_CMP_LE)
    EQ = int(lib.SCMP_CMP_EQ)
    GE = int(lib.SCMP_CMP_GE)
    GT = int(lib.SCMP_CMP_GT)
    MASKED_EQ = int(lib.SCMP_CMP_MASKED_EQ)


def _datum(value: object, bits: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    limit = 1 << bits
    if not -(limit >> 1) <= value < limit:
        raise InvalidArgumentError(
            func="Arg", detail=f"{what} {value} does not fit in {bits} bits"
        )
    return value & (limit - 1)


class ArgCmp:
    """One comparison: argument ``index`` ``op`` ``a`` (and ``b`` for MASKED_EQ).

    For MASKED_EQ the test is ``(arg & a) == b``.  Values are stored as
    unsigned 64-bit integers.  Raises InvalidArgumentError for an index outside
    0..5 or a value that does not fit, TypeError for non-integers.
    """

    __slots__ = ("a", "b", "bits", "index", "op")

    index: int
    op: Op
    a: int
    b: int
    bits: int

    def __init__(self, index: int, op: Op, a: int, b: int = 0, bits: int = 64) -> None:
        if type(index) is not int and (isinstance(index, bool) or not isinstance(index, int)):
            raise TypeError(f"an argument index must be an int, not {type(index).__name__}")
        if not 0 <= index < MAX_ARGS:
            raise InvalidArgumentError(
                func="Arg", detail=f"argument index {index} is outside 0..{MAX_ARGS - 1}"
            )
        if bits != 64 and bits != 32:
            raise InvalidArgumentError(func="Arg", detail=f"bits must be 32 or 64, not {bits}")
        if type(op) is not Op:
            try:
                op = Op(op)
            except ValueError:
                raise InvalidArgumentError(func="Arg", detail=f"unknown operator {op!r}") from None
        limit = _LIMIT_64 if bits == 64 else _LIMIT_32
        # plain non-negative ints in range are stored as they are (the common case)
        if not (type(a) is int and 0 <= a < limit):
            a = _datum(a, bits, "mask" if op is Op.MASKED_EQ else "value")
        if not (type(b) is int and 0 <= b < limit):
            b = _datum(b, bits, "value")
        _set_index(self, index)
        _set_op(self, op)
        _set_bits(self, bits)
        _set_a(self, a)
        _set_b(self, b)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ArgCmp is immutable")

    def _key(self) -> tuple[int, int, int, int]:
        return (self.index, int(self.op), self.a, self.b)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ArgCmp):
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[type[ArgCmp], tuple[int, Op, int, int, int]]:
        return (ArgCmp, (self.index, self.op, self.a, self.b, self.bits))

    def __repr__(self) -> str:
        width = "" if self.bits == 64 else ", bits=32"
        if self.op is Op.MASKED_EQ:
            return f"Arg({self.index}{width}).masked_eq({self.a:#x}, {self.b:#x})"
        sym = {Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.EQ: "==", Op.GE: ">=", Op.GT: ">"}
        return f"Arg({self.index}{width}) {sym[self.op]} {self.a:#x}"


# the slots' own setters (ArgCmp.__setattr__ refuses every change)
_set_index = vars(ArgCmp)["index"].__set__
_set_op = vars(ArgCmp)["op"].__set__
_set_bits = vars(ArgCmp)["bits"].__set__
_set_a = vars(ArgCmp)["a"].__set__
_set_b = vars(ArgCmp)["b"].__set__
_LIMIT_64 = 1 << 64
_LIMIT_32 = 1 << 32


class Arg:
    """Syscall argument ``index`` (0..5), for building comparisons.

    ``bits=32`` truncates the compared values to 32 bits, as SCMP_CMP32 does.
    """

    __slots__ = ("bits", "index")

    def __init__(self, index: int, bits: int = 64) -> None:
        ArgCmp(index, Op.EQ, 0, bits=bits)  # validate early
        self.index = index
        self.bits = bits

    def _cmp(self, op: Op, a: int, b: int = 0) -> ArgCmp:
        return ArgCmp(self.index, op, a, b, self.bits)

    def __eq__(self, value: int) -> ArgCmp:  # type: ignore[override]
        return self._cmp(Op.EQ, value)

    def __ne__(self, value: int) -> ArgCmp:  # type: ignore[override]
        return self._cmp(Op.NE, value)

    def __lt__(self, value: int) -> ArgCmp:
        return self._cmp(Op.LT, value)

    def __le__(self, value: int) -> ArgCmp:
        return self._cmp(Op.LE, value)

    def __gt__(self, value: int) -> ArgCmp:
        return self._cmp(Op.GT, value)

    def __ge__(self, value: int) -> ArgCmp:
        return self._cmp(Op.GE, value)

    __hash__ = None  # type: ignore[assignment]

    def masked_eq(self, mask: int, value: int) -> ArgCmp:
        """``(arg & mask) == value``."""
        return self._cmp(Op.MASKED_EQ, mask, value)

    def __repr__(self) -> str:
        return f"Arg({self.index})" if self.bits == 64 else f"Arg({self.index}, bits=32)"
