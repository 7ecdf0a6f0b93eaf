"""seccomp_py.program.Program: what Filter.compile(), profiles and learn make,
and what spawn(), SpawnTemplate and the CLI load (enforced in spawned children)."""

from __future__ import annotations

import errno
import pickle
import struct
import subprocess
import sys

import pytest

import seccomp_py
from seccomp_py import Action, Arch, Attribute, Filter, Program
from seccomp_py.program import (
    BPF_INSN_SIZE,
    FLAG_LOG,
    FLAG_NEW_LISTENER,
    FLAG_TSYNC,
    FLAG_TSYNC_ESRCH,
    FLAG_WAIT_KILLABLE_RECV,
)
from seccomp_py.spawn import SpawnTemplate, spawn

TIMEOUT = 20
PY = [sys.executable, "-I", "-S", "-c"]
# exits with the errno of getpgid(0) (0 when allowed): it never fails otherwise
PROBE = ("import os, sys\n"
         "try:\n"
         "    os.getpgid(0)\n"
         "except OSError as e:\n"
         "    sys.exit(e.errno)\n")


def _deny_getpgid(errnum: int = errno.EHOSTDOWN) -> Filter:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errnum), "getpgid")
    return f


def test_public_and_lazy() -> None:
    assert seccomp_py.Program is Program
    assert "Program" in seccomp_py.__all__


def test_compile_gives_the_verified_export_and_the_load_options() -> None:
    with _deny_getpgid() as f:
        f.log = True
        p = f.compile()
        assert p.bpf == f.export_bpf()
        assert p.instruction_count == f.instruction_count
        assert p.flags == FLAG_LOG
        assert p.no_new_privs is True and p.wants_listener is False
        assert p.arches == f.arches
        assert f.compile() is p  # cached until the filter changes
        f.no_new_privileges = False
        q = f.compile()
        assert q is not p and q.no_new_privs is False and q.bpf == p.bpf
        f.add_rule(Action.errno(1), "acct")
        assert f.compile().bpf != p.bpf


def test_listener_flags_follow_the_program() -> None:
    with Filter(Action.ALLOW) as f:
        f.thread_sync = True
        assert f.compile().flags == FLAG_TSYNC
        f.add_rule(Action.NOTIFY, "getpgid")
        p = f.compile()
        assert p.wants_listener
        assert p.flags == FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH
    allow = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)
    q = p.with_bpf(allow)
    assert not q.wants_listener and q.flags == FLAG_TSYNC
    assert q.with_bpf(p.bpf).flags == p.flags
    plain = Program(allow, flags=FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER)
    assert plain.flags == 0  # listener flags without a NOTIFY return are dropped


def test_value_semantics() -> None:
    with _deny_getpgid() as f:
        p = f.compile()
    with pytest.raises(AttributeError):
        p.bpf = b""
    with pytest.raises(AttributeError):
        p.flags = 1
    with pytest.raises(AttributeError):
        del p.no_new_privs
    with pytest.raises(AttributeError):
        p.extra = 1
    copy = pickle.loads(pickle.dumps(p))
    assert copy == p and hash(copy) == hash(p) and copy is not p
    assert Program(p.bpf, no_new_privs=False) != p
    assert "Program" in repr(p)


@pytest.mark.parametrize("bpf, exc", [
    ("ret", TypeError),
    (b"", ValueError),
    (b"\0" * (BPF_INSN_SIZE + 1), ValueError),
])
def test_bad_programs_are_refused(bpf: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Program(bpf)  # type: ignore[arg-type]


def test_unknown_flags_are_refused() -> None:
    with pytest.raises(ValueError, match="flags"):
        Program(b"\0" * BPF_INSN_SIZE, flags=1 << 20)


def test_spawn_loads_a_program() -> None:
    with _deny_getpgid() as f:
        p = f.compile()
    # the filter is closed: the Program alone confines the child
    with spawn([*PY, PROBE], p) as proc:
        assert proc.wait(timeout=TIMEOUT) == errno.EHOSTDOWN
    with spawn([*PY, PROBE], Filter(Action.ALLOW).compile()) as proc:
        assert proc.wait(timeout=TIMEOUT) == 0


def test_spawn_with_a_program_refuses_explain() -> None:
    with _deny_getpgid() as f:
        p = f.compile()
    with pytest.raises(TypeError, match="explain"):
        spawn([*PY, PROBE], p, explain=lambda r: None)
    with pytest.raises(TypeError, match="Filter or Program"):
        spawn([*PY, PROBE], p.bpf)


def test_spawn_template_takes_a_program() -> None:
    with _deny_getpgid(errno.ENOTUNIQ) as f:
        p = f.compile()
    with SpawnTemplate(p) as t, t.spawn([*PY, PROBE]) as proc:
        assert proc.wait(timeout=TIMEOUT) == errno.ENOTUNIQ


def test_profile_to_program() -> None:
    from seccomp_py.profile import Profile

    profile = Profile.from_dict({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 73}],
    })
    compiled = profile.compile()
    with compiled.filter:
        p = compiled.to_program()
        assert p.bpf == compiled.program()
        assert compiled.to_program(runc=True).bpf == compiled.runc_program()
    with spawn([*PY, PROBE], p) as proc:
        assert proc.wait(timeout=TIMEOUT) == 73


def test_learn_program() -> None:
    from seccomp_py.learn import LEARN_PROGRAM, _learn_program

    p = _learn_program(True)
    assert p.bpf == LEARN_PROGRAM and p.wants_listener and p.flags == FLAG_NEW_LISTENER


def test_loading_a_program_in_process_is_enforced() -> None:
    """Filter.load of a RANGES (seccomp_py-generated) program goes through
    compile(): enforced in a child process."""
    code = ("import errno\n"
            "from seccomp_py import Action, Attribute, Filter, Optimize\n"
            "f = Filter(Action.ALLOW)\n"
            "f.set_attribute(Attribute.OPTIMIZE, Optimize.RANGES)\n"
            "f.add_rule(Action.errno(errno.EXDEV), 'getpgid')\n"
            "f.load()\n" + PROBE)
    out = subprocess.run([sys.executable, "-c", code], timeout=TIMEOUT * 3)
    assert out.returncode == errno.EXDEV


def test_arches_are_the_filters() -> None:
    with Filter(Action.ALLOW) as f:
        if Arch.native() == Arch.X86_64:
            f.add_arch(Arch.X86)
        assert f.compile().arches == f.arches
        assert f.get_attribute(Attribute.LOG) is False
