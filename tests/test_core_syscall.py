"""Syscall and Arch resolution against libseccomp and the kernel's own headers."""

from __future__ import annotations

import os
import pickle
import platform
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccomp_py import (
    Arch,
    InvalidArgumentError,
    SeccompError,
    Syscall,
    UnknownArchError,
    UnknownSyscallError,
)
from seccomp_py import syscall as syscall_mod
from seccomp_py.syscall import libseccomp_number, names, resolve_name, resolve_number

X86_64 = platform.machine() == "x86_64"
FOREIGN = [Arch.AARCH64, Arch.ARM, Arch.X86, Arch.X32, Arch.MIPS, Arch.MIPSEL64N32,
           Arch.S390X, Arch.PPC64LE, Arch.RISCV64, Arch.PARISC]


def _round_trip(arch: Arch) -> None:
    known = names(arch)
    assert len(known) > 250, (arch, len(known))
    for name in known:
        sc = Syscall.from_name(name, arch)
        assert sc.arch is arch
        assert sc.number >= 0
        back = Syscall.from_number(sc.number, arch)
        assert back.name == name, (arch, name, sc.number, back.name)
        assert back == sc and hash(back) == hash(sc)


def test_every_native_name_round_trips() -> None:
    _round_trip(Arch.native())


@pytest.mark.parametrize("arch", FOREIGN, ids=lambda a: a.name)
def test_every_foreign_name_round_trips(arch: Arch) -> None:
    _round_trip(arch)


def _header(path: str, base: int = 0) -> dict[str, int]:
    found = {}
    pattern = re.compile(r"#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ )?(\d+)\)?")
    with open(path) as fh:
        for line in fh:
            m = pattern.match(line)
            if m:
                found[m.group(1)] = base + int(m.group(2))
    return found


HEADERS = "/usr/include/x86_64-linux-gnu/asm"


@pytest.mark.skipif(not X86_64 or not os.path.isdir(HEADERS), reason="x86_64 kernel headers")
@pytest.mark.parametrize(("arch", "header", "base"), [
    (Arch.X86_64, "unistd_64.h", 0),
    (Arch.X86, "unistd_32.h", 0),
    (Arch.X32, "unistd_x32.h", 0x40000000),
])
def test_numbers_agree_with_the_kernel_headers(arch: Arch, header: str, base: int) -> None:
    kernel = _header(os.path.join(HEADERS, header), base)
    assert len(kernel) > 300
    known = set(names(arch))
    common = sorted(set(kernel) & known)
    # libseccomp may be a little older than the headers, never much
    assert len(common) >= 0.9 * len(kernel), sorted(set(kernel) - known)
    for name in common:
        assert resolve_name(name, arch) == kernel[name], name
        assert resolve_number(kernel[name], arch) == name


def test_native_arch_and_native_numbers() -> None:
    native = Arch.native()
    expected = {"x86_64": Arch.X86_64, "aarch64": Arch.AARCH64, "i686": Arch.X86,
                "riscv64": Arch.RISCV64, "s390x": Arch.S390X, "ppc64le": Arch.PPC64LE}
    if platform.machine() in expected:
        assert native is expected[platform.machine()]
    assert Arch.from_name("native") is native
    assert Syscall.from_name("read").arch is native
    assert Syscall.from_name("read") == Syscall.from_name("read", Arch.NATIVE)
    assert Syscall.from_name("read", 0) == Syscall.from_name("read", native.libseccomp_name)


@pytest.mark.skipif(not X86_64, reason="numbers are x86_64's")
def test_with_arch_name_on_number_on() -> None:
    openat = Syscall.from_name("openat")
    assert openat.number == 257
    on_arm = openat.with_arch(Arch.AARCH64)
    assert (on_arm.name, on_arm.number, on_arm.arch) == ("openat", 56, Arch.AARCH64)
    assert openat.number_on("x86") == 295
    assert openat.name_on(Arch.X86) == Syscall.from_number(257, Arch.X86).name
    assert openat.native_number == 257
    assert str(openat) == "openat" and "257" in repr(openat)
    assert pickle.loads(pickle.dumps(openat)) == openat
    # socket on i386: a real number since Linux 4.3 (libseccomp itself answers
    # with its pseudo-syscall -101, which is what rules use)
    assert Syscall.from_name("socket", Arch.X86).number == 359
    assert libseccomp_number("socket", Arch.X86) == -101
    assert resolve_number(-101, Arch.X86) == "socket"
    assert Syscall.from_name("socketcall", Arch.X86).number == 102
    assert Syscall.from_name("accept4", Arch.S390X).number == 364
    # mips o32: libseccomp's lookup also accepts 0 for "syscall" (4000): not a number
    assert Syscall.from_name("syscall", Arch.MIPS).number == 4000
    with pytest.raises(UnknownSyscallError):
        Syscall.from_number(0, Arch.MIPS)


def test_arch_values_agree_with_libseccomp_headers(c_helpers: dict[str, str]) -> None:
    text = subprocess.run([c_helpers["probe"], "arches"], check=True, capture_output=True,
                          text=True, timeout=20).stdout
    header = {name: int(value) for name, value in (line.split() for line in text.splitlines())}
    assert header.pop("NATIVE") == int(Arch.NATIVE) == 0
    assert len(header) >= 19
    for name, value in header.items():
        assert Arch[name] == value, name
        assert Arch[name] in Arch.available(), name  # the linked library knows it
        assert Arch.from_name(name.lower()) is Arch[name]
        assert Arch.from_name(name.lower()).libseccomp_name == name.lower()
    for arch in Arch:
        if arch is not Arch.NATIVE and arch.name not in header:
            assert not arch.is_available(), arch  # 2.6-only arches on a 2.5 build


def test_unknown_arches() -> None:
    for bad in ("amd64x", "", "x86_64\x00", "n\u00e4tive", "x" * 1000):
        with pytest.raises(UnknownArchError) as info:
            Arch.from_name(bad)
        assert isinstance(info.value, LookupError) and isinstance(info.value, ValueError)
        assert isinstance(info.value, SeccompError)
    with pytest.raises(UnknownArchError):
        Syscall.from_name("read", 0x12345)
    with pytest.raises(UnknownArchError):
        Syscall.from_name("read", "vax")
    with pytest.raises(TypeError):
        Syscall.from_name("read", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Arch.from_name(b"x86_64")  # type: ignore[arg-type]


def test_unknown_names_suggest_close_ones() -> None:
    with pytest.raises(UnknownSyscallError) as info:
        Syscall.from_name("getpidd")
    err = info.value
    assert "getpid" in err.suggestions and "did you mean" in str(err)
    assert err.name == "getpidd" and err.errno == 2
    assert isinstance(err, LookupError) and isinstance(err, ValueError)
    with pytest.raises(UnknownSyscallError) as info:
        Syscall.from_name("opnat", Arch.AARCH64)
    assert "openat" in info.value.suggestions and "aarch64" in str(info.value)
    with pytest.raises(UnknownSyscallError) as info:
        Syscall.from_name("zzzzzzzzzzzzz")
    assert info.value.suggestions == []
    restored = pickle.loads(pickle.dumps(err))
    assert isinstance(restored, UnknownSyscallError) and restored.suggestions == err.suggestions


def test_bad_names_and_numbers() -> None:
    for bad in ("", "read\x00write", "a" * 100, "\n"):
        with pytest.raises(InvalidArgumentError):
            Syscall.from_name(bad)
    for wrong in (None, 3.0, b"read", ["read"]):
        with pytest.raises(TypeError):
            Syscall.from_name(wrong)  # type: ignore[arg-type]
    for wrong_nr in ("3", 3.0, None, True):
        with pytest.raises(TypeError):
            Syscall.from_number(wrong_nr)  # type: ignore[arg-type]
    for unknown in (-1, 2**31, -(2**31) - 1, 2**64, 100000):
        with pytest.raises(UnknownSyscallError):
            Syscall.from_number(unknown)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**40), 2**40), st.sampled_from([Arch.X86_64, Arch.AARCH64, Arch.X86,
                                                       Arch.ARM, Arch.MIPS]))
def test_any_number_round_trips_or_raises(number: int, arch: Arch) -> None:
    try:
        name = resolve_number(number, arch)
    except UnknownSyscallError as exc:
        assert exc.errno == 2
        return
    # a real number maps back to itself; a libseccomp pseudo-syscall (negative)
    # maps back through libseccomp's own numbering
    assert number in (resolve_name(name, arch), libseccomp_number(name, arch))
    if number >= 0:
        assert resolve_name(name, arch) == number


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_any_text_resolves_or_raises_cleanly(text: str) -> None:
    try:
        number = resolve_name(text)
    except (UnknownSyscallError, InvalidArgumentError):
        return
    assert resolve_number(number) == text or number < 0


def test_resolution_is_cached() -> None:
    syscall_mod._resolve_name.cache_clear()
    syscall_mod._SYSCALLS.clear()
    syscall_mod._NATIVE_SYSCALLS.clear()
    syscall_mod._NATIVE_NUMBERS.clear()
    found = [Syscall.from_name("read") for _ in range(3)]
    # the native number is kept in a dict, the Syscall itself too: the same
    # (immutable) object every time
    assert syscall_mod._NATIVE_NUMBERS["read"] == found[0].number
    assert found[0] is found[1] is found[2]
    assert Syscall.from_name("read", Arch.X86) is Syscall.from_name("read", Arch.X86)
    assert Syscall.from_name("read", Arch.X86).number == 3
    info = syscall_mod._resolve_name.cache_info()  # other arches: the lru_cache
    assert info.misses == 1 and info.hits == 0
