#!/bin/sh
# Build and install libseccomp from its upstream release tarball, for the wheels.
#
# cibuildwheel runs this once per build container (before-all, pyproject.toml):
# manylinux_2_28 (AlmaLinux 8, dnf) and musllinux_1_2 (Alpine, apk), x86_64 and
# aarch64.  It also works on Debian/Ubuntu (apt-get).  POSIX sh: Alpine has no bash.
#
# Environment:
#   LIBSECCOMP_VERSION   release to build, e.g. 2.6.1                      (required)
#   LIBSECCOMP_SHA256    sha256 of libseccomp-VERSION.tar.gz               (required)
#   LIBSECCOMP_PREFIX    install prefix (default /usr/local; lib in PREFIX/lib)
#   LIBSECCOMP_TARBALL   use this local tarball instead of downloading it
#   LIBSECCOMP_LDCONFIG  1: register PREFIX/lib with ldconfig (containers only)
#
# The checksum is checked before anything is unpacked; a mismatch stops the build.
# The tarball is the complete source of the libseccomp that ends up in the wheel
# (LGPL-2.1): publish it next to the wheels.
set -eu

version="${LIBSECCOMP_VERSION:?set LIBSECCOMP_VERSION (e.g. 2.6.1)}"
sha256="${LIBSECCOMP_SHA256:?set LIBSECCOMP_SHA256 (the release tarball checksum)}"
prefix="${LIBSECCOMP_PREFIX:-/usr/local}"
name="libseccomp-$version"
url="https://github.com/seccomp/libseccomp/releases/download/v$version/$name.tar.gz"

say() { echo "build-libseccomp: $*" >&2; }

# Build tools: gperf is required by libseccomp's configure (>= 2.5).  Install only what is
# missing (the manylinux images bring their own gcc toolset and curl).
missing=""
command -v gperf >/dev/null 2>&1 || missing="$missing gperf"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v curl >/dev/null 2>&1 || [ -n "${LIBSECCOMP_TARBALL:-}" ] || missing="$missing curl"
if [ -n "$missing" ]; then
    say "installing:$missing"
    if command -v apk >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        apk add --no-cache $missing musl-dev linux-headers >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        dnf install -y -q $missing >/dev/null
    elif command -v yum >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        yum install -y -q $missing >/dev/null
    elif command -v apt-get >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        say "cannot install$missing: no apk, dnf, yum or apt-get"
        exit 1
    fi
fi
# musl: the kernel headers (linux/seccomp.h, asm/unistd.h) come from linux-headers
if command -v apk >/dev/null 2>&1 && [ ! -e /usr/include/linux/seccomp.h ]; then
    apk add --no-cache linux-headers musl-dev >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$work/$name.tar.gz"
if [ -n "${LIBSECCOMP_TARBALL:-}" ]; then
    cp "$LIBSECCOMP_TARBALL" "$tarball"
else
    say "downloading $url"
    curl -fsSL --retry 3 -o "$tarball" "$url"
fi
echo "$sha256  $tarball" | sha256sum -c - >/dev/null || {
    say "checksum mismatch for $name.tar.gz (expected $sha256): refusing to build"
    exit 1
}

tar -xzf "$tarball" -C "$work"
cd "$work/$name"
say "configuring $name (prefix $prefix)"
./configure --prefix="$prefix" --libdir="$prefix/lib" --disable-static \
    --disable-python >"$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; exit 1; }
make -j"$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" >"$work/make.log" 2>&1 \
    || { tail -n 30 "$work/make.log" >&2; exit 1; }
make install >"$work/install.log" 2>&1 || { tail -n 30 "$work/install.log" >&2; exit 1; }

# Optionally (a throw-away build container only: it changes the whole system) make the
# new library visible to the dynamic linker; LD_LIBRARY_PATH=PREFIX/lib does it too.
if [ "${LIBSECCOMP_LDCONFIG:-0}" = 1 ] && command -v ldconfig >/dev/null 2>&1 \
        && [ -d /etc/ld.so.conf.d ]; then
    echo "$prefix/lib" >/etc/ld.so.conf.d/00-libseccomp-local.conf
    ldconfig
fi
say "installed $name: $prefix/include/seccomp.h, $prefix/lib/libseccomp.so.2"
