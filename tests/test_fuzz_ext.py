"""Fuzzing the parsers that arrive with the profile, CLI and notify work.

Written against the interfaces in docs/DESIGN.md:

* ``seccomp_py.profile``: ``Profile.loads(text)`` / ``Profile.from_dict(obj)``
  on arbitrary JSON and near-valid profiles, then ``compile()``: only
  SeccompError subclasses (ProfileError), TypeError, and warnings.
* ``seccomp_py.bpf``: ``parse`` / ``disassemble`` / ``validate`` on arbitrary
  bytes: only SeccompError subclasses (BpfError), TypeError.
* ``seccomp_py.cli``: ``main(argv)`` on arbitrary arguments: an int exit status
  or argparse's SystemExit, errors as one line on stderr, never a traceback.
  ``run`` and ``learn`` (which execute commands) are not fuzzed here.
* ``seccomp_py.notify``: ``decode_payload`` on arbitrary bytes and
  ``receive_listener`` on a socket fed arbitrary payloads and fds: only
  HandoffError (a SeccompError), TimeoutError; no fd leaks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_py import SeccompError
from seccomp_py import bpf as bpf_mod
from seccomp_py import cli as cli_mod
from seccomp_py import notify as notify_mod
from seccomp_py import profile as profile_mod

EXAMPLES = int(os.environ.get("SECCOMP_PY_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
DOCUMENTED = (SeccompError, TypeError)


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


# -- profiles ----------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
              st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)

ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
           "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE",
           "SCMP_ACT_NOTIFY", "SCMP_ACT_BOGUS", "", "allow"]
OPS = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
       "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_BOGUS", ""]
odd = st.one_of(st.none(), st.integers(-(2**65), 2**65), st.text(max_size=8), st.floats(),
                st.lists(st.integers(), max_size=2))

arg_entries = st.fixed_dictionaries(
    {"index": st.one_of(st.integers(-1, 7), odd), "value": st.one_of(st.integers(0, 2**64), odd),
     "op": st.one_of(st.sampled_from(OPS), odd)},
    optional={"valueTwo": st.one_of(st.integers(0, 2**64), odd)})
syscall_entries = st.fixed_dictionaries(
    {"names": st.one_of(st.lists(st.sampled_from(
        ["read", "write", "getppid", "socket", "clone", "nosuchcall", "", "READ"]), max_size=3),
        odd),
     "action": st.one_of(st.sampled_from(ACTIONS), odd)},
    optional={"args": st.one_of(st.lists(arg_entries, max_size=3), odd),
              "errnoRet": st.one_of(st.integers(-5, 70000), odd),
              "name": st.one_of(st.sampled_from(["read", "x"]), odd),
              "includes": st.one_of(st.fixed_dictionaries(
                  {}, optional={"arches": st.lists(st.sampled_from(
                      ["amd64", "x86", "arm64", "bogus"]), max_size=2),
                                "caps": st.lists(st.sampled_from(
                                    ["CAP_SYS_ADMIN", "CAP_BOGUS"]), max_size=2),
                                "minKernel": st.one_of(st.sampled_from(
                                    ["4.8", "5.", "x.y", "99.0"]), odd)}), odd),
              "excludes": st.one_of(st.fixed_dictionaries({}), odd)})
profiles = st.fixed_dictionaries(
    {"defaultAction": st.one_of(st.sampled_from(ACTIONS), odd)},
    optional={"defaultErrnoRet": st.one_of(st.integers(-5, 70000), odd),
              "architectures": st.one_of(st.lists(st.sampled_from(
                  ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                   "SCMP_ARCH_S390X", "SCMP_ARCH_BOGUS", "x86_64"]), max_size=3), odd),
              "syscalls": st.one_of(st.lists(syscall_entries, max_size=5), odd),
              "flags": st.one_of(st.lists(st.sampled_from(
                  ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                   "SECCOMP_FILTER_FLAG_BOGUS"]), max_size=2), odd),
              "listenerPath": odd,
              "archMap": st.one_of(st.lists(st.fixed_dictionaries(
                  {"architecture": st.one_of(st.sampled_from(["SCMP_ARCH_X86_64"]), odd),
                   "subArchitectures": st.one_of(st.lists(st.sampled_from(
                       ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]), max_size=2), odd)}), max_size=2),
                  odd)})


def _profile_roundtrip(obj: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prof = profile_mod.Profile.from_dict(obj)
            prof.compile()
        except DOCUMENTED:
            pass


@FUZZ
@given(json_values)
def test_profile_from_arbitrary_json(obj: Any) -> None:
    _profile_roundtrip(obj)


@FUZZ
@given(profiles)
def test_profile_from_near_valid_profiles(obj: Any) -> None:
    _profile_roundtrip(obj)


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 profiles.map(json.dumps), profiles.map(lambda p: json.dumps(p)[:-3])))
def test_profile_loads_arbitrary_text(text: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(*DOCUMENTED):
            profile_mod.Profile.loads(text)


# -- BPF given to the disassembler ----------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=400), st.binary(max_size=50).map(lambda b: b * 8)),
       st.sampled_from([None, "little", "big"]))
def test_bpf_parse_and_disassemble_arbitrary_bytes(data: bytes, order: str | None) -> None:
    try:
        prog = bpf_mod.parse(data, order)
    except DOCUMENTED:
        return
    with contextlib.suppress(*DOCUMENTED):
        bpf_mod.validate(prog)
    with contextlib.suppress(*DOCUMENTED):
        text = bpf_mod.disassemble(prog)
        assert isinstance(text, str)


# -- the command line --------------------------------------------------------------------

SAFE_SUBCOMMANDS = ["resolve", "compile", "check", "disasm", "features", "bogus", "", "--help",
                    "--version", "-h"]
tokens = st.one_of(
    st.sampled_from(["--arch", "x86_64", "x32", "bogus", "--all", "read", "99999", "-1",
                     "--format", "pfc", "bpf", "--runc", "--strict", "--json", "-", "--",
                     "prof.json", "bad.json", "prog.bpf", "empty", "missing.json", "0x10",
                     "--caps", "CAP_SYS_ADMIN", "--kernel", "5.10", "x"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            max_size=12))


@FUZZ
@given(st.sampled_from(SAFE_SUBCOMMANDS), st.lists(tokens, max_size=6))
def test_cli_arbitrary_arguments(tmp_path_factory: pytest.TempPathFactory, sub: str,
                                 rest: list[str]) -> None:
    if "-o" in rest or "--output" in rest:
        rest = [t for t in rest if t not in ("-o", "--output")]
    work = tmp_path_factory.mktemp("cli")
    (work / "prof.json").write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}))
    (work / "bad.json").write_text('{"defaultAction": 3, "syscalls": [')
    (work / "prog.bpf").write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    (work / "empty").write_bytes(b"")
    argv = [a for a in [sub, *rest] if a != ""]
    # real text streams over bytes, with .buffer, as the CLI writes BPF there
    out = io.TextIOWrapper(io.BytesIO(), write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), write_through=True)
    old = os.getcwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sys.stdin = io.TextIOWrapper(io.BytesIO(b""))
            try:
                status = cli_mod.main(argv)
            except SystemExit as exc:  # argparse: usage errors and --help
                status = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdin = sys.__stdin__
        os.chdir(old)
    assert isinstance(status, int)
    text = err.buffer.getvalue().decode(errors="replace")
    assert "Traceback" not in text, text


# -- notify handoff payloads ---------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=300),
                 st.builds(lambda pid, name, meta, cut: (
                     notify_mod.encode_payload(pid, name, meta)[:cut]),
                     st.integers(0, 2**31 - 1), st.text(max_size=20), st.binary(max_size=40),
                     st.integers(0, 400))))
def test_notify_decode_payload_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(SeccompError):
        pid, name, meta = notify_mod.decode_payload(data)
        assert isinstance(pid, int) and isinstance(name, str) and isinstance(meta, bytes)


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 3), st.booleans())
def test_notify_receive_listener_never_leaks_or_accepts_junk(payload: bytes, nfds: int,
                                                             close_first: bool) -> None:
    # The peer sends junk, the wrong number of fds, or fds that are not
    # listeners: the receiver refuses with HandoffError and closes every fd.
    before = open_fds()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sent: list[int] = []
    try:
        for _ in range(nfds):
            r, w = os.pipe()
            os.close(w)
            sent.append(r)
        if close_first and not payload and not sent:
            a.close()
        else:
            fds = socket.CMSG_SPACE(0)  # noqa: F841 - documents the layout
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    b"".join(fd.to_bytes(4, sys.byteorder) for fd in sent))] if sent else []
            a.sendmsg([payload or b"\x00"], anc)
        for fd in sent:
            os.close(fd)
        sent.clear()
        with pytest.raises((SeccompError, TimeoutError)):
            notify_mod.receive_listener(b, timeout=1.0)
    finally:
        for fd in sent:
            os.close(fd)
        with contextlib.suppress(OSError):
            a.close()
        b.close()
    assert open_fds() == before
