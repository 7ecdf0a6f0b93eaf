"""serve() hands its handler a lazily decoded Notification and reuses it when
the handler kept no reference: whatever a handler or a
reporter keeps must still read the notification it was given, never a later
one, and every notification is still answered.

Each case runs a real target process making notified mkdir() calls with
distinct modes (args[1]) and reports the errnos it saw.
"""

from __future__ import annotations

import errno
import os
import pickle
from typing import Any

from helpers.targets import start_target

from seccomp_py.notify import HangupError, Notification, Response, serve

MODES = [0o701 + i for i in range(8)]


def _mkdirs() -> list[int]:
    out = []
    for mode in MODES:
        try:
            os.mkdir("/nonexistent-seccomp-py/x", mode)
            out.append(0)
        except OSError as exc:
            out.append(exc.errno or -1)
    return out


def _by_mode(n: Notification) -> Response:
    """An errno that depends on the notification's own args."""
    return Response.errno(1 + MODES.index(n.args[1]))


EXPECTED = [1 + i for i in range(len(MODES))]


def _run(handler: Any, **kw: Any) -> list[int]:
    target, handoff = start_target(["mkdir"], _mkdirs)
    assert handoff is not None
    with handoff.listener as listener:
        assert serve(listener, handler, **kw) == len(MODES)
    result: list[int] = target.result()
    return result


def _check(kept: list[Notification]) -> None:
    assert [n.args[1] for n in kept] == MODES
    assert len({n.id for n in kept}) == len(kept)
    assert len({n.pid for n in kept}) == 1
    assert all(n.syscall_name == "mkdir" for n in kept)


def test_serve_kept_unread_notifications_keep_their_own_values() -> None:
    kept: list[Notification] = []

    def handler(n: Notification) -> Response:
        kept.append(n)  # kept without reading a field
        return Response.errno(errno.EMLINK)

    assert _run(handler) == [errno.EMLINK] * len(MODES)
    _check(kept)


def test_serve_some_kept_some_read_some_neither() -> None:
    kept: list[Notification] = []
    seen: list[int] = []

    def handler(n: Notification) -> Response:
        i = len(seen)
        seen.append(n.args[1] if i % 3 else 0)
        if i % 2:
            kept.append(n)
        return Response.errno(1 + i)

    assert _run(handler) == EXPECTED
    assert [m for i, m in enumerate(seen) if i % 3] == [m for i, m in enumerate(MODES) if i % 3]
    assert [n.args[1] for n in kept] == MODES[1::2]
    # A kept notification survives the loop, compares and pickles by value.
    clone = pickle.loads(pickle.dumps(kept[0]))
    assert clone == kept[0] and hash(clone) == hash(kept[0])


def test_serve_reused_notification_reads_the_current_one() -> None:
    # The handler keeps nothing: each call reads its own notification.
    assert _run(_by_mode) == EXPECTED


def test_serve_notifications_kept_by_the_reporter() -> None:
    reported: list[Notification | None] = []

    calls: list[int] = []

    def handler(n: Notification) -> Any:
        calls.append(1)  # reads no field: the reporter gets it undecoded
        if len(calls) % 2:
            raise ValueError("odd")
        return "not a Response"  # reported too, after the answer went out

    def report(exc: BaseException, n: Notification | None) -> None:
        reported.append(n)

    assert _run(handler, report=report, on_error=Response.errno(errno.EMLINK)) == \
        [errno.EMLINK] * len(MODES)
    assert all(n is not None for n in reported)
    _check([n for n in reported if n is not None])


def test_serve_notification_kept_by_a_traceback() -> None:
    errors: list[BaseException] = []

    def handler(n: Notification) -> Response:
        if len(errors) < 3:
            try:
                raise KeyError(n.id)
            except KeyError as exc:
                errors.append(exc)  # its traceback holds the handler's frame, so ``n``
        return _by_mode(n)

    assert _run(handler) == EXPECTED
    held = [exc.__traceback__.tb_frame.f_locals["n"] for exc in errors
            if exc.__traceback__ is not None]
    assert [n.args[1] for n in held] == MODES[:3]


def test_receive_loop_notifications_are_independent() -> None:
    target, handoff = start_target(["mkdir"], _mkdirs)
    assert handoff is not None
    kept: list[Notification] = []
    with handoff.listener as listener:
        try:
            while True:
                n = listener.receive(timeout=10)
                kept.append(n)
                listener.respond(n, _by_mode(n))
        except HangupError:
            pass
    assert target.result() == EXPECTED
    _check(kept)
