"""scripts/refresh-profiles.py: replaces a built-in from a given file, records its
provenance (commit, sha256, path) and refuses a file that is not a usable profile."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.paths import PROFILES, REPO

SCRIPT = os.path.join(REPO, "scripts", "refresh-profiles.py")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_refresh_records_provenance(tmp_path: Path) -> None:
    dest = tmp_path / "profiles"
    shutil.copytree(PROFILES, dest)
    upstream = tmp_path / "default.json"
    data = json.loads((dest / "docker.json").read_text())
    data["syscalls"] = data["syscalls"][:5]
    upstream.write_text(json.dumps(data))
    commit = "ab" * 20
    proc = run("docker", str(upstream), "--commit", commit, "--dest", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert (dest / "docker.json").read_bytes() == upstream.read_bytes()
    entry = json.loads((dest / "SOURCES.json").read_text())["docker"]
    assert entry["commit"] == commit
    assert entry["sha256"] == hashlib.sha256(upstream.read_bytes()).hexdigest()
    assert entry["path"] == "seccomp/default.json" and entry["project"] == "moby/profiles"
    assert entry["url"].endswith(f"/{commit}/seccomp/default.json")
    assert entry["runtime_caps"] == "docker"
    assert commit in (dest / "NOTICE").read_text()


def test_refresh_refuses_bad_input(tmp_path: Path) -> None:
    dest = tmp_path / "profiles"
    shutil.copytree(PROFILES, dest)
    before = (dest / "SOURCES.json").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    proc = run("docker", str(bad), "--commit", "ab" * 20, "--dest", str(dest))
    assert proc.returncode == 1 and "not a usable profile" in proc.stderr
    assert run("docker", str(bad), "--commit", "abc", "--dest", str(dest)).returncode == 2
    proc = run("newone", str(dest / "docker.json"), "--commit", "ab" * 20, "--dest", str(dest))
    assert proc.returncode == 2 and "--project" in proc.stderr
    assert (dest / "SOURCES.json").read_bytes() == before
