"""Run the seccomp-py command (the console script next to this interpreter, or
``python -m seccomp_py``) and read its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

from .paths import REPO

#: the console script `pip install -e .` puts next to this interpreter
SCRIPT = os.path.join(os.path.dirname(sys.executable), "seccomp-py")


def cli(*args: str, stdin: bytes | None = None,
        module: bool = False) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "seccomp_py"] if module else [SCRIPT]
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, timeout=60,
                          cwd=REPO, check=False)


def one_error_line(proc: subprocess.CompletedProcess[bytes], status: int = 1) -> str:
    assert proc.returncode == status, proc
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("seccomp-py")
    return lines[0]
