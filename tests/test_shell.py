"""Shell completion and the man page: generated from the parser, installed from share/
(committed copies equal to what the parser generates now), syntactically valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from helpers.paths import REPO

from seccomp_py._cli_shell import INSTALL_PATHS, SHELLS, generate
from seccomp_py.cli import build_parser

SCRIPT = os.path.join(os.path.dirname(sys.executable), "seccomp-py")


@pytest.mark.parametrize("kind", sorted(INSTALL_PATHS))
def test_committed_files_match_the_parser(kind: str) -> None:
    with open(os.path.join(REPO, INSTALL_PATHS[kind]), encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == generate(kind, build_parser()), (
        f"{INSTALL_PATHS[kind]} is stale: run scripts/gen-shell-files.py")


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_script(shell: str) -> None:
    proc = subprocess.run([SCRIPT, "completion", shell], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0 and proc.stdout == generate(shell, build_parser())


def test_every_subcommand_and_option_is_completed() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices
               and "run" in a.choices)
    texts = {shell: generate(shell, build_parser()) for shell in SHELLS}
    assert isinstance(sub.choices, dict)
    for name, sp in sub.choices.items():
        for shell, text in texts.items():
            assert name in text, (shell, name)
        for action in sp._actions:
            for opt in action.option_strings:
                if opt.startswith("--"):
                    assert opt in texts["bash"] and opt in texts["zsh"], opt
                    assert f"-l {opt[2:]}" in texts["fish"], opt


def test_bash_script_is_valid_and_completes(tmp_path: object) -> None:
    path = os.path.join(REPO, INSTALL_PATHS["bash"])
    assert subprocess.run(["bash", "-n", path], check=False).returncode == 0
    probe = (f"source {path}; COMP_WORDS=(seccomp-py run --pro); COMP_CWORD=2; _seccomp_py; "
             "echo \"${COMPREPLY[@]}\"; COMP_WORDS=(seccomp-py check --caps d); COMP_CWORD=3; "
             "_seccomp_py; echo \"${COMPREPLY[@]}\"; COMP_WORDS=(seccomp-py pro); COMP_CWORD=1; "
             "_seccomp_py; echo \"${COMPREPLY[@]}\"")
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True,
                         cwd="/").stdout.splitlines()
    assert out == ["--profile", "docker", "profiles"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse(shell: str) -> None:
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed")
    path = os.path.join(REPO, INSTALL_PATHS[shell])
    args = [exe, "-n", path] if shell == "zsh" else [exe, "--no-execute", path]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_man_page_renders_without_warnings() -> None:
    path = os.path.join(REPO, INSTALL_PATHS["man"])
    if shutil.which("groff") is None or shutil.which("man") is None:
        pytest.skip("groff/man not installed (scripts/setup.sh --tests installs them)")
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    proc = subprocess.run(["man", "-l", path], capture_output=True, text=True, check=False,
                          env={**os.environ, "MANWIDTH": "100", "MANPAGER": "cat",
                               "PAGER": "cat"})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "SECCOMP-PY(1)" in text and "EXIT STATUS" in text
    for name in ("resolve", "compile", "check", "run", "learn", "profiles", "completion"):
        assert f"   {name} - " in text, name
    assert "--caps" in text and "docs/cli.md" in text
    manpage = subprocess.run([SCRIPT, "manpage"], capture_output=True, text=True, check=True)
    assert manpage.stdout == generate("man", build_parser())
