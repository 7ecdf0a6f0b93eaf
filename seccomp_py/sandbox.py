"""The rest of a child's sandbox: credentials, resource limits, no network.

What :func:`seccomp_py.spawn` (``rlimits=``, ``user=``, ``group=``, ``extra_groups=``,
``no_network=``) applies in the child before the filter, and :func:`no_network_filter`.
Failures raise :class:`~seccomp_py.errors.ChildSetupError`.  See setrlimit(2),
setresuid(2), setgroups(2), and docs/spawn.md (the order of the steps, and the
differences from subprocess).
"""

from __future__ import annotations

import errno as _errno
import os
import resource
import threading
from collections.abc import Iterable, Mapping

from ._kernel import MAX_ERRNO

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from .filter import Filter

__all__ = ["RLIMIT_NAMES", "no_network_filter", "no_network_program", "resolve_group",
           "resolve_rlimits", "resolve_user"]

_RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF
#: resource number -> "RLIMIT_NOFILE" (the names the resource module knows)
RLIMIT_NAMES: dict[int, str] = {
    int(getattr(resource, n)): n for n in dir(resource)
    if n.startswith("RLIMIT_") and n != "RLIMIT_OFILE"  # the BSD alias of NOFILE
}


def resolve_rlimits(rlimits: Mapping[Any, tuple[int, int]] | None) -> list[tuple[int, int, int]]:
    """Check ``rlimits`` and return ``[(resource, soft, hard)]`` for prlimit64(2).

    Keys are ``resource.RLIMIT_*`` numbers (or their names, e.g.
    ``"RLIMIT_NOFILE"``); values ``(soft, hard)`` with ``resource.RLIM_INFINITY``
    (or -1) for unlimited.  Raises TypeError / ValueError for anything else
    (unknown resource, negative values, soft above hard).
    """
    if rlimits is None:
        return []
    if not isinstance(rlimits, Mapping):
        raise TypeError(f"rlimits must be a mapping resource -> (soft, hard), "
                        f"not {type(rlimits).__name__}")
    out: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    for key, value in rlimits.items():
        if isinstance(key, str):
            name = key if key.startswith("RLIMIT_") else "RLIMIT_" + key.upper()
            if not hasattr(resource, name):
                raise ValueError(f"unknown resource limit {key!r}")
            res = int(getattr(resource, name))
        elif isinstance(key, int) and not isinstance(key, bool):
            res = int(key)
        else:
            raise TypeError(f"an rlimits key must be a resource.RLIMIT_* number or name, "
                            f"not {key!r}")
        if res not in RLIMIT_NAMES:
            raise ValueError(f"unknown resource limit {key!r}")
        if res in seen:
            raise ValueError(f"{RLIMIT_NAMES[res]} is given twice in rlimits")
        seen.add(res)
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise TypeError(f"rlimits[{RLIMIT_NAMES[res]}] must be (soft, hard) integers, "
                            f"not {value!r}")
        soft, hard = (_limit(v, res) for v in value)
        if soft > hard:
            raise ValueError(f"rlimits[{RLIMIT_NAMES[res]}]: the soft limit {value[0]} is "
                             f"above the hard limit {value[1]}")
        out.append((res, soft, hard))
    return out


def _limit(value: int, res: int) -> int:
    if value == resource.RLIM_INFINITY or value == -1:
        return _RLIM_INFINITY
    if value < 0 or value > _RLIM_INFINITY:
        raise ValueError(f"rlimits[{RLIMIT_NAMES[res]}]: {value} is not a limit "
                         "(0 .. 2**64-1, or resource.RLIM_INFINITY)")
    return value


def limit_text(value: int) -> str:
    """A limit as prlimit(1) shows it ("unlimited" for RLIM_INFINITY)."""
    return "unlimited" if value == _RLIM_INFINITY else str(value)


def resolve_user(user: str | int) -> int:
    """A user name or uid -> uid (pwd.getpwnam); KeyError/ValueError/TypeError."""
    return _resolve(user, "user")


def resolve_group(group: str | int) -> int:
    """A group name or gid -> gid (grp.getgrnam); KeyError/ValueError/TypeError."""
    return _resolve(group, "group")


def _resolve(value: str | int, what: str) -> int:
    if isinstance(value, str):
        if what == "user":
            import pwd

            return int(pwd.getpwnam(value).pw_uid)
        import grp

        return int(grp.getgrnam(value).gr_gid)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 0xFFFFFFFF:
            raise ValueError(f"{what} {value} is not a valid id")
        return value
    raise TypeError(f"{what} must be a name or a number, not {type(value).__name__}")


def default_gid(uid: int) -> int:
    """The primary gid of ``uid`` in the passwd database.

    Raises ValueError when there is no entry (then ``group=`` must be given).
    """
    import pwd

    try:
        return int(pwd.getpwuid(uid).pw_gid)
    except KeyError:
        raise ValueError(f"uid {uid} has no passwd entry, so its group is unknown: give "
                         "group= too (running as root, spawn does not leave gid 0 to the "
                         "child)") from None


def resolve_groups(groups: Iterable[str | int]) -> list[int]:
    """``extra_groups`` -> gids (at most NGROUPS_MAX)."""
    if isinstance(groups, (str, bytes)):
        raise TypeError("extra_groups must be a list of group names or numbers")
    out = [resolve_group(g) for g in groups]
    if len(out) > os.sysconf("SC_NGROUPS_MAX"):
        raise ValueError(f"too many extra_groups ({len(out)})")
    return out


# -- no network ---------------------------------------------------------------

#: what socket(2) of a refused family returns: the kernel's own answer for a
#: family it does not support, which programs already handle
NO_NETWORK_ERRNO = _errno.EAFNOSUPPORT

_programs: dict[int, bytes] = {}
_programs_lock = threading.Lock()


def no_network_filter(errnum: int = NO_NETWORK_ERRNO) -> Filter:
    """A filter that refuses every socket family but AF_UNIX, and allows the rest.

    Meant to be stacked on another filter (load it, then yours; or
    ``spawn(..., no_network=True)`` does it): the kernel answers every syscall
    with the most restrictive action of all loaded filters, so the result
    holds whatever the other filter allows.  Rules, for x86_64, i386 and x32:

    - socket(2) and socketpair(2) with a domain other than AF_UNIX fail with
      ``errnum`` (EAFNOSUPPORT by default);
    - i386 socketcall(2) fails with ``errnum`` whatever it asks (its arguments
      are behind a pointer that seccomp cannot read, so AF_UNIX through
      socketcall is refused too; i386 programs on kernels since 4.3 use the
      direct socket calls, which work);
    - io_uring_setup(2) fails with EPERM (IORING_OP_SOCKET creates sockets
      without socket(2)).

    Sockets the process already holds (inherited fds) keep working: use
    ``close_fds`` (the default of spawn) so the child has none.  Raises
    ValueError for an errno outside 1..4095.  See seccomp(2), socket(2),
    socketcall(2).
    """
    if not isinstance(errnum, int) or not 0 < errnum <= MAX_ERRNO:
        raise ValueError(f"errnum must be 1..{MAX_ERRNO}, not {errnum!r}")
    # here, not at the top: spawn imports this module, and a spawn that loads a
    # program compiled earlier (seccomp-py run's cache) needs no Filter (start-up time)
    from .action import Action
    from .arch import Arch
    from .arg import Arg
    from .filter import Filter

    f = Filter(Action.ALLOW)
    if Arch.native() == Arch.X86_64:  # the kernel also runs i386 and x32 code
        f.add_arch(Arch.X86)
        f.add_arch(Arch.X32)
    import socket

    refuse = Action.errno(errnum)
    for name in ("socket", "socketpair"):
        f.add_rule(refuse, name, Arg(0) != socket.AF_UNIX)
    if Arch.X86 in f.arches or Arch.native() == Arch.X86:
        f.add_rule(refuse, "socketcall")
    f.add_rule(Action.errno(_errno.EPERM), "io_uring_setup")
    return f


def no_network_program(errnum: int = NO_NETWORK_ERRNO) -> bytes:
    """The BPF program of :func:`no_network_filter` (cached per errno)."""
    with _programs_lock:
        prog = _programs.get(errnum)
        if prog is None:
            with no_network_filter(errnum) as f:
                prog = f.export_bpf()
            _programs[errnum] = prog
        return prog
