#!/usr/bin/env bash
# seccomp_py benchmarks: one command, one table.  See docs/benchmarks.md.
#
#   bench/run.sh [--runs N] [--quick] [--only 1,2,5,6] [--cprofile]
#
# 1. bench/.venv: a venv from /usr/bin/python3 with system site packages (so
#    Debian's python3-seccomp, `import seccomp`, is visible), with seccomp_py
#    (editable), pyseccomp, seccompy and matplotlib -- in this venv only.
# 2. gcc builds the C drivers in bench/c/ against libseccomp into bench/out/bin.
# 3. bench/harness/main.py runs every scenario and writes bench/out/results.{md,png,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=bench/.venv
OUT=bench/out
PY=/usr/bin/python3

need=()
for pkg in libseccomp-dev gcc python3-dev python3-venv python3-seccomp pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "bench: please install (as root): apt-get install ${need[*]}" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bench: creating $VENV" >&2
    "$PY" -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.bench-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ bench/run.sh -nt "$stamp" ]; then
    echo "bench: installing seccomp_py (editable), pyseccomp, seccompy, matplotlib" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .
    # peers and the chart are optional: a peer that cannot be installed is shown
    # in the table as unavailable, with the reason, never dropped
    for pkg in pyseccomp seccompy matplotlib; do
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$pkg" ||
            echo "bench: could not install $pkg (shown as unavailable)" >&2
    done
    touch "$stamp"
fi
# rebuild the cffi extension in place if a shim file changed (editable install)
if ! "$VENV/bin/python" -c 'import seccomp_py' 2>/dev/null; then
    "$VENV/bin/python" setup.py build_ext --inplace -q
fi

# Byte-compile seccomp_py: an editable install gets no .pyc from pip, and with
# PYTHONDONTWRITEBYTECODE=1 (set on some machines) every import would compile
# it from source -- scenario 6 would measure the compiler, not the import.
"$VENV/bin/python" -m compileall -q seccomp_py bench/harness >/dev/null

mkdir -p "$OUT/bin"
for src in bench/c/*.c; do
    bin="$OUT/bin/$(basename "$src" .c)"
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ bench/c/common.h -nt "$bin" ]; then
        gcc -O2 -Wall -Wextra -o "$bin" "$src" $(pkg-config --cflags --libs libseccomp 2>/dev/null || echo -lseccomp)
    fi
done

exec "$VENV/bin/python" bench/harness/main.py --bindir "$ROOT/$OUT/bin" --out "$ROOT/$OUT" "$@"
