"""The repository's directories, for tests that read its files or run its scripts."""

from __future__ import annotations

import os

#: tests/
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The repository's root (a clone, not an installed copy).
REPO = os.path.dirname(TESTS)
#: The profiles shipped in the package (Docker's and Podman's defaults).
PROFILES = os.path.join(REPO, "seccomp_py", "profiles")
