"""Learn mode: record the syscalls a command makes and write the smallest profile.

>>> result = learn(["sh", "-c", "echo hi | wc -c"])          # doctest: +SKIP
>>> result.to_profile().save("sh.json")                        # doctest: +SKIP

See seccomp_unotify(2), pidfd_getfd(2), and docs/cli.md ("learn": how it records, and what
it cannot record).
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import fcntl
import os
import shutil
import signal
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import _kernel as _k
from . import syscall as _syscall
from ._native import CStrings, check, ffi, lib
from .action import Action, ActionKind
from .arch import Arch
from .arch import native as _native_arch
from .errors import LearnError, SeccompError, UnsupportedError
from .profile import Profile
from .program import FLAG_NEW_LISTENER as _FLAG_NEW_LISTENER
from .program import Program

__all__ = ["LEARN_PROGRAM", "LearnError", "LearnProgress", "LearnResult", "learn",
           "learned_default"]

_RET_USER_NOTIF = _k.SECCOMP_RET_USER_NOTIF

_X32_BIT = _k.X32_SYSCALL_BIT
_NR_SPLIT = 1024

_STEPS = {
    int(lib.SPY_LEARN_STEP_SIGNALS): ("sigaction", "resetting signal handlers in the child"),
    int(lib.SPY_LEARN_STEP_STDIO): ("dup2", "setting up stdin/stdout/stderr in the child"),
    int(lib.SPY_LEARN_STEP_NO_NEW_PRIVS): ("prctl", "PR_SET_NO_NEW_PRIVS in the child"),
    int(lib.SPY_LEARN_STEP_SECCOMP): ("seccomp", "loading the learn filter in the child"),
    int(lib.SPY_LEARN_STEP_PIDFD): ("pidfd_open", "opening a pidfd for the child "
                                                  "(Linux 5.3+)"),
    int(lib.SPY_LEARN_STEP_GETFD): ("pidfd_getfd", "taking the listener from the child "
                                                   "(Linux 5.6+, needs ptrace access to it)"),
    int(lib.SPY_LEARN_STEP_LOST): ("fork", "the child died or did not load the filter "
                                           "within 30 s"),
}


#: The learn filter, one instruction: ``ret SECCOMP_RET_USER_NOTIF`` (BPF_RET | BPF_K),
#: in host byte order.
LEARN_PROGRAM = struct.pack("=HBBI", _k.BPF_RET | _k.BPF_K, 0, 0, _RET_USER_NOTIF)


def _learn_program(no_new_privs: bool) -> Program:
    """The learn filter as a Program: every syscall goes to the listener."""
    return Program(LEARN_PROGRAM, no_new_privs=no_new_privs)


@dataclasses.dataclass(frozen=True)
class LearnProgress:
    """A snapshot while learning: passed to the ``progress`` callback."""

    elapsed: float
    calls: int
    distinct: int


@dataclasses.dataclass
class LearnResult:
    """What :func:`learn` recorded.

    ``counts`` maps ``(arch, number)`` to how many times the syscall was
    seen (x32 numbers carry bit 30 under ``Arch.X32``); ``returncode`` is
    the command's status as subprocess reports it (negative: killed by that
    signal).
    """

    argv: tuple[str, ...]
    returncode: int
    counts: dict[tuple[Arch | int, int], int]
    calls: int
    gone: int
    other: int
    elapsed: float

    def named(self) -> dict[tuple[Arch | int, int], str]:
        """``(arch, number) -> name`` for every recorded syscall libseccomp knows."""
        out: dict[tuple[Arch | int, int], str] = {}
        for (arch, nr) in self.counts:
            if not isinstance(arch, Arch):
                continue
            try:
                out[(arch, nr)] = _syscall.resolve_number(nr, arch)
            except (LookupError, ValueError, SeccompError):
                continue
        return out

    @property
    def unnamed(self) -> list[tuple[Arch | int, int]]:
        """Recorded ``(arch, number)`` pairs no profile can name (libseccomp does not
        know them, or the arch is not one libseccomp supports)."""
        named = self.named()
        return sorted((k for k in self.counts if k not in named), key=lambda k: (int(k[0]), k[1]))

    def arches(self) -> list[Arch]:
        """The arches seen, native first."""
        native = _native_arch()
        seen = {a for (a, _) in self.counts if isinstance(a, Arch)}
        return [native, *sorted((a for a in seen if a != native), key=int)]

    def names(self) -> list[str]:
        """Every syscall name seen (on any arch), sorted."""
        return sorted(set(self.named().values()))

    def to_profile(self, default_action: Action | int | None = None, *,
                   merge: Profile | None = None, extra: Iterable[str] = (),
                   runtime: str | None = None) -> Profile:
        """The smallest profile that lets the command run again: ``default_action``
        (default ERRNO(EPERM)) for everything, ALLOW for exactly the names seen,
        ``architectures`` the arches seen (native first).

        ``merge``: a profile from earlier runs (a learned one: only
        SCMP_ACT_ALLOW entries without args or conditions) whose names and
        arches are added, so that the result lets every run's command run; the
        names stay in one sorted entry without duplicates.

        ``extra``: more names to allow.  ``runtime`` ("runc" or "crun"): also
        allow what that container runtime's init needs after it loaded the
        filter, measured now with the real runtime
        (:func:`seccomp_py.runtime.measure`; raises RuntimeMeasureError).

        Raises ValueError for an ALLOW default (nothing to learn), for a
        ``merge`` profile that is not a plain allow-list (naming the entry),
        and what Profile.from_dict raises.
        """
        action = Action.errno(_errno.EPERM) if default_action is None \
            else Action.coerce(default_action)
        if action.kind is ActionKind.ALLOW:
            raise ValueError("a learned profile needs a default action other than ALLOW")
        from .profile_schema import _action_fields

        name, errno_ret = _action_fields(action)
        data: dict[str, Any] = {"defaultAction": name}
        if errno_ret is not None:
            data["defaultErrnoRet"] = errno_ret
        arches = [f"SCMP_ARCH_{a.name}" for a in self.arches()]
        names = set(self.names()) | {str(n) for n in extra}
        if runtime is not None:
            from .runtime import measure

            names |= measure(runtime)
        if merge is not None:
            old_names, old_arches = _allow_list(merge)
            names |= old_names
            arches = [arches[0], *sorted(set(arches[1:]) | (old_arches - {arches[0]}),
                                         key=_arch_order)]
        data["architectures"] = arches
        data["syscalls"] = [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]
        return Profile.from_dict(data, strict=True)


def _arch_order(name: str) -> int:
    try:
        return int(Arch[name[len("SCMP_ARCH_"):]])
    except KeyError:
        return 1 << 32


def learned_default(action: str = "SCMP_ACT_ERRNO", errno: str | int = "EPERM") -> Action:
    """The default action of a learned profile from its names, as ``seccomp-py
    learn --default-action/--default-errno`` take them: an action name (the
    ``SCMP_ACT_`` prefix optional) and, for ERRNO, an errno name or number.

    Raises ValueError for an unknown action or errno, and for ALLOW and
    NOTIFY, which would not restrict anything (or need a supervisor).
    """
    from .profile_schema import action_named

    kind = action_named(action).kind
    if kind in (ActionKind.ALLOW, ActionKind.NOTIFY):
        name = f"SCMP_ACT_{kind.name}"
        raise ValueError(f"{name} as the default action would not restrict anything (or "
                         "need a supervisor); use ERRNO, KILL_PROCESS, TRAP or LOG")
    return action_named(action, errno)


def _allow_list(profile: Profile) -> tuple[set[str], set[str]]:
    """The names and arches of a learned (plain allow-list) profile; ValueError otherwise."""
    names: set[str] = set()
    for i, entry in enumerate(profile.syscalls):
        if entry.action != "SCMP_ACT_ALLOW" or entry.args or entry.includes or entry.excludes:
            raise ValueError(f"syscalls[{i}] of the profile to merge is not a plain "
                             "SCMP_ACT_ALLOW entry (no args, includes or excludes): only "
                             "learned allow-lists can be merged")
        names.update(entry.expanded_names())
    arches = set(profile.architectures)
    for m in profile.arch_map:
        arches.update((m.architecture, *m.sub_architectures))
    return names, arches


def _table_counts(table: Any) -> dict[tuple[Arch | int, int], int]:
    out: dict[tuple[Arch | int, int], int] = {}
    for slot in range(int(lib.SPY_LEARN_ARCHES)):
        token = int(table.arches[slot])
        if token == 0:
            break
        row = ffi.unpack(table.counts[slot], int(lib.SPY_LEARN_NR))
        for index, count in enumerate(row):
            if not count:
                continue
            arch: Arch | int
            if index < _NR_SPLIT:
                nr = index
                try:
                    arch = Arch(token)
                except ValueError:
                    arch = token
            else:
                nr = _X32_BIT + index - _NR_SPLIT
                arch = Arch.X32 if token == int(Arch.X86_64) else token
            out[(arch, nr)] = out.get((arch, nr), 0) + int(count)
    return out


def _distinct(table: Any) -> int:
    total = 0
    for slot in range(int(lib.SPY_LEARN_ARCHES)):
        if int(table.arches[slot]) == 0:
            break
        total += sum(1 for c in ffi.unpack(table.counts[slot], int(lib.SPY_LEARN_NR)) if c)
    return total


def _resolve(argv0: str, env: Mapping[str, str] | None) -> str:
    if os.path.dirname(argv0):
        return argv0
    path = (env or os.environ).get("PATH", os.defpath)
    found = shutil.which(argv0, path=path)
    if found is None:
        raise FileNotFoundError(_errno.ENOENT, "command not found", argv0)
    return found


def learn(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          progress: Callable[[LearnProgress], None] | None = None,
          interval: float = 0.5, sync_wakeup: bool = True,
          no_new_privs: bool = True, stdin: Any = None, stdout: Any = None,
          stderr: Any = None) -> LearnResult:
    """Run ``argv`` (stdio inherited) with every syscall recorded; return what was seen.

    ``argv[0]`` is looked up in PATH (of ``env`` when given).  Learning
    follows every process and thread of the command, and ends when no
    process uses the filter any more (the command and everything it
    started have exited).  ``progress`` is called every ``interval`` seconds.
    ``sync_wakeup`` asks for SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+,
    ignored when missing).  ``stdin``, ``stdout``, ``stderr``: None (inherit),
    an fd, a file object, or ``subprocess.DEVNULL``.  See seccomp_unotify(2),
    pidfd_getfd(2).

    Raises FileNotFoundError / PermissionError / OSError when the program
    cannot be executed (as subprocess does), UnsupportedError when the kernel
    lacks user notification, LearnError (a SeccompError naming the C
    function) when the child could not be started or supervised.  On
    KeyboardInterrupt the command is killed and reaped, then it propagates.
    """
    args = [os.fsencode(a) for a in argv]
    if not args:
        raise ValueError("learn() needs a command: argv is empty")
    if any(b"\0" in a for a in args):
        raise ValueError("embedded null byte in argv")
    from .features import kernel_actions, kernel_flags

    if ActionKind.NOTIFY not in kernel_actions() or not int(kernel_flags()) & _FLAG_NEW_LISTENER:
        raise UnsupportedError("seccomp", "this kernel has no seccomp user notification "
                                          "(Linux 5.0+; CONTINUE needs 5.5+)")
    path = os.fsencode(_resolve(os.fsdecode(args[0]), env))
    keep = CStrings()  # cdata that must outlive the call
    cstr, carray = keep.str, keep.array

    req = ffi.new("struct spy_learn_req *")
    req.path = cstr(path)
    req.argv = carray(args)
    if env is not None:
        envp = []
        for k, v in env.items():
            kb, vb = os.fsencode(k), os.fsencode(v)
            if not kb or b"=" in kb or b"\0" in kb or b"\0" in vb:
                raise ValueError(f"illegal environment variable {k!r}")
            envp.append(kb + b"=" + vb)
        req.envp = carray(envp)
    else:
        req.envp = ffi.NULL
    opened: list[int] = []
    try:
        for i, target in enumerate((stdin, stdout, stderr)):
            req.stdio[i] = _stdio_fd(target, i, opened)
        return _learn(req, path, args, progress, interval, sync_wakeup, no_new_privs)
    finally:
        for fd in opened:
            os.close(fd)


def _stdio_fd(target: Any, which: int, opened: list[int]) -> int:
    import subprocess

    if target is None:
        return -1
    if target == subprocess.DEVNULL:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            fd = fcntl.fcntl(null, fcntl.F_DUPFD_CLOEXEC, 3)
        finally:
            os.close(null)
    else:
        source = target if isinstance(target, int) else int(target.fileno())
        if source < 0:
            raise ValueError(f"bad file descriptor {source} for stdio {which}")
        fd = fcntl.fcntl(source, fcntl.F_DUPFD_CLOEXEC, 3)  # out of 0..2, closed at exec
    opened.append(fd)
    return fd


def _start_child(req: Any, path: bytes) -> None:
    """Start the child of ``req`` (learn.c: fork, filter, execve held for the
    supervisor); a failed step raises OSError (exec, as subprocess does) or LearnError."""
    rc = lib.spy_learn_start(req)
    if rc < 0:
        step, err = int(req.err_step), int(req.err_errno) or -rc
        if step == int(lib.SPY_LEARN_STEP_EXEC):
            raise OSError(err, os.strerror(err), os.fsdecode(path))
        func, detail = _STEPS.get(step, ("fork", "starting the child"))
        raise LearnError(err, func, detail)


def _learn(req: Any, path: bytes, args: list[bytes],
           progress: Callable[[LearnProgress], None] | None, interval: float,
           sync_wakeup: bool, no_new_privs: bool) -> LearnResult:
    program = _learn_program(no_new_privs)
    prog = ffi.from_buffer("char[]", program.bpf)
    req.bpf = prog
    req.bpf_len = program.instruction_count
    req.no_new_privs = 1 if program.no_new_privs else 0
    req.seccomp_flags = program.flags
    start = time.monotonic()
    _start_child(req, path)
    pid, pidfd, listener = int(req.pid), int(req.pidfd), int(req.listener)
    table = ffi.new("struct spy_learn_table *")
    status: int | None = None
    try:
        if sync_wakeup:
            lib.spy_learn_sync_wakeup(listener)  # best effort: older kernels say EINVAL
        step_ms = max(1, int(interval * 1000))
        while True:
            rc = check(lib.spy_learn_loop(listener, pidfd if status is None else -1, table,
                                          step_ms), "spy_learn_loop")
            if rc == int(lib.SPY_LEARN_EXITED) and status is None:
                _, status = os.waitpid(pid, 0)
            elif rc == int(lib.SPY_LEARN_HANGUP):
                if status is None:  # the filter is released at exit, before the reap
                    _, status = os.waitpid(pid, 0)
                break
            if progress is not None:
                progress(LearnProgress(time.monotonic() - start, int(table.total),
                                       _distinct(table)))
    except BaseException:
        if status is None:  # interrupted or failed before the command ended
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(listener)
        os.close(pidfd)
        lib.spy_learn_done(req)
    if int(req.err_step) == int(lib.SPY_LEARN_STEP_EXEC):
        err = int(req.err_errno) or _errno.EIO
        raise OSError(err, os.strerror(err), os.fsdecode(path))
    elapsed = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status) if status is not None else -1
    return LearnResult(tuple(os.fsdecode(a) for a in args), code, _table_counts(table),
                       int(table.total), int(table.gone), int(table.other), elapsed)
