"""A handler module for `seccomp-py agent --handler helpers.oci_handlers:deny_with_exdev`."""

from __future__ import annotations

import errno
from typing import Any

from seccomp_py.notify import Response


def deny_with_exdev(container: Any, notification: Any) -> Response:
    return Response.errno(errno.EXDEV)
