"""Model-based differential test with NOTIFY rules.

The generated policies also use NOTIFY as a rule action.  The filter hands its
listener to the parent at load() (Filter.set_notifier with a UnixNotifier over
a socketpair); a supervisor thread answers each notification: getppid is let
through (CONTINUE: the call runs), every other probe fails with errno 77.  The
model predicts which calls are notified; the kernel's answer must match.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import pytest
from helpers import failclosed_kernel as K
from helpers import model as M
from helpers.failclosed_strategies import cases
from hypothesis import HealthCheck, given, settings

from seccomp_py import notify

pytestmark = pytest.mark.skipif(K.supported() is not None, reason=str(K.supported()))

EXAMPLES = int(os.environ.get("SECCOMP_PY_MODEL_EXAMPLES", "200")) // 2
DENIED = 77  # the supervisor's errno for everything but getppid


class Monitor:
    """Receives the listener from the target and answers from a thread."""

    def __init__(self) -> None:
        self.parent_sock, self.child_sock = socket.socketpair(socket.AF_UNIX,
                                                              socket.SOCK_SEQPACKET)
        self.supervisor: Any | None = None
        self.listener: Any | None = None

    def before_fork(self, f: Any) -> None:
        f.set_notifier(notify.UnixNotifier(sock=self.child_sock), timeout=5.0)

    def after_fork(self) -> None:
        self.child_sock.close()
        handoff = notify.receive_listener(self.parent_sock, timeout=10.0)
        self.listener = handoff.listener

        def handler(n: Any) -> Any:
            if n.syscall == K.PROBES["getppid"]:
                return notify.Response.CONTINUE
            return notify.Response.errno(DENIED)

        self.supervisor = notify.serve_in_thread(self.listener, handler)

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop(timeout=5.0)
        if self.listener is not None:
            self.listener.close()
        self.parent_sock.close()
        self.child_sock.close()

    def answer(self, call: K.Call) -> M.Seen:
        if call.syscall == "getppid":
            return M.Seen(ret=os.getpid())
        return M.Seen(ret=-1, err=DENIED)


def check(policy: M.MPolicy, calls: tuple[K.Call, ...]) -> K.Result:
    result = K.Result(policy, calls)
    model = M.Model(policy)
    try:
        f = K.build(policy, result, model)
    except K.Refused:
        return result
    uses_notify = any(r.action == M.NOTIFY for r in model.accepted)
    K.run_filter(f, model, calls, result, monitor=Monitor() if uses_notify else None)
    assert not result.mismatches, result.report()
    return result


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases(notify=True))
def test_kernel_agrees_with_model_with_notify(case: tuple[M.MPolicy, tuple[K.Call, ...]],
                                              ) -> None:
    check(*case)


def _call(name: str, *args: int) -> K.Call:
    return K.Call(name, tuple(args) + (0,) * (6 - len(args)))


def test_notify_rule_with_condition() -> None:
    p = M.MPolicy(M.ERRNO(errno.EPERM), (
        M.MRule(M.NOTIFY, "getppid", (M.MCmp(0, "EQ", 1),)),
        M.MRule(M.NOTIFY, "tuxcall"),
        M.MRule(M.ALLOW, "getppid", (M.MCmp(0, "EQ", 2),))))
    r = check(p, (_call("getppid", 1), _call("getppid", 2), _call("getppid", 3),
                  _call("tuxcall", 9)))
    assert r.checked == 4
