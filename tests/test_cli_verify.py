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


def test_verify_profile_checks_the_program_run_loads(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: pathlib.Path) -> None:
    """verify PROFILE proves the program `run` loads (after its -ENOSYS stub): the
    automatic layout's RANGES program for Docker, libseccomp's program repaired by
    seccomp_py where libseccomp gets the rules wrong (issue 14's ioctl policy)."""
    import warnings

    from seccomp_py.profile import Profile

    status, out, _ = run(capsys, "verify", DOCKER, "--caps", "", "--json")
    data = json.loads(out)
    assert status == 0 and data["verified"] is True and data["repaired"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = Profile.load(DOCKER).compile(caps="")
    loaded = compiled.program()  # what run loads after the stub
    layout = compiled.filter.layout
    compiled.filter.close()
    assert data["layout"] == layout.name
    assert data["instructions"] == len(loaded) // 8
    if X86_64:
        assert data["layout"] == "RANGES"
        status, out, _ = run(capsys, "verify", DOCKER, "--caps", "")
        assert status == 0 and "run` loads after its -ENOSYS stub: RANGES" in out
    # ALLOW ioctl if fd >= 3; ALLOW ioctl if fd <= 2 and request == TCGETS: libseccomp
    # 2.5 merges the two and allows ioctl(0, TIOCSTI); run loads the repaired program
    ioctl = tmp_path / "ioctl.json"
    ioctl.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_GE"}]},
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_LE"},
                  {"index": 1, "value": 0x5401, "op": "SCMP_CMP_EQ"}]}]}))
    status, out, _ = run(capsys, "verify", str(ioctl), "--json")
    data = json.loads(out)
    assert status == 0 and data["verified"] is True
    assert data["layout"] in ("PRIORITY", "BINARY_TREE")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Profile.load(str(ioctl)).compile()
    plain.filter.verify = False
    libseccomp_program = plain.filter.export_bpf()
    from seccomp_py.errors import FilterVerificationError
    from seccomp_py.verify import verify

    try:
        verify(plain.filter.policy(), libseccomp_program)
        wrong = False
    except FilterVerificationError:
        wrong = True
    plain.filter.close()
    assert data["repaired"] is wrong  # repaired exactly when libseccomp's program is wrong


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
