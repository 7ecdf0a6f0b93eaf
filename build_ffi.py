"""cffi API-mode builder for seccomp_py.

The C shim lives in ``seccomp_py/_shim/``: one pair of files per subsystem,
``NAME.cdef`` (what Python sees, with ``...`` for values the compiler fills in)
and ``NAME.c`` (the implementation, compiled against ``seccomp.h``).  All ``.c``
files are compiled as one translation unit so that shared static helpers work.

Where libseccomp comes from (see docs/packaging.md):

- ``pkg-config libseccomp`` (honours ``PKG_CONFIG_PATH``), then /usr/include and
  /usr/local/include;
- ``SECCOMP_PY_INCLUDE_DIR``: the folder holding seccomp.h; when set it is the
  only folder checked for the header (a libseccomp built from source, e.g. by
  scripts/build-libseccomp.sh for the wheels);
- ``SECCOMP_PY_LIBRARY_DIR``: the folder holding libseccomp.so to link against.

Building the extension without seccomp.h, or against a libseccomp older than
2.5.0, stops with one message that says what to install (no compiler traceback);
building an sdist or the metadata needs no libseccomp.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
SHIM = HERE / "seccomp_py" / "_shim"

NO_LIBSECCOMP = """
seccomp_py: cannot find libseccomp's development files (seccomp.h){where}.

Install them first, then run pip again:
    Debian/Ubuntu:  apt-get install libseccomp-dev
    Fedora/RHEL:    dnf install libseccomp-devel
    Alpine:         apk add libseccomp-dev
or install a prebuilt wheel of seccomp_py, which bundles libseccomp
(pip install --only-binary seccomp_py seccomp_py).
A libseccomp installed elsewhere: set SECCOMP_PY_INCLUDE_DIR (the folder with
seccomp.h) and SECCOMP_PY_LIBRARY_DIR (the folder with libseccomp.so), or
PKG_CONFIG_PATH so that `pkg-config libseccomp` finds it.
"""

TOO_OLD = """
seccomp_py: the libseccomp development files in {folder} are version {version};
seccomp_py needs libseccomp {minimum} or later (Debian 12 / Ubuntu 22.04 and newer
ship it).  Upgrade libseccomp-dev, or install a prebuilt wheel of seccomp_py,
which bundles a current libseccomp.
"""

#: The oldest libseccomp the shim builds against (API_SYSRAWRC, notify helpers).
MINIMUM = (2, 5, 0)


def _pkg_config(*args: str) -> list[str]:
    exe = shutil.which("pkg-config")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, *args, "libseccomp"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return out.split()


def _header_dirs(include_dirs: list[str]) -> list[str]:
    """Where seccomp.h may be: SECCOMP_PY_INCLUDE_DIR alone when it is set (the
    user said where it is), else pkg-config's folders and the standard ones."""
    explicit = os.environ.get("SECCOMP_PY_INCLUDE_DIR")
    if explicit:
        return [explicit]
    return [*include_dirs, "/usr/include", "/usr/local/include"]


def _find_header(include_dirs: list[str]) -> pathlib.Path | None:
    for folder in _header_dirs(include_dirs):
        header = pathlib.Path(folder, "seccomp.h")
        if header.is_file():
            return header
    return None


def _header_version(header: pathlib.Path) -> tuple[int, int, int] | None:
    """SCMP_VER_MAJOR/MINOR/MICRO from seccomp.h (None if not found)."""
    found = {}
    for match in re.finditer(
        r"^#define\s+SCMP_VER_(MAJOR|MINOR|MICRO)\s+(\d+)", header.read_text(errors="replace"),
        re.MULTILINE,
    ):
        found[match.group(1)] = int(match.group(2))
    if len(found) != 3:
        return None
    return (found["MAJOR"], found["MINOR"], found["MICRO"])


def _check_libseccomp(include_dirs: list[str]) -> None:
    """Stop the build with one clear message when seccomp.h is missing or too old."""
    header = _find_header(include_dirs)
    if header is None:
        dirs = _header_dirs(include_dirs)
        sys.stderr.write(NO_LIBSECCOMP.format(where=" in " + ", ".join(dirs)))
        raise SystemExit(1)
    version = _header_version(header)
    if version is not None and version < MINIMUM:
        sys.stderr.write(TOO_OLD.format(
            folder=header.parent,
            version=".".join(map(str, version)),
            minimum=".".join(map(str, MINIMUM)),
        ))
        raise SystemExit(1)


def _read(suffix: str) -> list[pathlib.Path]:
    return sorted(SHIM.glob(f"*{suffix}"))


include_dirs = [flag[2:] for flag in _pkg_config("--cflags-only-I")]
library_dirs = [flag[2:] for flag in _pkg_config("--libs-only-L")]
if os.environ.get("SECCOMP_PY_INCLUDE_DIR"):
    include_dirs.insert(0, os.environ["SECCOMP_PY_INCLUDE_DIR"])
if os.environ.get("SECCOMP_PY_LIBRARY_DIR"):
    library_dirs.insert(0, os.environ["SECCOMP_PY_LIBRARY_DIR"])

# Building an sdist or only the metadata needs no libseccomp; building the extension does.
if not {"egg_info", "sdist", "dist_info"} & set(sys.argv):
    _check_libseccomp(include_dirs)

ffibuilder = FFI()
for cdef in _read(".cdef"):
    ffibuilder.cdef(cdef.read_text(), override=False)

ffibuilder.set_source(
    "seccomp_py._seccomp",
    "\n".join(f'#include "{c.name}"' for c in _read(".c")),
    include_dirs=[str(SHIM), *include_dirs],
    library_dirs=library_dirs,
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
    depends=[str(p) for p in _read(".c") + _read(".cdef") + _read(".h")],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
