"""Bounded JSON everywhere: deep or huge profiles and
agent messages give one-line errors, never RecursionError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers.cli import cli, one_error_line

from seccomp_py import _json
from seccomp_py.oci import AgentProtocolError, parse_process_state
from seccomp_py.profile import MAX_PROFILE_BYTES, MAX_PROFILE_DEPTH, Profile, ProfileError

DEEP = '{"defaultAction": "SCMP_ACT_ALLOW", "x": ' + "[" * 5000 + "]" * 5000 + "}"


def test_deep_profile_is_a_one_line_profile_error() -> None:
    with pytest.raises(ProfileError) as info:
        Profile.loads(DEEP)
    assert "5001 levels deep" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ProfileError, match="levels deep"):
        Profile.loads(DEEP.encode())


def test_profile_depth_limit_is_exact() -> None:
    ok = '{"defaultAction": "SCMP_ACT_ALLOW", "x": ' + "[" * (MAX_PROFILE_DEPTH - 1) \
        + "]" * (MAX_PROFILE_DEPTH - 1) + "}"
    with pytest.warns(Warning):  # the unknown key "x"
        Profile.loads(ok)
    too = ok.replace("[", "[[", 1).replace("]", "]]", 1)
    with pytest.raises(ProfileError, match="levels deep"):
        Profile.loads(too)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "comment": "[" * 10000 + '\\"{'})
    with pytest.warns(Warning):
        Profile.loads(text)
    assert _json.depth('["[[[\\"[[", {"a": "]]]"}]') == 2


def test_huge_profile_is_refused_without_reading_it_all(tmp_path: Any) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.write(b'{"defaultAction": "SCMP_ACT_ALLOW", "x": "')
        fh.truncate(MAX_PROFILE_BYTES + 100)
    with pytest.raises(ProfileError, match="at most"):
        Profile.load(str(big))


def test_cli_deep_profile_is_one_line(tmp_path: Any) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    line = one_error_line(cli("check", str(path)))
    assert "levels deep" in line


def test_deep_agent_message_is_refused() -> None:
    deep = b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(AgentProtocolError, match="levels deep"):
        parse_process_state(deep, 1)
    with pytest.raises(AgentProtocolError, match="not JSON"):
        parse_process_state(b"{", 1)


def test_loads_never_raises_recursion_error() -> None:
    for text in ("[" * 100000, "{\"a\":" * 100000, "[" * 100000 + "]" * 100000):
        with pytest.raises(_json.JsonLimitError):
            _json.loads(text, max_size=10**6)
