"""The exception classes: all in seccomp_py.errors, re-exported by the
subsystems, and every one of them pickles (one generic ``__reduce__``)."""

from __future__ import annotations

import errno
import importlib
import inspect
import pathlib
import pickle
import warnings

import pytest

import seccomp_py
from seccomp_py import errors
from seccomp_py.action import Action
from seccomp_py.arg import Arg
from seccomp_py.rule import RuleRecord

PACKAGE = pathlib.Path(seccomp_py.__file__).resolve().parent
#: Modules whose exception classes may live outside errors.py: none.
PENDING: set[str] = set()
#: What each subsystem re-exports (existing imports keep working).
REEXPORTS = {
    "seccomp_py.bpf": ["BpfError"],
    "seccomp_py.features": ["LibseccompSecurityWarning"],
    "seccomp_py.learn": ["LearnError"],
    "seccomp_py.profile": ["ProfileError", "ProfileWarning", "WeakenedPolicyWarning"],
    "seccomp_py.spawn": ["ExecForbiddenError"],
    "seccomp_py.cli": ["CliError", "UsageError"],
    "seccomp_py._json": ["JsonLimitError"],
    "seccomp_py.compat": [
        "LibraryError", "InvalidArgumentLibraryError", "UnknownSyscallLibraryError",
        "UnknownArchLibraryError", "FilterTooLargeLibraryError", "UnsupportedLibraryError",
        "FilterClosedLibraryError", "AlreadyLoadedLibraryError", "ArgumentOverflowError",
        "NotAFileError", "ExportTargetError"],
}


def _modules() -> list[str]:
    """Every module of the package, subpackages' included."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("seccomp_py", *parts)))
    return names


def _pending(cls: type) -> bool:
    return ".".join(cls.__module__.split(".")[:2]) in PENDING


def _package_classes() -> dict[str, type[BaseException]]:
    """Every exception and warning class defined in the package, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == name):
                found[f"{name}.{obj.__qualname__}"] = obj
    return found


def test_every_public_class_is_defined_in_errors() -> None:
    outside = sorted(q for q, cls in _package_classes().items()
                     if cls.__module__ != "seccomp_py.errors"
                     and not _pending(cls)
                     and not cls.__name__.startswith("_"))
    assert not outside


@pytest.mark.parametrize("module", sorted(REEXPORTS))
def test_subsystems_reexport_theirs(module: str) -> None:
    mod = importlib.import_module(module)
    for name in REEXPORTS[module]:
        assert getattr(mod, name) is getattr(errors, name), (module, name)


#: Constructor arguments by parameter name.
_ARGS: dict[str, object] = {
    "errnum": errno.EIO, "func": "seccomp_load", "detail": "some detail", "name": "opne",
    "arch": "x86_64", "suggestions": ["open"], "instructions": 5000, "limit": 4096,
    "pid": 42, "syscall": "execve", "action": Action.errno(errno.EPERM), "path": "syscalls[0]",
    "problem": "bad", "what": "profile.json", "kind": "depth", "fd": 7, "exc": OSError(2, "x"),
    "cmd": "true",
    "rule": RuleRecord(Action.errno(11), "getppid", (Arg(0) != 0, Arg(1) == 1 << 32), False),
    "earlier": RuleRecord(Action.errno(10), "getppid", (Arg(0) != 0, Arg(1) == 0), False),
}


def _instance(cls: type[BaseException]) -> BaseException:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    args: list[object] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            args.append("message")
            break
        if p.name in _ARGS:
            args.append(_ARGS[p.name])
        elif p.default is not p.empty:
            break
        else:
            raise AssertionError(f"{cls.__name__}: no value for {p.name}")
    if params and params[0].kind is params[0].VAR_POSITIONAL and issubclass(cls, OSError):
        return cls(errno.EIO, "f", "d")
    return cls(*args)


def _classes() -> list[type[BaseException]]:
    return sorted(_package_classes().values(), key=lambda c: (c.__module__, c.__qualname__))


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__qualname__)
def test_every_class_pickles(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    if isinstance(exc, errors.SeccompError):
        exc.rule_index = 3  # set after construction (Filter.add_rules): kept too
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is cls
    assert errors._ARGS.__get__(clone, cls) == errors._ARGS.__get__(exc, cls)
    assert str(clone) == str(exc)
    if not _pending(cls):  # their own __reduce__ drops rule_index
        assert vars(clone) == vars(exc)
    if isinstance(exc, OSError):
        assert isinstance(clone, OSError)
        assert (clone.errno, clone.strerror) == (exc.errno, exc.strerror)


def test_pickling_keeps_what_was_set_later() -> None:
    err = errors.FilterVerificationError(detail="differs")
    err.arch, err.nr, err.expected, err.token = "x86_64", 59, ("ALLOW",), 0xC000003E
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.arch, clone.nr, clone.expected, clone.token) == ("x86_64", 59, ("ALLOW",),
                                                                  0xC000003E)
    assert clone.errno == errno.EPROTO


def test_closed_errors_share_a_base() -> None:
    assert issubclass(errors.FilterClosedError, errors.ClosedError)
    assert issubclass(errors.FilterFailedError, errors.ClosedError)
    assert issubclass(errors.ClosedError, errors.SeccompError)
    assert issubclass(errors.ClosedError, ValueError)
    assert errors.FilterClosedError().errno == errno.EBADF
    with pytest.raises(errors.ClosedError):
        raise errors.FilterClosedError("f")


def test_builtin_bases_are_kept() -> None:
    pairs = [("InvalidArgumentError", ValueError), ("UnknownSyscallError", LookupError),
             ("UnknownArchError", LookupError), ("FilterClosedError", ValueError),
             ("FilterTooLargeError", ValueError), ("ConcurrentUseError", RuntimeError),
             ("BpfError", errors.InvalidArgumentError), ("ProfileError", ValueError),
             ("ExecForbiddenError", PermissionError), ("LearnError", errors.SeccompError),
             ("LibraryError", RuntimeError), ("ArgumentOverflowError", OverflowError),
             ("NotAFileError", AttributeError), ("JsonLimitError", ValueError),
             ("WeakenedPolicyWarning", errors.ProfileWarning),
             ("LibseccompSecurityWarning", UserWarning)]
    for name, base in pairs:
        assert issubclass(getattr(errors, name), base), name


def test_error_for_uses_one_table() -> None:
    assert type(errors.error_for(errno.EINVAL, "f")) is errors.InvalidArgumentError
    assert type(errors.error_for(errno.EPERM, "f")) is errors.SeccompError
    for errnum, cls in errors.ERRNO_CLASSES.items():
        err = errors.error_for(errnum, "seccomp_rule_add", "x")
        assert type(err) is cls and err.errno == errnum and err.func == "seccomp_rule_add"


def test_warnings_are_warnings() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.warn("x", errors.WeakenedPolicyWarning, stacklevel=1)
    assert issubclass(seen[0].category, errors.ProfileWarning)
