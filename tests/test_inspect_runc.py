"""seccomp_py.inspect on a real runc container under Docker's default profile.

The container (busybox sh printing a counter) runs detached; ``inspect``
finds its init with ``runc state``, reads its filter and must decide every
syscall as the program runc loads for that profile does (compiled here with
profile.Compiled.runc_program: libseccomp's filter behind runc's -ENOSYS
stub), with noNewPrivileges true and false.  Needs runc, busybox-static and
root; skips with the reason otherwise (see tests/test_oci_runc.py).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings

import pytest
from helpers.runc import RUNC_CAPS, Container

from seccomp_py import inspect as spi
from seccomp_py import syscall as _syscall
from seccomp_py.arch import Arch, native
from seccomp_py.profile import Profile

ARCHES = (Arch.X86_64, Arch.X86, Arch.X32)
# (name, args) whose outcome under Docker's profile depends on the arguments
ARG_PROBES: list[tuple[str, list[int]]] = [
    ("socket", [40, 1, 0]), ("socket", [2, 1, 0]), ("personality", [0]),
    ("personality", [0xFFFFFFFF]), ("personality", [8]), ("clone", [0x10000000]),
    ("clone", [0x00010000]), ("clone", [0]), ("clone3", [0]), ("ptrace", [0]),
]

pytestmark = pytest.mark.skipif(native() is not Arch.X86_64, reason="x86_64 probes")


@pytest.mark.timeout(300)
def test_container_filter_decides_as_runc_program_for_docker(container: Container) -> None:
    container.assert_unharmed()
    stack = spi.read(container.pid)
    container.assert_unharmed()
    assert stack.mode == "filter"
    assert stack.status_count == len(stack.filters) == 1
    live = stack.filters[0]
    assert live.log is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = spi.runc_program(Profile.from_dict(container.seccomp), caps=RUNC_CAPS)
    print(f"live filter: {len(live)} instructions; ours: {len(expected) // 8}; "
          f"identical bytes: {live.program == expected}")
    assert set(spi.named_arches(stack.filters)) == set(ARCHES)
    rng = random.Random(19)
    checked = 0
    for arch in ARCHES:
        numbers = sorted(set(_syscall._table(arch).values()))
        # every known number, a few past the end (the -ENOSYS stub), random arguments
        top = max(numbers)
        for number in [*numbers, top + 1, top + 50, (top | 0xFFF) + 1]:
            args = [rng.choice([0, rng.getrandbits(32), rng.getrandbits(64)]) for _ in range(6)]
            got = spi.stack_decision(stack.filters, number & ~0x40000000, arch, args)
            want = spi.stack_decision([expected], number & ~0x40000000, arch, args)
            assert got == want, (arch, number, args, hex(got), hex(want))
            checked += 1
    for name, args in ARG_PROBES:
        number = _syscall.resolve_name(name, Arch.X86_64)
        got = stack.decide(name, args).value
        assert got == spi.stack_decision([expected], number, Arch.X86_64, args), (name, args)
        checked += 1
    # what Docker's profile is known to do
    assert stack.decide("socket", [40, 1, 0]).action == "ERRNO(1 EPERM)"
    assert stack.decide("socket", [2, 1, 0]).action == "ALLOW"
    assert stack.decide("clone3").action == "ERRNO(38 ENOSYS)"
    assert stack.decide("clone", [0x10000000]).action == "ERRNO(1 EPERM)"
    assert stack.decide("mount").action == "ERRNO(1 EPERM)"
    print(f"{checked} decisions compared")
    container.assert_unharmed()


@pytest.mark.timeout(300)
def test_cli_inspect_runc_container(container: Container) -> None:
    cmd = [sys.executable, "-m", "seccomp_py", "inspect", "--runc", container.id,
           "--root", container.root]
    done = subprocess.run([*cmd, "--json", "--syscall", "socket:40,1", "--syscall", "clone3"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["pid"] == container.pid and out["container"] == container.id
    assert out["mode"] == "filter" and len(out["filters"]) == 1
    assert [d["action"] for d in out["decisions"]] == ["ERRNO(1 EPERM)", "ERRNO(38 ENOSYS)"]
    x86_64 = next(a for a in out["stack"] if a["arch"] == "x86_64")
    assert "mount" in x86_64["refused"]["ERRNO(1 EPERM)"]
    assert "read" in x86_64["allowed"] and "clone" in x86_64["conditional"]
    container.assert_unharmed()
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"container {container.id} (init pid {container.pid}): "
                                  "seccomp mode filter, 1 filter")
    assert "ERRNO(1 EPERM): " in text.stdout
    container.assert_unharmed()
    missing = subprocess.run([sys.executable, "-m", "seccomp_py", "inspect", "--runc",
                              "no-such-container", "--root", container.root],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "no-such-container" in missing.stderr
