#!/usr/bin/env bash
# Set everything up (scripts/setup.sh) and run the demonstration: real commands
# confined by Docker's default seccomp profile, compiled and enforced by seccomp_py,
# then a profile learned from a command and enforced on it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
profile=${1:-docker}   # a profile file, or a built-in one: docker, podman
.venv/bin/python scripts/demo.py "$profile"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { echo "\$ $*"; "$@" 2>&1 | sed 's/^/  /' || true; echo; }
cli=.venv/bin/seccomp-py

echo "--- the command line ---"
run $cli run --profile "$profile" -- sh -c 'echo hello from a container profile; unshare --user true || echo "unshare refused (exit $?)"'
run $cli learn -q -o "$tmp/ls.json" -- ls /usr
run $cli check "$tmp/ls.json"
run $cli run --profile "$tmp/ls.json" -- ls /usr
run $cli run --profile "$tmp/ls.json" -- mkdir "$tmp/never-learned"
