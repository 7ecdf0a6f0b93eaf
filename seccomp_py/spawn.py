"""Start a child process under a seccomp filter, like :mod:`subprocess`.

>>> import seccomp_py, errno
>>> f = seccomp_py.Filter(seccomp_py.Action.ALLOW)
>>> f.add_rule(seccomp_py.Action.errno(errno.EPERM), "mkdir")
>>> with seccomp_py.spawn(["mkdir", "/tmp/x"], f, stderr=subprocess.DEVNULL) as p:  # doctest: +SKIP
...     p.wait()
1

How it works (see docs/spawn.md): the parent takes the filter's
:class:`~seccomp_py.program.Program` (:meth:`Filter.compile`, cached until the
filter changes; or a Program given as it is) and prepares
everything the child needs (argv, envp, the candidate paths of a PATH search,
the fd plan).  The C shim then vfork()s; the child makes raw syscalls only --
signal handlers back to default, dup2() of stdin/stdout/stderr, close_range(),
chdir(), prctl(PR_SET_NO_NEW_PRIVS), seccomp(SECCOMP_SET_MODE_FILTER) with the
flags the filter's attributes ask for, sendmsg() of the listener fd for notify
filters -- and execve().  No allocation, no lock, no libseccomp call happens
in the child, so spawning is safe from a multi-threaded program.

execve() itself runs under the filter: before forking, spawn evaluates the
BPF program for execve() (and for sendmsg() when the listener is handed back)
and raises :class:`ExecForbiddenError` with an explanation when the policy
would kill the child or fail the call, instead of a mysterious SIGSYS.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import fcntl
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence

from . import sandbox as _sandbox
from ._kernel import BPF_INSN_SIZE, BPF_K, BPF_MAXINSNS, BPF_RET
from ._kernel import SECCOMP_RET_ACTION_FULL as _RET_ACTION_FULL
from ._native import CStrings, check, ffi, lib
from .action import Action, ActionKind
from .errors import (
    ChildSetupError,
    ExecForbiddenError,
    FilterClosedError,
    FilterTooLargeError,
    SeccompError,
    UnsupportedError,
)
from .program import FLAG_NAMES, Program

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    import socket
    from typing import Any, Union

    from .notify import Listener  # type: ignore[import-not-found,unused-ignore]

    # what spawn() confines a child with: a Program, or a Filter (anything with
    # compile() -> Program; spawn never imports filter.py)
    Confinement = Union[Program, Any]

__all__ = ["ExecForbiddenError", "SeccompPopen", "SpawnTemplate", "spawn"]

_FLAG_NAMES = FLAG_NAMES
_BPF_RET_K = BPF_RET | BPF_K
_MSG_NOSIGNAL = 0x4000  # socket.MSG_NOSIGNAL (Linux); socket is imported where used

_STEPS = {
    int(lib.SPY_SPAWN_STEP_SIGNALS): "resetting signal handlers",
    int(lib.SPY_SPAWN_STEP_DUP): "setting up stdin/stdout/stderr",
    int(lib.SPY_SPAWN_STEP_CLOSE_FDS): "closing file descriptors (close_fds/pass_fds)",
    int(lib.SPY_SPAWN_STEP_CHDIR): "changing directory",
    int(lib.SPY_SPAWN_STEP_SETSID): "setsid() for start_new_session",
    int(lib.SPY_SPAWN_STEP_SETPGID): "setpgid() for process_group",
    int(lib.SPY_SPAWN_STEP_NO_NEW_PRIVS): "prctl(PR_SET_NO_NEW_PRIVS)",
    int(lib.SPY_SPAWN_STEP_SECCOMP): "seccomp(SECCOMP_SET_MODE_FILTER)",
    int(lib.SPY_SPAWN_STEP_SENDMSG): "sending the listener fd to the parent",
    int(lib.SPY_SPAWN_STEP_EXEC): "execve",
    int(lib.SPY_SPAWN_STEP_RECVMSG): "receiving the listener fd from the child",
    int(lib.SPY_SPAWN_STEP_RLIMIT): "setting a resource limit (rlimits)",
    int(lib.SPY_SPAWN_STEP_SETGROUPS): "setgroups() for extra_groups",
    int(lib.SPY_SPAWN_STEP_SETGID): "setresgid() for group",
    int(lib.SPY_SPAWN_STEP_SETUID): "setresuid() for user",
    int(lib.SPY_SPAWN_STEP_SECCOMP_PRE): "loading the no_network filter",
}
_STEP_CHDIR = int(lib.SPY_SPAWN_STEP_CHDIR)
_STEP_NNP = int(lib.SPY_SPAWN_STEP_NO_NEW_PRIVS)
_STEP_SECCOMP = int(lib.SPY_SPAWN_STEP_SECCOMP)
_STEP_SENDMSG = int(lib.SPY_SPAWN_STEP_SENDMSG)
_STEP_EXEC = int(lib.SPY_SPAWN_STEP_EXEC)
_STEP_RECVMSG = int(lib.SPY_SPAWN_STEP_RECVMSG)
_STEP_RLIMIT = int(lib.SPY_SPAWN_STEP_RLIMIT)
_STEP_SETGROUPS = int(lib.SPY_SPAWN_STEP_SETGROUPS)
_STEP_SETGID = int(lib.SPY_SPAWN_STEP_SETGID)
_STEP_SETUID = int(lib.SPY_SPAWN_STEP_SETUID)
_STEP_SECCOMP_PRE = int(lib.SPY_SPAWN_STEP_SECCOMP_PRE)
_NR_EXECVE = int(lib.SPY_NR_EXECVE)
_NR_SENDMSG = int(lib.SPY_NR_SENDMSG)
_NR_EXIT_GROUP = int(lib.seccomp_syscall_resolve_name(b"exit_group"))
_NATIVE_ARCH = int(lib.seccomp_arch_native())

_UNSUPPORTED = ("preexec_fn",)


class _Plan:
    """What one filter generation compiles to, ready for the child."""

    __slots__ = ("bpf", "count", "flags", "has_notify", "no_new_privs", "prog")

    def __init__(self, bpf: bytes, flags: int, no_new_privs: bool, has_notify: bool) -> None:
        self.bpf = bpf
        self.count = len(bpf) // BPF_INSN_SIZE
        self.prog = ffi.from_buffer("char[]", bpf)
        self.flags = flags
        self.no_new_privs = no_new_privs
        self.has_notify = has_notify

    def evaluate(self, nr: int, args: Sequence[int]) -> Action:
        """What the filter does to syscall ``nr`` with ``args`` (native arch)."""
        padded = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
        values = ffi.new("uint64_t[6]", padded)
        result = ffi.new("uint32_t *")
        check(lib.spy_bpf_eval(self.prog, self.count, nr & 0xFFFFFFFF, _NATIVE_ARCH, 0, values,
                               result),
              "spy_bpf_eval", "the exported BPF program is malformed")
        raw = int(result[0])
        try:
            return Action(raw)
        except SeccompError:  # a data field the Action class refuses: keep the kind
            return Action(raw & _RET_ACTION_FULL)


# id(Program) -> its plan, while the Program lives (a finalizer drops it): a
# lookup by identity, the cost of every spawn() of a cached program
_plans: dict[int, _Plan] = {}
_plans_lock = threading.Lock()


def _program_of(target: Confinement, program: bytes | None = None) -> Program:
    """The Program spawn() loads for ``target``: a Program as it is, or a Filter's
    ``compile()``.  With ``program`` (a raw BPF program compiled elsewhere, e.g. a
    profile's program with runc's -ENOSYS stub in front), that program with
    ``target``'s load options (flags, no_new_privs)."""
    if not isinstance(target, Program):
        compile_ = getattr(target, "compile", None)
        if not callable(compile_) or not hasattr(target, "closed"):
            raise TypeError("spawn() needs a seccomp_py.Filter or Program, not "
                            f"{type(target).__name__}")
        if target.closed:
            raise FilterClosedError("spawn", "the filter is closed: spawn() needs an open Filter")
        target = compile_()
        if not isinstance(target, Program):
            raise TypeError(f"compile() gave a {type(target).__name__}, not a Program")
    if program is None:
        return target
    if not isinstance(program, (bytes, bytearray, memoryview)):
        raise TypeError(f"program must be bytes, not {type(program).__name__}")
    try:
        return target.with_bpf(program)
    except ValueError:
        raise ValueError(f"program must be a non-empty array of {BPF_INSN_SIZE}-byte BPF "
                         f"instructions, not {len(bytes(program))} bytes") from None


def _plan_for(target: Confinement, program: bytes | None = None) -> _Plan:
    """The plan for ``target`` (a Filter or a Program; see _program_of), cached per
    Program: a Filter's program is rebuilt only when the filter changed."""
    loaded = _program_of(target, program)
    key = id(loaded)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    with _plans_lock:
        plan = _plans.get(key)
        if plan is None:
            plan = _plans[key] = _build_plan(loaded)
            weakref.finalize(loaded, _plans.pop, key, None)
        return plan


def _build_plan(program: Program) -> _Plan:
    count = program.instruction_count
    if count > BPF_MAXINSNS:
        raise FilterTooLargeError(count, BPF_MAXINSNS, func="spawn")
    program.check_kernel()
    return _Plan(program.bpf, program.flags, program.no_new_privs, program.wants_listener)


def _credentials(uid: int | None, gid: int | None, gids: Sequence[int] | None
                 ) -> tuple[int | None, int | None, Sequence[int] | None]:
    """Fail closed as root: user= also sets the user's group, and clears the
    supplementary groups unless extra_groups= says otherwise."""
    if os.geteuid() == 0 and (uid is not None or gid is not None):
        if uid is not None and gid is None and uid != 0:
            gid = _sandbox.default_gid(uid)
        if gids is None:
            gids = []
    return uid, gid, gids


def _fill_sandbox(req: Any, uid: int | None, gid: int | None, gids: Sequence[int] | None,
                  rlimits: Sequence[tuple[int, int, int]], no_network: bool) -> list[Any]:
    """Set the sandbox fields of a spy_spawn_req; returns the cdata to keep alive."""
    keep: list[Any] = []
    req.uid = -1 if uid is None else int(uid)
    req.gid = -1 if gid is None else int(gid)
    if gids is not None:
        groups = ffi.new("uint32_t[]", [int(g) for g in gids] or [0])
        keep.append(groups)
        req.set_groups = 1
        req.groups = groups
        req.n_groups = len(gids)
    else:
        req.set_groups = 0
        req.groups = ffi.NULL
        req.n_groups = 0
    if rlimits:
        arr = ffi.new("struct spy_rlimit[]", len(rlimits))
        for i, (res, soft, hard) in enumerate(rlimits):
            arr[i].resource = res
            arr[i].soft = soft
            arr[i].hard = hard
        keep.append(arr)
        req.rlimits = arr
        req.n_rlimits = len(rlimits)
    else:
        req.rlimits = ffi.NULL
        req.n_rlimits = 0
    if no_network:
        prog = _sandbox.no_network_program()
        buf = ffi.from_buffer("char[]", prog)
        keep.append(buf)
        req.bpf_pre = buf
        req.bpf_pre_len = len(prog) // BPF_INSN_SIZE
    else:
        req.bpf_pre = ffi.NULL
        req.bpf_pre_len = 0
    return keep


def _describe(req: Any) -> dict[int, str]:
    """What each sandbox step of ``req`` asked for, for error messages."""
    out: dict[int, str] = {}
    for i in range(int(req.n_rlimits)):
        r = req.rlimits[i]
        name = _sandbox.RLIMIT_NAMES.get(int(r.resource), f"resource {int(r.resource)}")
        out[-100 - i] = (f"{name} to ({_sandbox.limit_text(int(r.soft))}, "
                         f"{_sandbox.limit_text(int(r.hard))})")
    if req.set_groups:
        out[_STEP_SETGROUPS] = ("supplementary groups "
                                f"{[int(req.groups[i]) for i in range(int(req.n_groups))]}")
    out[_STEP_SETGID] = f"gid {int(req.gid)}"
    out[_STEP_SETUID] = f"uid {int(req.uid)}"
    return out


def _fsencode_arg(value: Any, what: str) -> bytes:
    data = os.fsencode(value)
    if b"\0" in data:
        raise ValueError(f"embedded null byte in {what}")
    return data


def _flag_text(flags: int) -> str:
    return " | ".join(n.split(" ")[0] for f, n in _FLAG_NAMES.items() if f & flags) or "0"


_EXEC_PARAMS: list[str] = []


def _exec_params() -> list[str]:
    """The parameter names of Popen._execute_child (read from its code object: importing
    inspect would cost ~10 ms of start-up; inspect only for a wrapped or unusual one)."""
    if not _EXEC_PARAMS:
        child = subprocess.Popen._execute_child  # type: ignore[attr-defined]
        code = getattr(child, "__code__", None)
        if code is not None and not hasattr(child, "__wrapped__") and \
                not code.co_flags & 0x0C:  # no *args, no **kwargs: all named positionally
            _EXEC_PARAMS.extend(code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount])
        else:  # pragma: no cover - CPython's is a plain method
            import inspect

            _EXEC_PARAMS.extend(list(inspect.signature(child).parameters)[1:])
    return _EXEC_PARAMS


class SeccompPopen(subprocess.Popen):  # type: ignore[type-arg]
    """A :class:`subprocess.Popen` whose child runs under a seccomp filter.

    Everything Popen offers works (wait, poll, communicate, returncode, pid,
    stdin/stdout/stderr with PIPE, DEVNULL, STDOUT, fds or files, text mode,
    send_signal/terminate/kill, the context manager) except ``preexec_fn``,
    ``user``, ``group`` and ``extra_groups``, which raise ValueError: the
    child runs no Python code.

    For a filter with NOTIFY rules, :attr:`listener` is the child's
    seccomp_unotify(2) listener (:attr:`listener_fd` the raw fd, owned by this
    object until :attr:`listener` or :meth:`detach_listener` takes it).  It is
    closed on ``__exit__``; with no supervisor left, notified syscalls fail
    with ENOSYS.

    Raises what subprocess raises for exec failures (FileNotFoundError,
    PermissionError, NotADirectoryError for cwd, ...), ExecForbiddenError
    when the policy forbids execve (or the listener handoff), FilterClosedError
    for a closed filter, FilterTooLargeError, and SeccompError (func
    ``"prctl"``, ``"seccomp"``, ``"sendmsg"``) when the child could not load
    the filter.
    """

    listener_fd: int

    def __init__(self, args: Any, filter: Confinement, *, program: bytes | None = None,
                 rlimits: Mapping[Any, tuple[int, int]] | None = None,
                 no_network: bool = False, explain: Callable[[Any], None] | None = None,
                 _template: SpawnTemplate | None = None, **kwargs: Any) -> None:
        self.listener_fd = -1
        self._listener: Listener | None = None
        self._template = _template
        self._explain: Any = None
        self.explain_thread: threading.Thread | None = None
        if _template is not None:
            if program is not None:
                raise ValueError("a SpawnTemplate loads its own program: program= is not "
                                 "accepted by SpawnTemplate.spawn()")
            given = [n for n in ("user", "group", "extra_groups") if kwargs.get(n) is not None]
            given += ["rlimits"] if rlimits is not None else []
            given += ["no_network"] if no_network else []
            if given:
                raise ValueError(f"{', '.join(given)} must be given to SpawnTemplate(...): the "
                                 "template applies them once, before it loads the filter, for "
                                 "all its children")
        self._rlimits = _sandbox.resolve_rlimits(rlimits)
        self._no_network = bool(no_network)
        if explain is not None:
            if _template is not None:
                raise ValueError("explain= is not supported by SpawnTemplate.spawn()")
            if not callable(explain):
                raise TypeError("explain must be a callable taking a seccomp_py.explain.Refusal")
            if isinstance(filter, Program):
                raise TypeError("explain= needs a Filter (the rules it explains), not a Program")
            from .explain import Policy, _Watcher

            policy = Policy.from_filter(filter)
            if program is not None:
                import dataclasses

                policy = dataclasses.replace(policy, program=bytes(program))
            self._explain = _Watcher(policy, "explain", explain)
            with policy.watched(hold_execve=False) as probe:  # refuses NOTIFY policies
                self._spawn_plan = _plan_for(probe)
            self.filter = filter
            super().__init__(args, **kwargs)
            return
        self._spawn_plan = (_template._plan if _template is not None
                            else _plan_for(filter, program))
        self.filter = filter
        super().__init__(args, **kwargs)

    # -- the listener ---------------------------------------------------------

    @property
    def has_listener(self) -> bool:
        """True when the filter has NOTIFY rules and the listener came back."""
        return self.listener_fd >= 0 or self._listener is not None

    @property
    def listener(self) -> Listener:
        """The seccomp_py.notify.Listener for the child (created on first use).

        Raises ValueError when the filter has no NOTIFY rule or the listener
        was detached or closed.
        """
        if self._listener is None:
            fd = self.detach_listener()
            from .notify import (  # type: ignore[import-not-found,unused-ignore]
                Listener as _Listener,
            )

            listener_cls: Any = _Listener
            try:
                self._listener = listener_cls(fd)
            except BaseException:
                os.close(fd)
                raise
        return self._listener

    def detach_listener(self) -> int:
        """Take ownership of the raw listener fd (O_CLOEXEC); the caller closes it."""
        fd = self.listener_fd
        if fd < 0:
            raise ValueError("no listener: the filter has no NOTIFY rule, or it was "
                             "already detached or closed")
        self.listener_fd = -1
        return fd

    def close_listener(self) -> None:
        """Close the listener (raw fd or Listener).  Safe to call twice."""
        fd, self.listener_fd = self.listener_fd, -1
        if fd >= 0:
            os.close(fd)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self.close_listener()

    def __del__(self, *args: Any, **kwargs: Any) -> None:
        fd = getattr(self, "listener_fd", -1)
        if fd >= 0:
            self.listener_fd = -1
            os.close(fd)
        super().__del__(*args, **kwargs)

    # -- starting the child ------------------------------------------------------

    def _execute_child(self, *posargs: Any) -> None:
        p: dict[str, Any] = dict(zip(_exec_params(), posargs))
        for name in _UNSUPPORTED:
            if p.get(name) is not None:
                shown = {"uid": "user", "gid": "group", "gids": "extra_groups"}.get(name, name)
                raise ValueError(f"spawn() does not support {shown}=: the child runs no Python "
                                 "code between fork and exec")
        args = p["args"]
        shell = p["shell"]
        executable = p["executable"]
        env: Mapping[Any, Any] | None = p["env"]
        cwd = p["cwd"]
        plan = self._spawn_plan

        if isinstance(args, (str, bytes)):
            args = [args]
        elif isinstance(args, os.PathLike):
            if shell:
                raise TypeError("path-like args is not allowed when shell is true")
            args = [args]
        else:
            args = list(args)
        if shell:
            args = ["/bin/sh", "-c", *args]
            if executable:
                args[0] = executable
        if not args:
            raise ValueError("spawn() needs a program: args is empty")
        if executable is None:
            executable = args[0]
        sys.audit("subprocess.Popen", executable, args, cwd, env)
        orig_executable = executable
        popen: Any = self  # Popen's private helpers are not in typeshed

        keep = CStrings()  # cdata that must outlive the call
        cstr, carray = keep.str, keep.array

        exe = _fsencode_arg(executable, "the executable")
        if os.path.dirname(exe):
            paths = [exe]
        else:
            paths = [os.path.join(os.fsencode(d), exe) for d in os.get_exec_path(env)]
            if not paths:
                paths = [exe]
        argv = [_fsencode_arg(a, "args") for a in args]
        envp: list[bytes] | None = None
        if env is not None:
            envp = []
            for k, v in env.items():
                kb = _fsencode_arg(k, "an environment variable name")
                if not kb or b"=" in kb:
                    raise ValueError(f"illegal environment variable name {k!r}")
                envp.append(kb + b"=" + _fsencode_arg(v, "an environment variable value"))

        if self._template is not None:
            try:
                pid, step, err = self._template._run(p, paths, argv, envp)
            finally:
                popen._close_pipe_fds(p["p2cread"], p["p2cwrite"], p["c2pread"], p["c2pwrite"],
                                      p["errread"], p["errwrite"])
            self.pid = pid
            self._child_created = True
            if step:
                self.wait()
                raise self._child_error(step, err, plan, orig_executable, cwd)
            return

        explain_socks: tuple[socket.socket, socket.socket] | None = None
        if self._explain is not None:
            explain_socks, plan = self._explain_plan()
        req = ffi.new("struct spy_spawn_req *")
        req.paths = carray(paths)
        req.argv = carray(argv)
        req.envp = carray(envp) if envp is not None else ffi.NULL
        req.cwd = cstr(_fsencode_arg(cwd, "cwd")) if cwd is not None else ffi.NULL
        req.stdio = [p["p2cread"], p["c2pwrite"], p["errwrite"]]
        req.close_fds = 1 if p["close_fds"] else 0
        req.restore_signals = 1 if p["restore_signals"] else 0
        req.new_session = 1 if p["start_new_session"] else 0
        pgid = p.get("process_group", -1)
        req.pgid = -1 if pgid is None else int(pgid)
        umask = p["umask"]
        req.umask = -1 if umask is None else int(umask)
        req.no_new_privs = 1 if plan.no_new_privs else 0
        req.seccomp_flags = plan.flags
        req.bpf = plan.prog
        req.bpf_len = plan.count
        uid, gid, gids = _credentials(p["uid"], p["gid"], p["gids"])
        _keep_alive = _fill_sandbox(req, uid, gid, gids, self._rlimits, self._no_network)

        pass_fds = sorted({int(fd) for fd in p["pass_fds"]})
        parent_sock: socket.socket | None = None
        child_sock: socket.socket | None = None
        try:
            if explain_socks is not None:
                parent_sock, child_sock = explain_socks
                req.notify_sock = child_sock.fileno()
                req.notify_peer = parent_sock.fileno()
            elif plan.has_notify:
                import socket  # not at the top: start-up time (only for notify)
                parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                # Keep it out of 0..2, which the child's dup2() calls overwrite.
                if child_sock.fileno() < 3:
                    moved = fcntl.fcntl(child_sock.fileno(), fcntl.F_DUPFD_CLOEXEC, 3)
                    child_sock.close()
                    child_sock = socket.socket(fileno=moved)
                req.notify_sock = child_sock.fileno()
                req.notify_peer = parent_sock.fileno()
            else:
                req.notify_peer = -1
                req.notify_sock = -1
            keep_fds = sorted({fd for fd in pass_fds if fd >= 3}
                              | ({req.notify_sock} if req.notify_sock >= 3 else set()))
            keep_arr = ffi.new("int[]", keep_fds or [0])
            inherit_arr = ffi.new("int[]", pass_fds or [0])
            req.keep_fds = keep_arr
            req.n_keep_fds = len(keep_fds)
            req.inherit_fds = inherit_arr
            req.n_inherit_fds = len(pass_fds)

            self._preflight(plan, req)

            rc = lib.spy_spawn(req)
        finally:
            popen._close_pipe_fds(p["p2cread"], p["p2cwrite"], p["c2pread"], p["c2pwrite"],
                                 p["errread"], p["errwrite"])
            if child_sock is not None:
                child_sock.close()
            if parent_sock is not None:
                parent_sock.close()
        check(rc, "vfork")
        if rc == 0:
            popen._handle_exitstatus(int(req.status))
            raise self._child_error(int(req.err_step), int(req.err_errno), plan,
                                    orig_executable, cwd, rlimit_index=int(req.err_detail),
                                    sandbox=_describe(req))
        self.pid = rc
        self._child_created = True
        if int(req.err_step) == _STEP_RECVMSG:
            self.kill()
            self.wait()
            raise SeccompError(int(req.err_errno), "recvmsg",
                               "the listener fd did not arrive from the child")
        self.listener_fd = int(req.listener_fd)
        if self._explain is not None:
            self._start_explain()

    # -- explain ------------------------------------------------------------------------

    def _explain_plan(self) -> tuple[tuple[socket.socket, socket.socket], _Plan]:
        """The watched policy's plan, with the listener handoff let through.

        The child hands the listener back with sendmsg on its end of a socketpair,
        after the filter is loaded: the watched filter allows sendmsg on that one
        fd, moved high (F_DUPFD_CLOEXEC above most programs' fds; it is closed at
        exec).  Only if the policy refuses sendmsg is that rule added.
        """
        import resource
        import socket  # not at the top: start-up time (only for notify)

        from .arg import Arg

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            low = max(3, min(900, soft - 64 if soft != resource.RLIM_INFINITY else 900))
            moved = fcntl.fcntl(child.fileno(), fcntl.F_DUPFD_CLOEXEC, low)
            child.close()
            child = socket.socket(fileno=moved)
            with self._explain.policy.watched(hold_execve=False) as watched:
                plan = _plan_for(watched)
                action = plan.evaluate(_NR_SENDMSG, [moved, 0, _MSG_NOSIGNAL])
                if action.kind not in (ActionKind.ALLOW, ActionKind.LOG):
                    watched.add_rule(Action.ALLOW, "sendmsg", Arg(0) == moved)
                    plan = _plan_for(watched)
            return (parent, child), plan
        except BaseException:
            parent.close()
            child.close()
            raise

    def _start_explain(self) -> None:
        from .notify import (  # type: ignore[import-not-found,unused-ignore]
            Listener as _Listener,
        )

        listener = _Listener(self.detach_listener())

        def loop() -> None:
            from .notify import Response, serve  # type: ignore[import-not-found,unused-ignore]

            try:
                serve(listener, self._explain, on_error=Response.errno(_errno.EPERM))
            finally:
                listener.close()

        self.explain_thread = threading.Thread(target=loop, name=f"explain-{self.pid}",
                                               daemon=True)
        self.explain_thread.start()

    @property
    def refusals(self) -> list[Any]:
        """With ``explain=``: every Refusal reported so far."""
        return list(self._explain.refusals) if self._explain is not None else []

    @property
    def killed_by(self) -> Any:
        """With ``explain=``: the Refusal that killed the child, or None."""
        if self._explain is None:
            return None
        return next((k for k in self._explain.killed if k.pid == self.pid), None)

    def _handle_exitstatus(self, *args: Any, **kwargs: Any) -> None:
        super()._handle_exitstatus(*args, **kwargs)  # type: ignore[misc]
        if self.returncode == -signal.SIGKILL and self.killed_by is not None:
            self.returncode = -signal.SIGSYS  # what the policy's KILL gives

    def _preflight(self, plan: _Plan, req: Any) -> None:
        """Refuse, with an explanation, a policy that stops the child before exec."""
        def ptr(c: Any) -> int:
            return int(ffi.cast("uintptr_t", c))

        action = plan.evaluate(_NR_EXECVE, [ptr(req.paths[0]), ptr(req.argv), ptr(req.envp)])
        if action.kind not in (ActionKind.ALLOW, ActionKind.LOG):
            why = {
                ActionKind.NOTIFY: "execve is sent to the supervisor, but spawn() only returns "
                                   "(with the listener) once the program runs: that would "
                                   "deadlock",
                ActionKind.ERRNO: f"execve would fail with errno {action.data}",
                ActionKind.TRACE: "execve would go to a ptrace tracer (ENOSYS without one)",
            }.get(action.kind, "the child would be killed in execve")
            raise ExecForbiddenError(
                "execve", action,
                f"the filter's action for execve is {action!r}: {why}. spawn() loads the filter "
                "in the child and then calls execve under it, so the policy must allow execve "
                "(e.g. f.add_rule(Action.ALLOW, 'execve'))")
        if plan.has_notify:
            action = plan.evaluate(_NR_EXIT_GROUP, [255])
            if action.kind is ActionKind.NOTIFY:
                raise ExecForbiddenError(
                    "exit_group", action,
                    "the filter's action for exit_group is NOTIFY: a child that fails before "
                    "its program runs exits while the parent waits for it in vfork(), so "
                    "nobody could answer (allow exit_group, e.g. "
                    "f.add_rule(Action.ALLOW, 'exit_group'))")
            action = plan.evaluate(_NR_SENDMSG, [int(req.notify_sock), 0, _MSG_NOSIGNAL])
            if action.kind not in (ActionKind.ALLOW, ActionKind.LOG):
                raise ExecForbiddenError(
                    "sendmsg", action,
                    f"the filter's action for sendmsg is {action!r}: the child hands the "
                    "listener fd to the parent with sendmsg after loading the filter, so a "
                    "notify policy must allow sendmsg (e.g. f.add_rule(Action.ALLOW, 'sendmsg'))")

    @staticmethod
    def _child_error(step: int, err: int, plan: _Plan, executable: Any, cwd: Any, *,
                     rlimit_index: int = -1,
                     sandbox: Mapping[int, str] | None = None) -> OSError:
        message = os.strerror(err) if err else "unknown error"
        asked = (sandbox or {}).get(step if step != _STEP_RLIMIT else -100 - rlimit_index, "")
        if step == _STEP_RLIMIT:
            return ChildSetupError(err, "setrlimit", f"setting {asked} in the child"
                                   + ("; raising a hard limit needs CAP_SYS_RESOURCE, and "
                                      "RLIMIT_NOFILE cannot exceed fs.nr_open"
                                      if err == _errno.EPERM else ""))
        if step in (_STEP_SETGROUPS, _STEP_SETGID, _STEP_SETUID):
            func = {_STEP_SETGROUPS: "setgroups", _STEP_SETGID: "setresgid",
                    _STEP_SETUID: "setresuid"}[step]
            return ChildSetupError(err, func, f"{asked} in the child"
                                   + ("; changing credentials needs CAP_SETUID/CAP_SETGID"
                                      if err == _errno.EPERM else ""))
        if step == _STEP_SECCOMP_PRE:
            detail_text = "loading the no_network filter in the child"
            if err == _errno.EACCES and not plan.no_new_privs:
                detail_text += ("; NO_NEW_PRIVILEGES is off, so loading needs CAP_SYS_ADMIN "
                                "(which a user= change drops)")
            return SeccompError(err, "seccomp", detail_text)
        if step == _STEP_EXEC:
            return OSError(err, message, executable)
        if step == _STEP_CHDIR:
            return OSError(err, message, cwd)
        if step == _STEP_NNP:
            return SeccompError(err, "prctl", "PR_SET_NO_NEW_PRIVS in the child")
        if step == _STEP_SECCOMP:
            detail = f"loading the filter in the child (flags {_flag_text(plan.flags)})"
            if err == _errno.EACCES and not plan.no_new_privs:
                detail += ("; NO_NEW_PRIVILEGES is off, so loading needs CAP_SYS_ADMIN: turn "
                           "it on or run with the capability (a user= change drops it)")
            elif err == _errno.EINVAL:
                detail += "; the kernel refused the program or the flags"
            return SeccompError(err, "seccomp", detail)
        if step == _STEP_SENDMSG:
            return SeccompError(err, "sendmsg", "the child could not hand the listener fd to "
                                "the parent; the filter must allow sendmsg")
        return OSError(err, f"{message} ({_STEPS.get(step, f'step {step}')} in the child)")


def spawn(args: str | bytes | os.PathLike[str] | Sequence[Any], filter: Confinement, *,
          program: bytes | None = None,
          rlimits: Mapping[Any, tuple[int, int]] | None = None,
          no_network: bool = False, **popen_options: Any) -> SeccompPopen:
    """Start ``args`` in a child process confined by ``filter``: a
    :class:`~seccomp_py.program.Program`, or a Filter (its ``compile()``).

    ``popen_options`` are those of :class:`subprocess.Popen` (stdin, stdout,
    stderr, cwd, env, close_fds, pass_fds, text, shell, executable, umask,
    start_new_session, process_group, restore_signals, user, group,
    extra_groups...).  The child's sandbox (see :mod:`seccomp_py.sandbox`):
    ``rlimits`` ({resource.RLIMIT_*: (soft, hard)}), ``user``/``group``/
    ``extra_groups`` (supplementary groups are cleared when root changes the
    user without extra_groups) and ``no_network`` (a stacked filter refusing
    every socket family but AF_UNIX) are applied between fork and exec in
    that order, before the filter; a failure raises
    :class:`~seccomp_py.errors.ChildSetupError` naming the call.
    ``explain=callback``: enforce the policy through a supervisor thread that
    calls ``callback(Refusal)`` for every refused or killed call (see
    :mod:`seccomp_py.explain` and docs/explain.md); ``p.refusals`` and
    ``p.killed_by`` keep them.  The filter stays
    usable and unchanged; its compiled BPF is cached, so many spawns under one
    policy are cheap.  See :class:`SeccompPopen` for the exceptions raised, and
    seccomp(2), prctl(2) PR_SET_NO_NEW_PRIVS, seccomp_unotify(2).

    ``program``: load this raw BPF program (host byte order) instead of
    ``filter``'s -- e.g. ``Compiled.runc_program()``, libseccomp's
    program behind runc's -ENOSYS stub.  The seccomp flags and
    no_new_privs still come from ``filter`` (a Filter's attributes), and the checks
    (size, kernel flags, ExecForbiddenError) apply to ``program``.  Raises
    ValueError / TypeError for a program that is not whole instructions.
    """
    return SeccompPopen(args, filter, program=program, rlimits=rlimits, no_network=no_network,
                        **popen_options)


# Syscalls a template and its children make under the filter (with the
# arguments that matter); all must be allowed for SpawnTemplate to work.
_CLONE_FLAGS = 0x00000100 | 0x00004000 | 0x00008000 | 17  # VM|VFORK|PARENT|SIGCHLD
_TEMPLATE_NEEDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("recvmsg", ()), ("read", ()), ("sendto", ()), ("sendmsg", ()), ("close", ()),
    ("clone", (_CLONE_FLAGS,)), ("rt_sigprocmask", ()), ("rt_sigaction", ()), ("fcntl", ()),
    ("dup2", ()), ("dup3", ()), ("close_range", ()), ("fchdir", ()), ("execve", ()),
    ("exit_group", ()), ("setsid", ()), ("setpgid", ()), ("umask", ()),
)


class SpawnTemplate:
    """A confined fork server: load ``filter`` once, start many children under it.

    ``filter`` is a :class:`~seccomp_py.program.Program` or a Filter (its
    ``compile()``).

    Loading a filter makes the kernel check and JIT-compile the BPF program
    (0.25-0.7 ms for Docker's default profile on x86_64), once per child with
    :func:`spawn`.  A template is a small process, forked from this one, that
    loads the filter once and then, on request, vfork()s children that inherit
    it (with CLONE_PARENT, so they are this process's children: ``wait()``
    works as usual).  :meth:`spawn` takes the same options as :func:`spawn`
    and returns the same SeccompPopen.

    Differences from :func:`spawn`, all documented in docs/spawn.md: the filter
    is the one compiled when the template was created (later changes to the
    Filter do not apply: create a new template); filters with NOTIFY rules are
    refused (each child needs its own listener); the child inherits the
    template's credentials, resource limits, signal mask and umask as they
    were at creation (cwd, stdio, environment and pass_fds are sent with every
    request); pass_fds holds at most 60 fds.

    The sandbox options ``user``, ``group``, ``extra_groups``, ``rlimits`` and
    ``no_network`` (as for :func:`spawn`, see :mod:`seccomp_py.sandbox`) are
    given here: the template applies them to itself once, in the same order
    and before it loads the filter, and its children inherit them
    (:meth:`spawn` refuses them with ValueError).  An RLIMIT_NOFILE limit
    also bounds the template: keep it above the fds a request passes.
    ``umask`` and ``start_new_session`` stay per-child options.

    Raises what :func:`spawn` raises; ExecForbiddenError when the policy
    forbids a syscall the template needs (listed in the message);
    UnsupportedError for a notify filter; SeccompError when the template
    could not load the filter.  The template exits when its socket closes:
    on :meth:`close` (or the context manager), on garbage collection, or when
    this process exits.
    """

    def __init__(self, filter: Confinement, *, user: str | int | None = None,
                 group: str | int | None = None,
                 extra_groups: Sequence[str | int] | None = None,
                 rlimits: Mapping[Any, tuple[int, int]] | None = None,
                 no_network: bool = False) -> None:
        self._sock: socket.socket | None = None
        self._pid = -1
        self._owner = os.getpid()
        self._lock = threading.Lock()
        plan = _plan_for(filter)
        if plan.has_notify:
            raise UnsupportedError("SpawnTemplate", "a filter with NOTIFY rules needs one listener "
                                   "per child: use spawn() instead of a template")
        for name, args in _TEMPLATE_NEEDS:
            nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
            if nr < 0:
                continue  # not on this arch (e.g. dup2 on aarch64)
            action = plan.evaluate(nr, args)
            if action.kind not in (ActionKind.ALLOW, ActionKind.LOG):
                raise ExecForbiddenError(
                    name, action,
                    f"the filter's action for {name} is {action!r}, but a SpawnTemplate makes "
                    f"{name} under the filter; use spawn() (which loads the filter in each "
                    "child right before execve) or allow it")
        self._plan = plan
        self.filter = filter
        limits = _sandbox.resolve_rlimits(rlimits)
        uid, gid, gids = _credentials(
            None if user is None else _sandbox.resolve_user(user),
            None if group is None else _sandbox.resolve_group(group),
            None if extra_groups is None else _sandbox.resolve_groups(extra_groups))
        import socket  # not at the top: start-up time (only for notify)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if child.fileno() < 3:
                moved = fcntl.fcntl(child.fileno(), fcntl.F_DUPFD_CLOEXEC, 3)
                child.close()
                child = socket.socket(fileno=moved)
            req = ffi.new("struct spy_spawn_req *")
            req.no_new_privs = 1 if plan.no_new_privs else 0
            req.seccomp_flags = plan.flags
            req.bpf = plan.prog
            req.bpf_len = plan.count
            sandbox_keep = _fill_sandbox(req, uid, gid, gids, limits, no_network)
            pid = check(lib.spy_template_start(req, child.fileno()), "fork")
        except BaseException:
            parent.close()
            child.close()
            raise
        child.close()
        self._sock, self._pid = parent, pid
        self._owner = os.getpid()
        out = ffi.new("int[4]")
        rc = lib.spy_template_reply(parent.fileno(), out, out + 1, out + 2, out + 3)
        if rc < 0 or out[1]:
            self.close()
            if rc < 0:
                raise SeccompError(-rc, "SpawnTemplate", "the template exited while starting")
            raise SeccompPopen._child_error(int(out[1]), int(out[2]), plan, None, None,
                                            rlimit_index=int(out[3]),
                                            sandbox=_describe(req))
        del sandbox_keep  # the template has its own copy (fork)

    @property
    def pid(self) -> int:
        """The template process's pid (-1 once closed)."""
        return self._pid

    @property
    def closed(self) -> bool:
        return self._sock is None

    def spawn(self, args: Any, **popen_options: Any) -> SeccompPopen:
        """Start ``args`` under the template's filter (options as for :func:`spawn`)."""
        if self._sock is None:
            raise ValueError("the SpawnTemplate is closed")
        if os.getpid() != self._owner:
            raise ValueError("a SpawnTemplate only serves the process that created it "
                             "(its children are that process's children)")
        return SeccompPopen(args, self.filter, _template=self, **popen_options)

    def _run(self, p: dict[str, Any], paths: list[bytes], argv: list[bytes],
             envp: list[bytes] | None) -> tuple[int, int, int]:
        """Send one request; returns (pid, err_step, err_errno)."""
        if envp is None:
            envp = [k + b"=" + v for k, v in os.environb.items()]
        pass_fds = sorted({int(fd) for fd in p["pass_fds"]})
        max_fds = int(lib.SPY_TEMPLATE_MAX_FDS) - 4
        if len(pass_fds) > max_fds:
            raise ValueError(f"a SpawnTemplate passes at most {max_fds} fds (pass_fds)")
        if any(fd < 3 for fd in pass_fds):
            raise ValueError("pass_fds below 3 are not supported by a SpawnTemplate")
        h = ffi.new("struct spy_tmpl_header *")
        fds: list[int] = []
        opened: list[int] = []
        try:
            for i, fd in enumerate((p["p2cread"], p["c2pwrite"], p["errwrite"])):
                source = fd if fd != -1 else i
                try:
                    os.fstat(source)
                except OSError:
                    h.stdio[i] = -1  # closed in the parent: closed in the child
                    continue
                h.stdio[i] = len(fds)
                fds.append(source)
            cwd = p["cwd"]
            dirfd = os.open(cwd if cwd is not None else ".",
                            os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            opened.append(dirfd)
            h.cwd = len(fds)
            fds.append(dirfd)
            for i, fd in enumerate(pass_fds):
                h.pass_index[i] = len(fds)
                h.pass_target[i] = fd
                fds.append(fd)
            h.n_pass = len(pass_fds)
            blob = b"".join(s + b"\0" for s in (*paths, *argv, *envp))
            if len(blob) > int(lib.SPY_TEMPLATE_BLOB):
                raise OSError(_errno.E2BIG, "argument list too long for a SpawnTemplate")
            if len(paths) + len(argv) + len(envp) > int(lib.SPY_TEMPLATE_MAX_STRINGS):
                raise OSError(_errno.E2BIG, "too many arguments for a SpawnTemplate")
            h.magic = lib.SPY_TEMPLATE_MAGIC
            h.blob_len = len(blob)
            h.close_fds = 1 if p["close_fds"] else 0
            h.restore_signals = 1 if p["restore_signals"] else 0
            h.new_session = 1 if p["start_new_session"] else 0
            pgid = p.get("process_group", -1)
            h.pgid = -1 if pgid is None else int(pgid)
            h.umask = -1 if p["umask"] is None else int(p["umask"])
            h.n_paths, h.n_argv, h.n_envp = len(paths), len(argv), len(envp)
            h.n_fds = len(fds)
            out = ffi.new("int[3]")
            with self._lock:
                if self._sock is None:
                    raise ValueError("the SpawnTemplate is closed")
                rc = lib.spy_template_spawn(self._sock.fileno(), h, ffi.sizeof(h[0]), blob,
                                            len(blob), ffi.new("int[]", fds or [0]), len(fds),
                                            out, out + 1, out + 2)
        finally:
            for fd in opened:
                os.close(fd)
        if rc < 0:
            self.close()
            raise SeccompError(-rc, "SpawnTemplate", "the template process is gone")
        pid, step, err = int(out[0]), int(out[1]), int(out[2])
        if pid <= 0:
            if step == _STEP_RECVMSG:
                raise SeccompError(err, "SpawnTemplate", "the template refused the request")
            raise SeccompError(err or _errno.EAGAIN, "clone", "the template could not fork")
        return pid, step, err

    def close(self) -> None:
        """Stop the template process (children already started keep running)."""
        if os.getpid() != self._owner:  # a forked copy: leave the creator's template alone
            self._sock = None
            self._pid = -1
            return
        with self._lock:
            sock, self._sock = self._sock, None
            pid, self._pid = self._pid, -1
        if sock is not None:
            sock.close()  # the template sees EOF and exits
        if pid > 0:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def __enter__(self) -> SpawnTemplate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_sock", None) is not None:
            with contextlib.suppress(Exception):
                self.close()

    def __repr__(self) -> str:
        return f"<SpawnTemplate pid={self._pid} {'closed' if self.closed else 'running'}>"
