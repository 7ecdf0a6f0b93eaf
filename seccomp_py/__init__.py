"""seccomp_py: Linux seccomp for Python, over libseccomp.

>>> from seccomp_py import Filter, Action, Arg
>>> f = Filter(Action.ALLOW)
>>> f.add_rule(Action.errno(1), "mkdir")
>>> f.add_rule(Action.KILL_PROCESS, "write", Arg(0) > 2)
"""

from __future__ import annotations

import sys as _sys
from types import ModuleType as _ModuleType

TYPE_CHECKING = False  # not typing's: importing typing would cost more than the package

__version__ = "0.1.0"

# Every name is imported on first use (PEP 562): ``import seccomp_py`` costs next to
# nothing (the seccomp-py command and short-lived tools start fast), and
# ``from seccomp_py import Filter`` loads just what Filter needs.
_LAZY = {
    "features": "", "progcache": "",
    "Action": "action", "ActionKind": "action",
    "Arch": "arch",
    "Arg": "arg", "ArgCmp": "arg", "Op": "arg",
    "Attribute": "attribute", "Optimize": "attribute",
    "AlreadyLoadedError": "errors", "ChildSetupError": "errors", "ClosedError": "errors",
    "ConcurrentUseError": "errors",
    "FilterClosedError": "errors", "FilterFailedError": "errors",
    "FilterTooLargeError": "errors", "FilterVerificationError": "errors",
    "InvalidArgumentError": "errors", "LibseccompHangError": "errors",
    "SeccompError": "errors", "UnknownArchError": "errors", "UnknownSyscallError": "errors",
    "UnsupportedError": "errors", "WidenedRuleWarning": "errors",
    "Filter": "filter", "RuleRecord": "filter", "Program": "program",
    "ExecForbiddenError": "spawn", "SeccompPopen": "spawn", "SpawnTemplate": "spawn",
    "spawn": "spawn",
    "Syscall": "syscall",
    "Listener": "notify", "ListenerServer": "notify", "Notification": "notify",
    "NotificationGoneError": "notify", "Notifier": "notify", "HandoffError": "notify",
    "HangupError": "notify", "PeerRefusedError": "notify", "Response": "notify",
    "Supervisor": "notify", "UnixNotifier": "notify", "receive_listener": "notify",
    "serve": "notify", "serve_async": "notify",
    "Profile": "profile", "ProfileError": "profile", "ProfileWarning": "profile",
    "WeakenedPolicyWarning": "profile",
    "LearnResult": "learn",
}

if TYPE_CHECKING:  # what the names are, for type checkers and IDEs
    from . import features as features
    from . import progcache as progcache
    from .action import Action as Action
    from .action import ActionKind as ActionKind
    from .arch import Arch as Arch
    from .arg import Arg as Arg
    from .arg import ArgCmp as ArgCmp
    from .arg import Op as Op
    from .attribute import Attribute as Attribute
    from .attribute import Optimize as Optimize
    from .errors import AlreadyLoadedError as AlreadyLoadedError
    from .errors import ChildSetupError as ChildSetupError
    from .errors import ClosedError as ClosedError
    from .errors import ConcurrentUseError as ConcurrentUseError
    from .errors import FilterClosedError as FilterClosedError
    from .errors import FilterFailedError as FilterFailedError
    from .errors import FilterTooLargeError as FilterTooLargeError
    from .errors import FilterVerificationError as FilterVerificationError
    from .errors import InvalidArgumentError as InvalidArgumentError
    from .errors import LibseccompHangError as LibseccompHangError
    from .errors import SeccompError as SeccompError
    from .errors import UnknownArchError as UnknownArchError
    from .errors import UnknownSyscallError as UnknownSyscallError
    from .errors import UnsupportedError as UnsupportedError
    from .errors import WidenedRuleWarning as WidenedRuleWarning
    from .filter import Filter as Filter
    from .filter import RuleRecord as RuleRecord
    from .learn import LearnResult as LearnResult
    from .notify import HandoffError as HandoffError
    from .notify import HangupError as HangupError
    from .notify import Listener as Listener
    from .notify import ListenerServer as ListenerServer
    from .notify import Notification as Notification
    from .notify import NotificationGoneError as NotificationGoneError
    from .notify import Notifier as Notifier
    from .notify import PeerRefusedError as PeerRefusedError
    from .notify import Response as Response
    from .notify import Supervisor as Supervisor
    from .notify import UnixNotifier as UnixNotifier
    from .notify import receive_listener as receive_listener
    from .notify import serve as serve
    from .notify import serve_async as serve_async
    from .profile import Profile as Profile
    from .profile import ProfileError as ProfileError
    from .profile import ProfileWarning as ProfileWarning
    from .profile import WeakenedPolicyWarning as WeakenedPolicyWarning
    from .program import Program as Program
    from .spawn import ExecForbiddenError as ExecForbiddenError
    from .spawn import SeccompPopen as SeccompPopen
    from .spawn import SpawnTemplate as SpawnTemplate
    from .spawn import spawn as spawn
    from .syscall import Syscall as Syscall


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seccomp_py' has no attribute {name!r}")
    import importlib

    if module == "":
        value: object = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(_ModuleType):
    """``seccomp_py.spawn`` is the function: importing the submodule of the same
    name (which sets the package's attribute to the module) keeps the function there."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "spawn" and isinstance(value, _ModuleType):
            value = value.spawn
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "Action",
    "ActionKind",
    "AlreadyLoadedError",
    "Arch",
    "Arg",
    "ArgCmp",
    "Attribute",
    "ChildSetupError",
    "ClosedError",
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
    "LibseccompHangError",
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
    "Program",
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
    "progcache",
    "receive_listener",
    "serve",
    "serve_async",
    "spawn",
]
