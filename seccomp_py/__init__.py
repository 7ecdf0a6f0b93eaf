"""seccomp_py: Linux seccomp for Python, over libseccomp.

>>> from seccomp_py import Filter, Action, Arg
>>> f = Filter(Action.ALLOW)
>>> f.add_rule(Action.errno(1), "mkdir")
>>> f.add_rule(Action.KILL_PROCESS, "write", Arg(0) > 2)
"""

from __future__ import annotations

from . import features
from .action import Action, ActionKind
from .arch import Arch
from .arg import Arg, ArgCmp, Op
from .attribute import Attribute, Optimize
from .errors import (
    AlreadyLoadedError,
    ConcurrentUseError,
    FilterClosedError,
    FilterFailedError,
    FilterTooLargeError,
    FilterVerificationError,
    InvalidArgumentError,
    SeccompError,
    UnknownArchError,
    UnknownSyscallError,
    UnsupportedError,
    WidenedRuleWarning,
)
from .filter import Filter, RuleRecord
from .spawn import ExecForbiddenError, SeccompPopen, SpawnTemplate, spawn
from .syscall import Syscall

__version__ = "0.1.0"

# Names of the notify and profile subsystems, imported on first use (notify
# pulls in asyncio): ``from seccomp_py import Listener`` works, and costs
# nothing for programs that never supervise.
_LAZY = {
    "Listener": "notify", "ListenerServer": "notify", "Notification": "notify",
    "NotificationGoneError": "notify", "Notifier": "notify", "HandoffError": "notify",
    "HangupError": "notify", "PeerRefusedError": "notify", "Response": "notify",
    "Supervisor": "notify", "UnixNotifier": "notify", "receive_listener": "notify",
    "serve": "notify", "serve_async": "notify",
    "Profile": "profile", "ProfileError": "profile", "ProfileWarning": "profile",
    "WeakenedPolicyWarning": "profile",
    "LearnResult": "learn",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seccomp_py' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "Action",
    "ActionKind",
    "AlreadyLoadedError",
    "Arch",
    "Arg",
    "ArgCmp",
    "Attribute",
    "ConcurrentUseError",
    "ExecForbiddenError",
    "Filter",
    "FilterClosedError",
    "FilterFailedError",
    "FilterTooLargeError",
    "FilterVerificationError",
    "HandoffError",
    "HangupError",
    "InvalidArgumentError",
    "LearnResult",
    "Listener",
    "ListenerServer",
    "Notification",
    "NotificationGoneError",
    "Notifier",
    "Op",
    "Optimize",
    "PeerRefusedError",
    "Profile",
    "ProfileError",
    "ProfileWarning",
    "Response",
    "RuleRecord",
    "SeccompError",
    "SeccompPopen",
    "SpawnTemplate",
    "Supervisor",
    "Syscall",
    "UnixNotifier",
    "UnknownArchError",
    "UnknownSyscallError",
    "UnsupportedError",
    "WeakenedPolicyWarning",
    "WidenedRuleWarning",
    "__version__",
    "features",
    "receive_listener",
    "serve",
    "serve_async",
    "spawn",
]
