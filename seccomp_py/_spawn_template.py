"""The fork server behind :class:`seccomp_py.spawn.SpawnTemplate`.

A :class:`TemplateServer` is a process forked from this one by the C shim
(``spy_template_start`` in seccomp_py/_shim/spawn.c) that applies the sandbox,
loads a plan's filter once and then, per request on a socketpair (the
strings in one blob; stdio, cwd and pass_fds as ``SCM_RIGHTS``), clone()s a
child that inherits the filter and execs.  This module speaks that protocol;
the policy checks and the public API are in :mod:`seccomp_py.spawn`
(docs/spawn.md, "Speed: SpawnTemplate").
"""

from __future__ import annotations

import contextlib
import errno as _errno
import fcntl
import os
import threading

from ._native import check, ffi, lib
from ._spawn_plan import Plan
from ._spawn_request import STEP_RECVMSG, child_error, describe, fill_sandbox
from .errors import SeccompError

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    import socket
    from collections.abc import Sequence

_MAX_PASS_FDS = int(lib.SPY_TEMPLATE_MAX_FDS) - 4
_BLOB_MAX = int(lib.SPY_TEMPLATE_BLOB)
_STRINGS_MAX = int(lib.SPY_TEMPLATE_MAX_STRINGS)
_TOO_BIG = "argument list and environment too long for a SpawnTemplate request"


class TemplateServer:
    """A running template process and its socket (see the module).

    Only the process that started it may use it (its children are that
    process's children).
    """

    def __init__(self, plan: Plan, uid: int | None, gid: int | None,
                 gids: Sequence[int] | None, rlimits: Sequence[tuple[int, int, int]],
                 no_network: bool) -> None:
        """Fork the template; it applies the sandbox and loads ``plan``.

        Raises SeccompError (fork, or the template exited), or what
        :func:`~seccomp_py._spawn_request.child_error` makes of a failed step.
        """
        import socket  # not at the top: start-up time

        self.sock: socket.socket | None = None
        self.pid = -1
        self.owner = os.getpid()
        self.lock = threading.Lock()
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
            sandbox_keep = fill_sandbox(req, uid, gid, gids, rlimits, no_network)
            pid = check(lib.spy_template_start(req, child.fileno()), "fork")
        except BaseException:
            parent.close()
            child.close()
            raise
        child.close()
        self.sock, self.pid = parent, pid
        out = ffi.new("int[4]")
        rc = lib.spy_template_reply(parent.fileno(), out, out + 1, out + 2, out + 3)
        if rc < 0 or out[1]:
            self.close()
            if rc < 0:
                raise SeccompError(-rc, "SpawnTemplate", "the template exited while starting")
            raise child_error(int(out[1]), int(out[2]), plan, None, None,
                              rlimit_index=int(out[3]), sandbox=describe(req))
        del sandbox_keep  # the template has its own copy (fork)

    def run(self, stdio: tuple[int, int, int], cwd: bytes | None, pass_fds: list[int],
            close_fds: bool, restore_signals: bool, new_session: bool, pgid: int,
            umask: int, paths: list[bytes], argv: list[bytes], envp: list[bytes] | None
            ) -> tuple[int, int, int]:
        """Send one request; returns (pid, err_step, err_errno).

        ``stdio``: the child's fds 0..2 (-1: this process's own); ``pgid`` and
        ``umask`` -1 for unchanged; ``envp`` None for this process's environ(7).  Raises
        ValueError (closed, too many or low pass_fds), OSError E2BIG,
        SeccompError (the template is gone, refused the request or could not
        fork).
        """
        if len(pass_fds) > _MAX_PASS_FDS:
            raise ValueError(f"a SpawnTemplate passes at most {_MAX_PASS_FDS} fds (pass_fds)")
        if any(fd < 3 for fd in pass_fds):
            raise ValueError("pass_fds below 3 are not supported by a SpawnTemplate")
        h = ffi.new("struct spy_tmpl_header *")
        fds: list[int] = []
        opened: list[int] = []
        try:
            for i, fd in enumerate(stdio):
                source = fd if fd != -1 else i
                try:
                    os.fstat(source)
                except OSError:
                    h.stdio[i] = -1  # closed in the parent: closed in the child
                    continue
                h.stdio[i] = len(fds)
                fds.append(source)
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
            strings = [*paths, *argv, *(envp or ())]
            blob = b"\0".join(strings) + b"\0"
            if len(blob) > _BLOB_MAX or len(strings) > _STRINGS_MAX:
                raise OSError(_errno.E2BIG, _TOO_BIG)
            h.magic = lib.SPY_TEMPLATE_MAGIC
            h.blob_len = len(blob)
            h.close_fds = 1 if close_fds else 0
            h.restore_signals = 1 if restore_signals else 0
            h.new_session = 1 if new_session else 0
            h.pgid = pgid
            h.umask = umask
            # n_envp -1: the shim appends this process's environ (as execve does)
            h.n_paths, h.n_argv = len(paths), len(argv)
            h.n_envp = -1 if envp is None else len(envp)
            h.n_fds = len(fds)
            out = ffi.new("int[3]")
            with self.lock:
                if self.sock is None:
                    raise ValueError("the SpawnTemplate is closed")
                rc = lib.spy_template_spawn(self.sock.fileno(), h, ffi.sizeof(h[0]), blob,
                                            len(blob), ffi.new("int[]", fds or [0]), len(fds),
                                            out, out + 1, out + 2)
        finally:
            for fd in opened:
                os.close(fd)
        if rc == -_errno.E2BIG:  # with the environment: nothing was sent
            raise OSError(_errno.E2BIG, _TOO_BIG)
        if rc < 0:
            self.close()
            raise SeccompError(-rc, "SpawnTemplate", "the template process is gone")
        pid, step, err = int(out[0]), int(out[1]), int(out[2])
        if pid <= 0:
            if step == STEP_RECVMSG:
                raise SeccompError(err, "SpawnTemplate", "the template refused the request")
            raise SeccompError(err or _errno.EAGAIN, "clone", "the template could not fork")
        return pid, step, err

    def close(self) -> None:
        """Stop the template process (children already started keep running)."""
        if os.getpid() != self.owner:  # a forked copy: leave the creator's template alone
            self.sock = None
            self.pid = -1
            return
        with self.lock:
            sock, self.sock = self.sock, None
            pid, self.pid = self.pid, -1
        if sock is not None:
            sock.close()  # the template sees EOF and exits
        if pid > 0:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
