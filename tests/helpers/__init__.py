"""Functions and constants the tests share, one module per subject.

``paths`` (the repository's directories), ``child`` (run code in a forked child, where a
filter can be loaded for good), ``syscalls`` (raw syscalls, /proc/self/status, the errno of
a call), ``cli`` (run the seccomp-py command), ``targets`` (a notified target process),
``oci_sandbox`` (the runtime's side of the OCI agent protocol), ``runc`` (bundles and
containers), ``filter_stacks`` (ticking processes with stacked filters, for inspect),
``model`` (the pure-Python model of a filter), ``official`` (libseccomp's own Python
module, for the compat comparisons), ``faults`` and ``failclosed_*`` (fault injection and
the fail-closed machinery), ``bpf_random`` (random classic-BPF programs).  The scripts
``inspect_target.py`` and ``oci_handlers.py`` run in other processes; the C probes
(``*.c``) are compiled by the ``c_helpers`` fixture.  Fixtures live in tests/conftest.py.

pytest puts tests/ on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests import
``helpers.<module>``.
"""
