"""seccomp_py.progcache and `seccomp-py run`'s use of it: a verified program compiled once.

Every `run` is a subprocess with its own XDG_CACHE_HOME (a tmp dir); what is asserted is
what the kernel did to the command (the errno it printed), which program the cache holds,
and whether the run compiled (``python -X importtime`` shows seccomp_py.profile imported)
or took the program from the cache (it is not).  A tampered entry must be refused, with a
message, and the profile compiled afresh.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import REPO

from seccomp_py import progcache
from seccomp_py.profile import Profile

SCRIPT = os.path.join(os.path.dirname(sys.executable), "seccomp-py")
PY = sys.executable
# the child tries mkdir and prints the errno it got (or "ok")
MKDIR = ("import os, sys\ntry:\n    os.mkdir(sys.argv[1])\n    print('ok')\n"
         "except OSError as e:\n    print(e.errno)\n")


def profile_json(errno_ret: int) -> str:
    return json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": errno_ret}],
    })


class Runner:
    """`seccomp-py run` with its own cache home; remembers nothing between calls."""

    def __init__(self, home: Path, work: Path) -> None:
        self.home = home
        self.work = work
        self.cache = home / "seccomp-py"

    def run(self, *options: str, profile: str | Path, cmd: list[str] | None = None,
            env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], bool]:
        """(the process, whether it compiled the profile)."""
        full = dict(os.environ, XDG_CACHE_HOME=str(self.home), **(env or {}))
        full.pop("PYTHONDONTWRITEBYTECODE", None)
        argv = [PY, "-X", "importtime", SCRIPT, "run", "--profile", str(profile), *options,
                "--", *(cmd or [PY, "-S", "-c", MKDIR, str(self.work / "d")])]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO,
                              env=full, check=False)
        compiled = any(line.rstrip().endswith(" seccomp_py.profile")
                       for line in proc.stderr.splitlines() if line.startswith("import time:"))
        proc.stderr = "".join(line + "\n" for line in proc.stderr.splitlines()
                              if not line.startswith("import time:"))
        return proc, compiled

    def entries(self) -> list[Path]:
        if not self.cache.is_dir():
            return []
        return sorted(p for p in self.cache.iterdir() if not p.name.startswith("."))


@pytest.fixture()
def runner(tmp_path: Path) -> Runner:
    (tmp_path / "work").mkdir()
    return Runner(tmp_path / "cache", tmp_path / "work")


@pytest.fixture()
def prof(tmp_path: Path) -> Path:
    p = tmp_path / "p.json"
    p.write_text(profile_json(errno.EACCES))
    return p


def fresh_program(path: Path) -> bytes:
    """What `run --profile PATH` loads, compiled here (a file profile: no caps)."""
    compiled = Profile.loads(path.read_bytes()).compile(unknown="ignore")
    with compiled.filter:
        return compiled.runc_program()


def test_cold_and_warm_runs_load_the_same_verified_program(runner: Runner, prof: Path) -> None:
    cold, compiled = runner.run(profile=prof)
    assert (cold.returncode, cold.stdout, cold.stderr) == (0, f"{errno.EACCES}\n", "")
    assert compiled
    # the directory 0700, the entry 0600, one entry holding the program compiled here
    assert stat.S_IMODE(runner.cache.stat().st_mode) == 0o700
    [entry_path] = runner.entries()
    assert stat.S_IMODE(entry_path.stat().st_mode) == 0o600
    entry = progcache.load(entry_path.name, directory=str(runner.cache))
    assert entry is not None
    assert entry.program == fresh_program(prof)
    assert entry.no_new_privs and not entry.has_notify
    warm, compiled = runner.run(profile=prof)
    assert (warm.returncode, warm.stdout, warm.stderr) == (0, f"{errno.EACCES}\n", "")
    assert not compiled, "a warm run must take the program from the cache"
    assert runner.entries() == [entry_path]


def test_warm_run_says_what_the_cold_run_said(runner: Runner) -> None:
    """The compile warnings are replayed from the entry (Docker's profile has one)."""
    cold, compiled = runner.run(profile="docker", cmd=["/bin/true"])
    assert compiled and cold.returncode == 0
    assert "socketcall(2)" in cold.stderr
    warm, compiled = runner.run(profile="docker", cmd=["/bin/true"])
    assert not compiled
    assert (warm.returncode, warm.stderr) == (0, cold.stderr)
    cold_v, _ = runner.run("-v", "--no-cache", profile="docker", cmd=["/bin/true"])
    warm_v, compiled = runner.run("-v", profile="docker", cmd=["/bin/true"])
    assert not compiled and warm_v.stderr == cold_v.stderr


def _flip_program_byte(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-80] ^= 0x01  # in the program, before the digest line
    p.write_bytes(bytes(data))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-100])


def _world_writable(p: Path) -> None:
    p.chmod(0o666)


def _symlink(p: Path) -> None:
    copy = p.parent.parent / "elsewhere"
    copy.write_bytes(p.read_bytes())
    copy.chmod(0o600)
    p.unlink()
    p.symlink_to(copy)


def _directory(p: Path) -> None:
    p.unlink()
    p.mkdir(mode=0o700)


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p, 0o600)


def _other_owner(p: Path) -> None:
    os.chown(p, 65534, 65534)


TAMPER = {
    "byte changed": (_flip_program_byte, "digest does not match"),
    "truncated": (_truncate, "digest"),
    "group/world writable": (_world_writable, "writable by others"),
    "symlink": (_symlink, "Too many levels of symbolic links"),
    "directory": (_directory, "not a regular file"),
    "fifo": (_fifo, "not a regular file"),
    "other owner": (_other_owner, "belongs to uid 65534"),
}


@pytest.mark.parametrize("how", list(TAMPER))
def test_a_tampered_entry_is_refused_and_the_profile_compiled(runner: Runner, prof: Path,
                                                              how: str) -> None:
    tamper, why = TAMPER[how]
    if how == "other owner" and os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    runner.run(profile=prof)
    [entry_path] = runner.entries()
    tamper(entry_path)
    proc, compiled = runner.run(profile=prof)
    assert proc.returncode == 0 and proc.stdout == f"{errno.EACCES}\n", proc
    assert compiled
    assert "seccomp-py: warning: program cache: ignoring the cached program" in proc.stderr
    assert why in proc.stderr and "compiling the profile afresh" in proc.stderr
    if how != "directory":  # replaced by the fresh program: the next run is a clean hit
        again, compiled = runner.run(profile=prof)
        assert (again.stdout, again.stderr, compiled) == (f"{errno.EACCES}\n", "", False)
        assert stat.S_IMODE(entry_path.lstat().st_mode) == 0o600


def test_another_profiles_entry_under_this_key_is_refused(runner: Runner, tmp_path: Path
                                                          ) -> None:
    """An entry copied under another key (same owner, mode and digest) is not used: the
    key inside it must be the one asked for."""
    allow = tmp_path / "allow.json"
    allow.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}))
    refuse = tmp_path / "refuse.json"
    refuse.write_text(profile_json(errno.EROFS))
    runner.run(profile=allow)
    [allow_entry] = runner.entries()
    runner.run(profile=refuse)
    [refuse_entry] = [p for p in runner.entries() if p != allow_entry]
    refuse_entry.write_bytes(allow_entry.read_bytes())
    proc, compiled = runner.run(profile=refuse)
    assert proc.stdout == f"{errno.EROFS}\n" and compiled
    assert "stored under another key" in proc.stderr


def test_an_entry_whose_program_the_kernel_would_refuse_is_refused(runner: Runner,
                                                                   prof: Path) -> None:
    """A well-formed entry (right key, right digest) whose program fails the kernel's
    structural checks (a jump out of the program) is not used."""
    runner.run(profile=prof)
    [entry_path] = runner.entries()
    bad = progcache.Entry(b"\x15\x00\x05\x00\x00\x00\x00\x00" + b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    entry_path.write_bytes(bad._dump(entry_path.name))
    proc, compiled = runner.run(profile=prof)
    assert proc.stdout == f"{errno.EACCES}\n" and compiled
    assert "the kernel's checks refuse its program" in proc.stderr


def test_a_cache_directory_others_can_write_is_not_used(runner: Runner, prof: Path) -> None:
    runner.run(profile=prof)
    runner.cache.chmod(0o777)
    try:
        proc, compiled = runner.run(profile=prof)
        assert proc.stdout == f"{errno.EACCES}\n" and compiled
        assert "not using the cache directory" in proc.stderr
        assert "writable by others" in proc.stderr
    finally:
        runner.cache.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_another_users_cache_is_neither_used_nor_created_in(runner: Runner, prof: Path) -> None:
    """Root with a user's HOME (sudo -E): the user's cache is not root's to read, and root
    creates nothing in the user's directories; no warning on every run either."""
    runner.run(profile=prof)
    os.chown(runner.cache, 65534, 65534)
    proc, compiled = runner.run(profile=prof)
    assert (proc.stdout, proc.stderr, compiled) == (f"{errno.EACCES}\n", "", True)
    shutil.rmtree(runner.cache)
    runner.home.chmod(0o755)
    os.chown(runner.home, 65534, 65534)
    proc, compiled = runner.run(profile=prof)
    assert (proc.stdout, proc.stderr, compiled) == (f"{errno.EACCES}\n", "", True)
    assert not runner.cache.exists()


def test_what_decides_the_program_is_in_the_key(runner: Runner, prof: Path) -> None:
    runner.run(profile=prof)
    assert len(runner.entries()) == 1
    # the profile file changed: a miss, and the new program is enforced
    prof.write_text(profile_json(errno.EROFS))
    proc, compiled = runner.run(profile=prof)
    assert proc.stdout == f"{errno.EROFS}\n" and compiled
    assert len(runner.entries()) == 2
    # other capabilities, another arch option, no runc stub: each another entry
    for options in (["--caps", "all"], ["--arch", "x86_64" if os.uname().machine == "x86_64"
                                        else os.uname().machine], ["--no-runc-stub"],
                    ["--strict-multiplexed"]):
        proc, compiled = runner.run(*options, profile=prof)
        assert proc.stdout == f"{errno.EROFS}\n" and compiled, options
    assert len(runner.entries()) == 6
    # and each is a hit the second time
    proc, compiled = runner.run("--caps", "all", profile=prof)
    assert proc.stdout == f"{errno.EROFS}\n" and not compiled


def test_the_key_covers_arch_caps_and_bytes() -> None:
    base = progcache.make_key("run", b"profile", "x86_64", None)
    assert progcache.make_key("run", b"profile", "x86_64", None) == base
    for other in (("run", b"profilf", "x86_64", None), ("run", b"profile", "x86", None),
                  ("run", b"profile", "x86_64", "all"), ("run", b"profile", "x86_64", ""),
                  ("run", b"profile", "x86_64")):
        assert progcache.make_key(*other) != base, other


@pytest.mark.parametrize("how", ["--no-cache", "SECCOMP_PY_NO_CACHE=1"])
def test_no_cache_bypasses_the_cache(runner: Runner, prof: Path, how: str) -> None:
    options = [how] if how.startswith("--") else []
    env = {"SECCOMP_PY_NO_CACHE": "1"} if not options else None
    proc, compiled = runner.run(*options, profile=prof, env=env)
    assert proc.stdout == f"{errno.EACCES}\n" and compiled
    assert runner.entries() == [], "nothing stored"
    runner.run(profile=prof)  # now warm
    proc, compiled = runner.run(*options, profile=prof, env=env)
    assert proc.stdout == f"{errno.EACCES}\n" and compiled, "a warm cache is not read"
    assert proc.stderr == ""


def test_library_store_load_and_spawn(tmp_path: Path, prof: Path) -> None:
    """The Python API: store a verified program, load it back, run a child under it."""
    d = tmp_path / "c" / "seccomp-py"
    key = progcache.make_key("test", prof.read_bytes())
    assert progcache.load(key, directory=str(d)) is None
    with Profile.loads(prof.read_bytes()).to_filter() as filt:
        entry = progcache.Entry.from_program(filt.compile())
        assert entry.program == filt.export_bpf()
        assert entry.arches == tuple(int(a) for a in filt.arches)
    assert progcache.store(key, entry, directory=str(d))
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    back = progcache.load(key, directory=str(d))
    assert back == entry
    with back.spawn([PY, "-S", "-c", MKDIR, str(tmp_path / "x")], stdout=subprocess.PIPE,
                    text=True) as child:
        out, _ = child.communicate(timeout=60)
    assert (child.returncode, out) == (0, f"{errno.EACCES}\n")
    assert not (tmp_path / "x").exists()
    reasons: list[str] = []
    assert progcache.load("0" * 64, directory=str(d), report=reasons.append) is None
    assert reasons == []  # no entry: nothing to report
    with pytest.raises(ValueError):
        progcache.store("../x", entry, directory=str(d))


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert progcache.cache_dir() == str(tmp_path / "seccomp-py")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert progcache.cache_dir() == str(tmp_path / "home" / ".cache" / "seccomp-py")
    monkeypatch.setenv("SECCOMP_PY_NO_CACHE", "0")
    assert not progcache.disabled()
    monkeypatch.setenv("SECCOMP_PY_NO_CACHE", "1")
    assert progcache.disabled()
