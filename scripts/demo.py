"""seccomp_py demonstration: commands run under Docker's default seccomp profile.

Run by scripts/demo.sh after set-up.  Everything here happens for real: each
command is a child process confined by the compiled profile, and what you see
is what the kernel answered.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

from seccomp_py import features
from seccomp_py.profile import Profile, builtin_names
from seccomp_py.spawn import spawn

HERE = os.path.dirname(os.path.abspath(__file__))
# Docker's default profile: the first argument (a file, or a built-in name), else the
# copy shipped in the package
PROFILE = sys.argv[1] if len(sys.argv) > 1 else "docker"

PROBE = textwrap.dedent("""
    import ctypes, errno, os, socket
    libc = ctypes.CDLL(None, use_errno=True)
    def show(what, fn):
        try:
            fn(); print(f"  {what:<34} allowed")
        except OSError as e:
            print(f"  {what:<34} refused: {errno.errorcode.get(e.errno, e.errno)}")
    def raw(nr, *args):
        if libc.syscall(nr, *args) < 0:
            e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    show("socket(AF_INET)", lambda: socket.socket(socket.AF_INET).close())
    show("socket(AF_VSOCK)", lambda: socket.socket(40, socket.SOCK_STREAM))
    show("clone3 (glibc falls back to clone)", lambda: raw(435, 0, 0))
    show("unshare(CLONE_NEWUSER)", lambda: raw(272, 0x10000000))
    show("personality(PER_LINUX)", lambda: raw(135, 0))
    show("personality(ADDR_NO_RANDOMIZE)", lambda: raw(135, 0x0040000))
    show("mount", lambda: raw(165, 0, 0, 0, 0, 0))
""")


def main() -> int:
    builtin = not os.path.exists(PROFILE) and PROFILE in builtin_names()
    if not builtin and not os.path.exists(PROFILE):
        print(f"demo: no profile file {PROFILE} (and not one of the built-in profiles: "
              f"{', '.join(builtin_names())})", file=sys.stderr)
        return 2
    info = features.summary()
    print(f"libseccomp {info['libseccomp']} (API level {info['api_level']}), "
          f"kernel actions: {', '.join(info['kernel_actions'])}")
    profile = Profile.builtin(PROFILE) if builtin else Profile.load(PROFILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = profile.compile(caps="docker")  # Docker's default 14 capabilities
    flt = compiled.filter
    print(f"Docker's default profile: {len(profile.syscalls)} entries -> {len(compiled.rules)} "
          f"rules, {flt.instruction_count} BPF instructions for "
          f"{', '.join(a.libseccomp_name for a in compiled.arches)}\n")

    print("$ uname -sr   (under the profile)")
    out = spawn(["uname", "-sr"], flt, stdout=subprocess.PIPE, text=True)
    print("  " + out.communicate()[0].strip(), f"(exit {out.returncode})\n")

    print("$ python3 probe.py   (under the profile: what a container user sees)")
    proc = spawn([sys.executable, "-c", PROBE], flt)
    proc.wait()
    print(f"  (exit {proc.returncode})\n")

    print("$ unshare --user true   (under the profile)")
    proc = spawn(["unshare", "--user", "true"], flt, stderr=subprocess.PIPE, text=True)
    err = proc.communicate()[1].strip()
    print(f"  {err or 'ok'} (exit {proc.returncode})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
