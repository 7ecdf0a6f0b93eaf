"""Classic BPF seccomp programs: parse, validate, disassemble and evaluate them.

A program is an array of ``struct sock_filter`` run over ``struct seccomp_data``; see
seccomp(2) and the kernel's Documentation/networking/filter.rst.  Malformed programs raise
:class:`BpfError` (a ValueError).  See docs/cli.md (``seccomp-py disasm``) and
docs/failclosed.md (the evaluator).
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import struct
import sys
from collections.abc import Iterator, Mapping, Sequence

from . import _kernel as _k
from .arch import Arch
from .errors import BpfError

INSN_SIZE = _k.BPF_INSN_SIZE
_INSN = {"little": struct.Struct("<HBBI"), "big": struct.Struct(">HBBI")}
_U32 = 0xFFFFFFFF

# the fields of an opcode
_CLASS, _SIZE, _MODE = _k.BPF_CLASS_MASK, _k.BPF_SIZE_MASK, _k.BPF_MODE_MASK
_OP, _RVAL, _MISCOP = _k.BPF_OP_MASK, _k.BPF_RVAL_MASK, _k.BPF_MISCOP_MASK
# instruction classes
LD, LDX, ST, STX = _k.BPF_LD, _k.BPF_LDX, _k.BPF_ST, _k.BPF_STX
ALU, JMP, RET, MISC = _k.BPF_ALU, _k.BPF_JMP, _k.BPF_RET, _k.BPF_MISC
# sizes and modes (ld/ldx)
_W, _H, _B = _k.BPF_W, _k.BPF_H, _k.BPF_B
_IMM, _ABS, _IND, _MEM, _LEN, _MSH = (_k.BPF_IMM, _k.BPF_ABS, _k.BPF_IND, _k.BPF_MEM,
                                      _k.BPF_LEN, _k.BPF_MSH)
# jump ops
_JA, _JEQ, _JGT, _JGE, _JSET = _k.BPF_JA, _k.BPF_JEQ, _k.BPF_JGT, _k.BPF_JGE, _k.BPF_JSET
# sources
_K, _X = _k.BPF_K, _k.BPF_X
_RET_A = _k.BPF_A

_ALU_OPS = {_k.BPF_ADD: "add", _k.BPF_SUB: "sub", _k.BPF_MUL: "mul", _k.BPF_DIV: "div",
            _k.BPF_OR: "or", _k.BPF_AND: "and", _k.BPF_LSH: "lsh", _k.BPF_RSH: "rsh",
            _k.BPF_NEG: "neg", _k.BPF_MOD: "mod", _k.BPF_XOR: "xor"}
_JMP_OPS = {_JEQ: "jeq", _JGT: "jgt", _JGE: "jge", _JSET: "jset"}

SECCOMP_DATA_SIZE = _k.SECCOMP_DATA_SIZE

# SECCOMP_RET_* (seccomp(2)); the action is the high 16 bits (full mask for KILL_PROCESS).
_RET_NAMES = {
    _k.SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS",
    _k.SECCOMP_RET_KILL_THREAD: "KILL_THREAD",
    _k.SECCOMP_RET_TRAP: "TRAP",
    _k.SECCOMP_RET_ERRNO: "ERRNO",
    _k.SECCOMP_RET_USER_NOTIF: "NOTIFY",
    _k.SECCOMP_RET_TRACE: "TRACE",
    _k.SECCOMP_RET_LOG: "LOG",
    _k.SECCOMP_RET_ALLOW: "ALLOW",
}
_KILL_PROCESS = _k.SECCOMP_RET_KILL_PROCESS
_ACTION_FULL = _k.SECCOMP_RET_ACTION_FULL
_DATA = _k.SECCOMP_RET_DATA


@dataclasses.dataclass(frozen=True)
class Insn:
    """One ``struct sock_filter``."""

    code: int
    jt: int
    jf: int
    k: int

    @property
    def cls(self) -> int:
        return self.code & _CLASS

    def pack(self, byteorder: str = sys.byteorder) -> bytes:
        return _INSN[byteorder].pack(self.code, self.jt, self.jf, self.k)


def guess_byteorder(data: bytes | bytearray | memoryview) -> str:
    """The byte order of a raw program: libseccomp writes a filter for a
    big-endian arch (s390x, ppc64...) in big-endian.  Every classic BPF opcode
    is below 0x100, so the order that reads the first opcode that way wins
    (the host's when both do)."""
    raw = bytes(data[:2])
    if len(raw) < 2:
        return sys.byteorder
    if int.from_bytes(raw, sys.byteorder) < 0x100:
        return sys.byteorder
    return "big" if sys.byteorder == "little" else "little"


def parse(data: bytes | bytearray | memoryview, byteorder: str | None = None) -> list[Insn]:
    """Split raw BPF (as from Filter.export_bpf()) into instructions.

    ``byteorder``: "little", "big", or None to guess (:func:`guess_byteorder`).
    Raises BpfError when the size is not a non-zero multiple of 8.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"BPF must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if not raw:
        raise BpfError("empty program", "bpf.parse")
    if len(raw) % INSN_SIZE:
        raise BpfError(f"{len(raw)} bytes is not a whole number of 8-byte instructions",
                       "bpf.parse")
    order = byteorder or guess_byteorder(raw)
    if order not in _INSN:
        raise ValueError(f"byteorder must be 'little' or 'big', not {order!r}")
    fields: Iterator[tuple[int, int, int, int]] = _INSN[order].iter_unpack(raw)
    return [Insn(*f) for f in fields]


def assemble(program: Sequence[Insn], byteorder: str = sys.byteorder) -> bytes:
    """The raw bytes of ``program`` (the inverse of :func:`parse`)."""
    return b"".join(i.pack(byteorder) for i in program)


def action_name(value: int) -> str:
    """A readable name for a seccomp return value: ``ALLOW``, ``ERRNO(1)``..."""
    value &= _U32
    if value & _KILL_PROCESS and value & _ACTION_FULL == _KILL_PROCESS:
        return "KILL_PROCESS"
    base = value & _ACTION_FULL
    data = value & _DATA
    name = _RET_NAMES.get(base)
    if name is None:
        return f"{value:#010x}"
    if name == "ERRNO":
        try:
            sym = _errno.errorcode[data]
        except KeyError:
            return f"ERRNO({data})"
        return f"ERRNO({data} {sym})"
    if name == "TRACE":
        return f"TRACE({data})"
    return name if not data else f"{name}+{data:#x}"


def is_action(value: int) -> bool:
    """True when ``value`` is a return value the kernel knows (seccomp(2))."""
    value &= _U32
    if value == _KILL_PROCESS:
        return True
    base, data = value & _ACTION_FULL, value & _DATA
    if base not in _RET_NAMES or base == _KILL_PROCESS:
        return False
    if base == _k.SECCOMP_RET_ERRNO:
        return data <= _k.MAX_ERRNO
    return base == _k.SECCOMP_RET_TRACE or data == 0


def _field(offset: int, big: bool = False) -> str:
    if offset == _k.SECCOMP_DATA_NR:
        return "nr"
    if offset == _k.SECCOMP_DATA_ARCH:
        return "arch"
    if offset == _k.SECCOMP_DATA_IP:
        return "ip" + ("_hi" if big else "_lo")
    if offset == _k.SECCOMP_DATA_IP + 4:
        return "ip" + ("_lo" if big else "_hi")
    if _k.SECCOMP_DATA_ARGS <= offset < _k.SECCOMP_DATA_SIZE and offset % 4 == 0:
        index, half = divmod(offset - _k.SECCOMP_DATA_ARGS, 8)
        high = (half == 4) != big
        return f"args[{index}]" + (".hi" if high else ".lo")
    return f"data[{offset}]"


def _arch_name(token: int) -> str | None:
    try:
        return Arch(token).name.lower()
    except ValueError:
        return None


def _syscall_name(number: int, arch: int | None) -> str | None:
    if arch is None:
        return None
    from .syscall import resolve_number

    try:
        a = Arch(arch)
        if not a.is_available():
            return None
        return resolve_number(number, a)
    except (ValueError, LookupError):
        if arch == Arch.X86_64 and number & _k.X32_SYSCALL_BIT:
            try:
                return resolve_number(number, Arch.X32) + " (x32)"
            except (ValueError, LookupError):
                return None
        return None


@dataclasses.dataclass
class _State:
    field: str | None  # what A holds, when it is a plain load of seccomp_data
    arch: int | None  # the arch value known on every path here


def _merge(old: _State | None, new: _State) -> _State:
    if old is None:
        return dataclasses.replace(new)
    return _State(old.field if old.field == new.field else None,
                  old.arch if old.arch == new.arch else None)


def _targets(program: Sequence[Insn], pc: int) -> list[int]:
    ins = program[pc]
    if ins.cls == RET:
        return []
    if ins.cls == JMP:
        op = ins.code & _OP
        if op == _JA:
            return [pc + 1 + ins.k]
        return [pc + 1 + ins.jt, pc + 1 + ins.jf]
    return [pc + 1]


def validate(program: Sequence[Insn]) -> None:
    """Check what the kernel checks before running a program (sk_chk_filter).

    Every opcode known, jumps forward and in range, loads of seccomp_data
    aligned and within its 64 bytes, scratch memory indexes 0..15, and the
    last instruction a ``ret``.  Raises BpfError naming the instruction.
    """
    if not program:
        raise BpfError("empty program", "bpf.validate")
    if len(program) > _k.BPF_MAXINSNS:
        raise BpfError(f"{len(program)} instructions; the kernel allows at most "
                       f"{_k.BPF_MAXINSNS}", "bpf.validate")
    n = len(program)
    for pc, ins in enumerate(program):
        where = f"instruction {pc} (code {ins.code:#06x})"
        cls = ins.cls
        if cls in (LD, LDX):
            mode = ins.code & _MODE
            size = ins.code & _SIZE
            if cls == LD and mode == _ABS:
                if size != _W or ins.k % 4 or ins.k >= SECCOMP_DATA_SIZE:
                    raise BpfError(f"{where}: seccomp loads must be aligned 32-bit words "
                                   f"inside seccomp_data, not offset {ins.k}", "bpf.validate")
            elif mode == _MEM:
                if ins.k >= _k.BPF_MEMWORDS:
                    raise BpfError(f"{where}: scratch slot {ins.k} > 15", "bpf.validate")
            elif mode not in (_IMM, _LEN) or size != _W:
                raise BpfError(f"{where}: load mode not allowed in seccomp", "bpf.validate")
        elif cls in (ST, STX):
            if ins.k >= _k.BPF_MEMWORDS:
                raise BpfError(f"{where}: scratch slot {ins.k} > 15", "bpf.validate")
        elif cls == ALU:
            op = ins.code & _OP
            if op not in _ALU_OPS:
                raise BpfError(f"{where}: unknown ALU operation", "bpf.validate")
            if op == _k.BPF_MOD:
                raise BpfError(f"{where}: seccomp does not allow mod", "bpf.validate")
            if op == _k.BPF_DIV and ins.code & _X == 0 and ins.k == 0:
                raise BpfError(f"{where}: division by constant zero", "bpf.validate")
            if op in (_k.BPF_LSH, _k.BPF_RSH) and ins.code & _X == 0 and ins.k >= 32:
                raise BpfError(f"{where}: shift by {ins.k}", "bpf.validate")
        elif cls == JMP:
            op = ins.code & _OP
            if op == _JA:
                if pc + 1 + ins.k >= n:
                    raise BpfError(f"{where}: jump past the end", "bpf.validate")
            elif op in _JMP_OPS:
                if pc + 1 + max(ins.jt, ins.jf) >= n:
                    raise BpfError(f"{where}: jump past the end", "bpf.validate")
            else:
                raise BpfError(f"{where}: unknown jump", "bpf.validate")
        elif cls == RET:
            if ins.code & _RVAL not in (_K, _RET_A) or ins.code & ~_RVAL != RET:
                raise BpfError(f"{where}: unknown return source", "bpf.validate")
        elif cls == MISC and ins.code & _MISCOP not in (_k.BPF_TAX, _k.BPF_TXA):
            raise BpfError(f"{where}: unknown misc operation", "bpf.validate")
    if program[-1].cls != RET:
        raise BpfError("the last instruction is not a ret", "bpf.validate")
    _check_memory(program)


def _check_memory(program: Sequence[Insn]) -> None:
    """Scratch slots are stored before they are read (the kernel's
    check_load_and_stores(); a ret does not reset what is known)."""
    masks = [(1 << _k.BPF_MEMWORDS) - 1] * len(program)
    valid = 0
    for pc, ins in enumerate(program):
        valid &= masks[pc]
        mode = ins.code & _MODE
        if ins.cls in (ST, STX):
            valid |= 1 << ins.k
        elif ins.cls in (LD, LDX) and mode == _MEM:
            if not valid & (1 << ins.k):
                raise BpfError(f"instruction {pc}: scratch slot {ins.k} read before it is "
                               "stored", "bpf.validate")
        elif ins.cls == JMP:
            if ins.code & _OP == _JA:
                masks[pc + 1 + ins.k] &= valid
            else:
                masks[pc + 1 + ins.jt] &= valid
                masks[pc + 1 + ins.jf] &= valid
            valid = (1 << _k.BPF_MEMWORDS) - 1


def _analyse(program: Sequence[Insn]) -> list[_State | None]:
    states: list[_State | None] = [None] * len(program)
    states[0] = _State(None, None)
    for pc, ins in enumerate(program):
        st = states[pc]
        if st is None:
            continue  # unreachable
        out = dataclasses.replace(st)
        cls = ins.cls
        if cls == LD:
            out.field = _field(ins.k) if ins.code & _MODE == _ABS else None
        elif cls in (ALU, MISC) and not (cls == MISC and ins.code & _MISCOP == _k.BPF_TAX):
            out.field = None
        if cls == JMP and ins.code & _OP == _JEQ and ins.code & _X == 0 and st.field == "arch":
            t_state = _State(st.field, ins.k)
            f_state = dataclasses.replace(out)
            for target, s in ((pc + 1 + ins.jt, t_state), (pc + 1 + ins.jf, f_state)):
                if target < len(program):
                    states[target] = _merge(states[target], s)
            continue
        for target in _targets(program, pc):
            if target < len(program):
                states[target] = _merge(states[target], out)
    return states


def _format(pc: int, ins: Insn, st: _State | None) -> tuple[str, str]:
    cls = ins.cls
    note = ""
    if cls == LD:
        mode = ins.code & _MODE
        if mode == _ABS:
            big = st is not None and st.arch is not None and not st.arch & _k.AUDIT_ARCH_LE
            field = _field(ins.k, big)
            return f"ld  [{ins.k}]", field
        if mode == _IMM:
            return f"ld  #{ins.k:#x}", ""
        if mode == _MEM:
            return f"ld  M[{ins.k}]", ""
        if mode == _LEN:
            return "ld  #len", ""
        return f"ld? code={ins.code:#x} k={ins.k:#x}", ""
    if cls == LDX:
        mode = ins.code & _MODE
        if mode == _IMM:
            return f"ldx #{ins.k:#x}", ""
        if mode == _MEM:
            return f"ldx M[{ins.k}]", ""
        return f"ldx? code={ins.code:#x} k={ins.k:#x}", ""
    if cls == ST:
        return f"st  M[{ins.k}]", ""
    if cls == STX:
        return f"stx M[{ins.k}]", ""
    if cls == ALU:
        mnemonic = _ALU_OPS.get(ins.code & _OP, "alu?")
        if mnemonic == "neg":
            return "neg", ""
        src = "x" if ins.code & _X else f"#{ins.k:#x}"
        return f"{mnemonic} {src}", ""
    if cls == JMP:
        op = ins.code & _OP
        if op == _JA:
            return f"ja  {pc + 1 + ins.k}", ""
        name = _JMP_OPS.get(op, "j?")
        src = "x" if ins.code & _X else f"#{ins.k:#x}"
        text = f"{name} {src:<12} jt {pc + 1 + ins.jt:<5} jf {pc + 1 + ins.jf}"
        if st is not None and not ins.code & _X:
            if st.field == "arch":
                note = _arch_name(ins.k) or ""
            elif st.field == "nr" and op in (_JEQ, _JGT, _JGE):
                note = _syscall_name(ins.k, st.arch) or ""
        return text, note
    if cls == RET:
        if ins.code & _RVAL == _RET_A:
            return "ret A", ""
        if ins.code & _RVAL == _X:
            return "ret X", ""
        return f"ret #{ins.k:#010x}", action_name(ins.k)
    if cls == MISC:
        return ("tax" if ins.code & _MISCOP == _k.BPF_TAX else "txa"), ""
    return f"? code={ins.code:#x}", note


def disassemble(program: bytes | bytearray | memoryview | Sequence[Insn],
                byteorder: str | None = None) -> str:
    """A readable listing, one instruction a line.

    Each line: index, the raw fields, the mnemonic (``ld [0]``, ``jeq #0x3b
    jt 5 jf 6``, ``ret #0x7fff0000``), and a comment naming the loaded field,
    the arch compared, the syscall compared (on the arch known at that point)
    or the action returned.  Raises BpfError for a malformed program.
    """
    if isinstance(program, (bytes, bytearray, memoryview)):
        prog = parse(program, byteorder)
    else:
        prog = list(program)
    if not prog:
        raise BpfError("empty program", "bpf.disassemble")
    states = _analyse(prog)
    width = len(str(len(prog) - 1))
    lines = []
    for pc, ins in enumerate(prog):
        text, note = _format(pc, ins, states[pc])
        line = f"{pc:>{width}}: {ins.code:04x} {ins.jt:3d} {ins.jf:3d} {ins.k:08x}  {text}"
        if note:
            line = f"{line:<64} ; {note}"
        if states[pc] is None:
            line += "  (unreachable)"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """Pack a ``struct seccomp_data`` as a process of ``arch`` presents it to
    the kernel: in that arch's byte order (AUDIT_ARCH_LE set: little-endian)."""
    full = list(args) + [0] * (6 - len(args))
    if len(full) != 6:
        raise BpfError("a syscall has at most 6 arguments", "bpf.seccomp_data")
    order = "<" if arch & _k.AUDIT_ARCH_LE else ">"
    return struct.pack(order + "iIQ6Q", nr, arch & _U32, ip & (2**64 - 1),
                       *(a & (2**64 - 1) for a in full))


def host_program(program: bytes | bytearray | memoryview | Sequence[Insn]) -> bytes:
    """The raw program in the host's byte order (what the kernel and the C
    evaluator read), from raw bytes in either order or instructions."""
    if isinstance(program, (bytes, bytearray, memoryview)):
        raw = bytes(program)
        if raw and len(raw) % INSN_SIZE == 0 and guess_byteorder(raw) == sys.byteorder:
            return raw
        return assemble(parse(raw))
    return assemble(list(program))


def evaluate(program: bytes | bytearray | memoryview | Sequence[Insn], nr: int, arch: int,
             args: Sequence[int] = (), ip: int = 0) -> int:
    """Run ``program`` on one syscall, as the kernel would; return the 32-bit result.

    ``arch`` is an AUDIT_ARCH token (``int(Arch.X86_64)``); the data is laid
    out in its byte order, and raw program bytes are read in the order
    :func:`guess_byteorder` finds (libseccomp exports a big-endian arch's
    filter big-endian).  ``nr`` is any 32-bit number (``-1`` and
    ``0xffffffff`` are the same); arguments and ``ip`` are taken modulo
    2**64.  The program runs in C (``spy_bpf_eval`` in the shim: the one
    evaluator of seccomp_py, checked against the kernel by
    tests/test_bpf_eval.py).  Raises BpfError for a program the kernel
    would refuse (see :func:`validate`).
    """
    from ._native import ffi, lib

    raw = host_program(program)
    full = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    if len(full) != 6:
        raise BpfError("a syscall has at most 6 arguments", "bpf.evaluate")
    values = ffi.new("uint64_t[6]", full)
    result = ffi.new("uint32_t *")
    rc = lib.spy_bpf_eval(raw, len(raw) // INSN_SIZE, nr & _U32, arch & _U32,
                          ip & 0xFFFFFFFFFFFFFFFF, values, result)
    if rc < 0:
        validate(parse(raw, sys.byteorder))  # names the instruction
        raise BpfError("the kernel would refuse this program", "bpf.evaluate")
    value: int = result[0]
    return value


_AUDIT_X86_64 = _k.AUDIT_ARCH_X86_64
_BIT30 = _k.X32_SYSCALL_BIT
_ENOSYS_RET = _k.SECCOMP_RET_ERRNO | _errno.ENOSYS


def enosys_stub(maxima: Mapping[Arch, int]) -> list[Insn]:
    """runc's -ENOSYS stub, for prepending to a filter (see docs/profiles.md).

    ``maxima`` maps an arch (an ``Arch``/AUDIT_ARCH token; ``Arch.X32`` for
    x32) to the largest syscall number the profile names there.  The stub
    returns ERRNO(ENOSYS) for a larger number on that arch (and for syscall 0
    on s390/s390x, the multiplexer's "unknown"), and otherwise falls through
    to the instruction after it: the real filter.  Every conditional jump is
    to the next or next-but-one instruction, longer ones are ``ja``, so the
    stub works whatever the sizes.
    """
    groups: dict[int, dict[int, int]] = {}
    for arch, top in maxima.items():
        token = _AUDIT_X86_64 if int(arch) == int(Arch.X32) else int(arch)
        groups.setdefault(token, {})[int(arch)] = top
    # (code, jt, jf, k) with k a label name for ja
    code: list[tuple[int, int, int, object]] = [(LD | _W | _ABS, 0, 0, _k.SECCOMP_DATA_ARCH)]
    for token in groups:
        code += [(JMP | _JEQ | _K, 0, 1, token), (JMP | _JA, 0, 0, ("arch", token))]
    code.append((JMP | _JA, 0, 0, "filter"))

    def limit(top: int) -> list[tuple[int, int, int, object]]:
        return [(JMP | _JGT | _K, 0, 1, top), (JMP | _JA, 0, 0, "enosys"),
                (JMP | _JA, 0, 0, "filter")]

    starts: dict[object, int] = {}
    for token, tops in groups.items():
        starts[("arch", token)] = len(code)
        code.append((LD | _W | _ABS, 0, 0, _k.SECCOMP_DATA_NR))
        if token in (int(Arch.S390), int(Arch.S390X)):
            code += [(JMP | _JEQ | _K, 0, 1, 0), (JMP | _JA, 0, 0, "enosys")]
        if token == _AUDIT_X86_64:
            x64, x32 = tops.get(int(Arch.X86_64)), tops.get(int(Arch.X32))
            if x64 is not None and x32 is not None:
                code.append((JMP | _JSET | _K, 0, 3, _BIT30))
                code += limit(x32) + limit(x64)
            elif x64 is not None:
                code += [(JMP | _JSET | _K, 0, 1, _BIT30), (JMP | _JA, 0, 0, "filter")]
                code += limit(x64)
            elif x32 is not None:
                code += [(JMP | _JSET | _K, 1, 0, _BIT30), (JMP | _JA, 0, 0, "filter")]
                code += limit(x32)
        else:
            code += limit(next(iter(tops.values())))
    starts["enosys"] = len(code)
    code.append((RET | _K, 0, 0, _ENOSYS_RET))
    starts["filter"] = len(code)
    out = []
    for pc, (op, jt, jf, k) in enumerate(code):
        if isinstance(k, int):
            out.append(Insn(op, jt, jf, k & _U32))
        else:
            out.append(Insn(op, 0, 0, starts[k] - pc - 1))
    return out


__all__ = ["BpfError", "Insn", "action_name", "assemble", "disassemble", "enosys_stub", "evaluate",
           "guess_byteorder", "host_program", "is_action", "parse", "seccomp_data", "validate"]
