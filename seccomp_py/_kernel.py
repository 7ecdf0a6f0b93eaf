"""Kernel constants and limits, each written once, with the uapi header it comes from.

Every other module of seccomp_py imports these names instead of writing the
numbers again (tests/test_kernel_constants.py greps the package for stray
copies and checks the values against the C headers the shim is built with).
The C side's fallback ``#define``\\ s for the same constants live only in
``seccomp_py/_shim/shim.h``.  The numbers are the kernel's ABI: they never
change once released.

It imports no seccomp_py module: what the *linked* libseccomp build offers (the shim's
``SPY_HAS_*`` gates) is read once in the binding layer, ``seccomp_py._native``.
"""

from __future__ import annotations

import os as _os

# -- seccomp(2) modes and filter flags (linux/seccomp.h) ----------------------------------

SECCOMP_MODE_DISABLED = 0
SECCOMP_MODE_STRICT = 1
SECCOMP_MODE_FILTER = 2

# seccomp(2) operations
SECCOMP_SET_MODE_STRICT = 0
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3

SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5

# -- filter return values (linux/seccomp.h) ----------------------------------------------
# The action is the high 16 bits (all 32 for KILL_PROCESS); the low 16 bits are its data.

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_KILL = SECCOMP_RET_KILL_THREAD
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_ACTION = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

# -- errno limits (linux/err.h) -----------------------------------------------------------

#: The largest errno a syscall returns (and SECCOMP_RET_ERRNO accepts as data).
MAX_ERRNO = 4095

# -- struct seccomp_data (linux/seccomp.h) ------------------------------------------------
# int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]

SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
SECCOMP_DATA_IP = 8
SECCOMP_DATA_ARGS = 16
SECCOMP_DATA_NARGS = 6
SECCOMP_DATA_SIZE = 64

# -- audit architecture tokens (linux/audit.h, with linux/elf-em.h's EM_* numbers) ---------

AUDIT_ARCH_64BIT = 0x80000000  # __AUDIT_ARCH_64BIT
AUDIT_ARCH_LE = 0x40000000  # __AUDIT_ARCH_LE
_CONVENTION_MIPS64_N32 = 0x20000000  # __AUDIT_ARCH_CONVENTION_MIPS64_N32

AUDIT_ARCH_I386 = AUDIT_ARCH_LE | 3  # EM_386
AUDIT_ARCH_X86_64 = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | 62  # EM_X86_64
AUDIT_ARCH_ARM = AUDIT_ARCH_LE | 40  # EM_ARM
AUDIT_ARCH_AARCH64 = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | 183  # EM_AARCH64
AUDIT_ARCH_LOONGARCH64 = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | 258  # EM_LOONGARCH
AUDIT_ARCH_M68K = 4  # EM_68K
AUDIT_ARCH_MIPS = 8  # EM_MIPS
AUDIT_ARCH_MIPSEL = AUDIT_ARCH_LE | 8
AUDIT_ARCH_MIPS64 = AUDIT_ARCH_64BIT | 8
AUDIT_ARCH_MIPSEL64 = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | 8
AUDIT_ARCH_MIPS64N32 = AUDIT_ARCH_64BIT | _CONVENTION_MIPS64_N32 | 8
AUDIT_ARCH_MIPSEL64N32 = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | _CONVENTION_MIPS64_N32 | 8
AUDIT_ARCH_PARISC = 15  # EM_PARISC
AUDIT_ARCH_PARISC64 = AUDIT_ARCH_64BIT | 15
AUDIT_ARCH_PPC = 20  # EM_PPC
AUDIT_ARCH_PPC64 = AUDIT_ARCH_64BIT | 21  # EM_PPC64
AUDIT_ARCH_PPC64LE = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | 21
AUDIT_ARCH_S390 = 22  # EM_S390
AUDIT_ARCH_S390X = AUDIT_ARCH_64BIT | 22
AUDIT_ARCH_RISCV64 = AUDIT_ARCH_64BIT | AUDIT_ARCH_LE | 243  # EM_RISCV
AUDIT_ARCH_SH = AUDIT_ARCH_LE | 42  # EM_SH
AUDIT_ARCH_SHEB = 42
#: libseccomp's token for x32 (it has none of its own in the kernel: an x32
#: process runs under AUDIT_ARCH_X86_64 with X32_SYSCALL_BIT in the number).
SCMP_ARCH_X32 = AUDIT_ARCH_LE | 62

# -- syscall numbers (arch/x86/include/uapi/asm/unistd.h) ---------------------------------

#: __X32_SYSCALL_BIT: an x32 syscall number is its table index with this bit set.
X32_SYSCALL_BIT = 0x40000000

# -- classic BPF (linux/bpf_common.h, linux/filter.h) -------------------------------------

# the fields of an opcode: BPF_CLASS(code) = code & BPF_CLASS_MASK, ...
BPF_CLASS_MASK = 0x07
BPF_SIZE_MASK = 0x18
BPF_MODE_MASK = 0xE0
BPF_OP_MASK = 0xF0
BPF_SRC_MASK = 0x08
BPF_RVAL_MASK = 0x18  # linux/filter.h
BPF_MISCOP_MASK = 0xF8  # linux/filter.h
# instruction classes
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_MISC = 0x07
# ld/ldx sizes and modes
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80
BPF_MSH = 0xA0
# alu/jmp operations and sources
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_K = 0x00
BPF_X = 0x08
# ret source (linux/filter.h)
BPF_A = 0x10
# misc operations (linux/filter.h)
BPF_TAX = 0x00
BPF_TXA = 0x80

#: The most instructions one classic BPF program may hold (linux/bpf_common.h).
BPF_MAXINSNS = 4096
#: Scratch memory words (linux/filter.h).
BPF_MEMWORDS = 16
#: sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k (linux/filter.h).
BPF_INSN_SIZE = 8

# -- limits from the kernel's sources, not its uapi ---------------------------------------

#: kernel/seccomp.c: instructions over a whole filter stack, each filter
#: counting 4 more than its length.
MAX_INSNS_PER_PATH = 32768
#: linux/limits.h: the longest path the kernel accepts, its NUL included.
PATH_MAX = 4096

# -- libseccomp's own limits (seccomp.h, not the kernel's) --------------------------------

#: libseccomp refuses SCMP_ACT_ERRNO(MAX_ERRNO) although the kernel accepts it.
LIBSECCOMP_MAX_ERRNO = MAX_ERRNO - 1

# -- notify (linux/seccomp.h) ----------------------------------------------------------

#: struct seccomp_notif (linux/seccomp.h): id u64, pid u32, flags u32, then
#: struct seccomp_data: nr s32, arch u32, instruction_pointer u64, args u64[6].
SECCOMP_NOTIF_FORMAT = "=QIIiIQ6Q"
#: struct seccomp_notif_resp (linux/seccomp.h): id u64, val s64, error s32, flags u32.
SECCOMP_NOTIF_RESP_FORMAT = "=QqiI"
#: struct seccomp_notif_addfd (linux/seccomp.h): id u64, flags u32, srcfd u32,
#: newfd u32, newfd_flags u32.
SECCOMP_NOTIF_ADDFD_FORMAT = "=QIIII"

#: seccomp_notif_resp.flags: let the syscall run (linux/seccomp.h, Linux 5.5+).
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1 << 0
#: seccomp_notif_addfd.flags: install at newfd (linux/seccomp.h, Linux 5.9+).
SECCOMP_ADDFD_FLAG_SETFD = 1 << 0
#: seccomp_notif_addfd.flags: add the fd and answer atomically (linux/seccomp.h, Linux 5.14+).
SECCOMP_ADDFD_FLAG_SEND = 1 << 1
#: SECCOMP_IOCTL_NOTIF_SET_FLAGS: synchronous wake-up (linux/seccomp.h, Linux 6.6+).
SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1 << 0

#: SECCOMP_IOC_MAGIC (linux/seccomp.h)
SECCOMP_IOC_MAGIC = ord("!")


def _ioc(direction: str, nr: int, size: int) -> int:
    """_IOC() of asm-generic/ioctl.h; alpha, mips, powerpc and sparc use
    their own direction bits and a 13-bit size (arch/*/include/uapi/asm/ioctl.h)."""
    machine = _os.uname().machine
    if machine.startswith(("alpha", "mips", "ppc", "powerpc", "sparc")):
        bits = {"w": 4, "rw": 6}
        size_bits = 13
    else:
        bits = {"w": 1, "rw": 3}
        size_bits = 14
    return (bits[direction] << (16 + size_bits)) | (size << 16) | (SECCOMP_IOC_MAGIC << 8) | nr


#: _IOWR(SECCOMP_IOC_MAGIC, 0, struct seccomp_notif) (linux/seccomp.h)
SECCOMP_IOCTL_NOTIF_RECV = _ioc("rw", 0, 80)
#: _IOWR(SECCOMP_IOC_MAGIC, 1, struct seccomp_notif_resp) (linux/seccomp.h)
SECCOMP_IOCTL_NOTIF_SEND = _ioc("rw", 1, 24)
#: _IOW(SECCOMP_IOC_MAGIC, 2, __u64) (linux/seccomp.h)
SECCOMP_IOCTL_NOTIF_ID_VALID = _ioc("w", 2, 8)
#: _IOW(SECCOMP_IOC_MAGIC, 3, struct seccomp_notif_addfd) (linux/seccomp.h)
SECCOMP_IOCTL_NOTIF_ADDFD = _ioc("w", 3, 24)
#: _IOW(SECCOMP_IOC_MAGIC, 4, __u64) (linux/seccomp.h, Linux 6.6+)
SECCOMP_IOCTL_NOTIF_SET_FLAGS = _ioc("w", 4, 8)
