"""learn --runtime runc: a busybox profile learned on the host starts a real runc
container 10 times out of 10; without the runtime's needs it does not start.

Needs runc and busybox-static and root (see tests/test_oci_runc.py); skips and
says why otherwise."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.runc import BUSYBOX, make_bundle, runc_run, runc_usable

from seccomp_py.errors import RuntimeMeasureError
from seccomp_py.runtime import measure

TIMEOUT = 120


@pytest.fixture
def runc_base(tmp_path: Path) -> Path:
    reason = runc_usable(tmp_path)
    if reason:
        pytest.skip(reason)
    return tmp_path


def _learn(base: Path, *extra: str) -> dict[str, object]:
    out = base / f"learned{len(extra)}.json"
    r = subprocess.run([sys.executable, "-m", "seccomp_py", "learn", "-q", *extra, "-o",
                        str(out), "--", BUSYBOX, "ls", "/"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    data: dict[str, object] = json.loads(out.read_text())
    return data


@pytest.mark.timeout(300)
def test_learned_busybox_profile_starts_under_runc_10_of_10(runc_base: Path) -> None:
    with_runtime = _learn(runc_base, "--runtime", "runc")
    bundle = make_bundle(runc_base, ["/bin/ls", "/"], with_runtime)
    results = [runc_run(runc_base, bundle) for _ in range(10)]
    ok = [r for r in results if r.returncode == 0 and "bin" in r.stdout.split()]
    assert len(ok) == 10, [(r.returncode, r.stderr[-300:]) for r in results if r not in ok]
    # both noNewPrivileges settings
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["noNewPrivileges"] = not config["process"].get("noNewPrivileges", False)
    (bundle / "config.json").write_text(json.dumps(config))
    results = [runc_run(runc_base, bundle) for _ in range(10)]
    assert all(r.returncode == 0 and "bin" in r.stdout.split() for r in results), \
        [r.stderr[-300:] for r in results if r.returncode]
    # the control: the program's profile alone does not let runc's init finish
    plain = _learn(runc_base)
    bundle = make_bundle(runc_base, ["/bin/ls", "/"], plain)
    assert runc_run(runc_base, bundle).returncode != 0
    names = set(with_runtime["syscalls"][0]["names"])  # type: ignore[index]
    assert names > set(plain["syscalls"][0]["names"])  # type: ignore[index]


def test_to_profile_runtime(runc_base: Path) -> None:
    from helpers.child import in_child

    from seccomp_py.learn import learn

    out = in_child(lambda: learn(["true"]), timeout=TIMEOUT)
    assert out.error is None, out.error
    plain = set(out.value.to_profile().syscalls[0].names)
    with_runc = set(out.value.to_profile(runtime="runc").syscalls[0].names)
    assert plain < with_runc and "getdents64" in with_runc - plain


def test_measure_is_stable_and_checks(runc_base: Path) -> None:
    a = measure("runc", runs=2, no_new_privs=(True,))
    b = measure("runc", runs=2, no_new_privs=(False,))
    assert {"execve", "write", "close"} <= a
    assert {"setuid", "setgid", "capset"} <= b  # without NNP: the user setup comes after
    with pytest.raises(ValueError):
        measure("docker")
    with pytest.raises(ValueError):
        measure("runc", runs=0)
    if shutil.which("crun") is None:
        with pytest.raises(RuntimeMeasureError, match="crun is not installed"):
            measure("crun")
