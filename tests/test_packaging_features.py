"""Run-time packaging facts: which libseccomp is loaded, and the advisory warning.

Fast (no build): these run against the seccomp_py under test, whatever its
libseccomp (the system's for a source build, the bundled copy for a wheel).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from seccomp_py import features

WARN_PROBE = (
    "import warnings, json, sys\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    import seccomp_py\n"
    "    import seccomp_py.features\n"
    "    imported = len(caught)\n"
    "    seccomp_py.features.warn_if_vulnerable()\n"
    "assert imported == 0, 'importing must not warn'\n"
    "print(json.dumps([[w.category.__name__, str(w.message)] for w in caught]))\n"
)


def _import_warnings(**env: str) -> list[list[str]]:
    import json

    full = {k: v for k, v in os.environ.items() if k != "SECCOMP_PY_NO_ADVISORY_WARNING"}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", WARN_PROBE], env=full, capture_output=True,
                          text=True, timeout=60, check=True)
    result: list[list[str]] = json.loads(proc.stdout)
    return result


def test_library_path_is_the_mapped_libseccomp_of_the_reported_version() -> None:
    path = features.library_path()
    assert path is not None
    assert os.path.isfile(path)
    assert os.path.basename(path).startswith("libseccomp")
    # the mapping really is in this process
    with open("/proc/self/maps") as maps:
        assert path in maps.read()
    # a versioned file name (libseccomp.so.2.5.4, libseccomp-<hash>.so.2.6.1) matches
    # what the library itself reports
    suffix = re.search(r"\.so\.(\d+\.\d+\.\d+)$", path)
    if suffix:
        assert suffix[1] == ".".join(map(str, features.library_version()))


def test_summary_reports_path_version_and_advisories() -> None:
    info = features.summary()
    assert info["libseccomp_path"] == features.library_path()
    assert info["libseccomp"] == ".".join(map(str, features.library_version()))
    assert info["security_advisories"] == [a.id for a in features.security_advisories()]


def test_advisories_by_version() -> None:
    ids = {"GHSA-4q85-33p6-j5g6", "GHSA-46fr-jh49-xvhx", "GHSA-2hqh-5c36-grrm"}
    assert {a.id for a in features.security_advisories((2, 5, 4))} == ids
    assert {a.id for a in features.security_advisories((2, 6, 0))} == ids
    assert features.security_advisories((2, 6, 1)) == ()
    assert features.security_advisories((2, 7, 0)) == ()
    assert features.security_advisories((3, 0, 0)) == ()


def test_warn_if_vulnerable_when_the_loaded_libseccomp_predates_the_fixes() -> None:
    caught = _import_warnings()
    ours = [m for cat, m in caught if cat == "LibseccompSecurityWarning"]
    if features.library_version() < (2, 6, 1):
        assert len(ours) == 1, caught
        version = ".".join(map(str, features.library_version()))
        assert f"libseccomp {version}" in ours[0]
        assert "GHSA-4q85-33p6-j5g6" in ours[0] and "2.6.1" in ours[0]
    else:
        assert ours == [], caught


def test_advisory_warning_can_be_silenced() -> None:
    caught = _import_warnings(SECCOMP_PY_NO_ADVISORY_WARNING="1")
    assert [m for cat, m in caught if cat == "LibseccompSecurityWarning"] == []
