"""runc and a busybox bundle: build an OCI bundle, run a container, check that runc works here,
and a detached container under Docker's profile (``Container``) for the inspect tests."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

from seccomp_py._cli_inspect import runc_pid
from seccomp_py.profile import Profile

from .filter_stacks import assert_not_stopped
from .paths import PROFILES

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


DOCKER = Path(PROFILES) / "docker.json"
LOOP = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done"


def flat_docker() -> dict[str, Any]:
    """Docker's profile in the runtime-spec form runc reads, for runc spec's caps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat: dict[str, Any] = Profile.from_filter(
            Profile.load(DOCKER).to_filter(caps=set(RUNC_CAPS))).to_dict()
    return flat


class Container:
    """A detached runc container under Docker's profile (flattened for runc spec's caps)
    running busybox sh that prints a counter; ``assert_unharmed`` checks it goes on."""

    def __init__(self, base: Path, no_new_privs: bool) -> None:
        assert RUNC is not None
        self.base = base
        self.root = str(base / "runc-state")
        os.makedirs(self.root, exist_ok=True)
        self.seccomp = flat_docker()
        self.bundle = make_bundle(base, ["/bin/sh", "-c", LOOP], self.seccomp)
        (self.bundle / "rootfs" / "bin" / "sleep").symlink_to("busybox")
        config = json.loads((self.bundle / "config.json").read_text())
        config["process"]["noNewPrivileges"] = no_new_privs
        (self.bundle / "config.json").write_text(json.dumps(config))
        self.id = f"spy-insp-{uuid.uuid4().hex[:8]}"
        rfd, wfd = os.pipe()
        errors = base / f"{self.id}.stderr"
        try:
            with open(errors, "w") as err:
                # the container inherits these: no pipe for stderr, or run would never end
                done = subprocess.run([RUNC, "--root", self.root, "run", "-d", "--bundle",
                                       str(self.bundle), self.id], stdin=subprocess.DEVNULL,
                                      stdout=wfd, stderr=err, timeout=60)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(wfd)
        self.out = os.fdopen(rfd, "r")
        if done.returncode != 0:
            self.close()
            pytest.fail(f"runc run failed: {errors.read_text()}")
        self.lines: queue.Queue[str] = queue.Queue()
        self.last = -1
        threading.Thread(target=self._read, daemon=True).start()
        self.pid = runc_pid(self.id, self.root)

    def _read(self) -> None:
        for line in self.out:
            self.lines.put(line.strip())
        self.lines.put("")

    def assert_unharmed(self) -> None:
        assert_not_stopped(self.pid)
        goal = self.last + 3
        while self.last < goal:
            try:
                line = self.lines.get(timeout=20)
            except queue.Empty:
                pytest.fail("the container printed nothing for 20 s")
            assert line, "the container's output ended"
            number = int(line.split()[1])
            assert self.last < 0 or number == self.last + 1, (number, self.last)
            self.last = number

    def close(self) -> None:
        assert RUNC is not None
        subprocess.run([RUNC, "--root", self.root, "delete", "--force", self.id],
                       capture_output=True, timeout=60)
        if hasattr(self, "out"):
            self.out.close()
