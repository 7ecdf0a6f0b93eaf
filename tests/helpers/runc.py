"""runc and a busybox bundle: build an OCI bundle, run a container, check that runc works here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
RUNC = shutil.which("runc")
APPLETS = ["sh", "mkdir", "echo", "ls", "cat", "test"]


def make_bundle(base: Path, args: list[str], seccomp: dict[str, Any] | None) -> Path:
    """A minimal OCI bundle: a static busybox root and a config.json from `runc spec`."""
    bundle = base / f"bundle-{uuid.uuid4().hex[:8]}"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "dev", "sys", "tmp"):
        (rootfs / d).mkdir()
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    assert RUNC is not None
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True, timeout=30)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["root"]["readonly"] = False
    if seccomp is not None:
        config["linux"]["seccomp"] = seccomp
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    return bundle


def runc_run(base: Path, bundle: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert RUNC is not None
    state = base / "runc-state"
    state.mkdir(exist_ok=True)
    cid = f"spy-{uuid.uuid4().hex[:10]}"
    try:
        return subprocess.run([RUNC, "--root", str(state), "run", "--bundle", str(bundle), cid],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([RUNC, "--root", str(state), "delete", "--force", cid],
                       capture_output=True, timeout=30)


_PROBE: dict[str, str] = {}


def runc_usable(base: Path) -> str:
    """'' when runc can run a busybox container here, else the reason."""
    if "reason" in _PROBE:
        return _PROBE["reason"]
    reason = ""
    if RUNC is None:
        reason = "runc is not installed (apt-get install runc)"
    elif not os.path.exists(BUSYBOX):
        reason = "busybox is not installed (apt-get install busybox-static)"
    elif os.geteuid() != 0:
        reason = "runc needs root here"
    else:
        try:
            done = runc_run(base, make_bundle(base, ["/bin/echo", "ok"], None))
            if done.returncode != 0 or done.stdout.strip() != "ok":
                reason = f"runc cannot run a container here: {done.stderr.strip()[:300]}"
        except (OSError, subprocess.SubprocessError) as exc:
            reason = f"runc cannot run a container here: {exc}"
    _PROBE["reason"] = reason
    return reason


# The capabilities `runc spec` gives a container; the profile is compiled for them on both sides.
RUNC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
