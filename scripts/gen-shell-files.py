"""Write the shell completions and the man page generated from seccomp-py's parser
into share/ (installed with the wheel by setup.py's data_files).

    .venv/bin/python scripts/gen-shell-files.py          # rewrite them
    .venv/bin/python scripts/gen-shell-files.py --check  # exit 1 if one is stale

Run it after changing any subcommand or option; tests/test_shell.py fails until then.
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from seccomp_py._cli_shell import INSTALL_PATHS, generate  # noqa: E402
from seccomp_py.cli import build_parser  # noqa: E402


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for kind, rel in INSTALL_PATHS.items():
        path = os.path.join(REPO, rel)
        text = generate(kind, build_parser())
        try:
            with open(path, encoding="utf-8") as fh:
                current = fh.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        stale.append(rel)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            print(f"wrote {rel}")
    if check and stale:
        print("stale (run scripts/gen-shell-files.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
