"""The child's whole sandbox: user/group/extra_groups, rlimits, umask,
start_new_session and no_network, applied in C between fork and exec and
checked from inside the child (id, /proc/self/limits, socket verdicts)."""

from __future__ import annotations

import errno
import os
import resource
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Action, Arch, Filter
from seccomp_py.errors import ChildSetupError
from seccomp_py.sandbox import no_network_filter, resolve_rlimits
from seccomp_py.spawn import SpawnTemplate, spawn

TIMEOUT = 20
NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="credential changes need root")


def allow_all(*, x86: bool = False) -> Filter:
    f = Filter(Action.ALLOW)
    if x86:  # the probe makes i386 and x32 calls: they must not be bad-arch kills
        f.add_arch(Arch.X86)
        f.add_arch(Arch.X32)
    return f


def output(cmd: list[str], f: Filter, **kw: object) -> str:
    with spawn(cmd, f, stdout=subprocess.PIPE, text=True, **kw) as p:  # type: ignore[arg-type]
        out, _ = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, out
    return str(out)


def nr_open_max() -> int:
    with open("/proc/sys/fs/nr_open") as fh:
        return int(fh.read())


def limits_line(text: str, what: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith(what))
    return line[len(what):].split()[:2]




def test_user_and_rlimits_seen_from_inside() -> None:
    out = output(["sh", "-c", "id -u; id -g; id -G; cat /proc/self/limits"], allow_all(),
                 user=NOBODY, rlimits={resource.RLIMIT_NOFILE: (16, 16)})
    lines = out.splitlines()
    assert lines[0] == str(NOBODY)
    # root changing the user: the gid follows the user's passwd entry, and the
    # supplementary groups are cleared (subprocess would leave root's)
    import pwd

    gid = pwd.getpwuid(NOBODY).pw_gid
    assert lines[1] == str(gid)
    assert lines[2].split() == [str(gid)]
    assert limits_line(out, "Max open files") == ["16", "16"]


def test_group_extra_groups_umask_session() -> None:
    out = output(["sh", "-c", "id -u; id -g; id -G; umask; cat /proc/$$/stat"], allow_all(),
                 user="nobody", group=NOBODY, extra_groups=[5, "disk"], umask=0o027,
                 start_new_session=True,
                 rlimits={"RLIMIT_CORE": (0, 0), resource.RLIMIT_NPROC: (4096, 8192)})
    lines = out.splitlines()
    # setgroups and setresgid before setresuid: after it they would fail (EPERM)
    assert lines[:2] == [str(NOBODY), str(NOBODY)]
    assert sorted(int(g) for g in lines[2].split()) == sorted({NOBODY, 5, 6})
    assert lines[3] == "0027"
    stat = lines[4].rsplit(")", 1)[1].split()
    pid, sid = int(lines[4].split()[0]), int(stat[3])
    assert sid == pid  # setsid(): the shell leads its own session


def test_rlimits_come_before_the_uid_change() -> None:
    # Raising a hard limit needs CAP_SYS_RESOURCE, which setresuid() to nobody
    # drops: this only works because the limits are set first.
    with open("/proc/self/status") as fh:
        cap_eff = next(int(ln.split()[1], 16) for ln in fh if ln.startswith("CapEff:"))
    if not cap_eff & (1 << 24):
        pytest.skip("no CAP_SYS_RESOURCE here: hard limits cannot be raised at all")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nr_open = nr_open_max()
    if hard == resource.RLIM_INFINITY or hard >= nr_open:
        pytest.skip("the hard NOFILE limit cannot be raised here")
    out = output(["cat", "/proc/self/limits"], allow_all(), user=NOBODY,
                 rlimits={resource.RLIMIT_NOFILE: (hard + 1, hard + 1)})
    assert limits_line(out, "Max open files") == [str(hard + 1)] * 2
    # the same from the child itself, after its uid change, is refused
    out = output(["sh", "-c", f"ulimit -H -n {hard + 2} 2>/dev/null; echo $?"], allow_all(),
                 user=NOBODY)
    assert out.strip() != "0"


def test_rlimit_failure_names_the_limit() -> None:
    nr_open = nr_open_max()
    with pytest.raises(ChildSetupError) as info:
        spawn(["true"], allow_all(), rlimits={resource.RLIMIT_CORE: (0, 0),
                                              resource.RLIMIT_NOFILE: (16, nr_open + 1)})
    assert info.value.errno == errno.EPERM
    assert info.value.func == "setrlimit"
    assert f"RLIMIT_NOFILE to (16, {nr_open + 1})" in str(info.value)


def test_uid_failure_is_reported_not_about_python() -> None:
    def run() -> tuple[str, int | None, str]:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        try:
            spawn(["true"], allow_all(), user=0)
        except ChildSetupError as exc:
            return exc.func, exc.errno, str(exc)
        return "", None, "spawned"

    out = in_child(run)
    assert out.error is None, out.error
    func, err, text = out.value
    assert (func, err) == ("setresuid", errno.EPERM)
    assert "uid 0" in text and "python" not in text.lower()


def test_setgroups_failure() -> None:
    def run() -> tuple[str, int | None]:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        try:
            spawn(["true"], allow_all(), extra_groups=[0])
        except ChildSetupError as exc:
            return exc.func, exc.errno
        return "", None

    out = in_child(run)
    assert out.error is None, out.error
    assert out.value == ("setgroups", errno.EPERM)


def test_bad_sandbox_arguments() -> None:
    f = allow_all()
    for bad, exc in [({"RLIMIT_NOPE": (1, 1)}, ValueError), ({999: (1, 1)}, ValueError),
                     ({resource.RLIMIT_CORE: (2, 1)}, ValueError),
                     ({resource.RLIMIT_CORE: (-5, 1)}, ValueError),
                     ({resource.RLIMIT_CORE: 5}, TypeError), ({1.5: (1, 1)}, TypeError),
                     ([(resource.RLIMIT_CORE, (1, 1))], TypeError),
                     ({resource.RLIMIT_CORE: (1, 2**64)}, ValueError)]:
        with pytest.raises(exc):
            spawn(["true"], f, rlimits=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        resolve_rlimits({"NOFILE": (1, 1), resource.RLIMIT_NOFILE: (1, 1)})
    assert resolve_rlimits({"nofile": (-1, resource.RLIM_INFINITY)}) == [
        (resource.RLIMIT_NOFILE, 2**64 - 1, 2**64 - 1)]
    with pytest.raises(KeyError):
        spawn(["true"], f, user="no-such-user-seccomp-py")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ChildSetupError):
        spawn(["true"], f, rlimits={resource.RLIMIT_NOFILE: (1, 2**40)},
              stdout=subprocess.PIPE)
    assert set(os.listdir("/proc/self/fd")) == before  # no leaked pipe


NET_OFF = (f"native={-errno.EAFNOSUPPORT} native_unix=ok i386={-errno.EAFNOSUPPORT} "
           f"i386_unix=ok socketcall={-errno.EAFNOSUPPORT} "
           f"socketcall_unix={-errno.EAFNOSUPPORT} socketpair_unix=ok")
NET_ON = ("native=ok native_unix=ok i386=ok i386_unix=ok socketcall=ok socketcall_unix=ok "
          "socketpair_unix=ok")


@pytest.fixture(scope="module")
def probe(c_helpers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The probe where nobody can run it (pytest's tmp dirs are 0700)."""
    import shutil
    import tempfile

    where = tempfile.mkdtemp(prefix="spy-probe-")
    os.chmod(where, 0o755)
    path = os.path.join(where, "probe")
    shutil.copy(c_helpers["probe"], path)
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(where)


def test_no_network_refuses_inet_allows_unix(probe: str) -> None:
    assert output([probe, "net"], allow_all(x86=True)).strip() == NET_ON
    assert output([probe, "net"], allow_all(x86=True), no_network=True).strip() == NET_OFF
    # x32 socket(AF_UNSPEC): refused by the stacked filter (x32 is its own ABI)
    assert output([probe, "x32", "41"], allow_all(x86=True), no_network=True).strip() == \
        f"ret={-errno.EAFNOSUPPORT}"
    # with the rest of the sandbox too
    assert output([probe, "net"], allow_all(x86=True), no_network=True, user=NOBODY,
                  rlimits={resource.RLIMIT_NOFILE: (16, 16)}).strip() == NET_OFF


def test_no_network_holds_whatever_the_filter_allows(probe: str) -> None:
    # The user's filter explicitly allows socket(); the stacked filter still refuses.
    f = Filter(Action.errno(errno.EPERM))
    f.add_arch(Arch.X86)
    for name in ("socket", "socketcall", "socketpair", "execve", "brk", "mmap", "mprotect",
                 "munmap", "arch_prctl", "write", "exit_group", "openat", "read", "close",
                 "fstat", "newfstatat", "pread64", "access", "set_tid_address",
                 "set_robust_list", "rseq", "prlimit64", "getrandom", "futex"):
        f.add_rule(Action.ALLOW, name)
    assert output([probe, "net"], f).strip() == NET_ON  # the filter alone lets all in
    assert output([probe, "net"], f, no_network=True).strip() == NET_OFF


def test_no_network_filter_in_process() -> None:
    def run() -> tuple[int, int, int]:
        no_network_filter().load()
        results = []
        for family in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK):
            try:
                socket.socket(family, socket.SOCK_DGRAM).close()
                results.append(0)
            except OSError as exc:
                results.append(exc.errno or -1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM):
            pass
        return tuple(results)  # type: ignore[return-value]

    out = in_child(run)
    assert out.error is None, out.error
    assert out.value == (errno.EAFNOSUPPORT,) * 3
    with pytest.raises(ValueError):
        no_network_filter(0)


def test_template_sandbox(probe: str) -> None:
    with SpawnTemplate(allow_all(x86=True), user=NOBODY, rlimits={"NOFILE": (32, 32)},
                       no_network=True) as t:
        with t.spawn(["sh", "-c", f"id -u; cat /proc/self/limits; {probe} net"],
                     stdout=subprocess.PIPE, text=True, umask=0o077) as p:
            out, _ = p.communicate(timeout=TIMEOUT)
        assert out.splitlines()[0] == str(NOBODY)
        assert limits_line(out, "Max open files") == ["32", "32"]
        assert out.splitlines()[-1] == NET_OFF
        kws: list[dict[str, Any]] = [{"user": 0}, {"rlimits": {}}, {"no_network": True},
                                     {"extra_groups": []}]
        for kw in kws:
            with pytest.raises(ValueError, match="SpawnTemplate"):
                t.spawn(["true"], **kw)
    with pytest.raises(ChildSetupError) as info:
        SpawnTemplate(allow_all(), rlimits={"NOFILE": (1, 2**40)})
    assert info.value.func == "setrlimit"


def test_run_cli_sandbox(probe: str, tmp_path: os.PathLike[str]) -> None:
    import json
    import sys

    prof = os.path.join(tmp_path, "p.json")
    with open(prof, "w") as fh:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                   "syscalls": []}, fh)
    cli = [sys.executable, "-m", "seccomp_py", "run", "--profile", prof]
    out = subprocess.run(
        [*cli, "--user", "nobody", "--rlimit", "nofile=16", "--rlimit", "core=0:unlimited",
         "--umask", "077", "--no-network", "--",
         "sh", "-c", f"id -u; umask; cat /proc/self/limits; {probe} net"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == [str(NOBODY), "0077"]
    assert limits_line(out.stdout, "Max open files") == ["16", "16"]
    assert limits_line(out.stdout, "Max core file size") == ["0", "unlimited"]
    assert lines[-1] == NET_OFF
    for bad in (["--rlimit", "nofile"], ["--rlimit", "bogus=1"], ["--user", "no-such-user-x"],
                ["--umask", "999"], ["--rlimit", "nofile=2:1"]):
        out = subprocess.run([*cli, *bad, "--", "true"], capture_output=True, text=True,
                             timeout=TIMEOUT)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, (bad, out.stderr)
    nr_open = nr_open_max()
    out = subprocess.run([*cli, "--rlimit", f"nofile=8:{nr_open + 1}", "--", "true"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 1 and "setrlimit" in out.stderr and "RLIMIT_NOFILE" in out.stderr
