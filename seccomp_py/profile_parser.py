"""Reading a profile document: every key, type and value checked, each
problem a ProfileError naming its JSON path (``syscalls[3].args[0].op``).

Reads the runtime-spec object, Docker's and Podman's files, an OCI
config.json and a Security Profiles Operator object; Profile.from_dict (and
load/loads) call it.  See docs/profiles.md.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping

from . import _kernel as _k
from .action import ActionKind
from .arg import MAX_ARGS
from .host import _MIN_KERNEL
from .profile_schema import (
    _ERRNO_BY_NAME,
    _U64,
    ACTIONS,
    FLAGS,
    OPERATORS,
    ArchMapEntry,
    ArgSpec,
    Conditions,
    ProfileError,
    ProfileWarning,
    SyscallEntry,
    _arch_token,
)

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any

#: The apiVersion of a Security Profiles Operator SeccompProfile object.
K8S_API_VERSION = "security-profiles-operator.x-k8s.io/v1beta1"
_K8S_GROUP = "security-profiles-operator.x-k8s.io/"


# -- validation -----------------------------------------------------------------------------


_TOP_KEYS = {"defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap",
             "syscalls", "flags", "listenerPath", "listenerMetadata"}
_ENTRY_KEYS = {"names", "name", "action", "errnoRet", "errno", "args", "comment", "includes",
               "excludes"}
_ARG_KEYS = {"index", "value", "valueTwo", "op"}
_COND_KEYS = {"caps", "arches", "minKernel"}
_ARCHMAP_KEYS = {"architecture", "subArchitectures"}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


class _Parser:
    """The reader; ``make`` (the Profile class) builds the profile from the
    checked fields, so that this module needs nothing of seccomp_py.profile."""

    def __init__(self, strict: bool, make: Callable[..., Any]) -> None:
        self.strict = strict
        self.make = make

    def keys(self, obj: Mapping[str, Any], known: set[str], path: str) -> None:
        for key in obj:
            if key not in known:
                where = f"{path}.{key}" if path else str(key)
                if self.strict:
                    raise ProfileError(where, "unknown key")
                warnings.warn(f"{where}: unknown key ignored", ProfileWarning, stacklevel=5)

    def obj(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise ProfileError(path or "(top)", f"expected an object, got {_type_name(value)}")
        return value

    def array(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise ProfileError(path, f"expected an array, got {_type_name(value)}")
        return list(value)

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise ProfileError(path, f"expected a string, got {_type_name(value)}")
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        return tuple(self.string(v, f"{path}[{i}]")
                     for i, v in enumerate(self.array(value, path)))

    def uint(self, value: Any, path: str, limit: int = _U64) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(path, f"expected an integer, got {_type_name(value)}")
        if not 0 <= value <= limit:
            raise ProfileError(path, f"{value} is outside 0..{limit}")
        return value

    def errno_value(self, value: Any, path: str) -> int:
        if isinstance(value, str):
            try:
                return _ERRNO_BY_NAME[value.strip().upper()]
            except KeyError:
                raise ProfileError(path, f"unknown errno name {value!r}") from None
        return self.uint(value, path, _k.MAX_ERRNO)

    def errno_pair(self, obj: Mapping[str, Any], num_key: str, name_key: str,
                   path: str) -> int | None:
        num = obj.get(num_key)
        name = obj.get(name_key)
        p = f"{path}.{num_key}" if path else num_key
        q = f"{path}.{name_key}" if path else name_key
        value = None if num is None else self.errno_value(num, p)
        if name is not None and name != "":
            by_name = self.errno_value(self.string(name, q), q)
            if value is not None and value != by_name:
                raise ProfileError(q, f"{name!r} is errno {by_name}, but {num_key} is {value}")
            value = by_name
        return value

    def action(self, value: Any, path: str) -> str:
        name = self.string(value, path)
        if name not in ACTIONS:
            raise ProfileError(path, f"unknown action {name!r}")
        return name

    def profile(self, data: Any) -> Any:
        top = self.obj(data, "")
        prefix = ""
        if top.get("kind") == "SeccompProfile" and "defaultAction" not in top:
            # a Security Profiles Operator object
            top, prefix = k8s_spec(top, self.strict), "spec."
        elif "linux" in top and "defaultAction" not in top:  # an OCI config.json
            linux = self.obj(top["linux"], "linux")
            if "seccomp" not in linux:
                raise ProfileError("linux", "no seccomp object")
            top = self.obj(linux["seccomp"], "linux.seccomp")
            prefix = "linux.seccomp."
        try:
            return self._profile(top)
        except ProfileError as exc:
            if prefix:
                raise ProfileError(prefix + exc.path, exc.problem) from None
            raise

    def _profile(self, top: Mapping[str, Any]) -> Any:
        self.keys(top, _TOP_KEYS, "")
        if "defaultAction" not in top:
            raise ProfileError("defaultAction", "missing (it is required)")
        default_action = self.action(top["defaultAction"], "defaultAction")
        default_errno = self.errno_pair(top, "defaultErrnoRet", "defaultErrno", "")
        if default_errno is not None and ACTIONS[default_action] not in (
                ActionKind.ERRNO, ActionKind.TRACE):
            warnings.warn(f"defaultErrnoRet: ignored with {default_action}",
                          ProfileWarning, stacklevel=4)
        architectures = self.strings(top.get("architectures"), "architectures")
        for i, a in enumerate(architectures):
            _arch_token(a, f"architectures[{i}]")
        arch_map = []
        for i, raw in enumerate(self.array(top.get("archMap"), "archMap")):
            path = f"archMap[{i}]"
            entry = self.obj(raw, path)
            self.keys(entry, _ARCHMAP_KEYS, path)
            if "architecture" not in entry:
                raise ProfileError(f"{path}.architecture", "missing")
            main = self.string(entry["architecture"], f"{path}.architecture")
            _arch_token(main, f"{path}.architecture")
            subs = self.strings(entry.get("subArchitectures"), f"{path}.subArchitectures")
            for j, s in enumerate(subs):
                _arch_token(s, f"{path}.subArchitectures[{j}]")
            arch_map.append(ArchMapEntry(main, subs))
        if architectures and arch_map:
            raise ProfileError("archMap", "'architectures' and 'archMap' cannot both be "
                                          "given (moby refuses it): use one")
        flags = self.strings(top.get("flags"), "flags")
        for i, flag in enumerate(flags):
            if flag not in FLAGS:
                raise ProfileError(f"flags[{i}]", f"unknown flag {flag!r} (known: "
                                                  + ", ".join(FLAGS) + ")")
        listener_path = top.get("listenerPath")
        if listener_path is not None:
            listener_path = self.string(listener_path, "listenerPath") or None
        listener_meta = top.get("listenerMetadata")
        if listener_meta is not None:
            listener_meta = self.string(listener_meta, "listenerMetadata") or None
        entries = tuple(self.entry(raw, f"syscalls[{i}]")
                        for i, raw in enumerate(self.array(top.get("syscalls"), "syscalls")))
        if default_action == "SCMP_ACT_NOTIFY":
            raise ProfileError("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action "
                                                "(runc refuses it)")
        return self.make(default_action, default_errno, architectures, tuple(arch_map), flags,
                         listener_path, listener_meta, entries)

    def entry(self, raw: Any, path: str) -> SyscallEntry:
        obj = self.obj(raw, path)
        self.keys(obj, _ENTRY_KEYS, path)
        has_name = obj.get("name") not in (None, "")
        names = self.strings(obj.get("names"), f"{path}.names")
        if has_name and names:
            raise ProfileError(path, "'name' and 'names' cannot both be given (moby refuses "
                                     "it): use 'names'")
        used_name = False
        if has_name:
            names = (self.string(obj["name"], f"{path}.name"),)
            used_name = True
        if not names:
            raise ProfileError(f"{path}.names", "no syscall names")
        for j, n in enumerate(names):
            where = f"{path}.name" if used_name else f"{path}.names[{j}]"
            if not n or not n.isprintable() or len(n) > 64 or n != n.strip():
                raise ProfileError(where, f"bad syscall name {n!r}")
            if n.startswith("@"):  # a syscall group (seccomp_py.groups)
                from .groups import Group

                if n not in Group:
                    raise ProfileError(where, f"unknown syscall group {n!r} (seccomp-py "
                                              "groups lists them)")
        if "action" not in obj:
            raise ProfileError(f"{path}.action", "missing (it is required)")
        action = self.action(obj["action"], f"{path}.action")
        errno_ret = self.errno_pair(obj, "errnoRet", "errno", path)
        if errno_ret is not None and ACTIONS[action] not in (ActionKind.ERRNO, ActionKind.TRACE):
            warnings.warn(f"{path}.errnoRet: ignored with {action}", ProfileWarning,
                          stacklevel=5)
        args = tuple(self.arg(a, f"{path}.args[{k}]")
                     for k, a in enumerate(self.array(obj.get("args"), f"{path}.args")))
        comment = obj.get("comment")
        comment = "" if comment is None else self.string(comment, f"{path}.comment")
        includes = self.conditions(obj.get("includes"), f"{path}.includes")
        excludes = self.conditions(obj.get("excludes"), f"{path}.excludes")
        if action == "SCMP_ACT_NOTIFY" and "write" in names:
            raise ProfileError(f"{path}.action", "SCMP_ACT_NOTIFY cannot be used for write "
                                                 "(runc refuses it: the supervisor could "
                                                 "deadlock)")
        return SyscallEntry(names, action, errno_ret, args, includes, excludes, comment,
                            used_name)

    def arg(self, raw: Any, path: str) -> ArgSpec:
        obj = self.obj(raw, path)
        self.keys(obj, _ARG_KEYS, path)
        for key in ("index", "value", "op"):
            if key not in obj:
                raise ProfileError(f"{path}.{key}", "missing (it is required)")
        index = self.uint(obj["index"], f"{path}.index", _U64)
        if index >= MAX_ARGS:
            raise ProfileError(f"{path}.index", f"{index} is outside 0..{MAX_ARGS - 1}")
        value = self.uint(obj["value"], f"{path}.value")
        two = obj.get("valueTwo")
        value_two = 0 if two is None else self.uint(two, f"{path}.valueTwo")
        op = self.string(obj["op"], f"{path}.op")
        if op not in OPERATORS:
            raise ProfileError(f"{path}.op", f"unknown operator {op!r}")
        return ArgSpec(index, value, op, value_two)

    def conditions(self, raw: Any, path: str) -> Conditions:
        if raw is None:
            return Conditions()
        obj = self.obj(raw, path)
        self.keys(obj, _COND_KEYS, path)
        caps = self.strings(obj.get("caps"), f"{path}.caps")
        for k, c in enumerate(caps):
            if not re.fullmatch(r"CAP_[A-Z0-9_]+", c):
                raise ProfileError(f"{path}.caps[{k}]", f"bad capability name {c!r} "
                                                        "(expected e.g. CAP_SYS_ADMIN)")
        arches = self.strings(obj.get("arches"), f"{path}.arches")
        min_kernel = obj.get("minKernel")
        if min_kernel is not None and min_kernel != "":
            min_kernel = self.string(min_kernel, f"{path}.minKernel")
            if not _MIN_KERNEL.match(min_kernel):
                raise ProfileError(f"{path}.minKernel",
                                   f"cannot read kernel version {min_kernel!r} "
                                   "(expected e.g. '4.8')")
        else:
            min_kernel = None
        return Conditions(caps, arches, min_kernel)


def k8s_spec(top: Mapping[str, Any], strict: bool = False) -> Mapping[str, Any]:
    """The OCI fields of a SeccompProfile object, for the profile parser.

    Checks apiVersion (security-profiles-operator.x-k8s.io/...), turns the
    string errnoRet values back into numbers, and refuses (strict) or warns
    about baseProfileName, which only the operator can resolve.  Raises
    ProfileError naming the path.
    """
    api = top.get("apiVersion")
    if not isinstance(api, str) or not api.startswith(_K8S_GROUP):
        raise ProfileError("apiVersion", f"a SeccompProfile of {api!r}: expected "
                                         f"{K8S_API_VERSION}")
    spec = top.get("spec")
    if not isinstance(spec, Mapping):
        raise ProfileError("spec", "missing or not an object")
    out = dict(spec)
    if "baseProfileName" in out:
        detail = (f"baseProfileName {out['baseProfileName']!r}: the operator unions that "
                  "profile in; seccomp_py reads only this one")
        if strict:
            raise ProfileError("spec.baseProfileName", detail)
        warnings.warn(f"spec.{detail}", ProfileWarning, stacklevel=6)
        del out["baseProfileName"]
    syscalls = out.get("syscalls")
    if isinstance(syscalls, list):
        fixed = []
        for entry in syscalls:
            if isinstance(entry, Mapping) and isinstance(entry.get("errnoRet"), str) \
                    and entry["errnoRet"].strip().isdigit():
                entry = {**entry, "errnoRet": int(entry["errnoRet"])}
            fixed.append(entry)
        out["syscalls"] = fixed
    return out
