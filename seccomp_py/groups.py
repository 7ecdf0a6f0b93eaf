"""Named syscall groups: ``Group["@network-io"]``, ``add_group(f, Action.ALLOW, "@basic-io")``.

The names follow systemd.exec(5)'s ``SystemCallFilter=@...``; the membership is
seccomp_py's own.  See docs/groups.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._native import lib
from .action import Action
from .errors import UnknownSyscallWarning

__all__ = ["Group", "SyscallGroup", "add_group", "expand", "group_names", "is_group"]

_NR_ERROR = int(getattr(lib, "__NR_SCMP_ERROR", -1))

# name -> (description, members).  Members are syscall names or "@group".
_TABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "@aio": ("asynchronous I/O: POSIX AIO contexts and io_uring", (
        "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
        "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup")),
    "@basic-io": ("reading, writing, seeking and closing file descriptors", (
        "_llseek", "close", "close_range", "dup", "dup2", "dup3", "lseek", "pread64",
        "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readv", "write",
        "writev")),
    "@chown": ("changing file owner and group", (
        "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32")),
    "@clock": ("setting the system clock", (
        "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64",
        "settimeofday", "stime")),
    "@cpu-emulation": ("CPU emulation and segment/endianness tricks", (
        "modify_ldt", "subpage_prot", "switch_endian", "vm86", "vm86old")),
    "@debug": ("debugging, tracing and reading other processes' memory", (
        "lookup_dcookie", "perf_event_open", "pidfd_getfd", "process_vm_readv",
        "process_vm_writev", "ptrace", "rtas", "s390_runtime_instr",
        "sys_debug_setcontext")),
    "@default": ("what nearly every program needs to start, run and exit", (
        "arch_prctl", "brk", "cacheflush", "clock_getres", "clock_getres_time64",
        "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
        "execve", "exit", "exit_group", "futex", "futex_time64", "futex_waitv",
        "get_robust_list", "get_thread_area", "getcpu", "getegid", "getegid32", "geteuid",
        "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getpgid", "getpgrp",
        "getpid", "getppid", "getrandom", "getresgid", "getresgid32", "getresuid",
        "getresuid32", "getrlimit", "getsid", "gettid", "gettimeofday", "getuid", "getuid32",
        "madvise", "membarrier", "mmap", "mmap2", "mprotect", "mremap", "munmap", "nanosleep",
        "pause", "prlimit64", "restart_syscall", "riscv_flush_icache", "rseq", "rt_sigreturn",
        "sched_getaffinity", "sched_yield", "set_robust_list", "set_thread_area",
        "set_tid_address", "sigreturn", "time", "ugetrlimit", "uname")),
    "@file-system": ("opening, creating, inspecting and changing files and directories", (
        "access", "chdir", "chmod", "close", "creat", "faccessat", "faccessat2", "fallocate",
        "fchdir", "fchmod", "fchmodat", "fchmodat2", "fcntl", "fcntl64", "fgetxattr",
        "file_getattr", "file_setattr", "flistxattr", "fremovexattr", "fsetxattr", "fstat",
        "fstat64", "fstatat64", "fstatfs", "fstatfs64", "ftruncate", "ftruncate64",
        "futimesat", "getcwd", "getdents", "getdents64", "getxattr", "getxattrat",
        "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "lgetxattr",
        "link", "linkat", "listxattr", "listxattrat", "llistxattr", "lremovexattr",
        "lsetxattr", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "mmap",
        "mmap2", "munmap", "newfstatat", "oldfstat", "oldlstat", "oldstat", "open", "openat",
        "openat2", "readlink", "readlinkat", "removexattr", "removexattrat", "rename",
        "renameat", "renameat2", "rmdir", "setxattr", "setxattrat", "stat", "stat64",
        "statfs", "statfs64", "statx", "symlink", "symlinkat", "truncate", "truncate64",
        "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes")),
    "@io-event": ("waiting for events on file descriptors", (
        "_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select")),
    "@ipc": ("pipes, SysV and POSIX IPC, shared memory files", (
        "ipc", "memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
        "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
        "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "semctl", "semget", "semop",
        "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget")),
    "@keyring": ("the kernel keyring", ("add_key", "keyctl", "request_key")),
    "@memlock": ("locking memory into RAM", (
        "mlock", "mlock2", "mlockall", "munlock", "munlockall")),
    "@module": ("loading and unloading kernel modules", (
        "delete_module", "finit_module", "init_module")),
    "@mount": ("mounting, unmounting and changing the root", (
        "chroot", "fsconfig", "fsmount", "fsopen", "fspick", "listmount", "mount",
        "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "pivot_root",
        "statmount", "umount", "umount2")),
    "@network-io": ("sockets: creating, connecting, sending and receiving", (
        "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
        "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
        "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socket", "socketcall",
        "socketpair")),
    "@obsolete": ("calls no current program should make (removed or never implemented)", (
        "_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime",
        "get_kernel_syms", "getpmsg", "gtty", "idle", "lock", "mpx", "prof", "profil",
        "putpmsg", "query_module", "security", "sgetmask", "ssetmask", "stty", "sysfs",
        "tuxcall", "ulimit", "uselib", "ustat", "vserver")),
    "@pkey": ("memory protection keys", ("pkey_alloc", "pkey_free", "pkey_mprotect")),
    "@privileged": ("calls that need a capability to do anything useful", (
        "@chown", "@clock", "@module", "@mount", "@raw-io", "@reboot", "@setuid", "@swap",
        "acct", "bpf", "capset", "fanotify_init", "fanotify_mark", "lookup_dcookie",
        "nfsservctl", "open_by_handle_at", "quotactl", "quotactl_fd", "setdomainname",
        "sethostname", "vhangup")),
    "@process": ("creating, running, waiting for and signalling processes", (
        "arch_prctl", "capget", "clone", "clone3", "execve", "execveat", "fork", "getrusage",
        "kill", "pidfd_open", "pidfd_send_signal", "prctl", "rt_sigqueueinfo",
        "rt_tgsigqueueinfo", "setns", "swapcontext", "tgkill", "times", "tkill", "unshare",
        "vfork", "wait4", "waitid", "waitpid")),
    "@raw-io": ("direct hardware I/O ports and PCI configuration", (
        "ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
        "s390_pci_mmio_read", "s390_pci_mmio_write")),
    "@reboot": ("rebooting and loading a new kernel", (
        "kexec_file_load", "kexec_load", "reboot")),
    "@resources": ("changing scheduling, priorities, limits and memory policy", (
        "ioprio_set", "mbind", "migrate_pages", "move_pages", "nice", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "set_mempolicy",
        "set_mempolicy_home_node", "setpriority", "setrlimit")),
    "@sandbox": ("confining oneself further (seccomp, Landlock)", (
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp")),
    "@setuid": ("changing user and group ids", (
        "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
        "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
        "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32")),
    "@signal": ("signal handlers, masks, waiting for signals", (
        "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "sigaction", "sigaltstack", "signal", "signalfd",
        "signalfd4", "sigpending", "sigprocmask", "sigsuspend")),
    "@swap": ("enabling and disabling swap", ("swapoff", "swapon")),
    "@sync": ("flushing files and memory mappings to storage", (
        "fdatasync", "fsync", "msync", "sync", "sync_file_range", "sync_file_range2",
        "syncfs")),
    "@timer": ("alarms, interval timers and timer fds", (
        "alarm", "getitimer", "setitimer", "timer_create", "timer_delete",
        "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
        "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "times")),
    "@system-service": ("a reasonable allow-list for ordinary services and programs", (
        "@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc",
        "@keyring", "@memlock", "@network-io", "@process", "@resources", "@setuid",
        "@signal", "@sync", "@timer",
        "capset", "copy_file_range", "fadvise64", "fadvise64_64", "flock", "get_mempolicy",
        "getpriority", "ioctl", "ioprio_get", "kcmp", "name_to_handle_at", "oldolduname",
        "olduname", "personality", "readahead", "readdir",
        "remap_file_pages", "sched_get_priority_max", "sched_get_priority_min",
        "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "sendfile", "sendfile64", "setpgid", "setsid",
        "splice", "sysinfo", "tee", "umask", "userfaultfd", "vmsplice")),
}


def is_group(name: str) -> bool:
    """True for a name that looks like a group (starts with ``@``)."""
    return isinstance(name, str) and name.startswith("@")


def _known(name: str) -> bool:
    return int(lib.seccomp_syscall_resolve_name(name.encode())) != _NR_ERROR


@dataclass(frozen=True)
class SyscallGroup:
    """One named group: ``name``, ``description``, ``members`` (names and @groups)."""

    name: str
    description: str
    members: tuple[str, ...]

    def names(self) -> tuple[str, ...]:
        """Every syscall name in the group, nested groups flattened, sorted."""
        out: set[str] = set()
        _flatten(self.name, out, ())
        return tuple(sorted(out))

    def groups(self) -> tuple[str, ...]:
        """The groups this one includes directly."""
        return tuple(m for m in self.members if is_group(m))

    def known(self) -> tuple[str, ...]:
        """The names the linked libseccomp knows (on some arch)."""
        return tuple(n for n in self.names() if _known(n))

    def unknown(self) -> tuple[str, ...]:
        """The names the linked libseccomp does not know (newer syscalls)."""
        return tuple(n for n in self.names() if not _known(n))

    def rules(self, action: Action | int, *args: Any) -> list[tuple[Any, ...]]:
        """``[(action, name, *args), ...]`` for :meth:`Filter.add_rules`, known names only.

        Warns with UnknownSyscallWarning naming the members left out.
        """
        _warn_unknown(self.name, self.unknown())
        return [(action, n, *args) for n in self.known()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __len__(self) -> int:
        return len(self.names())


def _flatten(name: str, out: set[str], stack: tuple[str, ...]) -> None:
    if name in stack:  # pragma: no cover - the table has no cycles (tested)
        raise ValueError(f"syscall group cycle: {' -> '.join((*stack, name))}")
    for m in _TABLE[name][1]:
        if is_group(m):
            _flatten(m, out, (*stack, name))
        else:
            out.add(m)


def _warn_unknown(where: str, unknown: Sequence[str]) -> None:
    if unknown:
        warnings.warn(f"{where}: this libseccomp does not know {', '.join(unknown)}; "
                      "left out (the kernel answers them with the filter's default action)",
                      UnknownSyscallWarning, stacklevel=3)


class _Groups:
    """``Group["@network-io"]`` (the ``@`` is optional); iterate for every name."""

    def __getitem__(self, name: str) -> SyscallGroup:
        if not isinstance(name, str):
            raise TypeError(f"a group name is a string, not {type(name).__name__}")
        key = name if name.startswith("@") else "@" + name
        try:
            description, members = _TABLE[key]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(key, list(_TABLE), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise KeyError(f"unknown syscall group {name!r}{hint}") from None
        return SyscallGroup(key, description, members)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name if name.startswith("@") else "@" + name) in _TABLE

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_TABLE))

    def __len__(self) -> int:
        return len(_TABLE)


#: every group by name: ``Group["@file-system"].names()``
Group = _Groups()


def group_names() -> tuple[str, ...]:
    """The group names, sorted."""
    return tuple(sorted(_TABLE))


def expand(names: Iterable[str], *, known_only: bool = False) -> list[str]:
    """Replace every ``@group`` in ``names`` by its members; keep the rest.

    The result keeps first-seen order without duplicates.  With
    ``known_only``, members this libseccomp does not know are left out with
    an UnknownSyscallWarning (plain names are kept as given).  Raises
    KeyError for an unknown group.
    """
    out: dict[str, None] = {}
    for n in names:
        if is_group(n):
            g = Group[n]
            members = g.names()
            if known_only:
                _warn_unknown(g.name, g.unknown())
                members = g.known()
            out.update(dict.fromkeys(members))
        else:
            out[n] = None
    return list(out)


def add_group(filter: Any, action: Action | int, group: str | SyscallGroup,
              *args: Any) -> tuple[str, ...]:
    """Add ``action`` for every syscall of ``group`` to ``filter`` (with ``args``).

    Members absent on all of the filter's arches are not added (they could
    never match); members this libseccomp does not know are left out with
    an UnknownSyscallWarning.  Returns the names added.  Raises KeyError for
    an unknown group and what :meth:`Filter.add_rules` raises.
    """
    g = Group[group] if isinstance(group, str) else group
    if not isinstance(g, SyscallGroup):
        raise TypeError(f"add_group() takes a group name or SyscallGroup, not {group!r}")
    arches = filter.arches
    _warn_unknown(g.name, g.unknown())
    names = [n for n in g.known()
             if any(int(lib.seccomp_syscall_resolve_name_arch(int(a), n.encode())) >= 0
                    for a in arches)]
    filter.add_rules([(action, n, *args) for n in names])
    return tuple(names)
