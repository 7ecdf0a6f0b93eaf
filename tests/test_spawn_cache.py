"""The spawn path pays for a filter's program once per filter generation.

Building and verifying the BPF (seccomp_py.verify: a large part of a Docker build) must not
run again for every child: spawn() and SpawnTemplate reuse the program cached for the
filter's generation, and a change to the filter makes exactly one new one.  No timings:
these count the verifier's runs and check what the kernel did to the children.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import seccomp_py.verify as verify_mod
from seccomp_py import Action, Filter, Optimize, Profile
from seccomp_py.spawn import SpawnTemplate, spawn

TRUE = ["/bin/true"]
UNSHARE = [sys.executable, "-I", "-S", "-c",
           "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
           "print(libc.unshare(0), ctypes.get_errno())"]


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts seccomp_py.verify.verify runs (the real verifier still runs)."""
    calls: list[int] = []
    real = verify_mod.verify

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(verify_mod, "verify", counting)
    return calls


def _docker() -> Filter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # socketcall widening on x86, reported elsewhere
        return Profile.builtin("docker").to_filter()


def _unshare_errno(f: Filter) -> list[bytes]:
    proc = spawn(UNSHARE, f, stdout=subprocess.PIPE)
    out: bytes = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0
    return out.split()


def test_docker_spawns_verify_once_per_generation(verify_calls: list[int]) -> None:
    f = _docker()
    assert f.layout is Optimize.RANGES  # the program seccomp_py generates itself
    before = len(verify_calls)
    for _ in range(5):
        assert spawn(TRUE, f).wait() == 0
    # enforced: Docker's profile refuses unshare with EPERM in every child
    assert _unshare_errno(f) == [b"-1", str(errno.EPERM).encode()]
    assert len(verify_calls) - before <= 1  # at most the first export verified
    first = len(verify_calls)
    for _ in range(3):
        assert spawn(TRUE, f).wait() == 0
    assert len(verify_calls) == first  # cached: no verification per spawn
    f.close()


def test_change_makes_one_new_verified_program(verify_calls: list[int]) -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EPERM), "unshare")
    assert spawn(TRUE, f).wait() == 0
    n = len(verify_calls)
    assert n >= 1  # the program was verified before it left
    assert spawn(TRUE, f).wait() == 0
    assert len(verify_calls) == n
    f.add_rule(Action.errno(errno.EACCES), "getppid")  # a new generation
    assert _unshare_errno(f) == [b"-1", str(errno.EPERM).encode()]
    assert len(verify_calls) == n + 1
    assert spawn(TRUE, f).wait() == 0
    assert len(verify_calls) == n + 1
    f.close()


def test_template_verifies_once(verify_calls: list[int]) -> None:
    f = _docker()
    f.export_bpf()
    n = len(verify_calls)
    with SpawnTemplate(f) as template:
        for _ in range(5):
            assert template.spawn(TRUE).wait() == 0
        proc = template.spawn(UNSHARE, stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=60)
        assert out.split() == [b"-1", str(errno.EPERM).encode()]
    assert len(verify_calls) == n
    f.close()


def test_cli_run_pays_its_program_once(verify_calls: list[int],
                                       monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    import seccomp_py._export as export_mod
    import seccomp_py.filter as filter_mod
    from seccomp_py.cli import main

    # a cold program cache (seccomp_py.progcache): this run compiles
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    exports: list[int] = []
    real = export_mod._export_bpf

    def counting(*args: Any, **kwargs: Any) -> Any:
        exports.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(filter_mod, "_export_bpf", counting)
    # the child's exit status comes back: unshare is refused (EPERM: exit 1 from python)
    code = main(["run", "--profile", "docker", "--", *UNSHARE[:-1],
                 UNSHARE[-1] + "; import sys; sys.exit(libc.unshare(0) != -1)"])
    assert code == 0
    assert len(verify_calls) == 1  # one verified program for the command
    # and no libseccomp export: Docker's RANGES program is below any program libseccomp
    # could give (codegen.libseccomp_floor), so the automatic layout skips the export
    assert len(exports) == 0
    # the next run of the same profile takes the verified program from the cache
    code = main(["run", "--profile", "docker", "--", *UNSHARE[:-1],
                 UNSHARE[-1] + "; import sys; sys.exit(libc.unshare(0) != -1)"])
    assert code == 0
    assert (len(verify_calls), len(exports)) == (1, 0)
