"""Explain and complain: run a command under a policy and report what it refuses.

The command runs under a watched copy of the policy (its refusing actions made NOTIFY); a
supervisor in this process decides each refused call with the real policy's program and
applies it (explain) or lets it run (complain).  See seccomp_unotify(2) and
docs/explain.md.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import _kernel as _k
from . import syscall as _syscall
from ._native import CStrings, ffi, lib
from .action import Action, ActionKind
from .arch import Arch
from .arg import ArgCmp, Op
from .errors import SeccompError, UnsupportedError
from .filter import Filter

if TYPE_CHECKING:  # pragma: no cover
    from .notify import Notification, Response
    from .profile import Compiled, Profile

__all__ = ["Policy", "Refusal", "WatchResult", "describe_call", "fixed_profile", "watch"]

_REFUSING = (ActionKind.ERRNO, ActionKind.KILL_PROCESS, ActionKind.KILL_THREAD,
             ActionKind.TRACE)
_FLAG_NEW_LISTENER = _k.SECCOMP_FILTER_FLAG_NEW_LISTENER


@dataclasses.dataclass(frozen=True)
class _Rule:
    action: Action
    syscall: str
    comparisons: tuple[ArgCmp, ...]
    source: str
    exact: bool = False


@dataclasses.dataclass(frozen=True)
class Policy:
    """What to enforce: the rules (with where each came from), the default, the
    arches, and the BPF program the kernel would really run."""

    default: Action
    rules: tuple[_Rule, ...]
    arches: tuple[Arch, ...]
    program: bytes
    no_new_privs: bool = True

    @classmethod
    def from_compiled(cls, compiled: Compiled, program: bytes | None = None) -> Policy:
        """From :meth:`Profile.compile` (``program``: e.g. ``compiled.runc_program()``)."""
        rules = tuple(_Rule(r.action, r.syscall, tuple(r.comparisons), r.source)
                      for r in compiled.rules)
        filt = compiled.filter
        default = compiled.default if compiled.default is not None else filt.default_action
        return cls(default, rules, tuple(compiled.arches),
                   program if program is not None else filt.export_bpf(),
                   bool(filt.no_new_privileges))

    @classmethod
    def from_filter(cls, filt: Filter) -> Policy:
        """From a Filter: entries are named "rule N" (the order of ``filt.rules``)."""
        rules = tuple(_Rule(r.action, r.syscall, tuple(r.comparisons), f"rule {i}", r.exact)
                      for i, r in enumerate(filt.rules))
        return cls(filt.default_action, rules, tuple(filt.arches), filt.export_bpf(),
                   bool(filt.no_new_privileges))

    def watched(self, *, hold_execve: bool = True) -> Filter:
        """The policy with every refusing action turned into NOTIFY.

        ``hold_execve``: make an allowed execve NOTIFY too (answered CONTINUE), for
        a start that takes the listener from the child before it execs.
        """
        default = _watch_action(self.default, "default")
        f = Filter(default)
        try:
            for a in self.arches:
                if a not in f.arches:
                    f.add_arch(a)
            for a in f.arches:
                if a not in self.arches:
                    f.remove_arch(a)
            f.no_new_privileges = self.no_new_privs
            for r in self.rules:
                act = _watch_action(r.action, r.source)
                if hold_execve and r.syscall == "execve" and act.kind in (
                        ActionKind.ALLOW, ActionKind.LOG):
                    act = Action.NOTIFY  # see below: answered CONTINUE
                if act == default:
                    continue  # the default does the same (libseccomp refuses the rule)
                if r.exact:
                    f.add_rule_exact(act, r.syscall, *r.comparisons)
                else:
                    f.add_rule(act, r.syscall, *r.comparisons)
            # The first execve must wait for the supervisor: the listener is taken from
            # the child with pidfd_getfd, and execve would close it (O_CLOEXEC).  An
            # allowed execve is then answered CONTINUE.
            if hold_execve and default != Action.NOTIFY and not any(
                    r.syscall == "execve" for r in self.rules):
                f.add_rule(Action.NOTIFY, "execve")
        except BaseException:
            f.close()
            raise
        return f

    def evaluate(self, nr: int, arch: int, ip: int, args: Sequence[int]) -> Action:
        """What the real program does to this call."""
        prog = ffi.from_buffer("char[]", self.program)
        values = ffi.new("uint64_t[6]", [a & 0xFFFFFFFFFFFFFFFF for a in args][:6])
        result = ffi.new("uint32_t *")
        rc = lib.spy_bpf_eval(prog, len(self.program) // 8, nr, arch & 0xFFFFFFFF, ip, values,
                              result)
        if rc < 0:
            raise SeccompError(-rc, "spy_bpf_eval", "the policy's BPF program is malformed")
        raw = int(result[0])
        try:
            return Action(raw)
        except SeccompError:
            return Action(raw & _k.SECCOMP_RET_ACTION_FULL)

    def entry_for(self, name: str, action: Action, args: Sequence[int]) -> str:
        """The source of the first rule for ``name`` with ``action`` whose argument
        tests hold, else "default" (or "runc's -ENOSYS stub")."""
        for r in self.rules:
            if r.syscall == name and r.action == action and all(
                    _holds(c, args) for c in r.comparisons):
                return r.source
        if action == self.default:
            return "default"
        if action == Action.errno(_errno.ENOSYS):
            return "runc's -ENOSYS stub (a syscall newer than the profile)"
        return "default"


def _watch_action(action: Action, where: str) -> Action:
    kind = action.kind
    if kind is ActionKind.NOTIFY:
        raise UnsupportedError("explain", f"{where}: the policy has NOTIFY rules; explain and "
                               "complain need the listener for themselves")
    return Action.NOTIFY if kind in _REFUSING else action


def _holds(c: ArgCmp, args: Sequence[int]) -> bool:
    mask = 0xFFFFFFFFFFFFFFFF if c.bits == 64 else 0xFFFFFFFF
    v = args[c.index] & mask
    op = c.op
    if op is Op.MASKED_EQ:
        return (v & c.a) == c.b
    return {Op.EQ: v == c.a, Op.NE: v != c.a, Op.LT: v < c.a, Op.LE: v <= c.a,
            Op.GT: v > c.a, Op.GE: v >= c.a}.get(op, False)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One call the policy refuses: ``text`` is "openat(AT_FDCWD, "/x", O_RDONLY)"."""

    pid: int
    arch: Arch | int
    syscall: str
    nr: int
    args: tuple[int, ...]
    text: str
    action: Action
    entry: str

    def __str__(self) -> str:
        return f"{self.text} -> {action_text(self.action)} [{self.entry}]"


@dataclasses.dataclass
class WatchResult:
    """How the command ended (``returncode`` as subprocess gives it, with
    -SIGSYS for a kill by the policy) and every refusal reported."""

    returncode: int
    refusals: list[Refusal]
    killed: Refusal | None = None


def action_text(action: Action) -> str:
    kind = action.kind
    if kind in (ActionKind.ERRNO, ActionKind.TRACE):
        name = _errno.errorcode.get(action.data or 0, str(action.data))
        return f"{kind.name}({name})"
    return kind.name


# -- decoding ---------------------------------------------------------------------------

_AT_FDCWD = -100
# syscall -> argument kinds: p path, d dirfd, f open flags, s socket family, S sockaddr
# (with its length next), x hex, i int
_SIGS: dict[str, str] = {
    "open": "pfo", "creat": "po", "openat": "dpfo", "openat2": "dpx", "stat": "px",
    "lstat": "px", "newfstatat": "dpxi", "fstatat64": "dpxi", "statx": "dpixx",
    "access": "pi", "faccessat": "dpi", "faccessat2": "dpii", "execve": "pxx",
    "execveat": "dpxxi", "mkdir": "po", "mkdirat": "dpo", "unlink": "p", "unlinkat": "dpi",
    "rmdir": "p", "rename": "pp", "renameat": "dpdp", "renameat2": "dpdpi", "link": "pp",
    "linkat": "dpdpi", "symlink": "pp", "symlinkat": "pdp", "chmod": "po", "fchmodat": "dpo",
    "chown": "pii", "lchown": "pii", "fchownat": "dpiii", "readlink": "pxi",
    "readlinkat": "dpxi", "chdir": "p", "chroot": "p", "truncate": "pi", "mknod": "pox",
    "mknodat": "dpox", "utimensat": "dpxi", "getxattr": "ppxi", "lgetxattr": "ppxi",
    "setxattr": "ppxii", "lsetxattr": "ppxii", "listxattr": "pxi", "llistxattr": "pxi",
    "statfs": "px", "mount": "pppxx", "umount2": "pi", "umount": "p", "swapon": "pi",
    "inotify_add_watch": "ipx", "socket": "sxi", "socketpair": "sxix", "connect": "iS",
    "bind": "iS", "sendto": "ixiiS", "kill": "ii", "tgkill": "iii", "ioctl": "ix",
    "prctl": "ixxxx", "fcntl": "iix", "close": "i", "read": "ixi", "write": "ixi",
    "mprotect": "xxx", "ptrace": "iixx", "setuid": "i", "setgid": "i", "personality": "x",
}
_SIGS["socket"] = "sti"
_SIGS["socketpair"] = "stix"
# how many arguments the common calls without a decoder take (registers past them are
# whatever the caller left there)
_NARGS: dict[str, int] = {n: k for k, names in {
    0: "getpid gettid getppid getuid geteuid getgid getegid sched_yield fork vfork pause "
       "sync setsid getpgrp inotify_init restart_syscall rt_sigreturn",
    1: "close dup brk exit exit_group umask alarm fsync fdatasync fchdir uname sysinfo "
       "set_tid_address epoll_create epoll_create1 pipe getpgid getsid times time "
       "setfsuid setfsgid personality",
    2: "munmap dup2 pipe2 listen shutdown fstat fchmod flock getrlimit setrlimit "
       "getrusage gettimeofday settimeofday nanosleep clock_gettime clock_getres "
       "getcwd set_robust_list kill ftruncate arch_prctl setpgid setreuid setregid "
       "getgroups setgroups eventfd2 timerfd_create memfd_create capget capset "
       "membarrier sigaltstack rt_sigpending inotify_rm_watch",
    3: "read write lseek readv writev mprotect msync madvise poll dup3 getdents64 "
       "getdents fchown tgkill sched_getaffinity sched_setaffinity setresuid setresgid "
       "getresuid getresgid accept recvmsg sendmsg getsockname getpeername ioctl fcntl "
       "getrandom mincore mlock munlock ioprio_set ioprio_get epoll_ctl",
    4: "rt_sigaction rt_sigprocmask pread64 pwrite64 wait4 prlimit64 sendfile accept4 "
       "epoll_wait rseq fadvise64 signalfd4 clock_nanosleep tee sync_file_range "
       "fallocate timerfd_settime",
    5: "prctl mremap select waitid clone pselect6 getsockopt setsockopt keyctl "
       "kcmp process_vm_readv",
    6: "mmap futex recvfrom ppoll epoll_pwait splice sendmmsg recvmmsg",
}.items() for n in names.split()}
_O_FLAGS = [(os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR"), (os.O_CREAT, "O_CREAT"),
            (os.O_EXCL, "O_EXCL"), (os.O_NOCTTY, "O_NOCTTY"), (os.O_TRUNC, "O_TRUNC"),
            (os.O_APPEND, "O_APPEND"), (os.O_NONBLOCK, "O_NONBLOCK"),
            (os.O_DSYNC, "O_DSYNC"), (os.O_DIRECTORY, "O_DIRECTORY"),
            (os.O_NOFOLLOW, "O_NOFOLLOW"), (os.O_CLOEXEC, "O_CLOEXEC"),
            (getattr(os, "O_PATH", 0o10000000), "O_PATH"),
            (getattr(os, "O_TMPFILE", 0o20200000), "O_TMPFILE")]


def _open_flags(v: int) -> str:
    v &= 0xFFFFFFFF
    parts = [] if v & 3 else ["O_RDONLY"]
    rest = v
    for bit, name in _O_FLAGS:
        if bit and v & bit == bit:
            parts.append(name)
            rest &= ~bit
    rest &= ~0o100000  # O_LARGEFILE
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def _family(v: int) -> str:
    try:
        return socket.AddressFamily(v & 0xFFFFFFFF).name
    except ValueError:
        return str(v)


def _sock_type(v: int) -> str:
    v &= 0xFFFFFFFF
    try:
        parts = [socket.SocketKind(v & 0xF).name]
    except ValueError:
        parts = [str(v & 0xF)]
    for bit, name in ((socket.SOCK_NONBLOCK, "SOCK_NONBLOCK"),
                      (socket.SOCK_CLOEXEC, "SOCK_CLOEXEC")):
        if v & bit:
            parts.append(name)
    rest = v & ~0xF & ~(socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def describe_call(n: Notification, name: str) -> str:
    """``name(args)`` with the arguments decoded where the call is known.

    Reads paths and socket addresses from the target's memory (with the
    ID_VALID checks of ``Listener.read_memory``); what cannot be read is
    shown as the pointer.
    """
    args = n.args
    sig = _SIGS.get(name)
    if sig is None:
        count = _NARGS.get(name)
        if count is None:  # unknown: up to the last non-zero register
            count = max((i for i, a in enumerate(args) if a), default=-1) + 1
        return f"{name}({', '.join(hex(a) for a in args[:count])})"
    out: list[str] = []
    i = 0
    while i < len(sig):
        kind, a = sig[i], args[i]
        if kind == "p":
            out.append(_read_path(n, a))
        elif kind == "d":
            fd = _signed32(a)
            out.append("AT_FDCWD" if fd == _AT_FDCWD else str(fd))
        elif kind == "f":
            out.append(_open_flags(a))
        elif kind == "o":
            out.append(oct(a & 0o7777))
        elif kind == "s":
            out.append(_family(a))
        elif kind == "t":
            out.append(_sock_type(a))
        elif kind == "S":
            out.append(_read_sockaddr(n, a, args[i + 1] if i + 1 < 6 else 0))
            i += 1
            out.append(str(args[i]) if i < 6 else "")
        elif kind == "i":
            out.append(str(_signed32(a)))
        else:
            out.append(hex(a))
        i += 1
    return f"{name}({', '.join(x for x in out if x != '')})"


def _read_path(n: Notification, address: int) -> str:
    if address == 0:
        return "NULL"
    listener = n.listener
    if listener is None:
        return hex(address)
    try:
        data = listener.read_string(n, address, _k.PATH_MAX)
    except (OSError, ValueError):
        return hex(address)
    return '"' + data.decode("utf-8", "backslashreplace").replace('"', '\\"') + '"'


def _read_sockaddr(n: Notification, address: int, length: int) -> str:
    from .notify_tools import decode_sockaddr

    listener = n.listener
    if address == 0 or listener is None or not 2 <= length <= 128:
        return hex(address)
    try:
        addr = decode_sockaddr(listener.read_memory(n, address, length))
    except (OSError, ValueError):
        return hex(address)
    return f"{{{addr.family_name}, {addr}}}"


def _name(nr: int, arch: int) -> tuple[str, Arch | int]:
    try:
        a: Arch | int = Arch(arch)
    except ValueError:
        return f"syscall_{nr}", arch
    try:
        return _syscall.resolve_number(nr, a), a
    except (LookupError, ValueError, SeccompError):
        return f"syscall_{nr}", a


# -- running ----------------------------------------------------------------------------


def watch(argv: Sequence[str], policy: Policy, *, mode: str = "explain",
          report: Callable[[Refusal], None] | None = None,
          env: Mapping[str, str] | None = None) -> WatchResult:
    """Run ``argv`` (stdio inherited) under ``policy`` and report what it refuses.

    ``mode``: "explain" (the policy is enforced; every refused call is
    reported) or "complain" (nothing is enforced; each refused syscall is
    reported once, by name and arch).  ``report`` is called for each report
    (exceptions in it are logged and ignored).  Returns a WatchResult.

    Raises UnsupportedError for a policy with NOTIFY rules or a kernel
    without user notification, ValueError for a bad mode, and what
    :func:`seccomp_py.learn.learn` raises when the command cannot start.
    """
    if mode not in ("explain", "complain"):
        raise ValueError(f"mode must be 'explain' or 'complain', not {mode!r}")
    from .features import kernel_actions, kernel_flags
    from .learn import _resolve, _start_child
    from .notify import Listener, Response, serve

    if ActionKind.NOTIFY not in kernel_actions() or not int(kernel_flags()) & _FLAG_NEW_LISTENER:
        raise UnsupportedError("seccomp", "this kernel has no seccomp user notification")
    args = [os.fsencode(a) for a in argv]
    if not args or any(b"\0" in a for a in args):
        raise ValueError("watch() needs a command without NUL bytes")
    with policy.watched() as watched:
        program = watched.export_bpf()
    path = os.fsencode(_resolve(os.fsdecode(args[0]), env))
    keep = CStrings()
    req = ffi.new("struct spy_learn_req *")
    req.path = keep.str(path)
    req.argv = keep.array(args)
    req.envp = keep.array([os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]) \
        if env is not None else ffi.NULL
    req.stdio = [-1, -1, -1]
    prog = ffi.from_buffer("char[]", program)
    req.bpf = prog
    req.bpf_len = len(program) // 8
    req.no_new_privs = 1 if policy.no_new_privs else 0
    req.seccomp_flags = _FLAG_NEW_LISTENER
    _start_child(req, path)
    pid, pidfd = int(req.pid), int(req.pidfd)
    listener = Listener(int(req.listener))
    handler = _Watcher(policy, mode, report)

    status: int | None = None
    try:
        serve(listener, handler, on_error=Response.errno(_errno.EPERM))
        _, status = os.waitpid(pid, 0)
    except BaseException:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        listener.close()
        os.close(pidfd)
        lib.spy_learn_done(req)
    if int(req.err_step) == int(lib.SPY_LEARN_STEP_EXEC):
        err = int(req.err_errno) or _errno.EIO
        raise OSError(err, os.strerror(err), os.fsdecode(path))
    code = os.waitstatus_to_exitcode(status)
    killed = handler.killed
    main_kill = next((k for k in killed if k.pid == pid), None)
    if main_kill is not None and code == -signal.SIGKILL:
        code = -signal.SIGSYS  # what the kernel's KILL gives
    return WatchResult(code, handler.refusals, main_kill or (killed[0] if killed else None))


class _Watcher:
    """The notification handler of explain/complain (for serve())."""

    def __init__(self, policy: Policy, mode: str,
                 report: Callable[[Refusal], None] | None) -> None:
        self.policy = policy
        self.mode = mode
        self.report = report
        self.refusals: list[Refusal] = []
        self.killed: list[Refusal] = []
        self.seen: set[tuple[int, str]] = set()

    def tell(self, r: Refusal) -> None:
        self.refusals.append(r)
        if self.report is not None:
            try:
                self.report(r)
            except Exception:
                import logging

                logging.getLogger("seccomp_py.explain").exception("report failed")

    def __call__(self, n: Notification) -> Response:
        from .notify import Response

        policy = self.policy
        name, arch = _name(n.syscall, n.arch_token)
        real = policy.evaluate(n.syscall, n.arch_token, n.ip, n.args)
        kind = real.kind
        if kind not in _REFUSING:  # an allowed execve (see Policy.watched)
            return Response.CONTINUE
        if self.mode == "complain":
            if (int(arch), name) not in self.seen:
                self.seen.add((int(arch), name))
                self.tell(Refusal(n.pid, arch, name, n.syscall, n.args, describe_call(n, name),
                                  real, policy.entry_for(name, real, n.args)))
            return Response.CONTINUE
        r = Refusal(n.pid, arch, name, n.syscall, n.args, describe_call(n, name), real,
                    policy.entry_for(name, real, n.args))
        self.tell(r)
        if kind is ActionKind.ERRNO:
            return Response.errno(real.data or _errno.EPERM)
        if kind is ActionKind.TRACE:
            return Response.errno(_errno.ENOSYS)
        _kill(n, r, self.killed)
        return Response.errno(_errno.EPERM)


def _kill(n: Notification, r: Refusal, killed: list[Refusal]) -> None:
    """Kill the calling process like the policy's KILL would (SIGKILL via a pidfd,
    proven with ID_VALID to still be the caller)."""
    from .notify_tools import _tgid

    tgid = _tgid(n.pid, gone=-1)
    if tgid <= 0:
        return  # gone already
    try:
        pidfd = os.pidfd_open(tgid)
    except OSError:
        return
    try:
        listener = n.listener
        if listener is not None and listener.id_valid(n):
            killed.append(dataclasses.replace(r, pid=tgid))
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def fixed_profile(profile: Profile, refusals: Sequence[Refusal]) -> tuple[Profile, list[str]]:
    """``profile`` plus an SCMP_ACT_ALLOW entry for exactly the syscalls refused by the
    default action, and the arches they came from.  Calls refused by an explicit entry
    are not changed (that entry would need editing): returned as notes."""
    from .profile import Profile as _Profile

    missing: set[str] = set()
    notes: list[str] = []
    arches: list[str] = []
    for r in refusals:
        if r.entry != "default":
            notes.append(f"{r.syscall}: refused by {r.entry}, not changed")
            continue
        missing.add(r.syscall)
        if isinstance(r.arch, Arch):
            arches.append(f"SCMP_ARCH_{r.arch.name}")
    data = profile.to_dict()  # groups expanded: the result may go to any runtime
    if missing:
        data["syscalls"] = [*data["syscalls"],
                            {"names": sorted(missing), "action": "SCMP_ACT_ALLOW",
                             "comment": "added by seccomp-py run --complain"}]
    if data.get("architectures"):
        for a in arches:
            if a not in data["architectures"]:
                data["architectures"].append(a)
    return _Profile.from_dict(data), notes
