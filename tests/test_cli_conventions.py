"""seccomp-py as a Unix tool: --version, exit statuses (a table: every subcommand's
usage errors exit 2), --json where promised, readable names instead of Python reprs,
built-in profiles by name, capability sets (docs/cli.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from helpers.paths import PROFILES, REPO

import seccomp_py
from seccomp_py import Action, features
from seccomp_py.profile import (
    CAP_SETS,
    Profile,
    ProfileWarning,
    WeakenedPolicyWarning,
    resolve_caps,
)

SCRIPT = os.path.join(os.path.dirname(sys.executable), "seccomp-py")
DOCKER = os.path.join(PROFILES, "docker.json")


def cli(*args: str, cwd: str = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, check=False)


def test_version_is_the_package_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"seccomp-py {seccomp_py.__version__}\n"
    from importlib.metadata import version

    assert seccomp_py.__version__ == version("seccomp_py")


# every subcommand: a usage error exits 2 with one line on stderr, nothing on stdout
USAGE_ERRORS = [
    ([], "required: COMMAND"),
    (["--bogus", "features"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice"),
    (["resolve"], "give syscall names or numbers"),
    (["resolve", "read", "--arch", "vax"], "valid: "),
    (["resolve", "read", "--all"], "not both"),
    (["compile"], "required: PROFILE"),
    (["compile", "docker", "--format", "elf"], "invalid choice"),
    (["compile", "docker", "--runc", "--format", "pfc"], "--runc needs --format bpf"),
    (["compile", "docker", "--caps", "CAP_SYS_ADMN"], "did you mean CAP_SYS_ADMIN"),
    (["compile", "docker", "--kernel", "x"], "--kernel"),
    (["compile", "docker", "--caps", "all", "--all-caps"], "not allowed with"),
    (["check"], "required: PROFILE"),
    (["check", "docker", "--arch", "vax"], "unknown architecture 'vax'"),
    (["disasm"], "required: FILE.bpf"),
    (["features", "--x"], "unrecognized arguments"),
    (["run", "--", "true"], "required: --profile"),
    (["run", "--profile", "docker"], "give the command after '--'"),
    (["run", "--profile", "docker", "--caps", "nope", "--", "true"], "unknown capability"),
    (["run", "--profile", "docker", "--no-cache=yes", "--", "true"], "ignored explicit argument"),
    (["learn", "--", "true"], "required: -o"),
    (["learn", "-o", "x.json"], "give the command after '--'"),
    (["learn", "-o", "x.json", "--default-action", "FOO", "--", "true"], "unknown action"),
    (["learn", "-o", "x.json", "--interval", "0", "--", "true"], "--interval"),
    (["agent"], "required: --socket"),
    (["agent", "--socket", "s", "--deny", "EWHAT"], "EWHAT"),
    (["profiles", "extra"], "unrecognized arguments"),
    (["completion"], "required: shell"),
    (["completion", "tcsh"], "invalid choice"),
    (["manpage", "extra"], "unrecognized arguments"),
    (["inspect"], "give a PID or --runc ID"),
    (["inspect", "notapid"], "is not a pid"),
    (["groups", "--x"], "unrecognized arguments"),
    (["verify"], "give PROFILE.json, PROGRAM.bpf --profile P, or --pid PID --profile P"),
    (["verify", "/etc/hostname"], "needs --profile"),
    (["verify", "--pid", "1"], "--pid/--runc needs --profile PROFILE"),
    (["verify", "--pid", "x", "--profile", "docker"], "'x' is not a pid"),
    (["verify", "--pid", "0", "--profile", "docker"], "'0' is not a pid"),
    (["verify", "--pid", "1", "--runc", "c", "--profile", "docker"], "not both"),
    (["verify", "docker", "--pid", "1", "--profile", "docker"], "not as PROFILE.json"),
    (["verify", "--pid", "1", "--profile", "docker", "--runtime", "crun"], "invalid choice"),
    (["verify", "docker", "--runtime", "runc"], "--runtime is for --pid/--runc"),
    (["verify", "docker", "--root", "/run/runc"], "--root is for --runc"),
    (["query", "docker"], "required: SYSCALL"),
    (["diff", "docker"], "give two of PROFILE/PROGRAM, --pid PID, --runc ID (got 1)"),
    (["diff", "--pid", "1", "--pid", "2", "docker"], "(got 3)"),
    (["diff", "--pid", "-3", "docker"], "is not a pid"),
    (["diff", "--pid", "1", "docker", "--root", "/run/runc"], "--root is for --runc"),
]


def test_the_table_covers_every_subcommand() -> None:
    from seccomp_py.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if getattr(a, "choices", None)
               and "run" in a.choices)  # type: ignore[operator]
    covered = {args[0] for args, _ in USAGE_ERRORS if args and not args[0].startswith("-")}
    missing = set(sub.choices) - covered  # type: ignore[arg-type]
    assert not missing, f"add usage errors of {sorted(missing)} to USAGE_ERRORS"


def test_run_alone_parser_is_the_full_parsers_run() -> None:
    """main() builds only run's parser for `seccomp-py run ...` (start-up time): its help,
    defaults and parse are those of the full parser's run."""
    from seccomp_py.cli import build_parser

    def run_parser(only: str | None) -> Any:
        parser = build_parser(only=only)
        sub = next(a for a in parser._actions if getattr(a, "choices", None)
                   and "run" in a.choices)  # type: ignore[operator]
        return parser, sub

    full, full_sub = run_parser(None)
    alone, alone_sub = run_parser("run")
    assert list(alone_sub.choices) == ["run"]
    assert len(full_sub.choices) > 10
    assert alone_sub.choices["run"].format_help() == full_sub.choices["run"].format_help()
    argv = ["run", "--profile", "docker", "--caps", "all", "-v", "--", "/bin/true", "-x"]
    assert vars(alone.parse_args(argv)) == vars(full.parse_args(argv))
    assert "/bin/true" in alone.parse_args(argv).cmd


QUICK_RUN = [
    ["run", "--profile", "docker", "--", "/bin/true"],
    ["run", "--profile", "docker", "--", "/bin/true", "--", "-x", "--profile"],
    ["run", "--profile", "p.json", "--arch", "x86_64", "--caps", "all", "--kernel", "5.4",
     "--strict", "--strict-multiplexed", "--no-runc-stub", "-v", "--no-cache", "--user", "1",
     "--group", "2", "--extra-groups", "3,4", "--rlimit", "nofile=5", "--rlimit", "core=0",
     "--umask", "077", "--new-session", "--no-network", "--", "sh", "-c", "true"],
    ["run", "--all-caps", "--runc-stub", "--verbose", "--profile", "", "--", "x"],
    ["run", "--caps", "", "--profile", "docker", "--", "x"],
]
# forms _quick_run_args leaves to argparse (what argparse makes of them may be an error)
NOT_QUICK = [
    ["run", "--profile=docker", "--", "x"],
    ["run", "--prof", "docker", "--", "x"],
    ["run", "--profile", "-", "--", "x"],
    ["run", "--profile", "docker", "--caps", "all", "--all-caps", "--", "x"],
    ["run", "--profile", "a", "--profile", "b", "--", "x"],
    ["run", "--profile", "docker", "-v", "--verbose", "--", "x"],
    ["run", "--profile", "docker", "--explain", "--", "x"],
    ["run", "--profile", "docker", "-o", "f.json", "--", "x"],
    ["run", "--profile", "docker", "/bin/true", "--", "x"],
    ["run", "--profile", "docker", "--"],
    ["run", "--profile", "docker", "x"],
    ["run", "--", "x"],
    ["run", "-h", "--", "x"],
    ["run", "--profile", "docker", "--arch", "--", "x"],
    ["run", "--profile", "docker", "-vx", "--", "x"],
]


@pytest.mark.parametrize("argv", QUICK_RUN, ids=" ".join)
def test_run_quick_parse_is_run_parsers(argv: list[str]) -> None:
    """main() parses `run` in its plain form without argparse (start-up time): into
    exactly what run's parser makes of it."""
    from seccomp_py._cli_run import _quick_run_args
    from seccomp_py.cli import build_parser

    quick = _quick_run_args(argv)
    assert quick is not None
    assert vars(quick) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", NOT_QUICK, ids=" ".join)
def test_run_quick_parse_leaves_the_rest_to_argparse(argv: list[str]) -> None:
    from seccomp_py._cli_run import _quick_run_args

    assert _quick_run_args(argv) is None


def test_the_listing_parser_helps_as_the_full_parser() -> None:
    """main() builds the subcommands without their arguments for `seccomp-py --help`,
    --version and no argument (start-up time): same help, same subcommands."""
    from seccomp_py.cli import build_parser

    full, listing = build_parser(), build_parser(only="")
    assert listing.format_help() == full.format_help()
    assert listing.format_usage() == full.format_usage()


def test_main_leaves_argparse_translating() -> None:
    """main() may parse with argparse's gettext lookups short-cut (no catalog: identity);
    afterwards argparse translates as before."""
    import argparse
    import gettext

    from seccomp_py.cli import main

    assert main(["resolve", "read"]) == 0
    assert vars(argparse)["_"] is gettext.gettext
    assert vars(argparse)["ngettext"] is gettext.ngettext


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS,
                         ids=[" ".join(a) or "(none)" for a, _ in USAGE_ERRORS])
def test_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = cli(*args, cwd=str(tmp_path))
    assert proc.returncode == 2, proc
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seccomp-py"), lines
    assert message in lines[0]
    assert proc.stdout == ""


def test_builtin_profile_by_name_and_a_file_of_that_name_wins(tmp_path: Path) -> None:
    proc = cli("compile", "docker", "--format", "pfc")
    assert proc.returncode == 0 and "# filter for arch x86_64" in proc.stdout
    (tmp_path / "docker").write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    proc = cli("check", "docker", cwd=str(tmp_path))
    assert proc.returncode == 0 and "default:   ALLOW" in proc.stdout
    proc = cli("check", "nosuch", cwd=str(tmp_path))
    assert proc.returncode == 1
    assert "not a built-in profile (built-in: docker, podman)" in proc.stderr


def test_profiles_lists_provenance() -> None:
    proc = cli("profiles")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["docker", "podman"]
    assert "moby/profiles" in lines[0] and "Apache-2.0" in lines[0]
    rows = json.loads(cli("profiles", "--json").stdout)
    assert {r["name"] for r in rows} == {"docker", "podman"}
    for r in rows:
        assert len(r["sha256"]) == 64 and len(r["commit"]) == 40
        assert os.path.exists(r["installed_at"])
        assert set(r["default_caps"]) == CAP_SETS[r["name"]]


# -- capabilities --------------------------------------------------------------------------


def test_capability_sets() -> None:
    assert len(CAP_SETS["docker"]) == 14 and "CAP_SYS_ADMIN" not in CAP_SETS["docker"]
    assert len(CAP_SETS["podman"]) == 10 and CAP_SETS["podman"] < CAP_SETS["docker"]
    assert CAP_SETS["docker"] - CAP_SETS["podman"] == {
        "CAP_AUDIT_WRITE", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_CHROOT"}
    assert resolve_caps("none") == resolve_caps("") == resolve_caps([]) == frozenset()
    assert resolve_caps("all") == frozenset(CAP_SETS["all"]) and len(CAP_SETS["all"]) >= 41
    assert resolve_caps("sys_admin, CAP_BPF") == {"CAP_SYS_ADMIN", "CAP_BPF"}
    assert resolve_caps(["sys_admin"]) == {"CAP_SYS_ADMIN"}
    with pytest.raises(ValueError, match="did you mean CAP_SYS_ADMIN"):
        resolve_caps("CAP_SYS_ADMN")
    with pytest.raises(ValueError, match="unknown capability"):
        resolve_caps({"CAP_NOPE"})


def _allowed_unshare(**kw: object) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        c = Profile.builtin("docker").compile("x86_64", kernel="6.1", **kw)  # type: ignore[arg-type]
    with c.filter:
        return any(r.syscall == "unshare" for r in c.rules)


def test_default_caps_are_the_profiles_runtime_set_not_the_callers() -> None:
    """As root (all capabilities) the docker builtin still compiles for Docker's 14."""
    assert Profile.builtin("docker").runtime_caps() == "docker"
    assert Profile.builtin("podman").runtime_caps() == "podman"
    assert Profile.load(DOCKER).runtime_caps() == "none"
    assert not _allowed_unshare()
    assert not _allowed_unshare(caps="docker")
    assert _allowed_unshare(caps="all")
    assert _allowed_unshare(caps="CAP_SYS_ADMIN")


def test_cli_caps_flags_agree_with_the_library() -> None:
    def count(*flags: str) -> str:
        proc = cli("check", "docker", "--allow-unknown", "--json", *flags)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        return f"{len(data['caps'])} {data['caps_set']}"

    assert count() == "14 docker"
    assert count("--caps", "podman") == "10 podman"
    assert count("--caps", "") == "0 none"
    assert count("--caps", "none") == "0 none"
    assert count("--all-caps") == f"{len(CAP_SETS['all'])} all"
    assert count("--caps", "sys_admin,CAP_BPF") == "2 given"
    proc = cli("check", DOCKER, "--allow-unknown", "--json")
    assert json.loads(proc.stdout)["caps_set"] == "none"  # a user's file: none


def test_unknown_names_give_one_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Profile.builtin("docker").to_filter(caps="docker").close()
    unknown = [w for w in caught if issubclass(w.category, ProfileWarning)]
    if features.library_version() >= (2, 6, 0) and not unknown:
        return  # libseccomp 2.6 may know every name
    assert len(unknown) == 1, [str(w.message) for w in unknown]
    message = str(unknown[0].message)
    assert "mseal" in message and "(as runc does)" in message
    assert "\n" not in message


def test_weakened_policy_is_one_loud_warning_and_check_fails(tmp_path: Path) -> None:
    p = tmp_path / "weak.json"
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "opnat", "rmdr"], "action": "SCMP_ACT_ERRNO"}]}))
    with pytest.warns(WeakenedPolicyWarning) as record:
        Profile.load(p).to_filter().close()
    assert len(record) == 1 and "opnat" in str(record[0].message)
    proc = cli("check", str(p))
    assert proc.returncode == 1
    assert "did you mean openat" in proc.stderr and "weaker than the profile" in proc.stderr
    assert "--allow-unknown" in proc.stderr
    assert cli("check", str(p), "--allow-unknown").returncode == 0
    data = json.loads(cli("check", str(p), "--json").stdout)
    assert data["ok"] is False and {u["name"] for u in data["unknown"]} == {"opnat", "rmdr"}
    assert all(u["weakens"] for u in data["unknown"])


# -- readable output and --json --------------------------------------------------------------


def test_actions_print_as_names() -> None:
    assert str(Action.errno(1)) == "ERRNO(EPERM)"
    assert str(Action.KILL_PROCESS) == "KILL_PROCESS"
    assert str(Action.trace(7)) == "TRACE(7)"
    assert repr(Action.errno(1)) == "Action.errno(1)"  # repr stays code
    from seccomp_py.notify import Response

    assert str(Response.errno(1)) == "ERRNO(EPERM)"  # as the OCI agent's log writes it
    assert str(Response.CONTINUE) == "CONTINUE" and str(Response.value(3)) == "VALUE(3)"
    proc = cli("check", "docker", "--allow-unknown")
    assert "default:   ERRNO(EPERM)" in proc.stdout
    assert "Action." not in proc.stdout + proc.stderr


def test_json_outputs() -> None:
    data = json.loads(cli("resolve", "read", "0x3c", "--arch", "x86_64", "--json").stdout)
    assert data["arch"] == "x86_64"
    assert [(r["name"], r["number"]) for r in data["syscalls"]] == [("read", 0), ("exit", 60)]
    proc = cli("resolve", "opnat", "--json", "--arch", "x86_64")
    assert proc.returncode == 1
    assert "openat" in json.loads(proc.stdout)["syscalls"][0]["error"]
    assert json.loads(cli("features", "--json").stdout)["libseccomp"]
    data = json.loads(cli("check", "docker", "--json", "--allow-unknown").stdout)
    assert data["ok"] is True and data["default"] == "ERRNO(EPERM)"
    assert data["instructions"] < data["instruction_limit"]


def test_learn_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    proc = cli("learn", "--json", "-o", str(out), "--", "true")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stderr.splitlines()[-1])
    assert summary["status"] == 0 and summary["output"] == str(out)
    assert summary["default"] == "SCMP_ACT_ERRNO(EPERM)" and summary["allowed"] > 0


def test_disasm_of_a_json_file_says_so() -> None:
    proc = cli("disasm", DOCKER)
    assert proc.returncode == 1
    assert "is JSON (a profile?), not a BPF program" in proc.stderr
    assert "seccomp-py compile" in proc.stderr


def test_help_points_to_reachable_docs() -> None:
    for args in ([], ["run"], ["check"]):
        text = cli(*args, "--help").stdout
        assert "man seccomp-py" in text and "docs/cli.md" in text
