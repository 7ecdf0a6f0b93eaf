"""``seccomp-py run``: compile a profile (or take its verified program from the
program cache, seccomp_py.progcache), start the command under it, hand a NOTIFY
program's listener to the profile's listenerPath, and exit as the command did.
See docs/cli.md.

Start-up matters here most: the plain form is parsed without argparse
(:func:`_quick_run_args`), and a cache hit imports no part of the compiler.
"""

from __future__ import annotations

import os

from . import _cli_explain, _cli_sandbox
from ._cli_errors import CliError, UsageError, _err, _ExecError
from ._cli_target import _compile, _report_multiplexed
from .errors import SeccompError

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    import argparse
    from typing import Any

OCI_VERSION = "1.0.2"


def _command(args: argparse.Namespace) -> list[str]:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError(f"{args.command}: give the command after '--' "
                       f"(e.g. seccomp-py {args.command} ... -- ls -l)")
    return cmd


def _exit_status(returncode: int) -> int:
    """A shell's view of a wait status: the exit code, or 128 + the signal."""
    return 128 - returncode if returncode < 0 else returncode


def _wait_foreground(proc: Any) -> int:
    """Wait like a shell waits for a foreground job: SIGINT and SIGQUIT (sent by the
    terminal to the whole process group) are for the command, not for us; SIGTERM and
    SIGHUP sent to us are passed on to it."""
    import signal

    def forward(signum: int, _frame: Any) -> None:
        proc.send_signal(signum)

    old = [(s, signal.signal(s, signal.SIG_IGN)) for s in (signal.SIGINT, signal.SIGQUIT)]
    old += [(s, signal.signal(s, forward)) for s in (signal.SIGTERM, signal.SIGHUP)]
    try:
        return int(proc.wait())
    finally:
        for s, handler in old:
            signal.signal(s, handler)


def _hand_listener(path: str, fd: int, pid: int, metadata: str | None) -> None:
    """Send the listener to ``path`` as runc does: connect to the Unix stream socket,
    send the container process state (JSON) with the fd attached (SCM_RIGHTS)."""
    import json
    import socket

    state = {
        "ociVersion": OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata or "",
        "state": {"ociVersion": OCI_VERSION, "id": f"seccomp-py-{pid}", "status": "creating",
                  "pid": pid, "bundle": os.getcwd()},
    }
    payload = json.dumps(state).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(path)
            # the listener goes only to a monitor run by us or root (SO_PEERCRED)
            from .notify import peer_credentials

            ppid, uid, _gid = peer_credentials(sock)
            if uid not in (os.getuid(), 0):
                raise CliError(f"run: refusing to hand the listener to listenerPath {path}: "
                               f"its monitor (pid {ppid}) runs as uid {uid}, not as us or root")
            socket.send_fds(sock, [payload], [fd])
    except OSError as exc:
        raise CliError(f"run: cannot hand the listener to listenerPath {path}: "
                       f"{exc.strerror or exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    cmd = _command(args)
    args.quiet = args.quiet_warnings = not args.verbose
    key, data = _run_cache_key(args)
    if key is not None:
        # a hit loads the program compiled and verified by an earlier run: no compiler
        # is imported (seccomp_py.progcache says what is checked before it is used)
        from . import progcache
        from ._native import lib

        entry = progcache.load(key, report=_cache_refused)
        if entry is not None and int(lib.seccomp_arch_native()) in entry.arches:
            return _run_cached(args, cmd, entry)
    return _run_compiled(args, cmd, key, data)


def _run_cache_key(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """run's program-cache key and the profile file's bytes it covers ((None, None) when
    the cache is not used: --no-cache, SECCOMP_PY_NO_CACHE, a profile on stdin,
    --explain/--complain, or a file that cannot be read -- compiling reports that)."""
    from . import progcache

    if args.no_cache or progcache.disabled() or args.profile == "-" or \
            _cli_explain.wanted(args):
        return None, None
    data: bytes | None = None
    if os.path.exists(args.profile):
        try:
            with open(args.profile, "rb") as fh:
                data = fh.read()
        except OSError:
            return None, None
        source = "file"
    else:  # a built-in profile's name (its file is in progcache.environment())
        source = f"builtin {args.profile}"
    stub = args.runc_stub if args.runc_stub is not None else True
    key = progcache.make_key("seccomp-py run", source, data, args.arch,
                             "all" if args.all_caps else args.caps, args.kernel,
                             str(bool(args.strict)), str(bool(args.strict_multiplexed)),
                             str(bool(stub)))
    return key, data


def _cache_refused(text: str) -> None:
    _err(f"warning: program cache: {text}; compiling the profile afresh")


def _run_compiled(args: argparse.Namespace, cmd: list[str], key: str | None,
                  data: bytes | None) -> int:
    """run, compiling the profile (and keeping its program under ``key``, when given)."""
    from .arch import native

    notes: list[tuple[str, str]] = []
    profile, compiled = _compile(args, data, notes)
    if native() not in compiled.arches:
        raise CliError(f"run: the filter is for {compiled.arch.name.lower()}, which this "
                       f"{native().name.lower()} process cannot run under (use compile for "
                       "other arches)")
    with compiled.filter:
        stub = args.runc_stub if args.runc_stub is not None else True
        program = compiled.to_program(runc=stub)
        if _cli_explain.wanted(args):
            return _cli_explain.run(args, cmd, profile, compiled, program.bpf)
        notify = program.wants_listener
        if notify and not profile.listener_path:
            raise CliError("run: the profile has SCMP_ACT_NOTIFY rules but no listenerPath: "
                           "nobody would answer them")
        from .spawn import spawn

        proc = _start(args, cmd, lambda options: spawn(cmd, program, **options))
        _report_multiplexed(compiled)
        if key is not None:  # the program has been verified and loaded: keep it
            from . import progcache

            def report(text: str) -> None:
                if args.verbose:  # a cache that cannot be written is no error of the run
                    _err(f"warning: program cache: {text}")

            if compiled.widened:
                notes.append(("after", f"warning: {compiled.multiplexed_note}"))
            try:
                entry = progcache.Entry.from_program(
                    program, listener_path=profile.listener_path,
                    listener_metadata=profile.listener_metadata, notes=notes)
            except (SeccompError, ValueError) as exc:  # the child runs: wait for it anyway
                report(f"not stored: {exc}")
            else:
                progcache.store(key, entry, report=report)
    return _supervise(proc, notify, profile.listener_path, profile.listener_metadata)


def _run_cached(args: argparse.Namespace, cmd: list[str], entry: Any) -> int:
    """run with a program from the cache (a progcache.Entry): its notes, then the command."""
    for when, text in entry.notes:
        if when == "always" or (when == "warnings" and not args.quiet_warnings) or \
                (when == "quiet" and not args.quiet):
            _err(text)
    notify = entry.has_notify
    if notify and not entry.listener_path:  # never stored so; fail closed all the same
        raise CliError("run: the profile has SCMP_ACT_NOTIFY rules but no listenerPath: "
                       "nobody would answer them")
    proc = _start(args, cmd, lambda options: entry.spawn(cmd, **options))
    for when, text in entry.notes:
        if when == "after":
            _err(text)
    return _supervise(proc, notify, entry.listener_path, entry.listener_metadata)


def _start(args: argparse.Namespace, cmd: list[str], starter: Any) -> Any:
    """``starter(the spawn options of args)``, its failures as run reports them."""
    from .spawn import ExecForbiddenError

    try:
        return starter(_cli_sandbox.spawn_options(args))
    except ExecForbiddenError as exc:
        raise CliError(f"run: {exc.detail}") from None
    except SeccompError:
        raise
    except OSError as exc:
        if exc.filename is None:
            raise
        raise _ExecError("run", cmd[0], exc) from None


def _supervise(proc: Any, notify: bool, listener_path: str | None,
               listener_metadata: str | None) -> int:
    """Hand a notify program's listener over, then wait for the command like a shell."""
    with proc:
        if notify:
            fd = proc.detach_listener()
            try:
                _hand_listener(str(listener_path), fd, proc.pid, listener_metadata)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                os.close(fd)
        return _exit_status(_wait_foreground(proc))


#: run's options that _quick_run_args parses itself: option -> dest (flags, then values)
_RUN_FLAGS = {"--all-caps": "all_caps", "--strict": "strict",
              "--strict-multiplexed": "strict_multiplexed", "-v": "verbose",
              "--verbose": "verbose", "--no-cache": "no_cache", "--new-session": "new_session",
              "--no-network": "no_network"}
_RUN_VALUES = {"--profile": "profile", "--arch": "arch", "--caps": "caps", "--kernel": "kernel",
               "--user": "user", "--group": "group", "--extra-groups": "extra_groups",
               "--umask": "umask", "--rlimit": "rlimit"}


def _quick_run_args(argv: list[str]) -> Any:
    """``run`` in its plain form -- whole option names, each value a separate word not
    starting with '-', each option once (--rlimit repeatable), then ``--`` and the
    command -- parsed without argparse (importing it and building run's parser cost
    ~10 ms of every command run starts), into the namespace run's parser gives
    (tests/test_cli_conventions.py compares them).  None for anything else (another
    option or form, -h, --explain, a usage error...): then argparse parses it."""
    if "--" not in argv:
        return None
    end = argv.index("--")
    if end + 1 >= len(argv):
        return None
    ns: dict[str, Any] = {
        "command": "run", "profile": None, "arch": None, "caps": None, "all_caps": False,
        "kernel": None, "strict": False, "strict_multiplexed": False, "runc_stub": None,
        "verbose": False, "no_cache": False, "user": None, "group": None,
        "extra_groups": None, "rlimit": [], "umask": None, "new_session": False,
        "no_network": False, "explain": False, "complain": False, "output": None}
    seen: set[str] = set()
    i = 1
    while i < end:
        opt = argv[i]
        value: Any
        if opt in _RUN_FLAGS:
            dest, value = _RUN_FLAGS[opt], True
            i += 1
        elif opt in ("--runc-stub", "--no-runc-stub"):
            dest, value = "runc_stub", opt == "--runc-stub"
            i += 1
        elif opt in _RUN_VALUES and i + 1 < end and not argv[i + 1].startswith("-"):
            dest, value = _RUN_VALUES[opt], argv[i + 1]
            i += 2
        else:
            return None
        if dest == "rlimit":
            ns["rlimit"].append(value)
            continue
        if dest in seen:
            return None
        seen.add(dest)
        ns[dest] = value
    if ns["profile"] is None or (ns["caps"] is not None and ns["all_caps"]):
        return None
    import types

    return types.SimpleNamespace(**ns, cmd=argv[end:], func=cmd_run)
