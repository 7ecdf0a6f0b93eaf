"""socketcall/ipc multiplexing is reported, and refused on request.

Under Docker's profile with no capabilities, AF_VSOCK is refused through
x86_64 and i386 socket() but created through i386 socketcall(2): seccomp
cannot read socketcall's arguments, so libseccomp (like runc) lets the
argument-checked socket rules match every socketcall.  ``to_filter``,
``run`` and ``check`` say so, rule by rule; ``strict_multiplexed`` /
``--strict-multiplexed`` refuse socketcall on those arches.  The kernel's
verdicts come from tests/helpers/probe.c's ``vsock`` mode (raw i386 ``int 0x80``).
"""

from __future__ import annotations

import errno
import os
import platform
import subprocess
import warnings
from typing import Any

import pytest
from helpers.cli import cli
from helpers.paths import PROFILES

from seccomp_py import Action, Arch, Filter
from seccomp_py.errors import WidenedRuleWarning
from seccomp_py.profile import Profile

DOCKER = os.path.join(PROFILES, "docker.json")
EPERM, ENOSYS = -errno.EPERM, -errno.ENOSYS

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="i386 int 0x80 probes need x86_64")


def _probe(c_helpers: dict[str, str], filt: Filter, tmp_path: Any) -> str:
    path = os.path.join(tmp_path, "filter.bpf")
    with open(path, "wb") as fh:
        fh.write(filt.export_bpf())
    return subprocess.run([c_helpers["probe"], "vsock", path], capture_output=True, text=True,
                          timeout=20, check=True).stdout.strip()


def test_to_filter_reports_every_widened_rule_and_keeps_runc_parity(
        c_helpers: dict[str, str], tmp_path: Any) -> None:
    profile = Profile.builtin("docker")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filt = profile.to_filter("x86_64", caps=[], unknown="ignore")
    widened = [w for w in caught if issubclass(w.category, WidenedRuleWarning)]
    assert len(widened) == 1, [str(w.message) for w in caught]
    message = str(widened[0].message)
    for path in ("syscalls[2]", "syscalls[3]", "syscalls[4]"):
        assert path in message
    assert "socketcall(2)" in message and "as under runc" in message
    with filt:
        assert _probe(c_helpers, filt, tmp_path) == f"native={EPERM} i386={EPERM} socketcall=ok"


def test_strict_multiplexed_refuses_socketcall_on_i386(c_helpers: dict[str, str],
                                                        tmp_path: Any) -> None:
    profile = Profile.builtin("docker")
    with warnings.catch_warnings():
        warnings.simplefilter("error", WidenedRuleWarning)
        compiled = profile.compile("x86_64", caps=[], unknown="ignore",
                                   strict_multiplexed=True)
    assert compiled.widened == ()
    assert [s.name for s in compiled.skipped_for("strict-multiplexed")] == ["socketcall"]
    with compiled.filter as filt:
        assert _probe(c_helpers, filt, tmp_path) == \
            f"native={EPERM} i386={EPERM} socketcall={ENOSYS}"
    # the x86_64-only filter has nothing to refuse
    only = profile.compile("x86_64", caps=[], unknown="ignore", strict_multiplexed=True)
    only.filter.close()
    assert profile.to_filter("x86_64", caps=[], unknown="ignore",
                             strict_multiplexed=True).arches


def test_check_lists_the_widened_rules_and_the_strict_refusal() -> None:
    out = cli("check", DOCKER, "--arch", "x86_64", "--caps", "", "--allow-unknown")
    assert out.returncode == 0, out
    text = out.stdout.decode()
    assert "multiplexed:" in text
    for path in ("syscalls[2]", "syscalls[3]", "syscalls[4]"):
        assert f"  {path}: " in text
    strict = cli("check", DOCKER, "--arch", "x86_64", "--caps", "", "--strict-multiplexed",
                 "--allow-unknown")
    assert strict.returncode == 0, strict
    assert "socketcall is refused on x86" in strict.stdout.decode()


def test_run_reports_and_strict_closes_the_hole(c_helpers: dict[str, str],
                                                tmp_path: Any) -> None:
    allow_all = os.path.join(tmp_path, "allow.bpf")
    with Filter(Action.ALLOW) as f, open(allow_all, "wb") as fh:
        f.add_arch(Arch.X86)  # the probe's own filter must let i386 calls through
        fh.write(f.export_bpf())
    base = ["run", "--profile", DOCKER, "--caps", ""]
    loose = cli(*base, "--", c_helpers["probe"], "vsock", allow_all)
    assert loose.returncode == 0, loose
    assert loose.stdout.decode().strip() == f"native={EPERM} i386={EPERM} socketcall=ok"
    assert "socketcall(2)" in loose.stderr.decode()
    strict = cli(*base, "--strict-multiplexed", "--", c_helpers["probe"], "vsock", allow_all)
    assert strict.returncode == 0, strict
    assert strict.stdout.decode().strip() == \
        f"native={EPERM} i386={EPERM} socketcall={ENOSYS}"
