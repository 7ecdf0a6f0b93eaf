"""cffi API-mode builder for seccomp_py.

The C shim lives in ``seccomp_py/_shim/``: one pair of files per subsystem,
``NAME.cdef`` (what Python sees, with ``...`` for values the compiler fills in)
and ``NAME.c`` (the implementation, compiled against ``seccomp.h``).  All ``.c``
files are compiled as one translation unit so that shared static helpers work.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
SHIM = HERE / "seccomp_py" / "_shim"

NO_LIBSECCOMP = """
seccomp_py: cannot find libseccomp's development files (seccomp.h).

Install them first, then run pip again:
    Debian/Ubuntu:  apt-get install libseccomp-dev
    Fedora/RHEL:    dnf install libseccomp-devel
    Alpine:         apk add libseccomp-dev
or install a prebuilt wheel of seccomp_py, which bundles libseccomp.
"""


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


def _find_header(include_dirs: list[str]) -> bool:
    candidates = [*include_dirs, "/usr/include", "/usr/local/include"]
    extra = os.environ.get("SECCOMP_PY_INCLUDE_DIR")
    if extra:
        candidates.insert(0, extra)
    return any(pathlib.Path(d, "seccomp.h").is_file() for d in candidates)


def _read(suffix: str) -> list[pathlib.Path]:
    return sorted(SHIM.glob(f"*{suffix}"))


include_dirs = [flag[2:] for flag in _pkg_config("--cflags-only-I")]
library_dirs = [flag[2:] for flag in _pkg_config("--libs-only-L")]
if os.environ.get("SECCOMP_PY_INCLUDE_DIR"):
    include_dirs.insert(0, os.environ["SECCOMP_PY_INCLUDE_DIR"])
if os.environ.get("SECCOMP_PY_LIBRARY_DIR"):
    library_dirs.insert(0, os.environ["SECCOMP_PY_LIBRARY_DIR"])

if not _find_header(include_dirs) and "egg_info" not in sys.argv and "sdist" not in sys.argv:
    sys.stderr.write(NO_LIBSECCOMP)
    raise SystemExit(1)

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
