"""The automatic layout skips libseccomp's export when seccomp_py's RANGES program
is smaller than any program libseccomp could give (codegen.libseccomp_floor).

The bound is checked against libseccomp's real output (both of its layouts) for the
shipped profiles and for the model test's generated policies; the skip is taken
only when the bound holds; the program it gives is verified, is the one the
comparison with libseccomp's export would have chosen, decides as libseccomp's
programs on every boundary input, and is enforced by the kernel in a child.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Action, Arch, Filter, Optimize, bpf
from seccomp_py import _export as export_mod
from seccomp_py import filter as filter_mod
from seccomp_py.codegen import generate, libseccomp_floor
from seccomp_py.profile import Profile
from seccomp_py.syscall import resolve_name
from seccomp_py.verify import verify

pytestmark = pytest.mark.skipif(Arch.native() is not Arch.X86_64, reason="x86_64 layouts")


def _libseccomp_sizes(f: Filter) -> tuple[int, int]:
    """libseccomp's own program for ``f`` in its default layout and its binary tree."""
    with f._use("seccomp_export_bpf") as ctx:
        default = export_mod._export_bpf(ctx)
        with export_mod._optimize(ctx, True):
            tree = export_mod._export_bpf(ctx)
    return len(default) // bpf.INSN_SIZE, len(tree) // bpf.INSN_SIZE


def _compile(name: str, arch: str | None, caps: str = "all") -> Filter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Profile.builtin(name).compile(arch, caps=caps).filter


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts libseccomp's exports (seccomp_export_bpf) made by Filter.export_bpf."""
    calls: list[int] = []
    real = export_mod._export_bpf

    def counted(ctx: Any) -> bytes:
        calls.append(1)
        return real(ctx)

    monkeypatch.setattr(filter_mod, "_export_bpf", counted)
    yield calls


@pytest.mark.parametrize("name", ["docker", "podman"])
@pytest.mark.parametrize("arch", [None, "x86", "x32"])
@pytest.mark.parametrize("caps", ["all", "none"])
def test_floor_is_below_libseccomp_in_both_layouts(name: str, arch: str | None,
                                                   caps: str) -> None:
    f = _compile(name, arch, caps)
    try:
        floor = libseccomp_floor(f.policy())
        default, tree = _libseccomp_sizes(f)
        assert 0 < floor <= min(default, tree), (floor, default, tree)
    finally:
        f.close()


def test_floor_on_generated_policies() -> None:
    """The model test's generated policies (arches added before and after rules,
    priorities, multiplexed calls, numbers): the bound never exceeds libseccomp."""
    from helpers import failclosed_kernel as K
    from helpers import model as M
    from helpers.failclosed_strategies import cases
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=int(os.environ.get("SECCOMP_PY_MODEL_EXAMPLES", "60")),
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def run(case: tuple[M.MPolicy, tuple[K.Call, ...]]) -> None:
        policy, calls = case
        policy = dataclasses.replace(policy, optimize=None)
        try:
            f = K.build(policy, K.Result(policy, calls), M.Model(policy))
        except K.Refused:
            return
        try:
            floor = libseccomp_floor(f.policy())
            default, tree = _libseccomp_sizes(f)
            assert floor <= min(default, tree), (floor, default, tree)
        finally:
            f.close()

    run()


@pytest.mark.parametrize("name", ["docker", "podman"])
def test_skip_export_when_the_bound_holds(name: str, exports: list[int]) -> None:
    f = _compile(name, None)
    data = f.export_bpf()
    assert exports == []  # libseccomp's export was skipped
    assert f.layout is Optimize.RANGES
    policy = f.policy()
    assert data == generate(policy)
    assert len(data) // bpf.INSN_SIZE < libseccomp_floor(policy)
    verify(policy, data)
    # what the comparison with libseccomp's export would have chosen: smaller than both
    default, tree = _libseccomp_sizes(f)
    assert len(data) // bpf.INSN_SIZE < min(default, tree)
    # decision-equal to libseccomp's programs on every boundary input
    from test_codegen import _points

    theirs = {}
    for layout in (Optimize.PRIORITY, Optimize.BINARY_TREE):
        g = _compile(name, None)
        g.verify = False
        g.optimize = layout
        theirs[layout] = g.export_bpf()
        g.close()
    points = _points(f)
    assert len(points) > 1000
    for token, nr, args in points:
        ours = bpf.evaluate(data, nr, token, args)
        for layout, prog in theirs.items():
            assert ours == bpf.evaluate(prog, nr, token, args), (layout, hex(token), nr, args)
    f.close()


def test_no_skip_when_ranges_is_not_below_the_bound(exports: list[int]) -> None:
    """40 consecutive syscall numbers with alternating actions: 40 ranges, a RANGES
    program not below the bound (40), so libseccomp's export runs and the smaller
    program is chosen as before."""
    f = Filter(Action.KILL_PROCESS)
    for nr in range(40):
        f.add_rule(Action.ALLOW if nr % 2 else Action.errno(1), nr)
    policy = f.policy()
    ours = generate(policy)
    floor = libseccomp_floor(policy)
    assert floor == 40 and len(ours) // bpf.INSN_SIZE >= floor
    data = f.export_bpf()
    assert exports  # libseccomp's program was exported for the comparison
    verify(policy, data)
    exports.clear()
    _, tree = _libseccomp_sizes(f)
    if len(ours) < len(data) or f.layout is Optimize.RANGES:
        assert data == ours and len(ours) // bpf.INSN_SIZE < tree
    else:
        assert len(data) // bpf.INSN_SIZE == tree and f.layout is Optimize.BINARY_TREE
    f.close()


def test_explicit_layouts_still_export_libseccomp(exports: list[int]) -> None:
    for layout in (Optimize.PRIORITY, Optimize.BINARY_TREE):
        f = _compile("docker", None)
        f.optimize = layout
        data = f.export_bpf()
        assert exports, layout
        exports.clear()
        assert f.layout is layout
        g = _compile("docker", None)
        g.verify = False
        g.optimize = layout
        assert data == g.export_bpf()  # libseccomp's bytes, verified
        g.close()
        f.close()


def test_skipped_export_program_enforced_by_the_kernel() -> None:
    def child() -> tuple[int, int, int]:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        g = _compile("docker", None, "docker")
        assert g.layout is Optimize.RANGES
        g.load()
        out = []
        for nr, arg in ((resolve_name("getppid"), 0), (resolve_name("kexec_load"), 0),
                        (resolve_name("personality"), 0xFFFFFFFF)):
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(nr), ctypes.c_ulong(arg))
            out.append(-ctypes.get_errno() if r == -1 else int(r >= 0))
        return out[0], out[1], out[2]

    result = in_child(child)
    assert result.error is None, result.error
    assert result.value == (1, -errno.EPERM, 1)
