"""Functions and constants the tests share, one module per subject.

``paths`` (the repository's directories), ``child`` (run code in a forked child, where a
filter can be loaded for good), ``syscalls`` (raw syscalls, /proc/self/status, errno of a
call), ``model`` (the pure-Python model of a filter), ``official`` (libseccomp's own
Python module, for the compat comparisons), ``faults`` and ``failclosed_*`` (the
fail-closed and fault-injection machinery), ``bpf_random`` (random classic-BPF programs).
The C probes (``*.c``) are compiled by the ``c_helpers`` fixture in ``tests/conftest.py``,
which holds the fixtures.  pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in
pyproject.toml), so tests import ``helpers.<module>``.
"""
