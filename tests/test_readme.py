"""The README's examples, run as written, with the outputs they state: as root and as
an unprivileged user (uid/gid 65534).  And its first two commands are what .ci/run runs
in a fresh clone (the demo, then the test command)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.paths import REPO

README = Path(REPO, "README.md").read_text(encoding="utf-8")
BIN = os.path.dirname(sys.executable)
NOBODY = 65534


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.S | re.M)


def _as(user: str) -> dict[str, Any]:
    if user == "root":
        if os.geteuid() != 0:
            pytest.skip("needs root")
        return {}
    if os.geteuid() != 0:
        return {}  # already unprivileged
    drop: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    try:
        probe = subprocess.run([sys.executable, "-c", "import seccomp_py.cli"], cwd="/",
                               capture_output=True, text=True, timeout=60, check=False,
                               **drop)
        why = probe.stderr.strip()[-200:] if probe.returncode else ""
    except OSError as exc:  # the interpreter itself is out of reach
        why = str(exc)
    if why:
        pytest.skip(f"uid {NOBODY} cannot use this checkout's venv (a parent directory is "
                    f"private?): {why}")
    return drop


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory every user can write (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="seccomp-py-readme-"))
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(HOME=str(work), PATH=f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL="C.UTF-8",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def test_the_first_two_commands_are_the_demo_and_the_test_command() -> None:
    proc = subprocess.run([os.path.join(REPO, ".ci", "run"), "--print-commands"],
                          capture_output=True, text=True, check=True, timeout=60)
    demo, tests = proc.stdout.splitlines()
    assert demo == "scripts/demo.sh"
    assert tests.startswith("scripts/setup.sh --tests && ") and " -m pytest" in tests
    assert os.path.join("..", "shared") not in README  # a sibling only the developers have


PYTHON_BLOCKS = blocks("python")


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_examples_print_what_they_say(index: int, user: str, work: Path) -> None:
    """Each Python block ends with a print whose comment is the last line it prints."""
    code = PYTHON_BLOCKS[index]
    last_print = [line for line in code.splitlines() if line.startswith("print(")][-1]
    stated = last_print.split("#", 1)[1].strip()
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=_env(work),
                          capture_output=True, text=True, timeout=60, check=False, **_as(user))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == stated, proc.stdout


SHELL = next(b for b in blocks("bash") if "seccomp-py run --profile docker" in b)
_STATED = re.compile(r'^(?P<cmd>.*?)\s+#.*"(?P<text>[^"]+)", exit (?P<status>\d+)\s*$')


def _shell_examples() -> list[tuple[str, str, int]]:
    out = []
    for line in SHELL.splitlines():
        if not line.strip():
            continue
        m = _STATED.match(line)
        assert m, f"README shell example without a stated output and exit status: {line}"
        out.append((m["cmd"], m["text"], int(m["status"])))
    return out


def test_the_shell_block_is_the_one_described() -> None:
    cmds = [c for c, _, _ in _shell_examples()]
    assert cmds[0] == "seccomp-py run --profile docker -- sh -c 'unshare -U true'"
    assert len(cmds) >= 5


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_shell_examples_do_what_they_say(user: str, work: Path) -> None:
    """In order, in one directory (learn writes ls.json for the lines after it)."""
    whoami = subprocess.run(["id", "-u"], capture_output=True, text=True, check=True,
                            **_as(user))
    assert int(whoami.stdout) == (0 if user == "root" else NOBODY) or os.geteuid() != 0
    for cmd, text, status in _shell_examples():
        proc = subprocess.run(["bash", "-c", cmd], cwd=work, env=_env(work),
                              capture_output=True, text=True, timeout=120, check=False,
                              **_as(user))
        assert proc.returncode == status, (cmd, proc.stdout, proc.stderr)
        assert text in proc.stdout + proc.stderr, (cmd, proc.stdout, proc.stderr)


def test_the_refused_example_is_refused_even_as_root() -> None:
    """As root the process has all capabilities; the docker profile still compiles for
    Docker's default set (no CAP_SYS_ADMIN), so unshare(CLONE_NEWUSER) gets EPERM."""
    if os.geteuid() != 0:
        pytest.skip("the point is that root is refused too")
    proc = subprocess.run([os.path.join(BIN, "seccomp-py"), "run", "--profile", "docker", "--",
                           "sh", "-c", "unshare -U true"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1 and "Operation not permitted" in proc.stderr
    # and with every capability (a privileged container) the same command is allowed
    proc = subprocess.run([os.path.join(BIN, "seccomp-py"), "run", "--profile", "docker",
                           "--caps", "all", "--", "sh", "-c", "unshare -U true"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
