"""Every loop answers every notification, whatever the handler or the
reporter raises, and a loop that dies closes its listeners.

Each case runs a real target process: it makes two notified mkdir() calls
and reports both errnos.  The first is answered with ``on_error`` even
though the handler (or the reporter) raised a BaseException; the loop then
dies, closes the listener, and the second call fails with ENOSYS instead of
hanging.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from typing import Any

import pytest
from helpers.targets import start_target

from seccomp_py.errors import InvalidArgumentError, ListenerClosedError
from seccomp_py.notify import Notification, Response, Supervisor, serve, serve_async

ON_ERROR = Response.errno(errno.EMLINK)


class Boom(BaseException):
    """Neither Exception nor SystemExit: what a loop must survive answering."""


def _two_mkdirs() -> list[int]:
    out = []
    for _ in range(2):
        try:
            os.mkdir("/nonexistent-seccomp-py/x")
            out.append(0)
        except OSError as exc:
            out.append(exc.errno or -1)
    return out


def _raise(exc: BaseException) -> Any:
    def handler(n: Notification) -> Response:
        raise exc

    return handler


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), Boom()])
def test_serve_answers_then_dies_closing_the_listener(exc: BaseException) -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None
    listener = handoff.listener
    with pytest.raises(type(exc)):
        serve(listener, _raise(exc), on_error=ON_ERROR)
    assert listener.closed
    assert target.result() == [errno.EMLINK, errno.ENOSYS]


def test_serve_survives_a_raising_reporter_and_answers() -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None
    reports: list[str] = []

    def report(exc: BaseException, n: Notification | None) -> None:
        reports.append(type(exc).__name__)
        raise RuntimeError("the reporter is broken too")

    with handoff.listener as listener:
        serve(listener, _raise(ValueError("bad handler")), on_error=ON_ERROR, report=report)
    assert target.result() == [errno.EMLINK, errno.EMLINK]
    assert reports == ["ValueError", "ValueError"]


def test_serve_reporter_raising_baseexception_still_answers() -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None

    def report(exc: BaseException, n: Notification | None) -> None:
        raise SystemExit(9)

    with pytest.raises(SystemExit):
        serve(handoff.listener, _raise(ValueError("x")), on_error=ON_ERROR, report=report)
    assert target.result() == [errno.EMLINK, errno.ENOSYS]


@pytest.mark.parametrize("where", ["handler", "reporter"])
def test_supervisor_thread_answers_then_closes_its_listeners(where: str) -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None
    died = threading.Event()

    def report(exc: BaseException, n: Notification | None) -> None:
        if n is None:
            died.set()  # the thread's last report: run() ended with exc
        elif where == "reporter":
            raise SystemExit(4)

    handler = _raise(SystemExit(2) if where == "handler" else ValueError("x"))
    sup = Supervisor(handler, on_error=ON_ERROR, report=report)
    sup.add_now(handoff.listener)
    sup.start()
    assert target.result() == [errno.EMLINK, errno.ENOSYS]
    assert died.wait(10)
    assert sup.listeners == [] and handoff.listener.closed
    sup.close()


def test_serve_async_answers_then_closes() -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None

    async def handler(n: Notification) -> Response:
        raise Boom()

    async def main() -> None:
        await serve_async(handoff.listener, handler, on_error=ON_ERROR)

    with pytest.raises(Boom):
        asyncio.run(main())
    assert handoff.listener.closed
    assert target.result() == [errno.EMLINK, errno.ENOSYS]


def test_serve_async_sync_handler_systemexit() -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None

    async def main() -> None:
        await serve_async(handoff.listener, _raise(SystemExit(5)), on_error=ON_ERROR)

    with pytest.raises(SystemExit):
        asyncio.run(main())
    assert target.result() == [errno.EMLINK, errno.ENOSYS]


def test_serve_async_cancel_answers_in_flight_notifications() -> None:
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None

    async def slow(n: Notification) -> Response:
        await asyncio.sleep(3600)
        return Response.CONTINUE

    async def main() -> None:
        task = asyncio.ensure_future(serve_async(handoff.listener, slow, on_error=ON_ERROR))
        while not handoff.listener.closed and task.done() is False:
            await asyncio.sleep(0.01)
            if target_waiting():
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def target_waiting() -> bool:
        try:
            with open(f"/proc/{target.pid}/wchan") as fh:
                return "seccomp" in fh.read()
        except OSError:
            return False

    asyncio.run(main())
    # the in-flight call got on_error at cancel; the listener stays open (a
    # cancelled loop stops, it does not die): the next call waits for it
    handoff.listener.close()
    assert target.result() == [errno.EMLINK, errno.ENOSYS]


def test_supervisor_tells_on_answer_what_each_notification_got() -> None:
    # The one dispatch routine answers for the Supervisor (and so the OCI
    # agent): a Response as given, anything else as on_error, and on_answer
    # hears of each answer after it went out.
    target, handoff = start_target(["mkdir"], _two_mkdirs)
    assert handoff is not None
    answers: list[tuple[str, Any]] = []
    results = iter([Response.errno(errno.EXDEV), "not a Response"])
    reports: list[str] = []

    def on_answer(n: Notification, response: Response, error: Any) -> None:
        answers.append((str(response), error))

    sup = Supervisor(lambda n: next(results), on_error=ON_ERROR, on_answer=on_answer,  # type: ignore[arg-type,return-value]
                     report=lambda exc, n: reports.append(type(exc).__name__))
    sup.add_now(handoff.listener)
    assert sup.run(timeout=10) == 2
    assert target.result() == [errno.EXDEV, errno.EMLINK]
    assert answers == [("ERRNO(EXDEV)", None), ("ERRNO(EMLINK)", None)]
    assert reports == ["TypeError"]
    sup.close()


def _late_mkdirs() -> list[int]:
    time.sleep(1.0)  # after the monitor closed its listener: ENOSYS, never a hang
    return _two_mkdirs()


def test_close_wakes_a_receive_in_another_thread_and_detach_waits_for_it() -> None:
    target, handoff = start_target(["mkdir"], _late_mkdirs)
    assert handoff is not None
    listener = handoff.listener
    seen: list[BaseException] = []

    def receive() -> None:
        try:
            listener.receive(timeout=30)
        except BaseException as exc:
            seen.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    deadline = time.monotonic() + 10
    while not listener._c.receivers:  # the thread is inside receive()
        assert time.monotonic() < deadline
        time.sleep(0.001)
    with pytest.raises(InvalidArgumentError) as busy:
        listener.detach()
    assert busy.value.errno == errno.EBUSY and not listener.closed
    listener.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(seen) == 1 and isinstance(seen[0], ListenerClosedError), seen
    assert "during receive()" in str(seen[0])
    with pytest.raises(ListenerClosedError):
        listener.respond_continue(1)
    with pytest.raises(ListenerClosedError):
        listener.receive(timeout=0)
    assert target.result() == [errno.ENOSYS, errno.ENOSYS]
