"""The ``seccomp-py`` command, end to end through the installed console script
(and ``python -m seccomp_py``)."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import pytest
from helpers.cli import SCRIPT, cli, one_error_line
from helpers.paths import PROFILES

from seccomp_py import Arch, bpf
from seccomp_py.profile import Profile, ProfileWarning
from seccomp_py.syscall import resolve_name

DOCKER = os.path.join(PROFILES, "docker.json")
PODMAN = os.path.join(PROFILES, "podman.json")
NATIVE = Arch.native()


def test_console_script_is_installed() -> None:
    assert os.access(SCRIPT, os.X_OK), SCRIPT


@pytest.mark.parametrize("sub", ["", "resolve", "compile", "check", "disasm", "features",
                                 "run", "learn"])
def test_help_everywhere(sub: str) -> None:
    proc = cli(*([sub] if sub else []), "--help")
    assert proc.returncode == 0
    assert proc.stdout.decode().startswith("usage: seccomp-py")
    assert proc.stderr == b""


def test_python_dash_m_works_too() -> None:
    proc = cli("resolve", "read", "--arch", "x86_64", module=True)
    assert proc.returncode == 0 and proc.stdout == b"read\t0\n"


def test_usage_errors_are_one_line_exit_2() -> None:
    assert "invalid choice" in one_error_line(cli("frobnicate"), 2)
    assert "required" in one_error_line(cli("compile"), 2)
    assert "invalid choice" in one_error_line(cli("compile", DOCKER, "--format", "elf"), 2)


def test_resolve_names_and_numbers_on_any_arch() -> None:
    proc = cli("resolve", "openat", "59", "0x3c", "--arch", "x86_64")
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines() == ["openat\t257", "59\texecve", "60\texit"]
    proc = cli("resolve", "openat", "--arch", "aarch64")
    assert proc.stdout == b"openat\t56\n"
    proc = cli("resolve", "socketcall", "--arch", "x86")
    assert proc.stdout == b"socketcall\t102\n"
    proc = cli("resolve", "--all", "--arch", "x86_64")
    rows = dict(line.split("\t") for line in proc.stdout.decode().splitlines())
    assert rows["read"] == "0" and rows["openat"] == "257" and len(rows) > 300


def test_resolve_errors() -> None:
    line = one_error_line(cli("resolve", "opnat", "--arch", "x86_64"))
    assert "unknown syscall 'opnat'" in line and "openat" in line
    line = one_error_line(cli("resolve", "read", "--arch", "vax"), 2)
    assert "unknown architecture 'vax'; valid: " in line and "x86_64" in line and "aarch64" in line
    assert "99999" in one_error_line(cli("resolve", "99999"))


def _expected_bpf(path: str, caps: Any, arch: Any = None) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        return Profile.load(path).to_filter(arch, caps=caps).export_bpf()


def test_compile_to_bpf_file_matches_the_library(tmp_path: Any) -> None:
    out = tmp_path / "docker.bpf"
    proc = cli("compile", DOCKER, "--caps", "", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == _expected_bpf(DOCKER, ())
    proc = cli("compile", PODMAN, "--all-caps", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    from seccomp_py.profile import CAPABILITIES
    assert out.read_bytes() == _expected_bpf(PODMAN, CAPABILITIES)
    # stdout when it is not a terminal; the profile from stdin
    with open(DOCKER, "rb") as fh:
        proc = cli("compile", "-", "--caps", "CAP_SYS_ADMIN,sys_chroot", stdin=fh.read())
    assert proc.returncode == 0
    assert proc.stdout == _expected_bpf(DOCKER, {"CAP_SYS_ADMIN", "CAP_SYS_CHROOT"})


def test_compile_for_another_arch_and_to_pfc(tmp_path: Any) -> None:
    out = tmp_path / "arm64.bpf"
    proc = cli("compile", DOCKER, "--caps", "", "--arch", "aarch64", "--kernel", "5.10",
               "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    nr = resolve_name("personality", Arch.AARCH64)
    assert bpf.action_name(bpf.evaluate(data, nr, int(Arch.AARCH64), (8,))) == "ALLOW"
    assert bpf.action_name(bpf.evaluate(data, nr, int(Arch.AARCH64), (1,))) == "ERRNO(1 EPERM)"
    proc = cli("compile", DOCKER, "--caps", "", "--format", "pfc")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    assert "pseudo filter code" in text and "action ERRNO(1);" in text


def test_compile_with_runcs_enosys_stub(tmp_path: Any) -> None:
    out = tmp_path / "runc.bpf"
    proc = cli("compile", DOCKER, "--caps", "", "--runc", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    plain = _expected_bpf(DOCKER, ())
    assert data.endswith(plain) and len(data) > len(plain)
    if NATIVE == Arch.X86_64:
        assert bpf.action_name(bpf.evaluate(data, 1000, int(NATIVE))) == "ERRNO(38 ENOSYS)"
        assert bpf.action_name(bpf.evaluate(plain, 1000, int(NATIVE))) == "ERRNO(1 EPERM)"
    assert "--runc needs --format bpf" in one_error_line(
        cli("compile", DOCKER, "--runc", "--format", "pfc"), 2)


def test_compile_errors_name_the_json_path(tmp_path: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}))
    line = one_error_line(cli("compile", str(bad), "-o", str(tmp_path / "x")))
    assert line == (f"seccomp-py: error: {bad}: syscalls[0].args[0].op: "
                    "unknown operator 'SCMP_CMP_FOO'")
    assert not (tmp_path / "x").exists()
    assert "cannot read" in one_error_line(cli("compile", str(tmp_path / "missing.json")))
    bad.write_text("{nope")
    assert "not valid JSON" in one_error_line(cli("check", str(bad)))


def test_compile_unknown_names_warn_or_fail_with_strict(tmp_path: Any) -> None:
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}))
    proc = cli("compile", str(p), "-o", str(tmp_path / "o.bpf"))
    assert proc.returncode == 0
    err = proc.stderr.decode()
    assert "WARNING: syscalls[0].names[1]: a rule refusing 'no_such_syscall' was dropped" in err
    line = one_error_line(cli("compile", str(p), "--strict", "-o", str(tmp_path / "o.bpf")))
    assert "syscalls[0].names[1]: libseccomp does not know syscall 'no_such_syscall'" in line


def test_check_reports_and_exit_status(tmp_path: Any) -> None:
    proc = cli("check", DOCKER, "--caps", "", "--kernel", "6.1", "--allow-unknown")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "skipped syscalls[17]: includes.caps: the process lacks CAP_SYS_ADMIN" in out
    assert "BPF instructions (limit 4096): ok" in out
    assert "kernel 6.1" in out
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["write"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]} for v in range(4200)]}))
    proc = cli("check", str(big))
    assert proc.returncode == 1
    assert "TOO LARGE" in proc.stdout.decode()


def test_disasm(tmp_path: Any) -> None:
    out = tmp_path / "d.bpf"
    assert cli("compile", DOCKER, "--caps", "", "-o", str(out)).returncode == 0
    proc = cli("disasm", str(out))
    assert proc.returncode == 0
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(out.read_bytes()) // 8
    assert "ld  [4]" in lines[0]
    assert any(line.endswith("; personality") for line in lines)
    assert any(line.endswith("; ERRNO(38 ENOSYS)") for line in lines)
    with open(out, "rb") as fh:
        assert cli("disasm", "-", stdin=fh.read()).stdout == proc.stdout
    (tmp_path / "odd.bpf").write_bytes(b"\x00" * 7)
    assert "8-byte" in one_error_line(cli("disasm", str(tmp_path / "odd.bpf")))


def test_features() -> None:
    proc = cli("features")
    assert proc.returncode == 0
    assert proc.stdout.decode().startswith("libseccomp: 2.")
    info = json.loads(cli("features", "--json").stdout)
    assert "ALLOW" in info["kernel_actions"]
