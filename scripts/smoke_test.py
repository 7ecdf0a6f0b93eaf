"""Smoke test of an INSTALLED seccomp_py (a wheel or an sdist install).

    python scripts/smoke_test.py [--bundled] [--expect-version X.Y.Z] [--source-tree DIR]

Run it from a directory outside the source tree, with the interpreter of the
environment seccomp_py was installed into.  It checks, and exits non-zero with
one line per failure otherwise:

- ``seccomp_py`` is imported from site-packages (not from ``--source-tree``);
- a forked child loads a filter (default ALLOW, ``mkdir`` -> ERRNO(EACCES),
  ``rmdir`` -> ERRNO(EXDEV)) and the kernel's answers are EACCES and EXDEV, while
  an unfiltered call (``getpid``) still works;
- with ``--bundled``: the libseccomp mapped into the process is the copy inside
  the wheel (``seccomp_py.libs/``), read from /proc/self/maps;
- with ``--expect-version``: that libseccomp reports exactly this version.

On success it prints one JSON object (module path, library path and version,
child errnos) on stdout.  Used by tests/test_packaging.py and by cibuildwheel's
test-command (pyproject.toml, [tool.cibuildwheel]).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tempfile


def _child(target: str, wfd: int) -> None:
    """In the forked child: load the filter, try the calls, report errnos."""
    from seccomp_py import Action, Filter

    results: dict[str, int] = {}
    try:
        with Filter(Action.ALLOW) as f:
            f.add_rule(Action.errno(errno.EACCES), "mkdir")
            f.add_rule(Action.errno(errno.EACCES), "mkdirat")
            f.add_rule(Action.errno(errno.EXDEV), "rmdir")
            f.add_rule(Action.errno(errno.EXDEV), "unlinkat")
            f.load()
        for name, call in (("mkdir", os.mkdir), ("rmdir", os.rmdir)):
            try:
                call(target)
                results[name] = 0
            except OSError as exc:
                results[name] = exc.errno or -1
        results["getpid"] = 0 if os.getpid() > 0 else -1
        os.write(wfd, json.dumps(results).encode())
        os._exit(0)
    except BaseException as exc:  # report, never fall back into the parent's code
        os.write(wfd, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        os._exit(1)


def run_child(timeout: float = 20.0) -> dict[str, object]:
    """Fork, run :func:`_child`, wait (bounded), return what it reported."""
    import select
    import signal
    import time

    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "made-by-child")
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            _child(target, wfd)
        os.close(wfd)
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"error": f"child did not finish within {timeout}s"}
            ready, _, _ = select.select([rfd], [], [], left)
            if ready:
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                data += chunk
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        result: dict[str, object] = json.loads(data) if data else {}
        result["status"] = status
        result["dir_created"] = os.path.exists(target)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundled", action="store_true",
                        help="require the libseccomp inside the wheel (seccomp_py.libs/)")
    parser.add_argument("--expect-version", help="require this libseccomp version")
    parser.add_argument("--source-tree", action="append", default=[],
                        help="fail if seccomp_py is imported from here (repeatable)")
    args = parser.parse_args(argv)

    import seccomp_py
    from seccomp_py import features

    failures: list[str] = []
    module = os.path.realpath(os.path.dirname(seccomp_py.__file__))
    for tree in map(os.path.realpath, args.source_tree):
        if module == tree or module.startswith(tree + os.sep):
            failures.append(f"seccomp_py imported from the source tree: {module}")

    lib_path = features.library_path()
    version = ".".join(map(str, features.library_version()))
    if args.bundled:
        bundled_dir = os.path.join(os.path.dirname(module), "seccomp_py.libs")
        if lib_path is None or os.path.dirname(lib_path) != bundled_dir:
            failures.append(f"libseccomp loaded from {lib_path}, not from {bundled_dir}")
    if args.expect_version and version != args.expect_version:
        failures.append(f"libseccomp {version} loaded, expected {args.expect_version}")

    child = run_child()
    if child.get("error"):
        failures.append(f"child failed: {child['error']}")
    else:
        if child.get("mkdir") != errno.EACCES:
            failures.append(f"mkdir under the filter gave errno {child.get('mkdir')}, "
                            f"expected EACCES ({errno.EACCES})")
        if child.get("rmdir") != errno.EXDEV:
            failures.append(f"rmdir under the filter gave errno {child.get('rmdir')}, "
                            f"expected EXDEV ({errno.EXDEV})")
        if child.get("dir_created"):
            failures.append("the filtered mkdir created the directory")
        if child.get("status") != 0:
            failures.append(f"child exit status {child.get('status')}")

    report = {
        "module": module,
        "libseccomp_path": lib_path,
        "libseccomp_version": version,
        "advisories": [a.id for a in features.security_advisories()],
        "child": child,
        "failures": failures,
    }
    print(json.dumps(report))
    for failure in failures:
        print(f"smoke test: FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
