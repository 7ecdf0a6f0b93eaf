"""What the linked libseccomp and the running kernel support.

``library_version()`` and ``api_level()`` ask libseccomp (seccomp_version(3),
seccomp_api_get(3)); ``kernel_actions()`` and ``kernel_flags()`` probe the
kernel with seccomp(2) (SECCOMP_GET_ACTION_AVAIL, and SET_MODE_FILTER with a
NULL program, which fails with EFAULT for known flags and EINVAL otherwise).
``summary()`` gathers everything in one dict (``seccomp-py features``).
"""

from __future__ import annotations

import enum
import functools

from ._native import lib
from .action import Action, ActionKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: libseccomp 2.6 functions, gated at build time in the shim.
HAS_EXPORT_BPF_MEM = bool(lib.SPY_HAS_EXPORT_BPF_MEM)
HAS_TRANSACTIONS = bool(lib.SPY_HAS_TRANSACTIONS)
HAS_PRECOMPUTE = bool(lib.SPY_HAS_PRECOMPUTE)
HAS_WAIT_KILL = bool(lib.SPY_HAS_WAITKILL)


class FilterFlag(enum.IntFlag):
    """SECCOMP_FILTER_FLAG_* of seccomp(2)."""

    TSYNC = 1 << 0
    LOG = 1 << 1
    SPEC_ALLOW = 1 << 2
    NEW_LISTENER = 1 << 3
    TSYNC_ESRCH = 1 << 4
    WAIT_KILLABLE_RECV = 1 << 5


@functools.lru_cache(maxsize=1)
def library_version() -> tuple[int, int, int]:
    """The version of the libseccomp in use (not the one built against)."""
    v = lib.seccomp_version()
    return (int(v.major), int(v.minor), int(v.micro))


def api_level() -> int:
    """libseccomp's API level (seccomp_api_get(3)): what the kernel lets it use."""
    return int(lib.seccomp_api_get())


@functools.lru_cache(maxsize=1)
def kernel_actions() -> frozenset[ActionKind]:
    """The actions this kernel accepts (SECCOMP_GET_ACTION_AVAIL)."""
    return frozenset(k for k in ActionKind if lib.spy_action_avail(int(k)) == 0)


def kernel_has_action(action: Action) -> bool:
    """True when the running kernel knows ``action``'s kind."""
    return action.kind in kernel_actions()


@functools.lru_cache(maxsize=1)
def kernel_flags() -> FilterFlag:
    """The filter flags this kernel accepts."""
    found = FilterFlag(0)
    for flag in FilterFlag:
        probe = flag
        if flag is FilterFlag.WAIT_KILLABLE_RECV:
            # The kernel refuses WAIT_KILLABLE_RECV without NEW_LISTENER (EINVAL).
            probe |= FilterFlag.NEW_LISTENER
        if lib.spy_flag_avail(int(probe)) == 0:
            found |= flag
    return found


def summary() -> dict[str, Any]:
    """Library version, API level, 2.6 features, kernel actions and flags."""
    major, minor, micro = library_version()
    return {
        "libseccomp": f"{major}.{minor}.{micro}",
        "api_level": api_level(),
        "export_bpf_mem": HAS_EXPORT_BPF_MEM,
        "transactions": HAS_TRANSACTIONS,
        "precompute": HAS_PRECOMPUTE,
        "wait_kill": HAS_WAIT_KILL,
        "kernel_actions": sorted(k.name for k in kernel_actions()),
        "kernel_flags": sorted(f.name or "" for f in FilterFlag if f in kernel_flags()),
    }
