"""A per-user cache of verified seccomp programs: ``seccomp-py run`` pays its program once.

Compiling a profile (parsing, libseccomp's rules and export, the verifier) costs tens of
milliseconds; loading a program costs a fraction of one.  After a profile's program has
been compiled and verified (:meth:`seccomp_py.profile.Compiled.program`), :func:`store`
keeps it with what loading it needs (the seccomp(2) filter flags, no_new_privs, the
listener wanted) under a key, :func:`make_key`: a sha256 over everything that decides
the program -- the caller's parts (the profile's bytes, capabilities, arch, every option
that changes compilation) and :func:`environment` (the seccomp_py code, the libseccomp
version and API level, the kernel).  :func:`load` gives it back, or None.

Where: ``$XDG_CACHE_HOME/seccomp-py`` (``~/.cache/seccomp-py`` when unset or not
absolute), a directory of mode 0700, one file of mode 0600 per key, written to a
temporary file and renamed into place.  ``SECCOMP_PY_NO_CACHE=1`` turns the cache off
(:func:`disabled`); ``seccomp-py run --no-cache`` does for one run.

It fails closed: an entry is used only when the directory and the file are the current
effective user's and writable by nobody else, the file is a regular file (not followed
through a symlink), its embedded sha256 matches its contents, its key is the one asked
for, its fields are well formed, and the program passes the kernel's structural checks
(``spy_bpf_check``, the classic-BPF rules of sk_chk_filter and seccomp_check_filter).
Anything else: the entry is ignored (``report`` says why when one was there) and the
caller compiles afresh; :func:`store` replaces it.  A cache directory of another user (or
one we cannot enter) is not ours: it is not used, without a report, and none is created
in a directory of another user (root with a user's HOME, as after ``sudo -E``); a cache
directory of ours that others can write is not used either, with a report.

From Python::

    key = progcache.make_key(profile_bytes, "x86_64", "docker")   # what decides it
    entry = progcache.load(key)
    if entry is None:
        with Profile.loads(profile_bytes).to_filter(caps="docker") as f:
            entry = progcache.Entry.from_program(f.compile())  # verified
        progcache.store(key, entry)
    child = entry.spawn(["make", "test"])

Start-up: this module and a hit import no part of the compiler (profile, filter, model,
codegen, verify, dataclasses), only ``os`` and a sha256.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from ._kernel import BPF_INSN_SIZE as _BPF_INSN_SIZE
from .program import FLAG_NAMES

try:  # the built-in module: hashlib would load OpenSSL first (milliseconds of start-up)
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2, or a build without it
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from hashlib import sha256 as _sha256

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from .program import Program
    from .spawn import SeccompPopen

__all__ = ["ENV_DISABLE", "Entry", "cache_dir", "disabled", "environment", "load",
           "make_key", "store"]

#: set to anything but "" or "0" to turn the cache off
ENV_DISABLE = "SECCOMP_PY_NO_CACHE"
_MAGIC = b"seccomp-py progcache 1\n"
_DIGEST_LINE = len(b"digest ") + 64 + 1
_MAX_FILE = 1 << 20
#: the entries kept per directory; store() removes the oldest beyond this
MAX_ENTRIES = 64
#: SECCOMP_FILTER_FLAG_* a cached entry may ask for (TSYNC .. WAIT_KILLABLE_RECV)
_KNOWN_FLAGS = sum(FLAG_NAMES)


class Entry:
    """A cached program and what loading it needs.

    ``program``: the raw BPF program (host byte order) exactly as it was verified;
    ``flags``: the seccomp(2) SECCOMP_FILTER_FLAG_* bits; ``no_new_privs``;
    ``arches``: the AUDIT_ARCH_* tokens of the filter's arches; ``listener_path`` and
    ``listener_metadata``: where a NOTIFY program's listener goes (a profile's
    listenerPath / listenerMetadata); ``notes``: (when, text) pairs the caller stored
    to replay (``seccomp-py run`` keeps its compile warnings there).
    """

    __slots__ = ("arches", "flags", "listener_metadata", "listener_path", "no_new_privs",
                 "notes", "program")

    def __init__(self, program: bytes, *, flags: int = 0, no_new_privs: bool = True,
                 arches: Sequence[int] = (), listener_path: str | None = None,
                 listener_metadata: str | None = None,
                 notes: Sequence[tuple[str, str]] = ()) -> None:
        self.program = bytes(program)
        self.flags = int(flags)
        self.no_new_privs = bool(no_new_privs)
        self.arches = tuple(int(a) for a in arches)
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.notes = tuple((str(w), str(t)) for w, t in notes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash(self.program)

    def __repr__(self) -> str:
        return (f"Entry({len(self.program) // _BPF_INSN_SIZE} instructions, "
                f"flags={self.flags:#x}, no_new_privs={self.no_new_privs})")

    @classmethod
    def from_program(cls, program: Program, **fields: Any) -> Entry:
        """The entry of a verified :class:`~seccomp_py.program.Program` (what
        ``Filter.compile()`` or ``Compiled.to_program()`` give): its BPF, seccomp flags,
        no_new_privs and arches.  ``fields``: listener_path, listener_metadata, notes."""
        return cls(program.bpf, flags=program.flags, no_new_privs=program.no_new_privs,
                   arches=[int(a) for a in program.arches], **fields)

    @property
    def has_notify(self) -> bool:
        """True when the program returns SECCOMP_RET_USER_NOTIF somewhere."""
        from .program import has_notify

        return has_notify(self.program)

    def spawn(self, args: Any, **options: Any) -> SeccompPopen:
        """Start ``args`` under this program, as :func:`seccomp_py.spawn` does (same
        ``options``: rlimits, no_network, user, and subprocess.Popen's).  Raises what
        spawn raises (ExecForbiddenError when the program refuses execve, SeccompError
        when the child cannot load it, OSError when the command cannot be run)."""
        from .program import Program
        from .spawn import spawn

        return spawn(args, Program(self.program, flags=self.flags,
                                   no_new_privs=self.no_new_privs), **options)

    # -- the file format -------------------------------------------------------------------

    def _dump(self, key: str) -> bytes:
        lines = [f"key {key}", f"flags {self.flags}", f"nnp {int(self.no_new_privs)}",
                 "arches " + ",".join(str(a) for a in self.arches),
                 f"listener {_hex(self.listener_path)}",
                 f"metadata {_hex(self.listener_metadata)}"]
        lines += [f"note {_hex(when)} {_hex(text)}" for when, text in self.notes]
        lines.append(f"program {len(self.program)}")
        body = _MAGIC + ("\n".join(lines) + "\n").encode("ascii") + self.program
        return body + b"digest " + _hexdigest(body) + b"\n"

    @classmethod
    def _parse(cls, data: bytes, key: str) -> Entry:
        """The entry in ``data``; ValueError (saying what is wrong) unless all is well."""
        if len(data) < len(_MAGIC) + _DIGEST_LINE or not data.startswith(_MAGIC):
            raise ValueError("not a cache entry of this version (truncated or foreign)")
        body, tail = data[:-_DIGEST_LINE], data[-_DIGEST_LINE:]
        if not (tail.startswith(b"digest ") and tail.endswith(b"\n")):
            raise ValueError("no digest line (truncated?)")
        if tail[7:-1] != _hexdigest(body):
            raise ValueError("its digest does not match its contents (changed or truncated)")
        fields: dict[str, str] = {}
        notes: list[tuple[str, str]] = []
        pos = len(_MAGIC)
        while True:
            end = body.find(b"\n", pos)
            if end < 0:
                raise ValueError("no program")
            line = body[pos:end].decode("ascii")
            pos = end + 1
            name, _, value = line.partition(" ")
            if name == "note":
                when, _, text = value.partition(" ")
                notes.append((_unhex(when) or "", _unhex(text) or ""))
                continue
            if name in fields or name not in ("key", "flags", "nnp", "arches", "listener",
                                              "metadata", "program"):
                raise ValueError(f"unexpected field {name!r}")
            fields[name] = value
            if name == "program":
                break
        missing = {"key", "flags", "nnp", "arches", "listener", "metadata"} - set(fields)
        if missing:
            raise ValueError(f"missing field(s) {', '.join(sorted(missing))}")
        if fields["key"] != key:
            raise ValueError("it was stored under another key")
        program = body[pos:]
        size = _number(fields["program"])
        count = len(program) // _BPF_INSN_SIZE
        if size != len(program) or not program or len(program) % _BPF_INSN_SIZE:
            raise ValueError("the program's size is wrong")
        flags = _number(fields["flags"])
        if flags & ~_KNOWN_FLAGS:
            raise ValueError(f"unknown seccomp flags {flags:#x}")
        if fields["nnp"] not in ("0", "1"):
            raise ValueError("bad nnp field")
        arches = tuple(_number(a) for a in fields["arches"].split(",") if a)
        from ._native import ffi, lib

        if count > int(lib.SPY_BPF_MAXINSNS) or \
                lib.spy_bpf_check(ffi.from_buffer("char[]", program), count) < 0:
            raise ValueError("the kernel's checks refuse its program")
        return cls(program, flags=flags, no_new_privs=fields["nnp"] == "1", arches=arches,
                   listener_path=_unhex(fields["listener"]),
                   listener_metadata=_unhex(fields["metadata"]), notes=notes)


def _hexdigest(data: bytes) -> bytes:
    return str(_sha256(data).hexdigest()).encode("ascii")


def _hex(text: str | None) -> str:
    return "-" if text is None else text.encode("utf-8", "surrogateescape").hex()


def _unhex(text: str) -> str | None:
    if text == "-":
        return None
    return bytes.fromhex(text).decode("utf-8", "surrogateescape")


def _number(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"bad number {text!r}")
    return int(text)


# -- where ------------------------------------------------------------------------------------


def disabled() -> bool:
    """True when ``SECCOMP_PY_NO_CACHE`` is set to anything but "" or "0"."""
    return os.environ.get(ENV_DISABLE, "") not in ("", "0")


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/seccomp-py``, or ``~/.cache/seccomp-py`` when XDG_CACHE_HOME
    is unset, empty or not absolute (the XDG base directory rules)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "seccomp-py")


class _NotOurs(ValueError):
    """The directory is another user's (e.g. root with a user's HOME): not our cache,
    used by no one's program, and not worth a warning on every run."""


def _open_dir(path: str, create: bool) -> int:
    """An fd of the cache directory after its checks; OSError or ValueError if unfit."""
    if create:
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        elif not os.path.isdir(path) and os.stat(parent).st_uid != os.geteuid():
            # root with a user's HOME (sudo -E), or a shared directory: create nothing there
            raise _NotOurs(f"{parent} belongs to uid {os.stat(parent).st_uid}, not to us")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(path, 0o700)  # the umask cannot leave it wider, but could narrow it
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _check_owned(os.fstat(fd), "the cache directory")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_owned(st: os.stat_result, what: str) -> None:
    if st.st_uid != os.geteuid():
        kind = _NotOurs if what == "the cache directory" else ValueError
        raise kind(f"{what} belongs to uid {st.st_uid}, not to us ({os.geteuid()})")
    if st.st_mode & 0o022:
        raise ValueError(f"{what} is writable by others (mode {stat.S_IMODE(st.st_mode):o})")


# -- the key ----------------------------------------------------------------------------------

_environment: list[bytes] = []


def environment() -> bytes:
    """What decides a program besides the caller's input, as bytes (computed once):
    the seccomp_py version and code (name, size and mtime of each file of the package and
    its profiles/ directory, the compiled extension included), the libseccomp version and
    API level (seccomp_version(3), seccomp_api_get(3)) and native arch, the kernel
    (uname(2): release, version, machine), the interpreter (version, byte order) and the
    one environment variable the library's warnings read (SECCOMP_PY_NO_ADVISORY_WARNING)."""
    if _environment:
        return _environment[0]
    from . import __version__
    from ._native import lib

    parts = [f"seccomp_py {__version__}", f"python {sys.version} {sys.byteorder}",
             f"advisory-warning {bool(os.environ.get('SECCOMP_PY_NO_ADVISORY_WARNING'))}"]
    v = lib.seccomp_version()
    parts.append(f"libseccomp {int(v.major)}.{int(v.minor)}.{int(v.micro)} "
                 f"api {int(lib.seccomp_api_get())} native {int(lib.seccomp_arch_native())}")
    u = os.uname()
    parts.append(f"kernel {u.release} {u.version} {u.machine}")
    pkg = os.path.dirname(os.path.abspath(__file__))
    for where in (pkg, os.path.join(pkg, "profiles"), os.path.join(pkg, "_shim")):
        try:
            entries = sorted(os.scandir(where), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.is_file():
                st = e.stat()
                parts.append(f"{where} {e.name} {st.st_size} {st.st_mtime_ns}")
    _environment.append("\n".join(parts).encode("utf-8", "surrogateescape"))
    return _environment[0]


def make_key(*parts: bytes | str | None) -> str:
    """The key (64 hex digits) of a program decided by ``parts`` (the caller's: the
    profile's bytes, the arch, capabilities, options) and :func:`environment`."""
    h = _sha256(b"seccomp-py progcache key 1\0")
    for part in (environment(), *parts):
        raw = b"\xff" if part is None else (
            part.encode("utf-8", "surrogateescape") if isinstance(part, str) else bytes(part))
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return str(h.hexdigest())


# -- load and store -----------------------------------------------------------------------------


def load(key: str, *, directory: str | None = None,
         report: Callable[[str], None] | None = None) -> Entry | None:
    """The entry stored under ``key``, or None (none, the cache is off, or the entry was
    refused: then ``report(reason)`` is called, when given).  Raises nothing."""
    if disabled() or not _is_key(key):
        return None
    path = directory if directory is not None else cache_dir()
    try:
        dfd = _open_dir(path, create=False)
    except (FileNotFoundError, PermissionError, _NotOurs):
        return None  # no cache, or not ours to use: nothing was refused
    except (OSError, ValueError) as exc:
        if report is not None:
            report(f"not using the cache directory {path}: {_why(exc)}")
        return None
    try:
        try:
            fd = os.open(key, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dfd)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ValueError("it is not a regular file")
            _check_owned(st, "it")
            if st.st_size > _MAX_FILE:
                raise ValueError("it is too large")
            chunks = []
            total = 0
            while total <= _MAX_FILE:
                chunk = os.read(fd, _MAX_FILE + 1 - total)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            return Entry._parse(b"".join(chunks), key)
        finally:
            os.close(fd)
    except (OSError, ValueError, UnicodeError) as exc:
        if report is not None:
            report(f"ignoring the cached program {os.path.join(path, key)}: {_why(exc)}")
        return None
    finally:
        os.close(dfd)


def store(key: str, entry: Entry, *, directory: str | None = None,
          report: Callable[[str], None] | None = None) -> bool:
    """Keep ``entry`` under ``key`` (mode 0600, written to a temporary file and renamed
    into place; the directory is created with mode 0700).  Only an entry whose program
    was verified belongs here.  Returns True when stored; False when the cache is off or
    the entry could not be written (``report(reason)`` says why, when given).  Raises
    ValueError for a key that is not 64 hex digits."""
    if not _is_key(key):
        raise ValueError(f"not a progcache key: {key!r}")
    if disabled():
        return False
    path = directory if directory is not None else cache_dir()
    try:
        dfd = _open_dir(path, create=True)
    except (OSError, ValueError) as exc:
        if report is not None:
            report(f"not using the cache directory {path}: {_why(exc)}")
        return False
    tmp = f".{key}.{os.getpid()}.tmp"
    try:
        data = entry._dump(key)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, key, src_dir_fd=dfd, dst_dir_fd=dfd)
        _prune(dfd)
        return True
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        if report is not None:
            report(f"cannot store the program in {os.path.join(path, key)}: {_why(exc)}")
        return False
    finally:
        os.close(dfd)


def _prune(dfd: int) -> None:
    """Remove the least recently written entries beyond MAX_ENTRIES."""
    found = []
    for name in os.listdir(dfd):
        if _is_key(name):
            try:
                found.append((os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mtime_ns,
                              name))
            except OSError:
                continue
    found.sort()
    for _mtime, name in found[:max(0, len(found) - MAX_ENTRIES)]:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dfd)


def _is_key(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
