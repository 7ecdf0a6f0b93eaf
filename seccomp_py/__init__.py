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
    FilterTooLargeError,
    InvalidArgumentError,
    SeccompError,
    UnknownArchError,
    UnknownSyscallError,
    UnsupportedError,
)
from .filter import Filter
from .syscall import Syscall

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionKind",
    "AlreadyLoadedError",
    "Arch",
    "Arg",
    "ArgCmp",
    "Attribute",
    "ConcurrentUseError",
    "Filter",
    "FilterClosedError",
    "FilterTooLargeError",
    "InvalidArgumentError",
    "Op",
    "Optimize",
    "SeccompError",
    "Syscall",
    "UnknownArchError",
    "UnknownSyscallError",
    "UnsupportedError",
    "__version__",
    "features",
]
