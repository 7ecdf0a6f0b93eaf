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
- Shell completions and the man page: generated from the argparse parser by
  ``scripts/gen-shell-files.py`` into share/ and committed (so a build needs no
  import of the package it is building); tests/test_shell.py fails when they no
  longer match the parser.  They go into the wheel's data (``<prefix>/share/...``,
  where bash-completion, zsh, fish and man look).
"""

import platform
import sysconfig

from setuptools import setup

options = {}
if platform.python_implementation() == "CPython" and not sysconfig.get_config_var(
    "Py_GIL_DISABLED"
):
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

#: (install dir under the prefix, [file]) for the completions and the man page
DATA_FILES = [
    ("share/bash-completion/completions", ["share/bash-completion/completions/seccomp-py"]),
    ("share/zsh/site-functions", ["share/zsh/site-functions/_seccomp-py"]),
    ("share/fish/vendor_completions.d", ["share/fish/vendor_completions.d/seccomp-py.fish"]),
    ("share/man/man1", ["share/man/man1/seccomp-py.1"]),
]

setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    options=options,
    data_files=DATA_FILES,
)
