"""The one receive -> handle -> answer routine of every supervisor loop.

:func:`~.loops.serve`, :class:`~.supervisor.Supervisor` (and so the OCI
agent), :func:`~.loops.serve_async` and the compat module's receive all go
through :class:`Dispatch`: a handler that raises is reported and answered
with ``on_error``; one that returns something other than a Response gets
``on_error`` too (reported after the answer went out); an answer that finds
the target gone (ENOENT) is not an error; every notification received is
answered, even when the handler or the reporter raises a BaseException.
See seccomp_unotify(2).
"""

from __future__ import annotations

import errno
import inspect
import logging
from collections.abc import Awaitable
from typing import Any, Callable, Optional, Union

from .._native import lib
from ..errors import HangupError, NotificationGoneError, SeccompError
from .listener import RECEIVED, TIMEOUT, Listener
from .types import Notification, Response

log = logging.getLogger("seccomp_py.notify")

Handler = Callable[[Notification], Optional[Response]]
AsyncHandler = Callable[[Notification], Union[Optional[Response], Awaitable[Optional[Response]]]]
Reporter = Callable[[BaseException, Optional[Notification]], None]
#: ``on_answer(notification, response, error)``: told after each answer;
#: ``error`` is None when it went out, a NotificationGoneError when the target
#: was gone, the SeccompError otherwise.
AnswerHook = Callable[[Notification, Response, Optional[SeccompError]], None]

_EINTR = -errno.EINTR
_EPIPE = -errno.EPIPE
_ENOENT = -errno.ENOENT


def _default_report(exc: BaseException, notification: Notification | None) -> None:
    log.error("seccomp notify handler failed on %r", notification, exc_info=exc)


def _guarded(report: Reporter) -> Reporter:
    """``report``, but an Exception it raises is logged instead of ending the
    loop (a BaseException still propagates; the loops answer first)."""
    if getattr(report, "_spy_guarded", False):
        return report

    def guarded(exc: BaseException, notification: Notification | None) -> None:
        try:
            report(exc, notification)
        except Exception as failure:
            log.error("seccomp notify: the report callback failed on %r (reporting %r)",
                      notification, exc, exc_info=failure)

    guarded._spy_guarded = True  # type: ignore[attr-defined]
    return guarded


def _answer_quietly(listener: Listener, n: Notification, response: Response) -> None:
    """Answer ``n`` ignoring every failure: the last act of a dying loop."""
    fd = listener._fd
    if fd >= 0 and not response.sent:
        lib.spy_notify_send(fd, n.id, response.val, response.error, response.flags)


class Dispatch:
    """Receive, hand to ``handler``, answer: the policy every loop shares.

    ``on_error`` (default ``Response.errno(EPERM)``) answers a notification
    whose handler raised an Exception or returned no Response; ``report``
    (default: logged to ``seccomp_py.notify``) is told of every such failure
    and of answers that failed other than with ENOENT; ``on_answer`` (see
    :data:`AnswerHook`) is told of every answer.  ``received`` counts the
    notifications taken off listeners.
    """

    __slots__ = ("handler", "on_answer", "on_error", "received", "report")

    def __init__(self, handler: Callable[[Notification], Any],
                 on_error: Response | None = None, report: Reporter | None = None,
                 on_answer: AnswerHook | None = None) -> None:
        self.handler = handler
        self.on_error = Response.errno(errno.EPERM) if on_error is None else on_error
        self.report = _guarded(report or _default_report)
        self.on_answer = on_answer
        self.received = 0

    def decide(self, n: Notification) -> Any:
        """``handler(n)``; ``on_error`` when it raised an Exception (reported).

        A BaseException from the handler or the reporter propagates: the
        caller answers ``n`` with :meth:`answer_quietly` and re-raises it.
        """
        try:
            return self.handler(n)
        except Exception as exc:
            self.report(exc, n)
            return self.on_error

    def answer(self, listener: Listener, n: Notification, response: object) -> bool:
        """Send ``response`` (``on_error`` unless it is a Response); False when
        it could not be sent.  Any report is made after the answer went out."""
        bad: BaseException | None = None
        if isinstance(response, Response):
            r = response
        else:
            if response is not None:
                bad = TypeError(f"handler returned {type(response).__name__}, not a Response")
            r = self.on_error
        if r.sent:  # the handler answered (add_fd(send=True))
            if self.on_answer is not None:
                self._tell(n, r, None)
            return True
        rc = lib.spy_notify_send(listener._fd, n.id, r.val, r.error, r.flags)
        if bad is not None:
            self.report(bad, n)
        if rc == 0:
            if self.on_answer is not None:
                self._tell(n, r, None)
            return True
        self.send_failed(listener, rc, n, r)
        return False

    def send_failed(self, listener: Listener, rc: int, n: Notification,
                    response: Response) -> None:
        """An answer to ``n`` failed with ``rc``: ENOENT (the target went away
        meanwhile) is not an error; anything else is reported."""
        error: SeccompError
        if rc == _ENOENT and self.on_answer is None:
            return
        try:
            listener._send_failed(rc, n.id)
        except NotificationGoneError as exc:
            error = exc
            if rc != _ENOENT:
                self.report(exc, n)
        except SeccompError as exc:
            error = exc
            self.report(exc, n)
        else:  # pragma: no cover - _send_failed always raises
            return
        if self.on_answer is not None:
            self._tell(n, response, error)

    def _tell(self, n: Notification, response: Response, error: SeccompError | None) -> None:
        assert self.on_answer is not None
        try:
            self.on_answer(n, response, error)
        except Exception as exc:
            self.report(exc, n)

    def answer_quietly(self, listener: Listener, n: Notification) -> None:
        """Answer ``n`` with ``on_error``, ignoring failures (a dying loop)."""
        _answer_quietly(listener, n, self.on_error)

    def handle(self, listener: Listener, n: Notification) -> None:
        """Decide and answer ``n``; a BaseException propagates after the answer."""
        try:
            r = self.decide(n)
        except BaseException:
            self.answer_quietly(listener, n)
            raise
        self.answer(listener, n, r)

    def one(self, listener: Listener,
            defer: Callable[[Notification, Awaitable[Any]], None] | None = None) -> bool:
        """Receive one notification without waiting, handle and answer it.

        Returns True when one was received, False when none was waiting (or
        a signal came).  With ``defer``, a handler result that is awaitable
        is given to ``defer(n, awaitable)`` instead of being answered (the
        caller answers it later).  Raises HangupError when no task uses the
        filter any more, SeccompError when the receive failed; a
        BaseException from the handler is re-raised after ``n`` was answered
        with ``on_error``.
        """
        rc = lib.spy_notify_wait_recv(listener._fd, -1, 0, listener._buf)
        if rc != RECEIVED:
            if rc in (TIMEOUT, _EINTR):
                return False
            if rc == _EPIPE:
                raise HangupError()
            raise SeccompError(-rc, "SECCOMP_IOCTL_NOTIF_RECV")
        n = Notification._from_raw(listener._raw, listener)
        self.received += 1
        try:
            r = self.decide(n)
            if defer is not None and inspect.isawaitable(r):
                defer(n, r)
                return True
        except BaseException:
            self.answer_quietly(listener, n)
            raise
        self.answer(listener, n, r)
        return True

    async def finish(self, listener: Listener, n: Notification,
                     pending: Awaitable[Any]) -> None:
        """Await a deferred handler result and answer ``n`` with it (as
        :meth:`decide` then :meth:`answer`); answers ``on_error`` and
        re-raises when cancelled or on a BaseException."""
        try:
            try:
                r = await pending
            except Exception as exc:
                r = self.on_error
                self.report(exc, n)
            self.answer(listener, n, r)
        except BaseException:
            self.answer_quietly(listener, n)
            raise
