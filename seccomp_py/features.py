"""What the linked libseccomp and the running kernel support, and libseccomp's advisories.

See seccomp_version(3), seccomp_api_get(3) and seccomp(2) (SECCOMP_GET_ACTION_AVAIL);
docs/api.md ("features") and docs/packaging.md (the library in use, its advisories, and
why :func:`warn_if_vulnerable` is not called at import).
"""

from __future__ import annotations

import enum
import functools
import os
import warnings
from collections import namedtuple

from . import _kernel as _k
from ._native import HAS_EXPORT_BPF_MEM as HAS_EXPORT_BPF_MEM
from ._native import HAS_PRECOMPUTE as HAS_PRECOMPUTE
from ._native import HAS_TRANSACTIONS as HAS_TRANSACTIONS
from ._native import HAS_WAIT_KILL as HAS_WAIT_KILL
from ._native import lib
from .action import Action, ActionKind
from .errors import LibseccompSecurityWarning as LibseccompSecurityWarning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class FilterFlag(enum.IntFlag):
    """SECCOMP_FILTER_FLAG_* of seccomp(2)."""

    TSYNC = _k.SECCOMP_FILTER_FLAG_TSYNC
    LOG = _k.SECCOMP_FILTER_FLAG_LOG
    SPEC_ALLOW = _k.SECCOMP_FILTER_FLAG_SPEC_ALLOW
    NEW_LISTENER = _k.SECCOMP_FILTER_FLAG_NEW_LISTENER
    TSYNC_ESRCH = _k.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    WAIT_KILLABLE_RECV = _k.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV


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


def library_path() -> str | None:
    """The path of the libseccomp shared object mapped into this process.

    Read from /proc/self/maps (proc(5)) after the extension is loaded: in a
    binary wheel it is the bundled copy (``.../seccomp_py.libs/libseccomp-*.so.2``),
    otherwise the system's (e.g. ``/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4``).
    None when /proc is not mounted or no mapping names libseccomp.  Raises nothing.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6:
                    path = fields[5].strip()
                    if os.path.basename(path).startswith("libseccomp"):
                        return path
    except OSError:
        return None
    return None


_ADVISORY_DOC = "A published libseccomp security advisory and the release that fixed it."

if TYPE_CHECKING:
    from typing import NamedTuple

    class Advisory(NamedTuple):
        """A published libseccomp security advisory and the release that fixed it."""

        id: str
        summary: str
        fixed_in: tuple[int, int, int]
else:  # typing's NamedTuple would import typing (start-up time)
    Advisory = namedtuple("Advisory", ("id", "summary", "fixed_in"), module=__name__)
    Advisory.__doc__ = _ADVISORY_DOC


#: libseccomp advisories published with the 2.6.1 release (GitHub security
#: advisories of seccomp/libseccomp; rated "moderate" by downstream trackers).
#: The affected range was not confirmed here: every release below 2.6.1 is
#: reported as possibly affected.  A version check cannot see a distribution's
#: backported fix: check your distribution's security tracker.
ADVISORIES: tuple[Advisory, ...] = (
    Advisory("GHSA-4q85-33p6-j5g6",
             "incorrect merge of 64-bit argument comparisons can weaken a filter",
             (2, 6, 1)),
    Advisory("GHSA-46fr-jh49-xvhx", "an oversized filter can trigger a double free",
             (2, 6, 1)),
    Advisory("GHSA-2hqh-5c36-grrm", "an oversized filter can trigger heap corruption",
             (2, 6, 1)),
)


def security_advisories(
    version: tuple[int, int, int] | None = None,
) -> tuple[Advisory, ...]:
    """The advisories in :data:`ADVISORIES` fixed after ``version``.

    ``version`` defaults to :func:`library_version` (the libseccomp in use).
    Raises nothing.
    """
    current = library_version() if version is None else version
    return tuple(a for a in ADVISORIES if current < a.fixed_in)


def warn_if_vulnerable() -> None:
    """Warn (LibseccompSecurityWarning) if the loaded libseccomp predates advisory fixes.

    Does nothing when ``SECCOMP_PY_NO_ADVISORY_WARNING`` is set.  Raises nothing.
    """
    if os.environ.get("SECCOMP_PY_NO_ADVISORY_WARNING"):
        return
    found = security_advisories()
    if not found:
        return
    major, minor, micro = library_version()
    fixed = ".".join(map(str, max(a.fixed_in for a in found)))
    warnings.warn(
        f"seccomp_py: the loaded libseccomp {major}.{minor}.{micro} ({library_path()}) "
        f"is older than {fixed}, which fixed {', '.join(a.id for a in found)} "
        "(see seccomp_py.features.security_advisories()); unless your distribution "
        f"backported the fixes, upgrade libseccomp or install a seccomp_py wheel that "
        f"bundles {fixed} or later.  Silence: SECCOMP_PY_NO_ADVISORY_WARNING=1.",
        LibseccompSecurityWarning,
        stacklevel=2,
    )


def summary() -> dict[str, Any]:
    """Library version and path, advisories, API level, 2.6 features, kernel probes."""
    major, minor, micro = library_version()
    return {
        "libseccomp": f"{major}.{minor}.{micro}",
        "libseccomp_path": library_path(),
        "security_advisories": [a.id for a in security_advisories()],
        "api_level": api_level(),
        "export_bpf_mem": HAS_EXPORT_BPF_MEM,
        "transactions": HAS_TRANSACTIONS,
        "precompute": HAS_PRECOMPUTE,
        "wait_kill": HAS_WAIT_KILL,
        "kernel_actions": sorted(k.name for k in kernel_actions()),
        "kernel_flags": sorted(f.name or "" for f in FilterFlag if f in kernel_flags()),
    }

