"""The calls libseccomp multiplexes on some arches (socketcall(2), ipc(2)).

On x86, s390, ppc and mips o32 socket(2) can also be made through
socketcall(2), and the SysV IPC calls through ipc(2), whose arguments seccomp
cannot see; libseccomp rewrites a rule there, dropping its comparisons
(WidenedRuleWarning, docs/api.md).
"""

from __future__ import annotations

import functools

from .arch import Arch
from .errors import SeccompError
from .syscall import _resolve_name, libseccomp_number, resolve_number

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from .action import Action
    from .arg import ArgCmp

# libseccomp's pseudo-syscall numbers for the calls multiplexed by socketcall(2)
# and ipc(2) (__PNR_socket.. and __PNR_semop.. in seccomp-syscalls.h).
_SOCKET_PSEUDO = (-120, -101)
_IPC_PSEUDO = (-224, -201)


@functools.cache
def _mux_arches() -> frozenset[Arch]:
    """The arches where libseccomp rewrites socket or ipc calls (socketcall(2),
    ipc(2)): x86, s390, s390x, ppc, ppc64, mips o32... asked of libseccomp."""
    found = set()
    for a in Arch.available():
        for probe in ("socket", "semop"):
            # the raw lookup: an unknown name is __NR_SCMP_ERROR (-1), no exception
            nr = _resolve_name(a, probe)
            if _SOCKET_PSEUDO[0] <= nr <= _SOCKET_PSEUDO[1] or \
                    _IPC_PSEUDO[0] <= nr <= _IPC_PSEUDO[1]:
                found.add(a)
    return frozenset(found)


def _is_socket_family(name: str) -> bool:
    """True for the socket(2) family, False for the SysV ipc(2) family."""
    return not name.startswith(("sem", "msg", "shm", "ipc"))


def _widened_message(arch_set: set[Arch] | frozenset[Arch], act: Action, number: int,
                     comparisons: tuple[ArgCmp, ...]) -> str | None:
    """The warning when libseccomp drops this rule's comparisons on a multiplexing arch."""
    try:
        name = resolve_number(number)
    except SeccompError:
        return None
    widened = []
    for a in Arch.available():
        if a not in arch_set:
            continue
        try:
            nr = libseccomp_number(name, a)
        except SeccompError:
            continue
        lo_s, hi_s = _SOCKET_PSEUDO
        lo_i, hi_i = _IPC_PSEUDO
        if lo_s <= nr <= hi_s or lo_i <= nr <= hi_i:
            widened.append(a.libseccomp_name)
    if not widened:
        return None
    via = "socketcall(2)" if _is_socket_family(name) else "ipc(2)"
    return (f"{act} for {name} with {', '.join(map(repr, comparisons))}: on "
            f"{', '.join(widened)} the call can also be made through {via}, whose "
            f"arguments seccomp cannot see, so there the rule matches every {name} call "
            f"(use add_rule_exact to refuse, or deny {via.split('(')[0]})")
