#!/usr/bin/env bash
# Set everything up (scripts/setup.sh) and run the demonstration: real commands
# confined by Docker's default seccomp profile, compiled and enforced by seccomp_py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/demo.py
