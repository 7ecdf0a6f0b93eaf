"""The blocking and asyncio supervisor loops: :func:`serve`, :func:`serve_async`.

Both go through :class:`~.dispatch.Dispatch`; :func:`serve` fuses answer,
wait and receive into one C call per round trip (seccomp_unotify(2)).
"""

from __future__ import annotations

import asyncio
import errno
import sys
from collections.abc import Awaitable, Mapping
from typing import Any, Callable

from .._native import check, ffi, lib
from ..arch import Arch
from ..errors import HangupError, InvalidArgumentError
from ..syscall import SyscallLike
from .dispatch import AsyncHandler, Dispatch, Handler, Reporter
from .listener import RECEIVED, SEND_FAILED, STOPPED, TIMEOUT, Listener, _ms
from .types import Notification, Response, _new, _unpack_from

_getrefcount: Callable[[object], int] | None = getattr(sys, "getrefcount", None)
_EINTR = -errno.EINTR
_EPIPE = -errno.EPIPE


def _static_rules(static: Mapping[SyscallLike, Response] | None) -> tuple[Any, int]:
    """Turn {syscall: Response} into the shim's rule array (native arch for names)."""
    from ..syscall import Syscall

    if not static:
        return ffi.NULL, 0
    rules = ffi.new("struct spy_rule[]", len(static))
    native = int(Arch.native())
    for i, (sc, response) in enumerate(static.items()):
        if not isinstance(response, Response) or response.sent:
            raise InvalidArgumentError(func="serve",
                                       detail=f"static answer for {sc!r} must be a Response "
                                              f"that answers, not {response!r}")
        s = Syscall.coerce(sc)
        arch = int(s.arch) if s.arch is not Arch.NATIVE else native
        rules[i].nr = s.number_on(arch)
        rules[i].arch = arch
        rules[i].val = response.val
        rules[i].error = response.error
        rules[i].flags = response.flags
    return rules, len(static)



def serve(listener: Listener, handler: Handler, *, on_error: Response | None = None,
          report: Reporter | None = None, stop_fd: int = -1,
          timeout: float | None = None,
          static: Mapping[SyscallLike, Response] | None = None,
          sync_wakeup: bool = True) -> int:
    """Answer notifications with ``handler(notification) -> Response`` until hang-up.

    Blocks (without holding the GIL while waiting) until no task uses the
    filter any more, ``stop_fd`` becomes readable, or no notification came
    for ``timeout`` seconds.  A handler that raises or returns something
    other than a Response is reported with ``report(exc, notification)``
    (default: logged to ``seccomp_py.notify``) and answered with
    ``on_error`` (default ``Response.errno(EPERM)``).  A handler returning
    None also gets ``on_error``.  ENOENT (target gone) and EINTR are
    handled.  A reporter that raises an Exception is logged and the loop
    goes on; a BaseException (SystemExit, KeyboardInterrupt...) from the
    handler or the reporter is re-raised after the notification was
    answered with ``on_error``, and the listener is then closed (its
    targets see ENOSYS, never a hang).

    ``static`` maps syscalls (names resolve on the native arch, or Syscall
    objects with an arch) to fixed answers given in C without calling the
    handler: the fast path for bulk answers such as CONTINUE in a recorder.

    Each round trip is one C call: answer, wait (poll first), receive.
    ``sync_wakeup`` (default on) asks the kernel for synchronous wake-up
    (Linux 6.6+, ignored before), which suits a loop that answers each
    notification before taking the next; it stays set on the listener.
    Returns the number of notifications answered.  Raises
    ListenerClosedError, InvalidArgumentError, SeccompError for other
    kernel failures.
    """
    dispatch = Dispatch(handler, on_error, report)
    default = dispatch.on_error
    if not isinstance(default, Response) or default.sent:
        raise InvalidArgumentError(func="serve", detail="on_error must be a Response that answers")
    rep = dispatch.report
    rules, nrules = _static_rules(static)
    if sync_wakeup:
        listener.set_sync_wakeup()
    loop = ffi.new("struct spy_loop *")
    loop.fd = listener._live("serve")
    loop.stopfd = stop_fd
    loop.timeout_ms = _ms(timeout)
    loop.rules = rules
    loop.nrules = nrules
    raw = ffi.buffer(ffi.addressof(loop, "notif"))
    step = lib.spy_notify_loop_step
    null = ffi.NULL
    received = RECEIVED
    response_type = Response
    # The handler gets a Notification decoded lazily from the loop's buffer
    # (nothing is decoded unless it reads a field).  When it kept no reference
    # the same object serves the next notification; one that was kept (stored,
    # handed to a thread, held by a traceback) is decoded before the buffer is
    # reused, and a fresh object takes its place.
    n = _spare_notification(raw, listener)
    # What getrefcount says with only ``n`` holding it (measured, not
    # assumed, as interpreters differ in whether the argument itself counts);
    # without getrefcount every notification counts as kept.
    refs = _getrefcount if _getrefcount is not None else _always_kept
    base = _getrefcount(n) if _getrefcount is not None else 0
    r: Any = default  # the handler's last answer
    # A loop that dies (a BaseException from the handler, the reporter or a
    # signal) while rc says a notification was received answers the one in
    # the buffer with on_error, and closes the listener: no target hangs.
    rc = 0
    try:
        rc = step(loop, null)
        while True:
            if rc == received:
                try:
                    r = handler(n)
                except Exception as exc:
                    rep(exc, n)
                    r = default
                if r.__class__ is response_type:
                    # The common case: answer and wait for the next one in one
                    # C call (Response.HANDLED's answer is NULL: nothing to send).
                    if refs(n) > base:
                        if n._v is None:
                            n._v = _unpack_from(raw)
                        n = _spare_notification(raw, listener)
                    else:
                        n._v = None  # reused for the next one
                    rc = step(loop, r._c)
                    continue
                # Anything else is answered (and may be reported) by the dispatch:
                # decode it and never reuse it.
                if n._v is None:
                    n._v = _unpack_from(raw)
                last, n = n, _spare_notification(raw, listener)
                dispatch.answer(listener, last, r)
                del last
            elif rc == SEND_FAILED:
                # The fast-path answer failed; the buffer still holds its notification.
                failed = _spare_notification(raw, listener)
                failed._v = _unpack_from(raw)
                dispatch.send_failed(listener, loop.send_rc, failed, r)
                del failed
            elif rc in (TIMEOUT, STOPPED, _EPIPE):
                return int(loop.handed) + int(loop.answered)
            elif rc != _EINTR:
                check(rc, "SECCOMP_IOCTL_NOTIF_RECV")
            rc = step(loop, null)
    except BaseException:
        if rc == RECEIVED:
            dispatch.answer_quietly(listener, _decoded(raw, listener))
        listener.close()
        raise


def _always_kept(obj: object) -> int:
    return 1


def _decoded(raw: Any, listener: Listener) -> Notification:
    n = _spare_notification(raw, listener)
    n._v = _unpack_from(raw)
    return n


def _spare_notification(raw: Any, listener: Listener) -> Notification:
    n = _new(Notification)
    n._v = None
    n._raw = raw
    n.listener = listener
    return n


async def serve_async(listener: Listener, handler: AsyncHandler, *,
                      on_error: Response | None = None,
                      report: Reporter | None = None) -> int:
    """Serve ``listener`` on the running asyncio loop until hang-up.

    The loop watches the fd (``loop.add_reader``); each notification is
    received without blocking and handed to ``handler``, which may be a
    coroutine function (handlers then run concurrently).  Errors are handled
    as in :func:`serve`.  Cancel the task to stop early.  Returns the number
    of notifications handled.
    """
    dispatch = Dispatch(handler, on_error, report)
    loop = asyncio.get_running_loop()
    fd = listener._live("serve_async")
    done: asyncio.Future[None] = loop.create_future()
    tasks: dict[asyncio.Task[None], Notification] = {}

    def die(exc: BaseException) -> None:
        if not done.done():
            done.set_exception(exc)

    async def run_one(n: Notification, pending: Awaitable[Response | None]) -> None:
        try:
            await dispatch.finish(listener, n, pending)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # SystemExit...: answered; end the loop with it
            die(exc)

    def defer(n: Notification, pending: Awaitable[Any]) -> None:
        task = loop.create_task(run_one(n, pending))
        tasks[task] = n
        task.add_done_callback(lambda t: tasks.pop(t, None))

    def readable() -> None:
        if done.done():
            return
        try:
            dispatch.one(listener, defer)
        except HangupError:
            done.set_result(None)
        except BaseException as exc:  # a receive failure, or the handler's (answered)
            die(exc)

    loop.add_reader(fd, readable)
    failed = True
    try:
        await done
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        failed = False
    except asyncio.CancelledError:
        failed = False  # cancelling stops the loop; it does not kill the listener
        raise
    finally:
        loop.remove_reader(fd)
        for task, n in list(tasks.items()):
            task.cancel()
            dispatch.answer_quietly(listener, n)  # never leave a target waiting
        if failed:
            listener.close()
    return dispatch.received
