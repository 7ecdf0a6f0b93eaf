"""The request a spawned child carries out, and what its failures mean.

The parent prepares, in Python, everything the child of the C shim
(seccomp_py/_shim/spawn.c) needs between fork and exec -- the candidate paths
of a PATH search, argv, envp, the sandbox settings -- and turns a failed step
the child reports (step, errno) into the exception :func:`seccomp_py.spawn`
raises (the table in docs/spawn.md).
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Mapping, Sequence

from . import sandbox as _sandbox
from ._kernel import BPF_INSN_SIZE
from ._native import ffi, lib
from ._spawn_plan import Plan, flag_text
from .errors import ChildSetupError, SeccompError

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

STEPS = {
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
STEP_CHDIR = int(lib.SPY_SPAWN_STEP_CHDIR)
STEP_NNP = int(lib.SPY_SPAWN_STEP_NO_NEW_PRIVS)
STEP_SECCOMP = int(lib.SPY_SPAWN_STEP_SECCOMP)
STEP_SENDMSG = int(lib.SPY_SPAWN_STEP_SENDMSG)
STEP_EXEC = int(lib.SPY_SPAWN_STEP_EXEC)
STEP_RECVMSG = int(lib.SPY_SPAWN_STEP_RECVMSG)
STEP_RLIMIT = int(lib.SPY_SPAWN_STEP_RLIMIT)
STEP_SETGROUPS = int(lib.SPY_SPAWN_STEP_SETGROUPS)
STEP_SETGID = int(lib.SPY_SPAWN_STEP_SETGID)
STEP_SETUID = int(lib.SPY_SPAWN_STEP_SETUID)
STEP_SECCOMP_PRE = int(lib.SPY_SPAWN_STEP_SECCOMP_PRE)


def _fsencode_arg(value: Any, what: str) -> bytes:
    data = os.fsencode(value)
    if b"\0" in data:
        raise ValueError(f"embedded null byte in {what}")
    return data


def command(args: Any, shell: bool, executable: Any, env: Mapping[Any, Any] | None
            ) -> tuple[list[Any], Any, list[bytes], list[bytes], list[bytes] | None]:
    """``args`` as subprocess reads them, encoded for execve(2).

    Returns ``(args, executable, paths, argv, envp)``: the argument list (with
    ``/bin/sh -c`` for ``shell``), the program as given (for error messages),
    the candidate paths of a PATH search (tried in turn by the child, like
    execvp(3)), argv, and envp (None: inherit the environment).  Raises
    ValueError (empty args, a null byte, a bad variable name), TypeError.
    """
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
    exe = _fsencode_arg(executable, "the executable")
    if b"/" in exe:
        paths = [exe]
    else:
        paths = [os.path.join(os.fsencode(d), exe) for d in os.get_exec_path(env)] or [exe]
    argv = [_fsencode_arg(a, "args") for a in args]
    envp: list[bytes] | None = None
    if env is not None:
        envp = []
        for k, v in env.items():
            kb = _fsencode_arg(k, "an environment variable name")
            if not kb or b"=" in kb:
                raise ValueError(f"illegal environment variable name {k!r}")
            envp.append(kb + b"=" + _fsencode_arg(v, "an environment variable value"))
    return args, executable, paths, argv, envp


def encode_cwd(cwd: Any) -> bytes:
    return _fsencode_arg(cwd, "cwd")


def credentials(user: str | int | None, group: str | int | None,
                extra_groups: Sequence[str | int] | None
                ) -> tuple[int | None, int | None, Sequence[int] | None]:
    """Resolve user/group names (pwd, grp) and fail closed as root: user= also
    sets the user's group, and clears the supplementary groups unless
    extra_groups= says otherwise.  Raises KeyError, ValueError, TypeError."""
    uid = None if user is None else _sandbox.resolve_user(user)
    gid = None if group is None else _sandbox.resolve_group(group)
    gids = None if extra_groups is None else _sandbox.resolve_groups(extra_groups)
    if (uid is not None or gid is not None) and os.geteuid() == 0:
        if uid is not None and gid is None and uid != 0:
            gid = _sandbox.default_gid(uid)
        if gids is None:
            gids = []
    return uid, gid, gids


def fill_sandbox(req: Any, uid: int | None, gid: int | None, gids: Sequence[int] | None,
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
    if rlimits:
        arr = ffi.new("struct spy_rlimit[]", len(rlimits))
        for i, (res, soft, hard) in enumerate(rlimits):
            arr[i].resource = res
            arr[i].soft = soft
            arr[i].hard = hard
        keep.append(arr)
        req.rlimits = arr
        req.n_rlimits = len(rlimits)
    if no_network:
        prog = _sandbox.no_network_program()
        buf = ffi.from_buffer("char[]", prog)
        keep.append(buf)
        req.bpf_pre = buf
        req.bpf_pre_len = len(prog) // BPF_INSN_SIZE
    return keep


def describe(req: Any) -> dict[int, str]:
    """What each sandbox step of ``req`` asked for, for error messages."""
    out: dict[int, str] = {}
    for i in range(int(req.n_rlimits)):
        r = req.rlimits[i]
        name = _sandbox.RLIMIT_NAMES.get(int(r.resource), f"resource {int(r.resource)}")
        out[-100 - i] = (f"{name} to ({_sandbox.limit_text(int(r.soft))}, "
                         f"{_sandbox.limit_text(int(r.hard))})")
    if req.set_groups:
        out[STEP_SETGROUPS] = ("supplementary groups "
                               f"{[int(req.groups[i]) for i in range(int(req.n_groups))]}")
    out[STEP_SETGID] = f"gid {int(req.gid)}"
    out[STEP_SETUID] = f"uid {int(req.uid)}"
    return out


def child_error(step: int, err: int, plan: Plan, executable: Any, cwd: Any, *,
                rlimit_index: int = -1, sandbox: Mapping[int, str] | None = None) -> OSError:
    """The exception for a child that failed at ``step`` with ``err`` before its
    program ran (docs/spawn.md): OSError for exec and chdir as subprocess
    raises them, SeccompError for prctl/seccomp/sendmsg, ChildSetupError for
    the sandbox."""
    message = os.strerror(err) if err else "unknown error"
    asked = (sandbox or {}).get(step if step != STEP_RLIMIT else -100 - rlimit_index, "")
    if step == STEP_RLIMIT:
        return ChildSetupError(err, "setrlimit", f"setting {asked} in the child"
                               + ("; raising a hard limit needs CAP_SYS_RESOURCE, and "
                                  "RLIMIT_NOFILE cannot exceed fs.nr_open"
                                  if err == _errno.EPERM else ""))
    if step in (STEP_SETGROUPS, STEP_SETGID, STEP_SETUID):
        func = {STEP_SETGROUPS: "setgroups", STEP_SETGID: "setresgid",
                STEP_SETUID: "setresuid"}[step]
        return ChildSetupError(err, func, f"{asked} in the child"
                               + ("; changing credentials needs CAP_SETUID/CAP_SETGID"
                                  if err == _errno.EPERM else ""))
    if step == STEP_SECCOMP_PRE:
        detail_text = "loading the no_network filter in the child"
        if err == _errno.EACCES and not plan.no_new_privs:
            detail_text += ("; NO_NEW_PRIVILEGES is off, so loading needs CAP_SYS_ADMIN "
                            "(which a user= change drops)")
        return SeccompError(err, "seccomp", detail_text)
    if step == STEP_EXEC:
        return OSError(err, message, executable)
    if step == STEP_CHDIR:
        return OSError(err, message, cwd)
    if step == STEP_NNP:
        return SeccompError(err, "prctl", "PR_SET_NO_NEW_PRIVS in the child")
    if step == STEP_SECCOMP:
        detail = f"loading the filter in the child (flags {flag_text(plan.flags)})"
        if err == _errno.EACCES and not plan.no_new_privs:
            detail += ("; NO_NEW_PRIVILEGES is off, so loading needs CAP_SYS_ADMIN: turn "
                       "it on or run with the capability (a user= change drops it)")
        elif err == _errno.EINVAL:
            detail += "; the kernel refused the program or the flags"
        return SeccompError(err, "seccomp", detail)
    if step == STEP_SENDMSG:
        return SeccompError(err, "sendmsg", "the child could not hand the listener fd to "
                            "the parent; the filter must allow sendmsg")
    return OSError(err, f"{message} ({STEPS.get(step, f'step {step}')} in the child)")
