"""Learned profiles for other consumers: --format oci|docker|k8s (Security
Profiles Operator), Profile.load of all three, learn --merge; each written
profile is then enforced on the command it was learned from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Profile
from seccomp_py.formats import K8S_API_VERSION, document, dumps, k8s_name, name_from
from seccomp_py.learn import LearnResult, learn
from seccomp_py.profile import ProfileError

TIMEOUT = 30


def _learn(argv: list[str]) -> LearnResult:
    out = in_child(lambda: learn(argv, stdout=subprocess.DEVNULL), timeout=TIMEOUT)
    assert out.error is None, out.error
    result: LearnResult = out.value
    return result


def _bpf(p: Profile) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return p.compile().filter.export_bpf()


def test_three_formats_are_one_policy() -> None:
    prof = _learn(["ls", "/"]).to_profile()
    oci = document(prof, "oci")
    docker = document(prof, "docker")
    k8s = document(prof, "k8s", name="ls-root")
    assert oci["architectures"] == ["SCMP_ARCH_X86_64"] or oci["architectures"]
    assert "archMap" not in oci and "architectures" not in docker
    assert docker["archMap"][0]["architecture"] == oci["architectures"][0]
    assert k8s["apiVersion"] == K8S_API_VERSION and k8s["kind"] == "SeccompProfile"
    assert k8s["metadata"] == {"name": "ls-root"}
    assert k8s["spec"]["syscalls"] == oci["syscalls"]
    assert "defaultErrnoRet" not in k8s["spec"]  # EPERM: the spec has no such field
    want = _bpf(prof)
    for doc in (oci, docker, k8s):
        again = Profile.from_dict(json.loads(json.dumps(doc)))
        assert _bpf(again) == want
        assert again.syscalls[0].names == prof.syscalls[0].names


def test_docker_arch_map_groups_sub_arches() -> None:
    base = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    p = Profile.from_dict({**base, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]})
    assert document(p, "docker")["archMap"] == [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}]
    p = Profile.from_dict({**base, "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"]})
    assert document(p, "docker")["archMap"] == [
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []},
        {"architecture": "SCMP_ARCH_X86", "subArchitectures": []}]
    # and Docker's own archMap flattens for OCI
    docker = Profile.builtin("docker")
    assert "SCMP_ARCH_X32" in document(docker, "docker")["archMap"][0]["subArchitectures"] \
        or document(docker, "docker")["archMap"]
    with pytest.raises(ValueError, match="includes/excludes"):
        document(docker, "oci")  # Docker's conditions mean nothing to runc


def test_k8s_details() -> None:
    p = Profile.from_dict({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                           "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                                         "errnoRet": 38},
                                        {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    doc = document(p, "k8s", name="x.y-z")
    assert doc["spec"]["syscalls"][0]["errnoRet"] == "38"  # a string in SeccompProfileSpec
    back = Profile.from_dict(doc)
    assert back.syscalls[0].errno_ret == 38 and _bpf(back) == _bpf(p)
    with pytest.raises(ValueError, match="defaultErrnoRet"):
        document(Profile.from_dict({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}),
                 "k8s", name="a")
    for bad in ("Upper", "-a", "a_b", "", "a" * 254):
        with pytest.raises(ValueError):
            k8s_name(bad)
    with pytest.raises(ValueError, match="name"):
        document(p, "k8s")
    with pytest.raises(ValueError, match="format"):
        document(p, "yaml")
    assert name_from("/tmp/My_App.json") == "my-app" and name_from("...") == "seccomp-profile"
    with pytest.raises(ProfileError, match="apiVersion"):
        Profile.from_dict({**doc, "apiVersion": "v1"})
    with pytest.raises(ProfileError, match="spec"):
        Profile.from_dict({"apiVersion": K8S_API_VERSION, "kind": "SeccompProfile"})
    based = {**doc, "spec": {**doc["spec"], "baseProfileName": "runc-v1.1.5"}}
    with pytest.warns(Warning, match="baseProfileName"):
        Profile.from_dict(based)
    with pytest.raises(ProfileError, match="baseProfileName"):
        Profile.from_dict(based, strict=True)
    with pytest.raises(ProfileError, match=r"spec\.syscalls\[0\]"):
        Profile.from_dict({**doc, "spec": {**doc["spec"], "syscalls": [{"names": []}]}})
    assert dumps(p, "k8s", name="a").endswith("}\n")


def cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seccomp_py", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, **kw)


def test_cli_learn_k8s_then_run(tmp_path: os.PathLike[str]) -> None:
    out_path = os.path.join(tmp_path, "ls-root.json")
    r = cli("learn", "-q", "--format", "k8s", "-o", out_path, "--", "ls", "/")
    assert r.returncode == 0, r.stderr
    with open(out_path) as fh:
        doc = json.load(fh)
    assert doc["kind"] == "SeccompProfile" and doc["metadata"]["name"] == "ls-root"
    r = cli("run", "--profile", out_path, "--", "ls", "/")  # the k8s object, enforced
    assert r.returncode == 0 and "usr" in r.stdout.split(), r.stderr
    r = cli("run", "--profile", out_path, "--", "sh", "-c", "mkdir /tmp/x-not-learned")
    assert r.returncode != 0
    r = cli("learn", "-q", "--format", "k8s", "--name", "Bad_Name", "-o", out_path, "--", "true")
    assert r.returncode == 1 and r.stderr.count("\n") == 1


def test_cli_learn_merge(tmp_path: os.PathLike[str]) -> None:
    first = os.path.join(tmp_path, "a.json")
    merged = os.path.join(tmp_path, "b.json")
    script = "import json, sys; json.dump({'a': 1}, sys.stdout)"
    assert cli("learn", "-q", "-o", first, "--", "ls", "/").returncode == 0
    r = cli("learn", "-q", "--format", "docker", "--merge", first, "-o", merged, "--",
            sys.executable, "-S", "-c", script)
    assert r.returncode == 0, r.stderr
    a, b = Profile.load(first), Profile.load(merged)
    names = list(b.syscalls[0].names)
    assert len(b.syscalls) == 1 and names == sorted(set(names))
    assert set(a.syscalls[0].names) <= set(names)
    py_only = _learn([sys.executable, "-S", "-c", script]).to_profile()
    assert set(py_only.syscalls[0].names) <= set(names)
    # merging a run that needs nothing new changes nothing
    again = os.path.join(tmp_path, "c.json")
    assert cli("learn", "-q", "--format", "docker", "--merge", merged, "-o", again, "--",
               "ls", "/").returncode == 0
    with open(merged) as f1, open(again) as f2:
        assert f1.read() == f2.read()
    # both commands run under the merged profile
    assert cli("run", "--profile", merged, "--", "ls", "/").returncode == 0
    r = cli("run", "--profile", merged, "--", sys.executable, "-S", "-c", script)
    assert r.returncode == 0 and r.stdout == '{"a": 1}', r.stderr
    # a profile that is not a learned allow-list is refused before the command runs
    marker = os.path.join(tmp_path, "ran")
    from seccomp_py.profile import builtin_path

    r = cli("learn", "-q", "--merge", builtin_path("docker"), "-o", again, "--", "touch", marker)
    assert r.returncode == 1 and "plain" in r.stderr and not os.path.exists(marker)
    r = cli("learn", "-q", "--merge", os.path.join(tmp_path, "missing.json"), "-o", again,
            "--", "true")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
