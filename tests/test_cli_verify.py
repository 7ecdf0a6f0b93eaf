"""seccomp-py verify / query / diff on the shipped profiles, and bad input (exit 2)."""

from __future__ import annotations

import json
import pathlib

import pytest

from seccomp_py import Arch
from seccomp_py.cli import main
from seccomp_py.profile import builtin_path

X86_64 = Arch.native() == Arch.X86_64
DOCKER = builtin_path("docker")
PODMAN = builtin_path("podman")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_verify_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    for path in (DOCKER, PODMAN):
        status, out, err = run(capsys, "verify", path, "--caps", "")
        assert status == 0, err
        assert out.startswith("verified:") and "every input" in out
        status, out, _ = run(capsys, "verify", path, "--caps", "", "--json")
        data = json.loads(out)
        assert status == 0 and data["verified"] is True and data["inputs"] > 1000
        if X86_64:
            assert set(data["arches"]) == {"x86_64", "x86", "x32"}


def test_verify_a_raw_program_against_a_profile(capsys: pytest.CaptureFixture[str],
                                                tmp_path: pathlib.Path) -> None:
    program = tmp_path / "docker.bpf"
    assert run(capsys, "compile", DOCKER, "--caps", "", "-o", str(program))[0] == 0
    status, out, _ = run(capsys, "verify", str(program), "--profile", DOCKER, "--caps", "")
    assert status == 0 and out.startswith("verified:")
    runc = tmp_path / "runc.bpf"
    assert run(capsys, "compile", DOCKER, "--caps", "", "--runc", "-o", str(runc))[0] == 0
    status, out, _ = run(capsys, "verify", str(runc), "--profile", DOCKER, "--caps", "")
    assert status == 0 and "after runc's -ENOSYS stub" in out
    # Docker's program is not Podman's decisions: exit 1 and the differing input
    status, out, _ = run(capsys, "verify", str(program), "--profile", PODMAN, "--caps", "",
                         "--json")
    data = json.loads(out)
    assert status == 1 and data["verified"] is False
    diff = data["difference"]
    assert diff["syscall"] and diff["expected"] and diff["actual"]
    assert diff["expected"] != [diff["actual"]]


def test_query(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "query", DOCKER, "personality", "0x8", "--caps", "")
    assert status == 0
    assert "ALLOW" in out and "syscalls[" in out
    status, out, _ = run(capsys, "query", DOCKER, "mount", "--caps", "")
    assert status == 0 and "ERRNO(1 EPERM)" in out and "[default]" in out
    status, out, _ = run(capsys, "query", DOCKER, "clone3", "--caps", "", "--json")
    data = json.loads(out)
    assert data["action"] == "ERRNO(38 ENOSYS)" and data["decided_by"].startswith("syscalls[")
    status, out, _ = run(capsys, "query", PODMAN, "clone3", "--caps", "")
    assert "ALLOW" in out


def test_diff_docker_podman(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diff", DOCKER, PODMAN, "--caps", "")
    assert status == 1
    assert "\nclone3:\n" in out and "\nmount:\n" in out
    clone3 = out.split("\nclone3:\n")[1].split("\n")[0]
    assert "ERRNO(38 ENOSYS) -> ALLOW" in clone3
    status, out, _ = run(capsys, "diff", DOCKER, PODMAN, "--caps", "", "--json")
    data = json.loads(out)
    assert status == 1 and not data["same"]
    assert {"clone3", "mount"} <= set(data["syscalls"])
    assert data["syscalls"]["mount"][0]["a"] == "ERRNO(1 EPERM)"
    assert data["syscalls"]["mount"][0]["b"] == "ALLOW"


def test_diff_same_is_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    program = tmp_path / "docker.bpf"
    assert run(capsys, "compile", DOCKER, "--caps", "", "-o", str(program))[0] == 0
    status, out, _ = run(capsys, "diff", DOCKER, str(program), "--caps", "")
    assert status == 0 and "same decisions on every input" in out


@pytest.mark.parametrize("argv", [
    ("verify", "{trunc}", "--profile", DOCKER),
    ("verify", "{notprofile}"),
    ("verify", "{trunc}"),
    ("diff", "{notprofile}", DOCKER),
    ("diff", DOCKER, "{trunc}"),
    ("query", "{notprofile}", "read"),
    ("query", DOCKER, "no_such_syscall"),
    ("query", DOCKER, "read", "notanumber"),
    ("verify", "{missing}"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                          tmp_path: pathlib.Path, argv: tuple[str, ...]) -> None:
    trunc = tmp_path / "trunc.bpf"
    trunc.write_bytes(b"\x20\x00\x00\x00\x04\x00\x00\x00\x15\x00")  # 10 bytes
    notprofile = tmp_path / "x.json"
    notprofile.write_text('{"hello": "world"}')
    names = {"trunc": str(trunc), "notprofile": str(notprofile),
             "missing": str(tmp_path / "missing.json")}
    status, out, err = run(capsys, *(a.format(**names) for a in argv), "--caps", "")
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("seccomp-py: error: "), err
