"""User notification: hand a filter's listener fd to a monitor and supervise it.

See seccomp_unotify(2), seccomp(2) (SECCOMP_FILTER_FLAG_NEW_LISTENER,
SECCOMP_GET_NOTIF_SIZES), unix(7) (SCM_RIGHTS, SO_PEERCRED) and proc(5)
(/proc/PID/mem).

Sandbox side
    A :class:`Notifier` (the seed's protocol: ``exempt()``, ``prepare()``,
    ``handle(fd)``) is attached with ``Filter.set_notifier()``; ``load()``
    then prepares it (with a timeout), installs the filter in two layers
    (the user's program behind a prologue allowing exactly the handoff's
    calls, then the user's program with NOTIFY made ALLOW: the user's rules
    are never changed) and hands the listener over in between.
    :class:`UnixNotifier` is the ready one: it sends the fd with SCM_RIGHTS
    and a small versioned payload over a Unix socket; install, send and seal
    are ONE C call, which between the layers makes only ``sendmsg(2)``,
    ``close(2)`` and ``seccomp(2)``.

Monitor side
    :func:`receive_listener` (one socket) and :class:`ListenerServer` (a path
    that accepts many sandboxes) receive the fd with MSG_CMSG_CLOEXEC, refuse
    truncated control data, extra fds and peers with an unexpected uid
    (SO_PEERCRED), and return a :class:`Handoff` holding a :class:`Listener`.

Supervising
    :class:`Listener` receives :class:`Notification` objects and answers them
    with a :class:`Response`; :func:`serve`, :class:`Supervisor` (many
    listeners, a server, a thread) and :func:`serve_async` (asyncio) run the
    loop: ENOENT (target gone), EINTR and hang-up (no target left) are
    handled, handler exceptions are reported and answered with a default the
    caller chooses.

Every failure raises a :class:`~seccomp_py.errors.SeccompError` subclass
carrying the errno and the C function (or syscall) that failed.

The package's modules: ``types`` (Notification, Response), ``listener``,
``dispatch`` (the one receive -> handle -> answer routine), ``loops``
(serve, serve_async), ``supervisor``, ``handoff`` (payload, monitor side),
``notifier`` (sandbox side) and ``install`` (the two-layer handoff).
"""

from __future__ import annotations

from ..errors import (
    HandoffError,
    HangupError,
    ListenerClosedError,
    NotAListenerError,
    NotificationGoneError,
    PeerRefusedError,
)
from .dispatch import AsyncHandler as AsyncHandler
from .dispatch import Dispatch as Dispatch
from .dispatch import Handler as Handler
from .dispatch import Reporter as Reporter
from .handoff import (
    MAX_METADATA,
    MAX_NAME,
    MAX_PAYLOAD,
    PAYLOAD_VERSION,
    Handoff,
    ListenerServer,
    decode_payload,
    encode_payload,
    peer_credentials,
    receive_listener,
)
from .handoff import PAYLOAD_MAGIC as PAYLOAD_MAGIC
from .handoff import bind_socket as bind_socket
from .handoff import unlink_own_socket as unlink_own_socket
from .handoff import warn_unsafe_socket_dir as warn_unsafe_socket_dir
from .install import _Exempt as _Exempt
from .install import bpf_run, handoff_prologue, load_with_notifier, seal_program
from .install import install_with_notifier as install_with_notifier
from .listener import Listener, continue_all
from .loops import serve, serve_async
from .notifier import ExemptRule as ExemptRule
from .notifier import Notifier, UnixNotifier
from .supervisor import MAX_HANDSHAKES, Handshake, Supervisor, serve_in_thread
from .types import (
    ADDFD_FLAG_SEND,
    ADDFD_FLAG_SETFD,
    FLAG_CONTINUE,
    SYNC_WAKE_UP,
    Notification,
    NotifSizes,
    Response,
    notif_sizes,
)

__all__ = [
    "ADDFD_FLAG_SEND",
    "ADDFD_FLAG_SETFD",
    "FLAG_CONTINUE",
    "MAX_HANDSHAKES",
    "MAX_METADATA",
    "MAX_NAME",
    "MAX_PAYLOAD",
    "PAYLOAD_VERSION",
    "SYNC_WAKE_UP",
    "Handoff",
    "HandoffError",
    "Handshake",
    "HangupError",
    "Listener",
    "ListenerClosedError",
    "ListenerServer",
    "NotAListenerError",
    "NotifSizes",
    "Notification",
    "NotificationGoneError",
    "Notifier",
    "PeerRefusedError",
    "Response",
    "Supervisor",
    "UnixNotifier",
    "bpf_run",
    "continue_all",
    "decode_payload",
    "encode_payload",
    "handoff_prologue",
    "load_with_notifier",
    "notif_sizes",
    "peer_credentials",
    "receive_listener",
    "seal_program",
    "serve",
    "serve_async",
    "serve_in_thread",
]
