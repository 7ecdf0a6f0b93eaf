"""Packaging, end to end: the wheel, the sdist, and the no-libseccomp-dev failure.

Marked ``slow`` (deselect with ``-m "not slow"``); they run by default.  Each step
is a real subprocess with a timeout:

- ``scripts/build-wheel.sh`` builds the sdist, builds the wheel from it and
  repairs it with auditwheel (a tools venv, ``.venv-build/``, is reused between
  runs; pip's cache keeps downloads out of the loop);
- the repaired wheel goes into a fresh ``python3 -m venv`` (no system site
  packages) and ``scripts/smoke_test.py`` runs from a folder outside the source
  tree: a forked child loads a filter and gets EACCES / EXDEV from the kernel,
  and the libseccomp in the process is the wheel's bundled copy (read from
  /proc/self/maps, and ``ldd`` on the installed extension agrees);
- the sdist builds and installs into another fresh venv and passes the same
  smoke test against the system libseccomp;
- ``pip install .`` without seccomp.h (hidden by SECCOMP_PY_INCLUDE_DIR, and for
  real in a private mount namespace where /usr/include has no seccomp.h) fails
  with one message naming the package to install, and no compiler error.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get(
    "SECCOMP_PY_TEST_PYTHON", "/usr/bin/python3" if Path("/usr/bin/python3").exists()
    else sys.executable
)
TOOLS = Path(os.environ.get("SECCOMP_PY_TOOLS_VENV", REPO / ".venv-build"))
VERSION = "0.1.0"

pytestmark = pytest.mark.slow

_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "wheelhouse", "*.egg-info", "__pycache__",
    "*.so", "*.o", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", SECCOMP_PY_NO_ADVISORY_WARNING="1")
    env.update(extra)
    return env


def _run(cmd: list[str], *, timeout: float, cwd: Path | None = None,
         env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        pytest.fail(f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
                    f"\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


def _venv(path: Path, *packages: str) -> Path:
    """A fresh venv (no system site packages) with ``packages`` installed; its python."""
    _run([PYTHON, "-m", "venv", str(path)], timeout=120)
    python = path / "bin" / "python"
    if packages:
        _run([str(python), "-m", "pip", "install", "-q", *packages], timeout=300)
    return python


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def _smoke(python: Path, cwd: Path, *args: str) -> dict[str, Any]:
    proc = _run([str(python), str(REPO / "scripts" / "smoke_test.py"),
                 "--source-tree", str(REPO), *args], cwd=cwd, timeout=120, check=False)
    assert proc.returncode == 0, f"smoke test failed:\n{proc.stdout}\n{proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the source tree (so builds never write into the work tree)."""
    dest = tmp_path_factory.mktemp("pkg") / "src"
    shutil.copytree(REPO, dest, ignore=_IGNORE)
    return dest


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run scripts/build-wheel.sh: the repaired wheel and the sdist."""
    out = tmp_path_factory.mktemp("wheelhouse")
    proc = _run(["bash", str(source / "scripts" / "build-wheel.sh"), str(out)], timeout=600,
                env=_env(SECCOMP_PY_TOOLS_VENV=str(TOOLS), PYTHON=PYTHON))
    wheel = Path(proc.stdout.strip().splitlines()[-1])
    assert wheel.is_file(), proc.stdout
    (sdist,) = out.glob(f"seccomp_py-{VERSION}.tar.gz")
    # the build (sdist, then the wheel from it) says nothing deprecated
    log = (out / "raw" / "build.log").read_text()
    assert "Successfully built" in log and "running egg_info" in log  # the build's log
    assert "eprecat" not in log and "is absent from the packages" not in log, log[-4000:]
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_is_one_abi3_manylinux_wheel_with_libseccomp_inside(built: dict[str, Path]) -> None:
    wheel = built["wheel"]
    machine = platform.machine()
    match = re.fullmatch(
        rf"seccomp_py-{re.escape(VERSION)}-cp39-abi3-(?P<plat>[\w.]+)\.whl", wheel.name)
    assert match, wheel.name
    plats = match["plat"].split(".")
    assert all(p.startswith(("manylinux", "musllinux")) for p in plats), plats
    assert any(re.fullmatch(rf"(manylinux|musllinux)_\d+_\d+_{machine}", p) for p in plats)

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        wheel_meta = zf.read(f"seccomp_py-{VERSION}.dist-info/WHEEL").decode()
        metadata = zf.read(f"seccomp_py-{VERSION}.dist-info/METADATA").decode()
    bundled = [n for n in names if re.fullmatch(r"seccomp_py\.libs/libseccomp-\w+\.so\.2[\d.]*", n)]
    assert len(bundled) == 1, names
    assert "seccomp_py/_seccomp.abi3.so" in names
    assert "Tag: cp39-abi3-" in wheel_meta
    # the licenses travel with the wheel: ours, libseccomp's notice, the LGPL-2.1 text
    for lic in ("LICENSE", "LICENSE-libseccomp", "LICENSE-LGPL-2.1"):
        assert any(n.startswith(f"seccomp_py-{VERSION}.dist-info/") and n.endswith("/" + lic)
                   for n in names), (lic, names)
    with zipfile.ZipFile(wheel) as zf:
        lgpl = next(n for n in names if n.endswith("/LICENSE-LGPL-2.1"))
        assert b"GNU LESSER GENERAL PUBLIC LICENSE" in zf.read(lgpl)
        assert b"Version 2.1" in zf.read(lgpl)
    # the built-in profiles and their provenance, the completions and the man page
    for name in ("docker.json", "podman.json", "SOURCES.json", "NOTICE", "LICENSE-Apache-2.0"):
        assert f"seccomp_py/profiles/{name}" in names, name
    data = f"seccomp_py-{VERSION}.data/data/"
    for path in ("share/man/man1/seccomp-py.1", "share/bash-completion/completions/seccomp-py",
                 "share/zsh/site-functions/_seccomp-py",
                 "share/fish/vendor_completions.d/seccomp-py.fish"):
        assert data + path in names, path
    assert "Requires-Python: >=3.9" in metadata
    assert "Project-URL" not in metadata  # none invented
    # nothing from a build tree leaks in
    assert not [n for n in names if "__pycache__" in n or n.endswith((".o", ".pyc"))]


def test_wheel_in_fresh_venv_enforces_a_filter_with_its_bundled_libseccomp(
    built: dict[str, Path], tmp_path: Path,
) -> None:
    python = _venv(tmp_path / "venv-wheel")
    _run([str(python), "-m", "pip", "install", "-q", str(built["wheel"])], timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    report = _smoke(python, outside, "--bundled", "--source-tree", str(built["wheel"].parent))

    site = Path(report["module"]).parent
    assert site.is_relative_to(tmp_path / "venv-wheel"), report["module"]
    assert report["child"]["mkdir"] == 13 and report["child"]["rmdir"] == 18, report
    assert not report["child"]["dir_created"]
    # the wheel's command, its built-in profile and its man page work from the venv
    venv = tmp_path / "venv-wheel"
    cli = venv / "bin" / "seccomp-py"
    done = _run([str(cli), "run", "--profile", "docker", "--", "true"], timeout=60, cwd=outside)
    assert done.returncode == 0
    man = venv / "share" / "man" / "man1" / "seccomp-py.1"
    assert man.read_text().startswith(".TH SECCOMP\\-PY 1")
    lib = Path(report["libseccomp_path"])
    assert lib.parent == site / "seccomp_py.libs", lib
    # the dynamic linker agrees: ldd resolves libseccomp into the wheel's copy only
    ldd = _run(["ldd", str(site / "seccomp_py" / "_seccomp.abi3.so")], timeout=30).stdout
    lines = [ln for ln in ldd.splitlines() if "libseccomp" in ln]
    assert len(lines) == 1, ldd
    resolved = re.search(r"=>\s*(\S+)", lines[0])
    assert resolved, ldd
    assert Path(os.path.normpath(resolved[1])) == lib, ldd


def _other_cpythons() -> list[Path]:
    """Other CPython interpreters on this machine (>= 3.9), oldest and newest only:
    ``SECCOMP_PY_ABI3_PYTHONS`` (colon-separated), else pyenv's and PATH's python3.X."""
    if os.environ.get("SECCOMP_PY_ABI3_PYTHONS"):
        candidates = [Path(p) for p in os.environ["SECCOMP_PY_ABI3_PYTHONS"].split(":") if p]
    else:
        candidates = sorted(Path("/root/.pyenv/versions").glob("3.*/bin/python3"))
        candidates += [Path(p) for p in (shutil.which(f"python3.{m}") for m in range(9, 20)) if p]
    by_version: dict[tuple[int, int], Path] = {}
    mine = _version_of(Path(PYTHON))
    for exe in candidates:
        version = _version_of(exe)
        if version and version >= (3, 9) and version != mine:
            by_version.setdefault(version, exe)
    if not by_version:
        return []
    ordered = sorted(by_version)
    return [by_version[v] for v in dict.fromkeys([ordered[0], ordered[-1]])]


def _version_of(exe: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(exe), "-c", "import sys, platform; print(*sys.version_info[:2], "
                              "platform.python_implementation(), sys.flags.dev_mode)"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = out.stdout.split()
    if out.returncode != 0 or len(fields) < 3 or fields[2] != "CPython":
        return None
    return (int(fields[0]), int(fields[1]))


@pytest.mark.parametrize("python", _other_cpythons() or [None],
                         ids=lambda p: "none" if p is None else p.parent.parent.name)
def test_the_one_abi3_wheel_serves_other_cpython_versions(
    built: dict[str, Path], tmp_path: Path, python: Path | None,
) -> None:
    """The wheel was built by one CPython; install it into the oldest (the cp39 floor
    of its tag) and newest other CPython here and run the same smoke test."""
    if python is None:
        pytest.skip("no other CPython >= 3.9 on this machine (set SECCOMP_PY_ABI3_PYTHONS)")
    _run([str(python), "-m", "venv", str(tmp_path / "venv")], timeout=120)
    venv_python = tmp_path / "venv" / "bin" / "python"
    _run([str(venv_python), "-m", "pip", "install", "-q", str(built["wheel"])], timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    report = _smoke(venv_python, outside, "--bundled")
    assert report["child"]["mkdir"] == 13 and report["child"]["rmdir"] == 18, report


def _whiteouts(upper: Path, names: list[str]) -> None:
    """overlayfs whiteouts: character devices 0/0 hide these names of the lower dir."""
    upper.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.mknod(upper / name, 0o600 | 0o020000, os.makedev(0, 0))


def _hidden(lower: Path, upper: Path, work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    return (f"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} "
            f"{lower}")


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -m (mount namespace)")
def test_wheel_works_where_no_libseccomp_is_installed(
    built: dict[str, Path], tmp_path: Path,
) -> None:
    """A slim container has no libseccomp at all: hide every system libseccomp file
    (overlay whiteouts in a private mount namespace) and the wheel still enforces."""
    from seccomp_py import features

    system = features.library_path()
    if system is None or "seccomp_py.libs" in system:
        pytest.skip("the tests do not run against a system libseccomp")
    libdir = Path(system).parent
    names = sorted(p.name for p in libdir.iterdir() if p.name.startswith("libseccomp"))
    _whiteouts(tmp_path / "upper", names)
    python = _venv(tmp_path / "venv-slim")
    _run([str(python), "-m", "pip", "install", "-q", str(built["wheel"])], timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    script = (
        f"set -e; {_hidden(libdir, tmp_path / 'upper', tmp_path / 'work')}; "
        f"! ls {libdir}/libseccomp* 2>/dev/null; "
        f"cd {outside}; exec {python} {REPO / 'scripts' / 'smoke_test.py'} --bundled "
        f"--source-tree {REPO}"
    )
    proc = _run(["unshare", "-m", "sh", "-c", script], timeout=120, check=False)
    if proc.returncode != 0 and "mount:" in proc.stderr:
        pytest.skip(f"overlay mount not permitted here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["child"]["mkdir"] == 13 and report["child"]["rmdir"] == 18, report
    assert "seccomp_py.libs" in report["libseccomp_path"], report
    # and outside the namespace, nothing changed
    assert Path(system).exists()


@pytest.fixture(scope="module")
def build_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the build requirements (for --no-build-isolation)."""
    return _venv(tmp_path_factory.mktemp("bv") / "venv", "setuptools>=77", "cffi>=1.15", "wheel")


def test_sdist_builds_and_installs_in_a_fresh_venv(
    built: dict[str, Path], build_venv: Path, tmp_path: Path,
) -> None:
    python = build_venv
    _run([str(python), "-m", "pip", "install", "-q", "--no-build-isolation",
          str(built["sdist"])], timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    report = _smoke(python, outside)
    assert Path(report["module"]).is_relative_to(python.parent.parent)
    assert report["child"]["mkdir"] == 13 and report["child"]["rmdir"] == 18, report
    # built from source: the system's libseccomp, nothing bundled
    assert "seccomp_py.libs" not in report["libseccomp_path"], report


def _assert_one_clear_message(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    for needle in needles:
        assert output.count(needle) == 1, (needle, output)
    # not a compiler error or a Python traceback
    assert "Traceback" not in output, output
    assert "fatal error" not in output and "seccomp.h: No such file" not in output, output
    assert "gcc" not in output, output


def test_pip_install_without_seccomp_h_says_what_to_install(
    source: Path, build_venv: Path, tmp_path: Path,
) -> None:
    empty = tmp_path / "empty-include"
    empty.mkdir()
    proc = _run([str(build_venv), "-m", "pip", "install", "--no-build-isolation", str(source)],
                env=_env(SECCOMP_PY_INCLUDE_DIR=str(empty)), timeout=300, check=False)
    _assert_one_clear_message(
        proc, "cannot find libseccomp's development files (seccomp.h)",
        "apt-get install libseccomp-dev", "dnf install libseccomp-devel",
        "apk add libseccomp-dev")


def test_pip_install_against_too_old_libseccomp_says_so(
    source: Path, build_venv: Path, tmp_path: Path,
) -> None:
    old = tmp_path / "old-include"
    old.mkdir()
    (old / "seccomp.h").write_text(
        "#define SCMP_VER_MAJOR 2\n#define SCMP_VER_MINOR 4\n#define SCMP_VER_MICRO 4\n")
    proc = _run([str(build_venv), "-m", "pip", "install", "--no-build-isolation", str(source)],
                env=_env(SECCOMP_PY_INCLUDE_DIR=str(old)), timeout=300, check=False)
    _assert_one_clear_message(proc, "are version 2.4.4", "needs libseccomp 2.5.0 or later")


@pytest.mark.skipif(not _can_unshare() or not Path("/usr/include/seccomp.h").exists(),
                    reason="needs root, unshare -m (mount namespace) and /usr/include/seccomp.h")
def test_pip_install_on_a_machine_without_libseccomp_dev(
    source: Path, build_venv: Path, tmp_path: Path,
) -> None:
    """The real thing: in a private mount namespace, an overlay over /usr/include
    whites out seccomp.h (the machine's own file is untouched, for everyone else)."""
    _whiteouts(tmp_path / "upper", ["seccomp.h", "seccomp-syscalls.h"])
    script = (
        f"set -e; {_hidden(Path('/usr/include'), tmp_path / 'upper', tmp_path / 'work')}; "
        "test ! -e /usr/include/seccomp.h; "
        f"exec {build_venv} -m pip install --no-build-isolation {source}"
    )
    proc = _run(["unshare", "-m", "sh", "-c", script], env=_env(), timeout=300, check=False)
    if "mount:" in proc.stderr and "seccomp_py" not in proc.stderr:
        pytest.skip(f"overlay mount not permitted here: {proc.stderr.strip()}")
    _assert_one_clear_message(
        proc, "cannot find libseccomp's development files (seccomp.h)",
        "apt-get install libseccomp-dev")
    assert Path("/usr/include/seccomp.h").exists()  # the machine's header is untouched
