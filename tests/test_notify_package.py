"""The shape of seccomp_py.notify: no import cycle, errors in seccomp_py.errors,
kernel constants that match the C headers the shim was built against."""

from __future__ import annotations

import subprocess
import sys

from seccomp_py import _kernel, errors, notify
from seccomp_py._native import ffi, lib


def test_notify_imports_neither_filter_nor_spawn() -> None:
    # filter imports notify (Filter.load with a notifier), never the reverse.
    code = ("import sys, seccomp_py.notify; "
            "print(sorted(m for m in sys.modules if m in "
            "('seccomp_py.filter', 'seccomp_py.spawn', 'seccomp_py.profile')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_kernel_constants_match_the_c_headers() -> None:
    assert _kernel.SECCOMP_USER_NOTIF_FLAG_CONTINUE == lib.SPY_USER_NOTIF_FLAG_CONTINUE
    assert _kernel.SECCOMP_ADDFD_FLAG_SETFD == lib.SPY_ADDFD_FLAG_SETFD
    assert _kernel.SECCOMP_ADDFD_FLAG_SEND == lib.SPY_ADDFD_FLAG_SEND
    assert _kernel.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP == lib.SPY_USER_NOTIF_FD_SYNC_WAKE_UP
    assert _kernel.SECCOMP_IOCTL_NOTIF_RECV == lib.SPY_IOCTL_NOTIF_RECV
    assert _kernel.SECCOMP_IOCTL_NOTIF_SEND == lib.SPY_IOCTL_NOTIF_SEND
    assert _kernel.SECCOMP_IOCTL_NOTIF_ID_VALID == lib.SPY_IOCTL_NOTIF_ID_VALID
    assert _kernel.SECCOMP_IOCTL_NOTIF_ADDFD == lib.SPY_IOCTL_NOTIF_ADDFD
    assert _kernel.SECCOMP_IOCTL_NOTIF_SET_FLAGS == lib.SPY_IOCTL_NOTIF_SET_FLAGS
    import struct

    assert struct.calcsize(_kernel.SECCOMP_NOTIF_FORMAT) == ffi.sizeof("struct seccomp_notif")
    assert struct.calcsize(_kernel.SECCOMP_NOTIF_RESP_FORMAT) == \
        ffi.sizeof("struct seccomp_notif_resp")
    assert struct.calcsize(_kernel.SECCOMP_NOTIF_FORMAT) == ffi.sizeof("struct spy_notif")
    assert notify.FLAG_CONTINUE == _kernel.SECCOMP_USER_NOTIF_FLAG_CONTINUE


def test_notify_errors_are_seccomp_py_errors() -> None:
    for name in ("HandoffError", "HangupError", "ListenerClosedError", "NotAListenerError",
                 "NotificationGoneError", "PeerRefusedError"):
        assert getattr(notify, name) is getattr(errors, name)
    assert issubclass(errors.ListenerClosedError, errors.ClosedError)
    assert issubclass(errors.ListenerClosedError, ValueError)
    closed = notify.Listener.__new__(notify.Listener)
    closed._fd = -1
    try:
        closed.fileno()
    except errors.ClosedError as exc:
        assert exc.errno == 9 and exc.func == "fileno"
    else:
        raise AssertionError("a closed listener gave an fd")
