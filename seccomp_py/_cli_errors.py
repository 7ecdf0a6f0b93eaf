"""The ``seccomp-py`` command's errors: one line on stderr, exit status 1
(2 for bad usage, 126/127 when a command cannot be executed).  See docs/cli.md."""

from __future__ import annotations

import sys

from .errors import CliError as CliError
from .errors import UsageError as UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    pass

PROG = "seccomp-py"


def _err(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")


class _ExecError(CliError):
    """The command could not be executed: exit status 127 (not found) or 126."""

    def __init__(self, what: str, cmd: str, exc: OSError) -> None:
        self.status = 127 if isinstance(exc, FileNotFoundError) else 126
        reason = "command not found" if self.status == 127 else (exc.strerror or str(exc))
        super().__init__(f"{what}: {cmd}: {reason}")
