"""Kernel constants and limits, each defined once and citing its uapi header.

The C shim takes the same values from the kernel headers it is built
against (``seccomp_py/_shim``); tests compare the two.
"""

from __future__ import annotations

import os as _os

# notify (linux/seccomp.h)

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
