"""The performance paths of the core: add_rules (batch), the caches behind
add_rule, and the automatic binary-tree layout.  Speed itself is measured in
bench/, never here: these tests check that the fast paths behave exactly like
the slow ones, and fail closed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import warnings
from typing import Callable

import pytest
from helpers.child import in_child

from seccomp_py import (
    Action,
    Arch,
    Arg,
    Attribute,
    Filter,
    FilterClosedError,
    InvalidArgumentError,
    Optimize,
    SeccompError,
    Syscall,
    UnknownSyscallError,
    bpf,
    features,
)
from seccomp_py.errors import FilterFailedError, WidenedRuleWarning
from seccomp_py.filter import AUTO_BINARY_TREE_RULES, BPF_MAXINSNS
from seccomp_py.syscall import names

NATIVE = Arch.native()

# Admin syscalls a Python child never makes: safe to deny in enforcement tests.
_ADMIN = ("acct", "add_key", "adjtimex", "bpf", "chroot", "clock_adjtime", "clock_settime",
          "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
          "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup",
          "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "memfd_secret",
          "mount", "move_mount", "name_to_handle_at", "open_by_handle_at", "open_tree",
          "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev",
          "ptrace", "quotactl", "reboot", "request_key", "setdomainname", "sethostname",
          "settimeofday", "swapoff", "swapon", "syslog", "umount2", "unshare",
          "userfaultfd", "vhangup")


def _admin_names(count: int) -> list[str]:
    known = [n for n in _ADMIN if n in names()]
    assert len(known) >= count
    return known[:count]


def _mixed_rules() -> list[tuple[object, ...]]:
    """Rules of every syscall form: names, numbers, Syscall objects, comparisons."""
    return [
        (Action.ALLOW, "read"),
        (Action.ALLOW, Syscall.from_name("write"), Arg(0) == 1),
        (Action.errno(errno.EPERM), Syscall.from_name("close").number),
        (Action.errno(errno.EACCES).value, "openat", Arg(2).masked_eq(3, 1)),
        (Action.TRAP, "dup", Arg(0) >= 100, Arg(1) != 5),
        (Action.ALLOW, "write", Arg(0) == 2),
    ]


def test_add_rules_builds_what_add_rule_builds() -> None:
    one, many = Filter(Action.KILL_PROCESS), Filter(Action.KILL_PROCESS)
    for rule in _mixed_rules():
        one.add_rule(*rule)  # type: ignore[arg-type]
    many.add_rules(_mixed_rules())
    assert many.export_bpf() == one.export_bpf()
    assert many.export_pfc() == one.export_pfc()
    assert many.rules == one.rules
    many.add_rules([])  # nothing to do
    assert many.rules == one.rules


def test_add_rules_refuses_bad_input_before_adding_anything() -> None:
    f = Filter(Action.errno(errno.EPERM))
    f.add_rule(Action.ALLOW, "read")
    before = f.export_bpf()
    cases: list[tuple[list[object], type[BaseException], int | None, str]] = [
        ([(Action.ALLOW, "write"), (Action.ALLOW, "no_such_call")],
         UnknownSyscallError, 1, "no_such_call"),
        ([(Action.ALLOW, "write"), (Action.errno(errno.EPERM), "close")],
         InvalidArgumentError, 1, "default action"),
        ([(Action.errno(4095), "close")], InvalidArgumentError, 0, "up to 4094"),
        ([(Action.ALLOW, "write", Arg(0) == 1, Arg(0) == 2)], InvalidArgumentError, 0,
         "same argument"),
    ]
    for rules, exc_type, index, text in cases:
        with pytest.raises(exc_type, match=text) as info:
            f.add_rules(rules)  # type: ignore[arg-type]
        assert isinstance(info.value, SeccompError) and info.value.rule_index == index
        assert f.export_bpf() == before and not f.failed
    with pytest.raises(TypeError, match="rule 1"):
        f.add_rules([(Action.ALLOW, "write"), "close"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="rule 0"):
        f.add_rules([(Action.ALLOW, "write", 1)])
    with pytest.raises(TypeError, match="rule 0"):
        f.add_rules([(Action.ALLOW,)])
    assert f.export_bpf() == before and len(f.rules) == 1


def test_add_rules_failing_midway_fails_closed() -> None:
    """libseccomp refuses the second rule (EEXIST: same condition, another
    action).  With 2.6 nothing of the batch is kept; with 2.5 the first rule
    stays, so the filter refuses every use until reset()."""
    f = Filter(Action.KILL_PROCESS)
    clean = Filter(Action.KILL_PROCESS).export_bpf()
    with pytest.raises(SeccompError) as info:
        f.add_rules([(Action.ALLOW, "read", Arg(0) == 1),
                     (Action.errno(3), "read", Arg(0) == 1)])
    assert info.value.errno == errno.EEXIST and info.value.rule_index == 1
    assert info.value.func == "seccomp_rule_add_array"
    if features.HAS_TRANSACTIONS:
        assert not f.failed and f.rules == () and f.export_bpf() == clean
        return
    assert f.failed and not f.closed
    for use in (f.export_bpf, f.export_pfc, f.load, lambda: f.add_rule(Action.ALLOW, "write"),
                lambda: f.add_rules([(Action.ALLOW, "write")]),
                lambda: f.get_attribute(Attribute.OPTIMIZE), lambda: f.default_action,
                lambda: f.spawn(["/bin/true"])):
        with pytest.raises(FilterFailedError, match="reset"):
            use()
    assert issubclass(FilterFailedError, FilterClosedError)
    host = Filter(Action.KILL_PROCESS)
    host.remove_arch(NATIVE)
    host.add_arch(Arch.X86 if NATIVE is Arch.X86_64 else NATIVE)
    with pytest.raises(FilterFailedError, match="other filter"):
        host.merge(f)  # never moves a half-built filter into another
    f.reset()
    assert not f.failed and f.rules == () and f.export_bpf() == clean


def test_add_rules_failing_at_first_rule_changes_nothing() -> None:
    f = Filter(Action.KILL_PROCESS)
    f.add_rule(Action.ALLOW, "read", Arg(0) == 1)
    before = f.export_bpf()
    with pytest.raises(SeccompError) as info:
        f.add_rules([(Action.errno(3), "read", Arg(0) == 1), (Action.ALLOW, "write")])
    assert info.value.errno == errno.EEXIST and info.value.rule_index == 0
    assert not f.failed and f.export_bpf() == before and len(f.rules) == 1


def test_add_rules_warns_about_widened_rules() -> None:
    if NATIVE is not Arch.X86_64:
        pytest.skip("needs x86_64")
    f = Filter(Action.errno(errno.EPERM))
    f.add_arch(Arch.X86)
    with pytest.warns(WidenedRuleWarning, match="x86.*socketcall"):
        f.add_rules([(Action.ALLOW, "read"), (Action.ALLOW, "socket", Arg(0) == 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.add_rules([(Action.KILL_PROCESS, "connect", Arg(0) == 2)])  # stricter: no warning
        Filter(Action.errno(1)).add_rules([(Action.ALLOW, "socket", Arg(0) == 1)])  # no x86


def test_add_rules_enforced_by_the_kernel() -> None:
    """A batch with an argument check and more than AUTO_BINARY_TREE_RULES rules
    (so the automatic binary tree is what gets loaded)."""
    f = Filter(Action.ALLOW)
    rules: list[tuple[object, ...]] = [(Action.errno(errno.EPERM), n)
                                       for n in _admin_names(AUTO_BINARY_TREE_RULES)]
    rules += [(Action.errno(errno.ENOTDIR), "mkdir"), (Action.errno(errno.ENOTDIR), "mkdirat"),
              (Action.errno(errno.E2BIG), "close", Arg(0) == 9999)]
    f.add_rules(rules)
    assert f.layout in (Optimize.BINARY_TREE, Optimize.RANGES)  # the smaller

    def child() -> tuple[int, int, bool]:
        f.load()
        codes = []
        calls: tuple[Callable[[], None], ...] = (lambda: os.mkdir("/tmp/seccomp_py-never"),
                                                 lambda: os.close(9999))
        for call in calls:
            try:
                call()
                codes.append(0)
            except OSError as exc:
                codes.append(exc.errno or 0)
        fd = os.dup(0)
        os.close(fd)
        return codes[0], codes[1], fd >= 0

    out = in_child(child)
    assert out.error is None and out.value == (errno.ENOTDIR, errno.E2BIG, True)


# -- automatic layout ---------------------------------------------------------------------------


def _filter(count: int, optimize: Optimize | None = None, *, arg_rules: bool = True) -> Filter:
    f = Filter(Action.errno(errno.EPERM))
    if optimize is not None:
        f.set_attribute(Attribute.OPTIMIZE, optimize)
    allowed = [n for n in names() if n not in ("personality", "dup")][:count]
    f.add_rules([(Action.ALLOW, n) for n in allowed])
    if arg_rules:
        f.add_rule(Action.ALLOW, "personality", Arg(0) == 0xFFFFFFFF)
        f.add_rule(Action.KILL_PROCESS, "dup", Arg(0) > 1000)
    return f


def _layout(f: Filter) -> Optimize:
    return f.layout  # read again: mypy keeps what an earlier assert narrowed f.layout to


def test_automatic_layout_above_32_rules() -> None:
    auto = _filter(40)
    assert len(auto.rules) > AUTO_BINARY_TREE_RULES
    tree, prio = _filter(40, Optimize.BINARY_TREE), _filter(40, Optimize.PRIORITY)
    assert tree.export_bpf() != prio.export_bpf()
    assert auto.export_bpf() == tree.export_bpf()
    assert auto.export_pfc() == tree.export_pfc()
    assert _layout(auto) is Optimize.BINARY_TREE and _layout(prio) is Optimize.PRIORITY
    # get_attribute reports what the user set (here: nothing, libseccomp's default)
    assert auto.get_attribute(Attribute.OPTIMIZE) == Optimize.PRIORITY
    assert auto.optimize == Optimize.PRIORITY
    # an explicit setting always wins
    auto.set_attribute(Attribute.OPTIMIZE, Optimize.PRIORITY)
    assert auto.export_bpf() == prio.export_bpf() and _layout(auto) is Optimize.PRIORITY
    # reset() forgets the user's setting (libseccomp resets attributes)
    auto.reset()
    auto.add_rules([(Action.ALLOW, n) for n in names()[:40]])
    assert _layout(auto) is Optimize.BINARY_TREE


def test_automatic_layout_not_at_or_below_32_rules() -> None:
    small = _filter(AUTO_BINARY_TREE_RULES - 2)
    assert len(small.rules) == AUTO_BINARY_TREE_RULES
    assert small.export_bpf() == _filter(AUTO_BINARY_TREE_RULES - 2,
                                         Optimize.PRIORITY).export_bpf()
    assert _layout(small) is Optimize.PRIORITY
    small.add_rule(Action.ALLOW, "personality", Arg(0) == 8)
    assert _layout(small) is Optimize.BINARY_TREE  # 33 rules now: the cache followed


def test_automatic_layout_makes_the_same_decisions() -> None:
    """Both layouts give every syscall the same action (checked with the BPF
    evaluator on every number, with and without the argument values)."""
    auto, prio = _filter(60), _filter(60, Optimize.PRIORITY)
    a, p = auto.export_bpf(), prio.export_bpf()
    assert a != p
    arch = int(NATIVE)
    for nr in range(-2, 600):
        for args in ((), (0xFFFFFFFF,), (2000,), (7, 7)):
            assert bpf.evaluate(a, nr, arch, args) == bpf.evaluate(p, nr, arch, args), (nr, args)
    assert bpf.evaluate(a, 0, arch ^ 1) == bpf.evaluate(p, 0, arch ^ 1)  # bad arch


def test_automatic_layout_falls_back_when_the_tree_is_too_big() -> None:
    """Every little-endian arch and every name: the default layout fits in 4096
    instructions, the binary tree does not; the automatic choice keeps the
    default layout (an explicit BINARY_TREE is the user's choice)."""
    if sys.byteorder != "little":
        pytest.skip("built for little-endian arches")

    def build(optimize: Optimize | None) -> Filter:
        f = Filter(Action.errno(1))
        for a in Arch.available():
            if a & 0x40000000 and a is not NATIVE:
                f.add_arch(a)
        if optimize is not None:
            f.set_attribute(Attribute.OPTIMIZE, optimize)
        f.add_rules([(Action.ALLOW, n) for n in names()])
        return f

    tree = build(Optimize.BINARY_TREE).instruction_count
    default = build(Optimize.PRIORITY)
    if not default.instruction_count <= BPF_MAXINSNS < tree:
        pytest.skip(f"this libseccomp gives {default.instruction_count} / {tree} instructions")
    auto = build(None)
    assert _layout(auto) is Optimize.PRIORITY
    assert auto.export_bpf() == default.export_bpf()
    assert auto.check_size() <= BPF_MAXINSNS


def test_compat_filters_keep_libseccomp_layout() -> None:
    from seccomp_py.compat import ALLOW, ERRNO, SyscallFilter

    f = SyscallFilter(ERRNO(1))
    for n in names()[:40]:
        f.add_rule(ALLOW, n)
    expected = Filter(Action.errno(1))
    expected.set_attribute(Attribute.OPTIMIZE, Optimize.PRIORITY)
    expected.add_rules([(Action.ALLOW, n) for n in names()[:40]])
    assert f.filter.export_bpf() == expected.export_bpf()


def test_default_action_and_arches_cache_follow_changes() -> None:
    f = Filter(Action.KILL_PROCESS)
    assert f.default_action == Action.KILL_PROCESS
    f.reset(Action.errno(5))
    assert f.default_action == Action.errno(5)
    assert f.get_attribute(Attribute.DEFAULT_ACTION) == Action.errno(5)
    with pytest.raises(InvalidArgumentError, match="default action"):
        f.add_rules([(Action.errno(5), "read")])
    if NATIVE is not Arch.X86_64:
        return
    other = Filter(Action.errno(5))
    other.remove_arch(NATIVE)
    other.add_arch(Arch.X86)
    f.merge(other)
    with pytest.warns(WidenedRuleWarning, match="x86"):
        f.add_rule(Action.ALLOW, "socket", Arg(0) == 1)
    f.remove_arch(Arch.X86)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.add_rule(Action.ALLOW, "socket", Arg(0) == 2)
    f.add_arch(Arch.X86)
    with pytest.warns(WidenedRuleWarning):
        f.add_rule(Action.ALLOW, "socket", Arg(0) == 3)
    f.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.add_rule(Action.ALLOW, "socket", Arg(0) == 4)


def test_import_does_not_load_difflib_and_suggestions_still_work() -> None:
    code = ("import sys, seccomp_py\n"
            "assert 'difflib' not in sys.modules, 'difflib imported'\n"
            "try:\n"
            "    seccomp_py.Syscall.from_name('wirte')\n"
            "except seccomp_py.UnknownSyscallError as e:\n"
            "    print(e.suggestions)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True)
    assert "'write'" in out.stdout


def test_profile_compiles_through_one_batch_like_rule_by_rule() -> None:
    """Docker's profile with its archMap (x86_64, x86, x32): the batch gives the
    BPF that adding the compiled rules one by one gives, and the widened
    socket rules are recorded under their JSON path instead of warned."""
    import os.path

    from helpers.paths import PROFILES

    from seccomp_py.profile import Profile

    if NATIVE is not Arch.X86_64:
        pytest.skip("the archMap test data is for x86_64")
    profile = Profile.load(os.path.join(PROFILES, "docker.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = profile.compile(caps=("CAP_SYS_ADMIN",), kernel="6.1")
    one = Filter(compiled.default or Action.errno(1))
    for a in compiled.arches:
        one.add_arch(a)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for r in compiled.rules:
            one.add_rule(r.action, r.syscall, *r.comparisons)
    assert compiled.filter.export_bpf() == one.export_bpf()
    assert len(compiled.widened) == len(caught) > 0
    for text in compiled.widened:
        path = text.split(":")[0]
        assert path.startswith("syscalls[") and "socketcall" in text
        assert profile.syscalls[int(path[9:-1])].args  # the entry with the comparison


def test_add_rules_fast_and_slow_preparation_agree() -> None:
    """The common input (Action, known name, ArgCmp...) is prepared with map()
    over the batch; anything else rule by rule.  Same filter, same records."""
    rules: list[tuple[object, ...]] = [
        (Action.ALLOW, "read"), (Action.ALLOW, "write", Arg(0) == 1, Arg(1) > 2),
        (Action.errno(errno.EPERM), "close"), (Action.TRAP, "dup", Arg(0) >= 100),
    ]
    for name in ("read", "write", "close", "dup"):
        Syscall.from_name(name)  # known names: the fast path applies
    reference = Filter(Action.KILL_PROCESS)
    for rule in rules:
        reference.add_rule(*rule)  # type: ignore[arg-type]
    for given in (rules, tuple(rules), iter(rules), [list(r) for r in rules]):
        f = Filter(Action.KILL_PROCESS)
        f.add_rules(given)  # type: ignore[arg-type]
        assert f.export_bpf() == reference.export_bpf()
        assert f.rules == reference.rules
        assert all(len(r) == 4 and r.exact is False for r in f.rules)
    # a bad rule at the end: the fast path gives up, the slow one names it
    f = Filter(Action.KILL_PROCESS)
    with pytest.raises(UnknownSyscallError) as info:
        f.add_rules([*rules, (Action.ALLOW, "not_a_syscall")])
    assert info.value.rule_index == len(rules) and f.rules == ()
    with pytest.raises(InvalidArgumentError) as info2:
        f.add_rules([*rules, (Action.KILL_PROCESS, "read")])
    assert info2.value.errno == errno.EACCES and info2.value.rule_index == len(rules)
    with pytest.raises(TypeError, match="rule 1"):
        f.add_rules([(Action.ALLOW, "read"), (Action.ALLOW, "write", "Arg(0) == 1")])
    assert f.rules == () and f.export_bpf() == Filter(Action.KILL_PROCESS).export_bpf()


def test_spawn_runs_the_automatic_layout(tmp_path: object) -> None:
    """spawn() loads export_bpf(): the layout chosen automatically, which
    the kernel enforces like the default layout (mkdir refused, true runs)."""
    import shutil

    f = Filter(Action.ALLOW)
    f.add_rules([(Action.errno(errno.EPERM), n) for n in _admin_names(AUTO_BINARY_TREE_RULES)]
                + [(Action.errno(errno.EROFS), "mkdir"), (Action.errno(errno.EROFS), "mkdirat")])
    assert f.layout in (Optimize.BINARY_TREE, Optimize.RANGES)  # the smaller
    target = os.path.join(str(tmp_path), "made")
    mkdir = shutil.which("mkdir") or "/bin/mkdir"
    with f.spawn([mkdir, target], stderr=subprocess.PIPE,
                 env={**os.environ, "LC_ALL": "C"}) as p:
        _, err = p.communicate(timeout=20)
    assert p.returncode != 0 and not os.path.exists(target)
    assert b"Read-only file system" in err
    with f.spawn(["/bin/true"]) as p:
        assert p.wait(timeout=20) == 0


def test_profile_error_names_the_refused_rule() -> None:
    """A rule libseccomp refuses inside the one add_rules() batch of
    Profile.compile is reported with its JSON path (EEXIST: the same
    condition with two actions)."""
    from seccomp_py.profile import Profile, ProfileError

    cond = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]
    profile = Profile.from_dict({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [
            {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["close", "read"], "action": "SCMP_ACT_ALLOW", "args": cond},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": cond},
        ],
    })
    with pytest.raises(ProfileError) as info:
        profile.compile(caps=(), kernel="6.1")
    assert info.value.path == "syscalls[2].names[0]"
    assert "read" in info.value.problem and "File exists" in info.value.problem


def test_profile_errno_4095_is_a_profile_error() -> None:
    """libseccomp refuses ERRNO(4095) (the kernel takes it): a ProfileError
    naming the field, for the default action and for a rule."""
    from seccomp_py.profile import Profile, ProfileError

    with pytest.raises(ProfileError) as info:
        Profile.from_dict({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4095}).compile(
            caps=(), kernel="6.1")
    assert info.value.path == "defaultErrnoRet" and "4094" in info.value.problem
    with pytest.raises(ProfileError) as info:
        Profile.from_dict({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]}).compile(
            caps=(), kernel="6.1")
    assert info.value.path == "syscalls[0].names[0]"
