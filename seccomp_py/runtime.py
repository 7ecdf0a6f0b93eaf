"""What an OCI runtime's own init needs after it loaded the container's filter.

:func:`measure` runs the real runtime (runc or crun) in a throw-away bundle and records the
calls its init makes before it execve()s the program.  Needs root, the runtime and
busybox-static.  See docs/cli.md (``seccomp-py learn --runtime``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import RuntimeMeasureError

__all__ = ["RUNTIMES", "RuntimeMeasureError", "measure"]

RUNTIMES = ("runc", "crun")


def _bundle(base: Path, runtime: str, busybox: str, seccomp: dict[str, Any],
            no_new_privs: bool) -> Path:
    bundle = base / f"bundle-{uuid.uuid4().hex[:8]}"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "dev", "sys", "tmp"):
        (rootfs / d).mkdir()
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    (rootfs / "bin" / "true").symlink_to("busybox")
    subprocess.run([runtime, "spec"], cwd=bundle, check=True, timeout=30,
                   capture_output=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    config["process"]["noNewPrivileges"] = no_new_privs
    config["root"]["readonly"] = False
    config["linux"]["seccomp"] = seccomp
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    return bundle


def _run(runtime: str, state: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    cid = f"spy-measure-{uuid.uuid4().hex[:10]}"
    try:
        return subprocess.run([runtime, "--root", str(state), "run", "--bundle", str(bundle),
                               cid], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([runtime, "--root", str(state), "delete", "--force", cid],
                       capture_output=True, timeout=30)


def measure(runtime: str = "runc", *, runs: int = 3,
            no_new_privs: Iterable[bool] = (True, False),
            busybox: str | None = None) -> set[str]:
    """The syscall names ``runtime``'s init makes after loading the filter.

    Raises RuntimeMeasureError (a SeccompError) naming what is missing or what failed,
    ValueError for an unknown runtime or ``runs`` below 1.
    """
    from . import syscall as _syscall
    from .notify import Response
    from .oci import Agent

    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    binary = shutil.which(runtime)
    if binary is None:
        raise RuntimeMeasureError(errno.ENOENT, runtime, f"{runtime} is not installed")
    busybox = busybox or shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise RuntimeMeasureError(errno.ENOENT, runtime, "busybox (static) is needed for the "
                                  "measuring container")
    if os.geteuid() != 0:
        raise RuntimeMeasureError(errno.EPERM, runtime, "measuring needs root (it runs "
                                  "containers)")
    names = sorted(n for n in _syscall.names() if n != "write")
    seen: set[str] = {"write"}
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="spy-runtime-") as tmp:
        base = Path(tmp)
        sock = base / "agent.sock"
        state = base / "state"
        state.mkdir()
        calls: dict[str, list[str]] = {}

        def record(container: Any, n: Any) -> Response:
            name = n.syscall_name or str(n.syscall)
            with lock:
                log = calls.setdefault(container.id, [])
                log.append(name)
            return Response.CONTINUE

        with Agent(sock) as agent:
            agent.route(record)
            agent.start()
            for nnp in no_new_privs:
                seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(sock),
                           "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]}
                for _ in range(runs):
                    bundle = _bundle(base, binary, busybox, seccomp, nnp)
                    done = _run(binary, state, bundle)
                    if done.returncode != 0:
                        raise RuntimeMeasureError(errno.EIO, runtime, "the measuring container did "
                                                  f"not run: {done.stderr.strip()[:300]}")
                    shutil.rmtree(bundle, ignore_errors=True)
        if not calls:
            raise RuntimeMeasureError(errno.EIO, runtime, "it never handed its listener over")
        for log in calls.values():
            cut = log.index("execve") + 1 if "execve" in log else len(log)
            seen.update(log[:cut])
    return seen
