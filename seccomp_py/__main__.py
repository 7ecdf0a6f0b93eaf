"""``python -m seccomp_py``: the ``seccomp-py`` command (see seccomp_py.cli)."""

from .cli import main

raise SystemExit(main())
