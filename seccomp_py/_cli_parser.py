"""The argparse classes of the ``seccomp-py`` parser (seccomp_py.cli.build_parser).

Apart from cli.py, so that ``seccomp-py run`` in its plain form (_cli_run._quick_run_args)
imports no argparse at all (start-up time).
"""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["Formatter", "Parser"]


def _columns() -> int:
    """shutil.get_terminal_size().columns without importing shutil (which imports bz2,
    lzma...: milliseconds of start-up, and argparse asks for every argument it adds)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class Formatter(argparse.HelpFormatter):
    """argparse's help formatter, its width found as shutil would (see _columns)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None, **kwargs: Any) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width, **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (and exit status 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
