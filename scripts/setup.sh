#!/usr/bin/env bash
# Set up seccomp_py on a Debian machine (12 or 13): install the system packages it
# needs (as root, when missing), create .venv from the system Python (with system
# site packages, so Debian's python3-seccomp is visible for the compat tests) and
# install seccomp_py into it, editable, with the test extras.
#   scripts/setup.sh           the library, its build needs and the test extras
#   scripts/setup.sh --tests   also runc and busybox-static for the OCI agent tests, and
#                              zsh, fish, man-db, groff-base to check the completions and
#                              the man page
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libseccomp-dev pkg-config gcc python3-dev python3-venv python3-seccomp)
if [ "${1:-}" = "--tests" ]; then
    # what the test suite uses besides: runc and a static busybox for the OCI agent tests;
    # the shells and man to check the generated completions and man page
    packages+=(runc busybox-static libc6-dev zsh fish man-db groff-base)
fi
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "seccomp_py setup: please install (as root): apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "seccomp_py setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
log=$(mktemp)
if ! { .venv/bin/python -m pip install -q --disable-pip-version-check -U pip &&
       .venv/bin/python -m pip install -q --disable-pip-version-check 'setuptools>=77' 'cffi>=1.15' &&
       .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "seccomp_py setup: pip install failed (output above)" >&2
    exit 1
fi
rm -f "$log"
echo "seccomp_py setup: ready ($(.venv/bin/python -c 'import seccomp_py.features as f; print("libseccomp", f.summary()["libseccomp"])'))"
