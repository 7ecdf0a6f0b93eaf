"""seccomp_py's build: metadata is in pyproject.toml; the extension in build_ffi.py.

Packaging choices made here (see docs/packaging.md):

- One abi3 wheel: cffi compiles the extension against Python's limited API
  (``_seccomp.abi3.so``), so the wheel is tagged ``cp39-abi3`` and one wheel per
  platform serves CPython 3.9 and every later version.  Not on free-threaded
  CPython (no limited API there; cffi then builds a version-specific module)
  nor on PyPy (cffi is built in; the tag stays PyPy's own).
- License files: LICENSE (seccomp_py, MIT), LICENSE-libseccomp (the bundled
  libseccomp's notice) and LICENSE-LGPL-2.1 (its license) match setuptools'
  default ``LICEN[CS]E*`` pattern, so every setuptools from 61 on puts them in
  the wheel's ``.dist-info`` (no license-files setting needed).
"""

import platform
import sysconfig

from setuptools import setup

options = {}
if platform.python_implementation() == "CPython" and not sysconfig.get_config_var(
    "Py_GIL_DISABLED"
):
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    options=options,
)
