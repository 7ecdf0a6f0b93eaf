"""The OCI agent against a real runtime: runc runs a busybox container whose
seccomp profile sends mkdir to the agent through ``listenerPath``.

Needs runc and busybox-static (``.ci/run`` installs both) and root.  Where
runc cannot run containers here (no cgroups, not root) the tests skip and
say why.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.runc import RUNC_CAPS, make_bundle, runc_run, runc_usable

from seccomp_py.oci import Agent, mkdir_under


@pytest.fixture
def runc_base(tmp_path: Path) -> Path:
    reason = runc_usable(tmp_path)
    if reason:
        print(f"SKIP reason: {reason}")
        pytest.skip(reason)
    return tmp_path


SCRIPT = (
    "mkdir /tmp/ok; echo ok=$?; "
    "mkdir /tmp/ok/inside; echo inside=$?; "
    "mkdir /tmp/outside; echo outside=$?; "
    "mkdir /tmp/ok/../sneaky; echo sneaky=$?; "
    "cd /tmp/ok && mkdir relative; echo relative=$?; "
    "cd /tmp && mkdir ok/../rel-escape; echo relescape=$?; "
    "ls /tmp/ok"
)


@pytest.mark.timeout(120)
def test_runc_container_mkdir_is_decided_by_the_agent(runc_base: Path) -> None:
    events = io.StringIO()
    sock = runc_base / "agent.sock"
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": str(sock),
        "listenerMetadata": "mkdir-policy",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    bundle = make_bundle(runc_base, ["/bin/sh", "-c", SCRIPT], seccomp)
    with Agent(sock, events=events) as agent:
        agent.route(mkdir_under(["/tmp/ok"]), syscalls=["mkdir", "mkdirat"],
                    metadata="mkdir-policy")
        agent.start()
        done = runc_run(runc_base, bundle)
    out = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert done.returncode == 0, done.stderr
    assert out == {"ok": "0", "inside": "0", "outside": "1", "sneaky": "1", "relative": "0",
                   "relescape": "1"}, (done.stdout, done.stderr)
    assert "Permission denied" in done.stderr
    rootfs = bundle / "rootfs" / "tmp"
    assert (rootfs / "ok" / "inside").is_dir()
    assert (rootfs / "ok" / "relative").is_dir()
    assert not (rootfs / "outside").exists()
    assert not (rootfs / "sneaky").exists()
    assert not (rootfs / "rel-escape").exists()
    records = [json.loads(line) for line in events.getvalue().splitlines()]
    containers = [r for r in records if r["event"] == "container"]
    assert len(containers) == 1 and containers[0]["metadata"] == "mkdir-policy"
    assert sum(r["event"] == "decision" for r in records) == 6


@pytest.mark.timeout(120)
def test_runc_container_without_an_agent_fails_to_start(runc_base: Path) -> None:
    """No agent listening: runc refuses to start the container (nothing runs unconfined)."""
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": str(runc_base / "nobody-listens.sock"),
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    bundle = make_bundle(runc_base, ["/bin/echo", "ran"], seccomp)
    done = runc_run(runc_base, bundle)
    assert done.returncode != 0
    assert "ran" not in done.stdout


# -- the same policy through runc and through `seccomp-py run` --------------------------------

from helpers.paths import PROFILES  # noqa: E402

DOCKER = Path(PROFILES) / "docker.json"


def _probe_binary(base: Path) -> Path:
    out = base / "oci_probe"
    src = Path(__file__).resolve().parent / "helpers" / "oci_probe.c"
    done = subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.skip(f"cannot build a static probe: {done.stderr.strip()[:200]}")
    return out


def _outcomes(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line)}


@pytest.mark.timeout(180)
def test_docker_profile_same_outcomes_under_runc_and_seccomp_py_run(runc_base: Path) -> None:
    import sys
    import warnings

    from seccomp_py.profile import Profile

    cli = Path(sys.executable).with_name("seccomp-py")
    assert cli.exists(), f"{cli}: the console script `pip install -e .` installs is missing"
    probe = _probe_binary(runc_base)
    # runc reads the runtime-spec form: flatten Docker's profile for the container's caps.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = Profile.from_filter(Profile.load(DOCKER).to_filter(caps=set(RUNC_CAPS))).to_dict()
    bundle = make_bundle(runc_base, ["/probe"], flat)
    shutil.copy(probe, bundle / "rootfs" / "probe")
    under_runc = runc_run(runc_base, bundle)
    assert under_runc.returncode == 0, under_runc.stderr
    ours = subprocess.run([str(cli), "run", "--profile", str(DOCKER), "--caps",
                           ",".join(RUNC_CAPS), "--", str(probe)],
                          capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stderr
    a, b = _outcomes(under_runc.stdout), _outcomes(ours.stdout)
    assert len(a) >= 25 and a.keys() == b.keys()
    # The decisions seccomp makes in both (denials, the ENOSYS stub) must agree.
    assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert a["socket_vsock"] == 1 and a["clone3"] == 38 and a["nr_1000"] == 38
