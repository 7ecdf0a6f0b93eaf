"""Program: a compiled seccomp program and what loading it needs.

The value between a filter and the kernel: :meth:`Filter.compile`,
:meth:`Compiled.to_program <seccomp_py.profile.Compiled.to_program>` and
learn make one; :func:`~seccomp_py.spawn.spawn`, :class:`SpawnTemplate`, learn
and the ``seccomp-py`` command load one with seccomp(2).  See docs/api.md.
"""

from __future__ import annotations

from . import _kernel as _k
from ._kernel import BPF_INSN_SIZE as BPF_INSN_SIZE
from ._kernel import BPF_K, BPF_RET, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_USER_NOTIF
from ._kernel import BPF_MAXINSNS as BPF_MAXINSNS

TYPE_CHECKING = False  # not typing's (start-up time: `seccomp-py run` imports this)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    from .arch import Arch

__all__ = ["BPF_INSN_SIZE", "BPF_MAXINSNS", "Program"]

# SECCOMP_FILTER_FLAG_* of seccomp(2), by the short names the load options use
FLAG_TSYNC = _k.SECCOMP_FILTER_FLAG_TSYNC
FLAG_LOG = _k.SECCOMP_FILTER_FLAG_LOG
FLAG_SPEC_ALLOW = _k.SECCOMP_FILTER_FLAG_SPEC_ALLOW
FLAG_NEW_LISTENER = _k.SECCOMP_FILTER_FLAG_NEW_LISTENER
FLAG_TSYNC_ESRCH = _k.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
FLAG_WAIT_KILLABLE_RECV = _k.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV

FLAG_NAMES = {
    FLAG_TSYNC: "TSYNC (Attribute.THREAD_SYNC)",
    FLAG_LOG: "LOG (Attribute.LOG)",
    FLAG_SPEC_ALLOW: "SPEC_ALLOW (Attribute.DISABLE_SSB)",
    FLAG_NEW_LISTENER: "NEW_LISTENER (a NOTIFY rule)",
    FLAG_TSYNC_ESRCH: "TSYNC_ESRCH (THREAD_SYNC with a NOTIFY rule)",
    FLAG_WAIT_KILLABLE_RECV: "WAIT_KILLABLE_RECV (Attribute.WAIT_KILL)",
}
_KNOWN_FLAGS = sum(FLAG_NAMES)
# the flags that only go with a listener
_LISTENER_FLAGS = FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH | FLAG_WAIT_KILLABLE_RECV

_RET_ACTION_FULL = SECCOMP_RET_ACTION_FULL
_RET_USER_NOTIF = SECCOMP_RET_USER_NOTIF
_BPF_RET_K = BPF_RET | BPF_K


def has_notify(bpf: bytes) -> bool:
    """True when some instruction of ``bpf`` returns SECCOMP_RET_USER_NOTIF."""
    import struct

    for code, _jt, _jf, k in struct.iter_unpack("=HBBI", bpf):
        if code == _BPF_RET_K and k & _RET_ACTION_FULL == _RET_USER_NOTIF:
            return True
    return False


class Program:
    """A seccomp program, ready for seccomp(2): an immutable value (equal
    when every field is equal; hashable).

    ``bpf`` is the ``struct sock_filter`` array in host byte order (what
    seccomp(SECCOMP_SET_MODE_FILTER) takes); ``flags`` the
    SECCOMP_FILTER_FLAG_* it is loaded with; ``no_new_privs`` whether
    prctl(PR_SET_NO_NEW_PRIVS) comes first; ``wants_listener`` whether the
    program returns SECCOMP_RET_USER_NOTIF (its loader then takes a listener
    fd, see seccomp_unotify(2)); ``arches`` the architectures it covers
    (empty when unknown).

    :meth:`Filter.compile <seccomp_py.filter.Filter.compile>` makes one from
    a verified export (see docs/failclosed.md); a Program built by hand from
    bytes is checked for shape only, never against rules.

    ``flags`` as given are the ones asked for: NEW_LISTENER (and
    TSYNC_ESRCH with TSYNC) are added when the program wants a listener,
    and the listener flags are dropped when it does not.  Raises TypeError
    for bytes of another type, ValueError for a program that is not whole
    instructions or for unknown flag bits.  See seccomp(2).
    """

    __slots__ = ("__weakref__", "_asked", "arches", "bpf", "flags", "no_new_privs",
                 "wants_listener")

    bpf: bytes
    flags: int
    no_new_privs: bool
    wants_listener: bool
    arches: tuple[Arch, ...]
    _asked: int

    def __init__(self, bpf: bytes, *, flags: int = 0, no_new_privs: bool = True,
                 arches: Iterable[Arch] = (), wants_listener: bool | None = None) -> None:
        if not isinstance(bpf, (bytes, bytearray, memoryview)):
            raise TypeError(f"a program must be bytes, not {type(bpf).__name__}")
        data = bytes(bpf)
        if not data or len(data) % BPF_INSN_SIZE:
            raise ValueError(f"a program must be a non-empty array of {BPF_INSN_SIZE}-byte BPF "
                             f"instructions, not {len(data)} bytes")
        if isinstance(flags, bool) or not isinstance(flags, int) or flags & ~_KNOWN_FLAGS:
            raise ValueError(f"unknown seccomp filter flags {flags!r}")
        listener = has_notify(data) if wants_listener is None else bool(wants_listener)
        effective = flags & ~(FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH)
        if listener:
            effective |= FLAG_NEW_LISTENER
            if flags & FLAG_TSYNC:
                effective |= FLAG_TSYNC_ESRCH
        else:
            effective &= ~_LISTENER_FLAGS
        setter = object.__setattr__
        setter(self, "bpf", data)
        setter(self, "flags", effective)
        setter(self, "no_new_privs", bool(no_new_privs))
        setter(self, "wants_listener", listener)
        setter(self, "arches", tuple(arches))
        setter(self, "_asked", flags)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Program is immutable (cannot set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Program is immutable (cannot delete {name})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return (self.bpf == other.bpf and self.flags == other.flags
                and self._asked == other._asked and self.no_new_privs == other.no_new_privs
                and self.wants_listener == other.wants_listener
                and self.arches == other.arches)

    def __hash__(self) -> int:
        return hash((self.bpf, self.flags, self.no_new_privs))

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.bpf, self._asked, self.no_new_privs, self.arches,
                           self.wants_listener))

    @property
    def instruction_count(self) -> int:
        """The number of BPF instructions."""
        return len(self.bpf) // BPF_INSN_SIZE

    def with_bpf(self, bpf: bytes) -> Program:
        """The same load options for another program (e.g. runc's -ENOSYS stub in
        front): the listener flags follow the new program.  Raises as Program()."""
        return Program(bpf, flags=self._asked, no_new_privs=self.no_new_privs,
                       arches=self.arches)

    def check_kernel(self, func: str = "seccomp") -> None:
        """Raise UnsupportedError (``func``) when the running kernel does not
        accept one of :attr:`flags` (seccomp(2) would fail with EINVAL)."""
        from .errors import UnsupportedError
        from .features import kernel_flags

        missing = self.flags & ~int(kernel_flags())
        if missing:
            names = ", ".join(n for f, n in FLAG_NAMES.items() if f & missing)
            raise UnsupportedError(func,
                                   f"this kernel does not accept the filter flag(s) {names}")

    def __repr__(self) -> str:
        names = [n.split()[0] for f, n in FLAG_NAMES.items() if f & self.flags]
        return (f"<Program {self.instruction_count} instructions flags={'|'.join(names) or 0} "
                f"no_new_privs={self.no_new_privs} wants_listener={self.wants_listener}>")


def _rebuild(bpf: bytes, flags: int, no_new_privs: bool, arches: tuple[Arch, ...],
             wants_listener: bool) -> Program:
    return Program(bpf, flags=flags, no_new_privs=no_new_privs, arches=arches,
                   wants_listener=wants_listener)
