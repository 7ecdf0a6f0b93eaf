"""Start a child process under a seccomp filter, like :mod:`subprocess`.

>>> import seccomp_py, errno
>>> f = seccomp_py.Filter(seccomp_py.Action.ALLOW)
>>> f.add_rule(seccomp_py.Action.errno(errno.EPERM), "mkdir")
>>> with seccomp_py.spawn(["mkdir", "/tmp/x"], f, stderr=subprocess.DEVNULL) as p:  # doctest: +SKIP
...     p.wait()
1

:func:`spawn` prepares the child's program in Python (the filter's plan,
:mod:`seccomp_py._spawn_plan`; argv, envp, the PATH candidates and the
sandbox, :mod:`seccomp_py._spawn_request`), checks that the policy lets the
child reach its program, and starts it with the C shim's vfork()
(seccomp_py/_shim/spawn.c: raw syscalls only between fork and exec, so it is
safe in a multi-threaded program).  The returned :class:`SeccompPopen` offers
subprocess.Popen's interface (:mod:`seccomp_py._process`).
:class:`SpawnTemplate` loads the filter once in a fork server.  See
docs/spawn.md.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import fcntl
import os
import sys
import threading

from . import sandbox as _sandbox
from ._native import CStrings, check, ffi, lib
from ._process import ChildProcess, Stdio, reap_collected
from ._spawn_plan import Plan, plan_for
from ._spawn_request import (
    STEP_RECVMSG,
    child_error,
    command,
    credentials,
    describe,
    encode_cwd,
    fill_sandbox,
)
from ._spawn_template import TemplateServer
from .action import Action, ActionKind
from .errors import ExecForbiddenError, SeccompError, UnsupportedError
from .program import Program

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    import socket
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Union

    from .notify import Listener  # type: ignore[import-not-found,unused-ignore]

    # what spawn() confines a child with: a Program, or a Filter (anything with
    # compile() -> Program; spawn never imports filter.py)
    Confinement = Union[Program, Any]

__all__ = ["ExecForbiddenError", "SeccompPopen", "SpawnTemplate", "spawn"]

_NR_EXECVE = int(lib.SPY_NR_EXECVE)
_NR_SENDMSG = int(lib.SPY_NR_SENDMSG)
_NR_EXIT_GROUP = int(lib.seccomp_syscall_resolve_name(b"exit_group"))
_MSG_NOSIGNAL = 0x4000  # socket.MSG_NOSIGNAL (Linux); socket is imported where used
_PIPE = -1  # subprocess.PIPE


class SeccompPopen(ChildProcess):
    """A child process running under a seccomp filter, used as a :class:`subprocess.Popen`.

    It offers Popen's interface with Popen's semantics: ``wait``, ``poll``,
    ``communicate``, ``returncode``, ``pid``, ``args``, stdin/stdout/stderr
    with PIPE, DEVNULL, STDOUT, fds or files, text mode, ``send_signal``/
    ``terminate``/``kill`` and the context manager (it is not a Popen
    subclass: see docs/spawn.md).  ``preexec_fn`` raises ValueError: the
    child runs no Python code.

    For a filter with NOTIFY rules, :attr:`listener` is the child's
    seccomp_unotify(2) listener (:attr:`listener_fd` the raw fd, owned by this
    object until :attr:`listener` or :meth:`detach_listener` takes it).  It is
    closed on ``__exit__``; with no supervisor left, notified syscalls fail
    with ENOSYS.

    Raises what subprocess raises for exec failures (FileNotFoundError,
    PermissionError, NotADirectoryError for cwd, ...), ExecForbiddenError
    when the policy forbids execve (or the listener handoff), FilterClosedError
    for a closed filter, FilterTooLargeError, ChildSetupError for the sandbox,
    and SeccompError (func ``"prctl"``, ``"seccomp"``, ``"sendmsg"``) when the
    child could not load the filter.
    """

    listener_fd: int = -1
    filter: Confinement
    explain_thread: threading.Thread | None = None
    _listener: Listener | None = None
    _explain: Any = None

    def __init__(self, args: Any, filter: Confinement, *, program: bytes | None = None,
                 rlimits: Mapping[Any, tuple[int, int]] | None = None,
                 no_network: bool = False, explain: Callable[[Any], None] | None = None,
                 _template: SpawnTemplate | None = None,
                 bufsize: int = -1, executable: Any = None, stdin: Any = None,
                 stdout: Any = None, stderr: Any = None, preexec_fn: Any = None,
                 close_fds: bool = True, shell: bool = False, cwd: Any = None,
                 env: Mapping[Any, Any] | None = None, universal_newlines: bool | None = None,
                 startupinfo: Any = None, creationflags: int = 0,
                 restore_signals: bool = True, start_new_session: bool = False,
                 pass_fds: Sequence[int] = (), user: str | int | None = None,
                 group: str | int | None = None,
                 extra_groups: Sequence[str | int] | None = None, encoding: str | None = None,
                 errors: str | None = None, text: bool | None = None, umask: int = -1,
                 pipesize: int = -1, process_group: int | None = None) -> None:
        self.args = args
        if _template is not None:
            if program is not None:
                raise ValueError("a SpawnTemplate loads its own program: program= is not "
                                 "accepted by SpawnTemplate.spawn()")
            given = [n for n, v in (("user", user), ("group", group),
                                    ("extra_groups", extra_groups)) if v is not None]
            given += ["rlimits"] if rlimits is not None else []
            given += ["no_network"] if no_network else []
            if given:
                raise ValueError(f"{', '.join(given)} must be given to SpawnTemplate(...): the "
                                 "template applies them once, before it loads the filter, for "
                                 "all its children")
        limits = _sandbox.resolve_rlimits(rlimits)
        if explain is not None:
            if _template is not None:
                raise ValueError("explain= is not supported by SpawnTemplate.spawn()")
            plan = self._explain_policy(filter, program, explain)
        elif _template is not None:
            plan = _template._plan
        else:
            plan = plan_for(filter, program)
        self.filter = filter
        if preexec_fn is not None:
            raise ValueError("spawn() does not support preexec_fn=: the child runs no Python "
                             "code between fork and exec")
        if startupinfo is not None:
            raise ValueError("startupinfo is only supported on Windows platforms")
        if creationflags != 0:
            raise ValueError("creationflags is only supported on Windows platforms")
        bufsize = -1 if bufsize is None else bufsize
        pipesize = -1 if pipesize is None else pipesize
        if not isinstance(bufsize, int) or not isinstance(pipesize, int):
            raise TypeError("bufsize and pipesize must be integers")
        if text is not None and universal_newlines is not None and \
                bool(universal_newlines) != bool(text):
            import subprocess

            raise subprocess.SubprocessError(
                "Cannot disambiguate when both text and universal_newlines are supplied but "
                "different. Pass one or the other.")
        self.text_mode = bool(encoding or errors or text or universal_newlines)
        self.encoding, self.errors = encoding, errors
        if pass_fds and not close_fds:
            import warnings

            warnings.warn("pass_fds overriding close_fds.", RuntimeWarning, stacklevel=3)
            close_fds = True
        uid, gid, gids = credentials(user, group, extra_groups)
        args, orig_executable, paths, argv, envp = command(args, shell, executable, env)
        sys.audit("subprocess.Popen", orig_executable, args, cwd, env)
        cwd_bytes = None if cwd is None else encode_cwd(cwd)
        fds = sorted({int(fd) for fd in pass_fds}) if pass_fds else []
        pgid = -1 if process_group is None else int(process_group)
        umask = -1 if umask is None else int(umask)
        reap_collected()
        stdio = Stdio(stdin, stdout, stderr, pipesize)
        try:
            if _template is not None:
                pid = self._start_in(_template, plan, stdio, cwd_bytes, fds, close_fds,
                                     restore_signals, start_new_session, pgid, umask, paths,
                                     argv, envp, orig_executable, cwd)
            else:
                pid = self._start(plan, stdio, cwd_bytes, fds, close_fds, restore_signals,
                                  start_new_session, pgid, umask, paths, argv, envp,
                                  (uid, gid, gids), limits, bool(no_network),
                                  orig_executable, cwd)
        except BaseException:
            stdio.close_all()
            raise
        self._started(pid, stdio, bufsize)
        if self._explain is not None:
            self._start_explain()

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

    def __exit__(self, exc_type: Any, value: Any, traceback: Any) -> None:
        try:
            super().__exit__(exc_type, value, traceback)
        finally:
            self.close_listener()

    def __del__(self) -> None:
        fd = self.listener_fd
        if fd >= 0:
            self.listener_fd = -1
            os.close(fd)
        super().__del__()

    # -- starting the child ------------------------------------------------------

    def _start(self, plan: Plan, stdio: Stdio, cwd: bytes | None, pass_fds: list[int],
               close_fds: bool, restore_signals: bool, new_session: bool, pgid: int,
               umask: int, paths: list[bytes], argv: list[bytes], envp: list[bytes] | None,
               creds: tuple[int | None, int | None, Sequence[int] | None],
               limits: Sequence[tuple[int, int, int]], no_network: bool,
               executable: Any, orig_cwd: Any) -> int:
        """Start the child with the shim's vfork(); returns its pid."""
        explain_socks: tuple[socket.socket, socket.socket] | None = None
        if self._explain is not None:
            explain_socks, plan = self._explain_plan()
        keep = CStrings()  # cdata that must outlive the call
        req = ffi.new("struct spy_spawn_req *")  # zeroed
        req.paths = keep.array(paths)
        req.argv = keep.array(argv)
        req.envp = keep.array(envp) if envp is not None else ffi.NULL
        if cwd is not None:
            req.cwd = keep.str(cwd)
        req.stdio = stdio.child_fds
        req.close_fds = 1 if close_fds else 0
        req.restore_signals = 1 if restore_signals else 0
        req.new_session = 1 if new_session else 0
        req.pgid = pgid
        req.umask = umask
        req.no_new_privs = 1 if plan.no_new_privs else 0
        req.seccomp_flags = plan.flags
        req.bpf = plan.prog
        req.bpf_len = plan.count
        _keep_alive = fill_sandbox(req, *creds, limits, no_network)

        parent_sock: socket.socket | None = None
        child_sock: socket.socket | None = None
        try:
            if explain_socks is not None:
                parent_sock, child_sock = explain_socks
            elif plan.has_notify:
                import socket  # not at the top: start-up time (only for notify)
                parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                # Keep it out of 0..2, which the child's dup2() calls overwrite.
                if child_sock.fileno() < 3:
                    moved = fcntl.fcntl(child_sock.fileno(), fcntl.F_DUPFD_CLOEXEC, 3)
                    child_sock.close()
                    child_sock = socket.socket(fileno=moved)
            notify_sock = child_sock.fileno() if child_sock is not None else -1
            req.notify_sock = notify_sock
            req.notify_peer = parent_sock.fileno() if parent_sock is not None else -1
            if pass_fds or notify_sock >= 3:
                keep_fds = sorted({fd for fd in pass_fds if fd >= 3}
                                  | ({notify_sock} if notify_sock >= 3 else set()))
                keep_arr = ffi.new("int[]", keep_fds)
                req.keep_fds = keep_arr
                req.n_keep_fds = len(keep_fds)
                if pass_fds:
                    inherit_arr = ffi.new("int[]", pass_fds)
                    req.inherit_fds = inherit_arr
                    req.n_inherit_fds = len(pass_fds)

            self._preflight(plan, req)

            rc = lib.spy_spawn(req)
        finally:
            if child_sock is not None:
                child_sock.close()
            if parent_sock is not None:
                parent_sock.close()
        check(rc, "vfork")
        if rc == 0:  # the child failed and was reaped
            raise child_error(int(req.err_step), int(req.err_errno), plan, executable,
                              orig_cwd, rlimit_index=int(req.err_detail),
                              sandbox=describe(req))
        if int(req.err_step) == STEP_RECVMSG:
            import signal

            os.kill(rc, signal.SIGKILL)
            os.waitpid(rc, 0)
            raise SeccompError(int(req.err_errno), "recvmsg",
                               "the listener fd did not arrive from the child")
        self.listener_fd = int(req.listener_fd)
        return int(rc)

    @staticmethod
    def _start_in(template: SpawnTemplate, plan: Plan, stdio: Stdio, cwd: bytes | None,
                  pass_fds: list[int], close_fds: bool, restore_signals: bool,
                  new_session: bool, pgid: int, umask: int, paths: list[bytes],
                  argv: list[bytes], envp: list[bytes] | None, executable: Any,
                  orig_cwd: Any) -> int:
        """Start the child in ``template``'s fork server; returns its pid."""
        server = template._server
        if server is None or server.sock is None:
            raise ValueError("the SpawnTemplate is closed")
        pid, step, err = server.run(stdio.child_fds, cwd, pass_fds, close_fds,
                                    restore_signals, new_session, pgid, umask, paths, argv,
                                    envp)
        if step:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # CLONE_PARENT: it is this process's child
            raise child_error(step, err, plan, executable, orig_cwd)
        return pid

    # -- explain ------------------------------------------------------------------------

    def _explain_policy(self, filter: Confinement, program: bytes | None,
                        explain: Callable[[Any], None]) -> Plan:
        """Set up ``explain=``: the policy watched through a supervisor thread."""
        if not callable(explain):
            raise TypeError("explain must be a callable taking a seccomp_py.explain.Refusal")
        if isinstance(filter, Program):
            raise TypeError("explain= needs a Filter (the rules it explains), not a Program")
        import dataclasses

        from .explain import Policy, _Watcher

        policy = Policy.from_filter(filter)
        if program is not None:
            policy = dataclasses.replace(policy, program=bytes(program))
        self._explain = _Watcher(policy, "explain", explain)
        with policy.watched(hold_execve=False) as probe:  # refuses NOTIFY policies
            return plan_for(probe)

    def _explain_plan(self) -> tuple[tuple[socket.socket, socket.socket], Plan]:
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
                plan = plan_for(watched)
                action = plan.evaluate(_NR_SENDMSG, [moved, 0, _MSG_NOSIGNAL])
                if action.kind not in (ActionKind.ALLOW, ActionKind.LOG):
                    watched.add_rule(Action.ALLOW, "sendmsg", Arg(0) == moved)
                    plan = plan_for(watched)
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

    def _handle_exitstatus(self, status: int) -> None:
        super()._handle_exitstatus(status)
        if self._explain is not None and self.killed_by is not None:
            import signal

            if self.returncode == -signal.SIGKILL:
                self.returncode = -signal.SIGSYS  # what the policy's KILL gives

    def _preflight(self, plan: Plan, req: Any) -> None:
        """Refuse, with an explanation, a policy that stops the child before exec."""
        def ptr(c: Any) -> int:
            return int(ffi.cast("uintptr_t", c))

        action, kind = plan.decide(
            _NR_EXECVE, lambda: [ptr(req.paths[0]), ptr(req.argv), ptr(req.envp)])
        if kind is not ActionKind.ALLOW and kind is not ActionKind.LOG:
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
            action, kind = plan.decide(_NR_EXIT_GROUP, lambda: [255])
            if kind is ActionKind.NOTIFY:
                raise ExecForbiddenError(
                    "exit_group", action,
                    "the filter's action for exit_group is NOTIFY: a child that fails before "
                    "its program runs exits while the parent waits for it in vfork(), so "
                    "nobody could answer (allow exit_group, e.g. "
                    "f.add_rule(Action.ALLOW, 'exit_group'))")
            action, kind = plan.decide(
                _NR_SENDMSG, lambda: [int(req.notify_sock), 0, _MSG_NOSIGNAL])
            if kind is not ActionKind.ALLOW and kind is not ActionKind.LOG:
                raise ExecForbiddenError(
                    "sendmsg", action,
                    f"the filter's action for sendmsg is {action!r}: the child hands the "
                    "listener fd to the parent with sendmsg after loading the filter, so a "
                    "notify policy must allow sendmsg (e.g. f.add_rule(Action.ALLOW, 'sendmsg'))")


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
    (docs/benchmarks.md has the cost), once per child with
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
        self._server: TemplateServer | None = None
        plan = plan_for(filter)
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
        uid, gid, gids = credentials(user, group, extra_groups)
        self._server = TemplateServer(plan, uid, gid, gids, limits, no_network)

    @property
    def pid(self) -> int:
        """The template process's pid (-1 once closed)."""
        return self._server.pid if self._server is not None else -1

    @property
    def closed(self) -> bool:
        return self._server is None or self._server.sock is None

    def spawn(self, args: Any, **popen_options: Any) -> SeccompPopen:
        """Start ``args`` under the template's filter (options as for :func:`spawn`)."""
        server = self._server
        if server is None or server.sock is None:
            raise ValueError("the SpawnTemplate is closed")
        if os.getpid() != server.owner:
            raise ValueError("a SpawnTemplate only serves the process that created it "
                             "(its children are that process's children)")
        return SeccompPopen(args, self.filter, _template=self, **popen_options)

    def close(self) -> None:
        """Stop the template process (children already started keep running)."""
        if self._server is not None:
            self._server.close()

    def __enter__(self) -> SpawnTemplate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self.close()

    def __repr__(self) -> str:
        return f"<SpawnTemplate pid={self.pid} {'closed' if self.closed else 'running'}>"
