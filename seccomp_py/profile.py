"""Container seccomp profiles: the OCI runtime-spec ``linux.seccomp`` object and
Docker's / Podman's JSON files, to and from :class:`~seccomp_py.Filter`.

>>> from seccomp_py.profile import Profile
>>> p = Profile.load("/usr/share/containers/seccomp.json")      # doctest: +SKIP
>>> f = p.to_filter(caps=set())          # as an unprivileged container sees it
>>> Profile.from_filter(f).save("out.json")                      # doctest: +SKIP

Loading validates everything and names the JSON path of the first problem
(``syscalls[3].args[0].op: unknown operator 'SCMP_CMP_FOO'``, a
:class:`ProfileError`).  Compiling follows moby (includes / excludes, archMap)
and runc (actions, errnoRet defaults, argument conditions, unknown names):
see docs/profiles.md for every rule and where it comes from.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import json
import os
import warnings
from collections.abc import Iterable, Mapping

from . import _kernel as _k
from . import arch as _arch
from .action import Action, ActionKind
from .arch import Arch
from .arg import MAX_ARGS, ArgCmp
from .errors import SeccompError, UnsupportedError, WidenedRuleWarning
from .filter import Filter, RuleRecord
from .host import (
    CAP_SETS,
    CAPABILITIES,
    DEFAULT_CAPS,
    DOCKER_ARCHES,
    caps_from_mask,
    current_caps,
    current_kernel,
    docker_arch,
    normalize_caps,
    parse_kernel,
    resolve_caps,
    target_arch,
)
from .profile_parser import _Parser
from .profile_schema import (
    _OP_NAMES,
    ACTIONS,
    FLAGS,
    MAX_PROFILE_BYTES,
    MAX_PROFILE_DEPTH,
    OPERATORS,
    ArchMapEntry,
    ArgSpec,
    Conditions,
    ProfileError,
    ProfileWarning,
    SyscallEntry,
    WeakenedPolicyWarning,
    _action_fields,
    _arch_token,
    _make_action,
    action_text,
    widened_report,
)
from .profile_schema import check_errno_name as check_errno_name
from .syscall import _NR_ERROR, _resolve_name

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import IO, Any

    from .program import Program

@dataclasses.dataclass(frozen=True)
class Rule:
    """One libseccomp rule of a compiled profile, and the JSON path it came from."""

    action: Action
    syscall: str
    comparisons: tuple[ArgCmp, ...] = ()
    source: str = ""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Something of the profile that did not become a rule, and why.

    ``reason``: ``"excluded"`` (includes/excludes), ``"default"`` (the
    action equals the default one), ``"unknown"`` (libseccomp does not know
    the name), ``"absent"`` (known, but on none of the filter's arches: it
    compiles to nothing).  ``weakens`` is True when dropping it lets the
    filter allow more than the profile says.
    """

    path: str
    reason: str
    detail: str
    name: str = ""
    weakens: bool = False


@dataclasses.dataclass
class Compiled:
    """The result of :meth:`Profile.compile`: the Filter and what went into it."""

    filter: Filter
    arch: Arch
    arches: tuple[Arch, ...]
    rules: tuple[Rule, ...]
    skipped: tuple[Skipped, ...]

    #: every syscall name of the entries that passed includes/excludes, rules
    #: with the default action included (what runc's -ENOSYS stub looks at)
    names: tuple[str, ...] = ()
    default: Action | None = None
    #: rules whose argument checks do not apply on some arch (libseccomp's
    #: socketcall/ipc rewriting, see WidenedRuleWarning), as "path: message";
    #: runc compiles them the same way, so profiles record them here instead
    #: of warning once per rule
    widened: tuple[str, ...] = ()

    @property
    def multiplexed_note(self) -> str:
        """One line for run/check: what ``widened`` means ("" when empty)."""
        return widened_report(self.widened) if self.widened else ""

    def skipped_for(self, reason: str) -> list[Skipped]:
        return [s for s in self.skipped if s.reason == reason]

    def enosys_maxima(self) -> dict[Arch, int]:
        """Per arch of the filter, the largest syscall number the profile names
        there (what runc's -ENOSYS stub compares with); arches with none are left out."""
        out: dict[Arch, int] = {}
        for a in self.arches:
            numbers = [n for n in (_resolve_name(a, name) for name in self.names) if n >= 0]
            if numbers:
                out[a] = max(numbers)
        return out

    def enosys_stub(self) -> bytes:
        """runc's -ENOSYS stub for this filter (empty when runc adds none: a
        default action of ALLOW, LOG or TRACE).  See docs/profiles.md."""
        from . import bpf

        if self.default is not None and self.default.kind in (
                ActionKind.ALLOW, ActionKind.LOG, ActionKind.TRACE):
            return b""
        return bpf.assemble(bpf.enosys_stub(self.enosys_maxima()))

    def program(self) -> bytes:
        """The verified program of :attr:`filter` (``Filter.export_bpf``), checked for
        libseccomp's foreign-byte-order corruption (:func:`check_export`).

        Raises FilterVerificationError, FilterTooLargeError or ProfileError."""
        return check_export(self.filter.export_bpf(), self.arch)

    def to_program(self, *, runc: bool = False) -> Program:
        """:meth:`program` (with ``runc``: :meth:`runc_program`) as a
        :class:`~seccomp_py.program.Program`, with the load options of
        :attr:`filter` (``Filter.compile``): what spawn() and ``seccomp-py run``
        load.  Raises as program() / runc_program()."""
        base = self.filter.compile()
        data = self.runc_program() if runc else self.program()
        return base if data is base.bpf else base.with_bpf(data)

    def runc_program(self) -> bytes:
        """The program runc would load: the -ENOSYS stub, then libseccomp's.

        Only for a filter of the host's byte order; raises ProfileError otherwise.
        """
        import sys

        if any(bool(a & _k.AUDIT_ARCH_LE) != (sys.byteorder == "little") for a in self.arches
               if a is not Arch.X32):
            raise ProfileError("", "runc_program() needs a filter of the host's byte order")
        return self.enosys_stub() + self.program()


@dataclasses.dataclass(frozen=True)
class Profile:
    """A seccomp profile (runtime-spec ``linux.seccomp`` plus Docker/Podman keys).

    Build it with :meth:`load`, :meth:`loads`, :meth:`from_dict`,
    :meth:`from_rules` or :meth:`from_filter`; turn it into a Filter with
    :meth:`to_filter` / :meth:`compile`; save it with :meth:`to_dict`,
    :meth:`dumps`, :meth:`save`.  Immutable.
    """

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    arch_map: tuple[ArchMapEntry, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: tuple[SyscallEntry, ...] = ()
    #: the built-in profile this was loaded from (``"docker"``, ``"podman"``), or None;
    #: it picks the default capability set of :meth:`compile`
    origin: str | None = dataclasses.field(default=None, compare=False, repr=False)

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, strict: bool = False) -> Profile:
        """Validate a decoded profile.  Raises ProfileError naming the JSON path.

        An OCI ``config.json`` (with ``linux.seccomp``) is accepted too.
        Unknown keys are ignored with a ProfileWarning, or refused when
        ``strict``.
        """
        profile: Profile = _Parser(strict, cls).profile(data)
        return profile

    @classmethod
    def loads(cls, text: str | bytes, *, strict: bool = False) -> Profile:
        """Parse JSON text.  Raises ProfileError (bad JSON too, with line and column).

        The text is bounded (seccomp_py._json): at most MAX_PROFILE_BYTES and
        MAX_PROFILE_DEPTH levels of nesting, else a one-line ProfileError
        (never RecursionError).
        """
        from . import _json

        try:
            data = _json.loads(text, max_size=MAX_PROFILE_BYTES, max_depth=MAX_PROFILE_DEPTH,
                               what="the profile")
        except _json.JsonLimitError as exc:
            if exc.kind == "encoding":
                raise ProfileError("", f"not valid JSON text: {exc.detail}") from None
            raise ProfileError("", str(exc)) from None
        except TypeError as exc:
            raise ProfileError("", f"not valid JSON text: {exc}") from None
        return cls.from_dict(data, strict=strict)

    @classmethod
    def load(cls, source: str | os.PathLike[str] | IO[str] | IO[bytes], *,
             strict: bool = False) -> Profile:
        """Read a profile from a path or an open file.

        Raises ProfileError, or OSError when the file cannot be read.
        """
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                return cls.loads(fh.read(MAX_PROFILE_BYTES + 1), strict=strict)
        if hasattr(source, "read"):
            return cls.loads(source.read(MAX_PROFILE_BYTES + 1), strict=strict)
        raise TypeError(f"load() takes a path or a file, not {type(source).__name__}")

    @classmethod
    def builtin(cls, name: str) -> Profile:
        """One of the profiles shipped with seccomp_py: ``"docker"`` or ``"podman"``.

        They are verbatim copies of Docker's and Podman's default profiles (Apache-2.0;
        provenance in ``seccomp_py/profiles/SOURCES.json``).  :func:`builtin_names`
        lists them.  Its :meth:`compile` defaults to the runtime's capability set
        (``caps="docker"`` for Docker's).  Raises ProfileError for an unknown name.
        """
        return dataclasses.replace(cls.load(builtin_path(name)), origin=name)

    @classmethod
    def open(cls, source: str | os.PathLike[str], *, strict: bool = False) -> Profile:
        """A profile file, or a built-in profile by name (``"docker"``,
        ``"podman"``: :meth:`builtin`) when no file of that name exists -- what
        the ``seccomp-py`` PROFILE arguments take.

        Raises ProfileError, or another OSError when the file cannot be read
        (FileNotFoundError when ``source`` is neither a file nor a built-in name).
        """
        name = os.fspath(source)
        if not os.path.exists(name) and name in builtin_names():
            return dataclasses.replace(cls.load(builtin_path(name), strict=strict), origin=name)
        return cls.load(name, strict=strict)

    def runtime_caps(self) -> str:
        """The name of the capability set :meth:`compile` uses by default: the
        runtime's for a built-in profile (``"docker"``, ``"podman"``), else
        ``"none"`` (:data:`DEFAULT_CAPS`)."""
        if self.origin is not None:
            return builtin_sources().get(self.origin, {}).get("runtime_caps", DEFAULT_CAPS)
        return DEFAULT_CAPS

    # -- saving ----------------------------------------------------------------------------

    def to_dict(self, *, keep_groups: bool = False) -> dict[str, Any]:
        """The profile as JSON-ready data (Docker's key order; numbers for errnos).

        Syscall groups (``"@file-system"``, a seccomp_py extension) are written as
        their plain names, so any runtime can read the result; ``keep_groups``
        keeps them (for seccomp_py's own use).
        """
        out: dict[str, Any] = {"defaultAction": self.default_action}
        if self.default_errno_ret is not None:
            out["defaultErrnoRet"] = self.default_errno_ret
        if self.architectures:
            out["architectures"] = list(self.architectures)
        if self.arch_map:
            out["archMap"] = [a.to_dict() for a in self.arch_map]
        if self.flags:
            out["flags"] = list(self.flags)
        if self.listener_path is not None:
            out["listenerPath"] = self.listener_path
        if self.listener_metadata is not None:
            out["listenerMetadata"] = self.listener_metadata
        out["syscalls"] = [s.to_dict(keep_groups=keep_groups) for s in self.syscalls]
        return out

    def dumps(self, indent: int | None = 2) -> str:
        """The profile as JSON text."""
        return json.dumps(self.to_dict(), indent=indent) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the profile as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.dumps())

    # -- compiling ---------------------------------------------------------------------------

    def default(self) -> Action:
        """The default Action (defaultErrnoRet, else EPERM, for ERRNO / TRACE)."""
        return _make_action(self.default_action, self.default_errno_ret)

    def filter_arches(self, arch: Arch | str | int | None = None) -> tuple[Arch, ...]:
        """The arches a filter for ``arch`` covers: ``arch`` first, then
        ``architectures``, or the archMap entry of ``arch`` and its sub-arches."""
        target = target_arch(arch)
        names: list[tuple[str, str]] = []
        if self.architectures:
            names = [(f"architectures[{i}]", a) for i, a in enumerate(self.architectures)]
        else:
            for i, entry in enumerate(self.arch_map):
                if _arch_token(entry.architecture, f"archMap[{i}].architecture") == target:
                    names.append((f"archMap[{i}].architecture", entry.architecture))
                    names.extend((f"archMap[{i}].subArchitectures[{j}]", sub)
                                 for j, sub in enumerate(entry.sub_architectures))
                    break
        out = [target]
        for path, name in names:
            a = _arch_token(name, path)
            if not a.is_available():
                raise ProfileError(path, f"the linked libseccomp does not support {name}")
            if a not in out:
                out.append(a)
        return tuple(out)

    def compile(self, arch: Arch | str | int | None = None, *,
                caps: str | Iterable[str] | None = None,
                kernel: str | tuple[int, int] | None = None,
                unknown: str = "warn", strict_multiplexed: bool = False) -> Compiled:
        """Build the Filter this profile gives on ``arch`` for a process with
        capability set ``caps`` on kernel ``kernel``.

        Defaults: the native arch, the profile's runtime capability set
        (:meth:`runtime_caps`: Docker's 14 for ``Profile.builtin("docker")``,
        Podman's 10 for ``"podman"``, none for any other profile; never this
        process's own) and the running kernel (uname).  ``caps`` is a set name
        (``"docker"``, ``"podman"``, ``"all"``, ``"none"``), a comma-separated
        string (``"CAP_SYS_ADMIN,sys_chroot"``, ``""`` for none) or a collection
        of names (``"CAP_SYS_ADMIN"`` or ``"sys_admin"``); see :func:`resolve_caps`.
        Docker matches the container's bounding set.  ``unknown`` says what to
        do with a syscall name libseccomp does not know: ``"warn"`` (skip it;
        ONE ProfileWarning lists every skipped name, as runc skips them; a
        WeakenedPolicyWarning when a skipped rule refused something),
        ``"ignore"`` (skip silently) or ``"error"`` (raise ProfileError).

        Argument checks on socket(2)- and ipc(2)-family calls cannot apply
        on an arch that multiplexes them (i386's socketcall/ipc: seccomp
        cannot read the real arguments), so libseccomp, like runc, lets such
        a rule match every call made that way; every such rule is listed in
        ``Compiled.widened``.  ``strict_multiplexed=True`` closes the hole:
        the multiplexer (``socketcall`` and/or ``ipc``) is refused with
        ERRNO(ENOSYS) on those arches (EPERM if ENOSYS is the default), and
        the profile's own rules for it are dropped (``Compiled.skipped``,
        reason ``"strict-multiplexed"``).  The default keeps runc's
        behaviour.

        Uses seccomp_init(3), seccomp_arch_add(3), seccomp_attr_set(3) and
        seccomp_rule_add(3).  Raises ProfileError (naming the JSON path) for
        anything libseccomp refuses, UnknownArchError for an unknown ``arch``,
        ValueError for a bad ``kernel``, ``unknown`` or capability name.
        """
        if unknown not in ("warn", "ignore", "error"):
            raise ValueError(f"unknown must be 'warn', 'ignore' or 'error', not {unknown!r}")
        compiled = self._compile(arch, caps, kernel, unknown, frozenset())
        if not strict_multiplexed or not compiled.widened:
            return compiled
        refuse = frozenset(mux for mux in ("socketcall", "ipc")
                           if any(f"{mux}(2)" in w for w in compiled.widened))
        compiled.filter.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said once, by the first pass
            strict = self._compile(arch, caps, kernel, unknown, refuse)
        # the multiplexer is refused: those rules no longer match every call
        strict.widened = ()
        return strict

    def _compile(self, arch: Arch | str | int | None, caps: Iterable[str] | None,
                 kernel: str | tuple[int, int] | None, unknown: str,
                 refuse: frozenset[str]) -> Compiled:
        arches = self.filter_arches(arch)
        target = arches[0]
        cap_set = resolve_caps(caps if caps is not None else self.runtime_caps())
        kver = parse_kernel(kernel) if kernel is not None else current_kernel()
        short = DOCKER_ARCHES.get(target, target.name.lower())
        default = self.default()
        native = _arch.native()

        try:
            filt = Filter(default)
        except SeccompError as exc:  # e.g. ERRNO(4095): libseccomp accepts up to 4094
            where = "defaultErrnoRet" if self.default_errno_ret is not None else "defaultAction"
            raise ProfileError(where, f"libseccomp refused the default action {default}: "
                                      f"{exc.detail or exc.strerror}") from None
        try:
            if native not in arches:
                # first, so that an arch of the other byte order can be added (EDOM otherwise)
                filt.remove_arch(native)
            for a in arches:
                filt.add_arch(a)
            self._apply_flags(filt)
            rules: list[Rule] = []
            skipped: list[Skipped] = []
            names: list[str] = []
            widened: list[str] = []
            for i, entry in enumerate(self.syscalls):
                if not _excluded(entry, short, cap_set, kver):
                    names.extend(n for n in entry.expanded_names()
                                 if _resolve_name(native, n) != _NR_ERROR)
                self._compile_entry(i, entry, default, short, cap_set, kver, arches,
                                    unknown, rules, skipped)
            if refuse:
                rules = self._refuse_multiplexers(rules, skipped, refuse, default, arches)
            # every rule in one call (Filter.add_rules: one transaction on 2.6;
            # on 2.5 a refused rule leaves the filter failed, and it is closed below)
            try:
                found = filt._add_many([(r.action, r.syscall, *r.comparisons) for r in rules],
                                       widened=True)
            except SeccompError as exc:
                at = exc.rule_index
                if at is None:
                    raise ProfileError("syscalls", f"libseccomp refused the rules: "
                                                   f"{exc.strerror}") from None
                r = rules[at]
                raise ProfileError(r.source, f"libseccomp refused the rule {r.action} for "
                                             f"{r.syscall!r}: {exc.strerror}") from None
            for at, message in found:
                widened.append(f"{rules[at].source.split('.')[0]}: {message}")
            if unknown == "warn":
                _warn_unknown([s for s in skipped if s.reason == "unknown"], default)
        except BaseException:
            filt.close()
            raise
        return Compiled(filt, target, arches, tuple(rules), tuple(skipped),
                        tuple(dict.fromkeys(names)), default, tuple(widened))

    def to_filter(self, arch: Arch | str | int | None = None, *,
                  caps: str | Iterable[str] | None = None,
                  kernel: str | tuple[int, int] | None = None,
                  unknown: str = "warn", strict_multiplexed: bool = False) -> Filter:
        """The Filter of :meth:`compile` (same arguments and exceptions).

        Every rule whose argument checks cannot apply on an arch of the
        filter (socketcall/ipc multiplexing, see :meth:`compile`) is reported
        with one WidenedRuleWarning naming them all, unless
        ``strict_multiplexed`` refuses the multiplexers instead.
        """
        compiled = self.compile(arch, caps=caps, kernel=kernel, unknown=unknown,
                                strict_multiplexed=strict_multiplexed)
        if compiled.widened and not strict_multiplexed:
            warnings.warn(widened_report(compiled.widened), WidenedRuleWarning, stacklevel=2)
        return compiled.filter

    @staticmethod
    def _refuse_multiplexers(rules: list[Rule], skipped: list[Skipped], refuse: frozenset[str],
                             default: Action, arches: tuple[Arch, ...]) -> list[Rule]:
        """strict_multiplexed: refuse each multiplexer first, drop the profile's rules for it."""
        action = Action.errno(_errno.ENOSYS)
        if action == default:
            action = Action.errno(_errno.EPERM)
        out = [Rule(action, mux, (), "strict-multiplexed") for mux in sorted(refuse)]
        where = ", ".join(a.libseccomp_name for a in arches
                          if any(_resolve_name(a, m) >= 0 for m in refuse))
        for r in rules:
            if r.syscall in refuse:
                skipped.append(Skipped(r.source, "strict-multiplexed",
                                       f"{r.syscall} is refused on {where} "
                                       f"(strict_multiplexed)", r.syscall, False))
                continue
            out.append(r)
        return out

    def _apply_flags(self, filt: Filter) -> None:
        for i, flag in enumerate(self.flags):
            path = f"flags[{i}]"
            try:
                if flag == "SECCOMP_FILTER_FLAG_TSYNC":
                    filt.thread_sync = True
                elif flag == "SECCOMP_FILTER_FLAG_LOG":
                    filt.log = True
                elif flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
                    filt.disable_ssb = True
                elif flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
                    filt.wait_kill = True
            except UnsupportedError as exc:
                raise ProfileError(path, f"{flag} is not available: {exc.detail}") from None
            except SeccompError as exc:
                raise ProfileError(path, f"libseccomp refused {flag}: {exc.strerror}") from None

    def _compile_entry(self, i: int, entry: SyscallEntry, default: Action,
                       short: str, caps: frozenset[str], kver: tuple[int, int],
                       arches: tuple[Arch, ...], unknown: str,
                       rules: list[Rule], skipped: list[Skipped]) -> None:
        path = f"syscalls[{i}]"
        why = _excluded(entry, short, caps, kver)
        if why:
            skipped.append(Skipped(path, "excluded", why))
            return
        action = entry.resolved_action()
        if action == default:
            skipped.append(Skipped(path, "default", f"{action} is the default action"))
            return
        weakens = _refuses(action, default)
        key = "name" if entry.used_name else "names"
        # the entry's conditions, the same for each of its names (comparisons are
        # immutable): made once, at its first name libseccomp knows
        groups: list[tuple[ArgCmp, ...]] | None = None
        native = _arch.native()
        native_held = native in arches
        for j, name, via in _entry_names(entry):
            npath = f"{path}.{key}" if entry.used_name else f"{path}.{key}[{j}]"
            number = _resolve_name(native, name)
            if number == _NR_ERROR:
                detail = f"libseccomp does not know syscall {name!r}{via}"
                if unknown == "error":
                    raise ProfileError(npath, detail)
                skipped.append(Skipped(npath, "unknown", detail, name, weakens))
                continue
            if not (native_held and number >= 0) and all(_resolve_name(a, name) < 0
                                                         for a in arches):
                skipped.append(Skipped(npath, "absent",
                                       f"{name!r} does not exist on "
                                       + ", ".join(a.libseccomp_name for a in arches),
                                       name, False))
            if groups is None:
                conds = [a.comparison() for a in entry.args]
                counts = [0] * MAX_ARGS
                for c in conds:
                    counts[c.index] += 1
                groups = [(c,) for c in conds] if max(counts) > 1 else [tuple(conds)]
            for group in groups:
                rules.append(Rule(action, name, group, npath))

    # -- from rules and filters ------------------------------------------------------------

    @classmethod
    def from_rules(cls, default_action: Action | int,
                   rules: Iterable[Rule | RuleRecord | tuple[Any, ...]], *,
                   architectures: Iterable[Arch | str | int] = (),
                   flags: Iterable[str] = ()) -> Profile:
        """A profile that compiles to exactly these rules, in this order.

        ``rules`` holds Rule or Filter.rules records, or ``(action, syscall,
        comparisons)`` tuples.  Consecutive rules with the same action and
        comparisons share one entry.  Raises ProfileError for a rule a
        profile cannot express (two comparisons on one argument, which runc
        would turn into an OR; a syscall number without a name).
        """
        default = Action.coerce(default_action)
        d_name, d_errno = _action_fields(default)
        arch_names = []
        for a in architectures:
            token = _arch.coerce(a)
            arch_names.append(f"SCMP_ARCH_{token.name}")
        flag_list = list(flags)
        for i, flag in enumerate(flag_list):
            if flag not in FLAGS:
                raise ProfileError(f"flags[{i}]", f"unknown flag {flag!r}")
        entries: list[SyscallEntry] = []
        for n, rule in enumerate(rules):
            if isinstance(rule, (Rule, RuleRecord)):
                act, name, comps = rule.action, rule.syscall, tuple(rule.comparisons)
            else:
                act, name, comps = rule[0], rule[1], tuple(rule[2]) if len(rule) > 2 else ()
            act = Action.coerce(act)
            where = f"rules[{n}]"
            if not isinstance(name, str) or _resolve_name(_arch.native(), name) == _NR_ERROR:
                raise ProfileError(where, f"syscall {name!r} has no name a profile can hold")
            if len({c.index for c in comps}) < len(comps):
                raise ProfileError(where, "two comparisons on the same argument cannot be "
                                          "expressed (runc would make them separate rules)")
            a_name, a_errno = _action_fields(act)
            args = tuple(ArgSpec(c.index, c.a, _OP_NAMES[c.op], c.b) for c in comps)
            last = entries[-1] if entries else None
            if (last is not None and last.action == a_name and last.errno_ret == a_errno
                    and last.args == args):
                entries[-1] = dataclasses.replace(last, names=(*last.names, name))
            else:
                entries.append(SyscallEntry((name,), a_name, a_errno, args))
        return cls(default_action=d_name, default_errno_ret=d_errno,
                   architectures=tuple(arch_names), flags=tuple(flag_list),
                   syscalls=tuple(entries))

    @classmethod
    def from_filter(cls, filt: Filter) -> Profile:
        """A profile with the same decisions as ``filt``: its default action,
        arches, flag attributes (seccomp_attr_get(3)) and every rule added
        (Filter.rules).  Raises ProfileError for a rule a profile cannot hold.

        What a profile cannot hold is lost: syscall priorities, and
        BAD_ARCH_ACTION (a warning says so when it is not the default).
        """
        flags = []
        if filt.thread_sync:
            flags.append("SECCOMP_FILTER_FLAG_TSYNC")
        if filt.log:
            flags.append("SECCOMP_FILTER_FLAG_LOG")
        if filt.disable_ssb:
            flags.append("SECCOMP_FILTER_FLAG_SPEC_ALLOW")
        try:
            if filt.wait_kill:
                flags.append("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
        except UnsupportedError:
            pass
        if filt.bad_arch_action != Action.KILL_THREAD:
            warnings.warn(f"a profile cannot hold BAD_ARCH_ACTION={filt.bad_arch_action!r}",
                          ProfileWarning, stacklevel=2)
        native = _arch.native()
        arches = filt.arches
        ordered = ([native] if native in arches else []) + [a for a in arches if a != native]
        return cls.from_rules(filt.default_action, filt.rules, architectures=ordered,
                              flags=flags)


# -- helpers ---------------------------------------------------------------------------------


#: Where the shipped profiles live (package data).
BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")


def builtin_sources() -> dict[str, dict[str, str]]:
    """Provenance of the shipped profiles: name -> {file, project, commit, sha256, ...}."""
    with open(os.path.join(BUILTIN_DIR, "SOURCES.json"), encoding="utf-8") as fh:
        data: dict[str, dict[str, str]] = json.load(fh)
    return data


def builtin_names() -> tuple[str, ...]:
    """Names accepted by :meth:`Profile.builtin` (and ``--profile NAME`` on the command line)."""
    return tuple(sorted(builtin_sources()))


def builtin_path(name: str) -> str:
    """The path of a shipped profile.  Raises ProfileError for an unknown name."""
    sources = builtin_sources()
    entry = sources.get(name)
    if entry is None:
        raise ProfileError("", f"no built-in profile {name!r} (built-in: "
                               f"{', '.join(sorted(sources))})")
    return os.path.join(BUILTIN_DIR, entry["file"])


def _entry_names(entry: SyscallEntry) -> list[tuple[int, str, str]]:
    """(index in names, syscall, " (from @group)" or "") with groups expanded; a group
    member also named elsewhere in the entry is not repeated (plain names stay as given)."""
    if not any(n.startswith("@") for n in entry.names):
        return [(j, name, "") for j, name in enumerate(entry.names)]
    from .groups import Group

    out: list[tuple[int, str, str]] = []
    seen = {n for n in entry.names if not n.startswith("@")}
    for j, name in enumerate(entry.names):
        if not name.startswith("@"):
            out.append((j, name, ""))
            continue
        for m in Group[name].names():
            if m not in seen:
                seen.add(m)
                out.append((j, m, f" (from {name})"))
    return out


def _warn_unknown(unknown: list[Skipped], default: Action) -> None:
    """One warning for every skipped unknown name (a WeakenedPolicyWarning when
    some of them were in rules that refuse)."""
    if not unknown:
        return
    names = ", ".join(dict.fromkeys(s.name + _via(s) for s in unknown))
    weak = [s for s in unknown if s.weakens]
    if weak:
        which = ", ".join(f"{s.name} ({s.path})" for s in weak)
        warnings.warn(f"SKIPPED A RULE THAT REFUSES {len(weak)} syscalls libseccomp does not "
                      f"know, so the filter lets them through with the default action "
                      f"{action_text(default)}: {which}; all {len(unknown)} unknown names "
                      f"skipped: {names}", WeakenedPolicyWarning, stacklevel=4)
    else:
        warnings.warn(f"{len(unknown)} syscall names libseccomp does not know were skipped "
                      f"(as runc does): {names}", ProfileWarning, stacklevel=4)


def _via(skipped: Skipped) -> str:
    """" (from @group)" when the skipped name came from a syscall group."""
    at = skipped.detail.find(" (from @")
    return skipped.detail[at:] if at >= 0 else ""


_PERMISSIVENESS = {
    ActionKind.KILL_PROCESS: 0, ActionKind.KILL_THREAD: 0,
    ActionKind.TRAP: 1, ActionKind.ERRNO: 1,
    ActionKind.TRACE: 2, ActionKind.NOTIFY: 2,
    ActionKind.LOG: 3, ActionKind.ALLOW: 3,
}


def _refuses(action: Action, default: Action) -> bool:
    """Whether dropping a rule with ``action`` lets more through than it would."""
    return _PERMISSIVENESS[default.kind] > _PERMISSIVENESS[action.kind]


def _excluded(entry: SyscallEntry, short: str, caps: frozenset[str],
              kver: tuple[int, int]) -> str:
    """Why moby drops this entry, or "" when it stays."""
    exc, inc = entry.excludes, entry.includes
    if exc.arches and short in exc.arches:
        return f"excludes.arches has {short}"
    for c in exc.caps:
        if c in caps:
            return f"excludes.caps: the process has {c}"
    if exc.min_kernel is not None and kver >= parse_kernel(exc.min_kernel):
        return f"excludes.minKernel {exc.min_kernel}: the kernel is {kver[0]}.{kver[1]}"
    if inc.arches and short not in inc.arches:
        return f"includes.arches lacks {short}"
    for c in inc.caps:
        if c not in caps:
            return f"includes.caps: the process lacks {c}"
    if inc.min_kernel is not None and kver < parse_kernel(inc.min_kernel):
        return f"includes.minKernel {inc.min_kernel}: the kernel is {kver[0]}.{kver[1]}"
    return ""


def check_export(data: bytes, arch: Arch | str | int) -> bytes:
    """Check a program exported for ``arch``; return it unchanged.

    libseccomp 2.5 byte-swaps some shared ``ret`` instructions twice when it
    exports a filter for an arch of the other byte order (s390x on x86_64),
    giving return values the kernel does not know (it kills the process).
    Raises ProfileError when a ``ret`` returns an unknown action.
    """
    from . import bpf

    target = _arch.coerce(arch)
    for pc, ins in enumerate(bpf.parse(data)):
        if ins.cls == bpf.RET and ins.code & 0x18 == 0 and not bpf.is_action(ins.k):
            raise ProfileError("", f"libseccomp exported a corrupt program for "
                                   f"{target.libseccomp_name}: instruction {pc} returns "
                                   f"{ins.k:#010x}, not a seccomp action (a known libseccomp "
                                   f"bug when compiling for an arch of the other byte order)")
    return data


# -- module-level shortcuts -------------------------------------------------------------------


def load(source: str | os.PathLike[str] | IO[str] | IO[bytes], *,
         strict: bool = False) -> Profile:
    """:meth:`Profile.load`."""
    return Profile.load(source, strict=strict)


def loads(text: str | bytes, *, strict: bool = False) -> Profile:
    """:meth:`Profile.loads`."""
    return Profile.loads(text, strict=strict)


def from_dict(data: Mapping[str, Any], *, strict: bool = False) -> Profile:
    """:meth:`Profile.from_dict`."""
    return Profile.from_dict(data, strict=strict)


__all__ = [
    "ACTIONS",
    "CAPABILITIES",
    "CAP_SETS",
    "DEFAULT_CAPS",
    "DOCKER_ARCHES",
    "FLAGS",
    "MAX_PROFILE_BYTES",
    "MAX_PROFILE_DEPTH",
    "OPERATORS",
    "ArchMapEntry",
    "ArgSpec",
    "Compiled",
    "Conditions",
    "Profile",
    "ProfileError",
    "ProfileWarning",
    "Rule",
    "Skipped",
    "SyscallEntry",
    "WeakenedPolicyWarning",
    "action_text",
    "caps_from_mask",
    "check_export",
    "current_caps",
    "current_kernel",
    "docker_arch",
    "from_dict",
    "load",
    "loads",
    "normalize_caps",
    "parse_kernel",
    "resolve_caps",
    "target_arch",
]
