"""Shell completion (bash, zsh, fish) and the man page of ``seccomp-py``, generated
from its argparse parser: ``seccomp-py completion bash|zsh|fish`` and
``seccomp-py manpage`` print them.  The copies installed with the wheel
(share/bash-completion, share/zsh, share/fish, share/man/man1) are these outputs,
committed under share/ and kept equal by tests/test_shell.py
(``scripts/gen-shell-files.py`` rewrites them).  See docs/cli.md.
"""

from __future__ import annotations

import argparse
import re

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any

PROG = "seccomp-py"
SHELLS = ("bash", "zsh", "fish")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sub_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._get_subactions()}
    return {}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings]


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _wants_file(action: argparse.Action) -> bool:
    meta = str(action.metavar or action.dest).upper()
    return any(k in meta for k in ("FILE", "PROFILE", "PATH", "JSON", "OUT", "BPF"))


def _plain(text: str | None) -> str:
    """Help text on one line, without characters the shells' syntax would trip on."""
    text = re.sub(r"\s+", " ", (text or "").replace("%%", "%")).strip()
    return re.sub(r"[\[\]:'\"`$\\]", "", text)


# -- bash -----------------------------------------------------------------------------------


def bash(parser: argparse.ArgumentParser) -> str:
    """A bash completion script (for share/bash-completion/completions/seccomp-py)."""
    subs = _subparsers(parser)
    top = " ".join([*subs, *(o for a in _options(parser) for o in a.option_strings)])
    lines = [
        f"# bash completion for {PROG} (generated from its argparse parser; do not edit)",
        "_seccomp_py() {",
        "    local cur prev cmd i",
        "    cur=${COMP_WORDS[COMP_CWORD]}",
        "    prev=${COMP_WORDS[COMP_CWORD-1]}",
        "    cmd=",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case ${COMP_WORDS[i]} in",
        "            -*) ;;",
        "            *) cmd=${COMP_WORDS[i]}; break ;;",
        "        esac",
        "    done",
        "    if [[ -z $cmd ]]; then",
        f"        COMPREPLY=($(compgen -W '{top}' -- \"$cur\"))",
        "        return",
        "    fi",
        "    case $cmd in",
    ]
    for name, sp in subs.items():
        opts = _options(sp)
        words = " ".join(o for a in opts for o in a.option_strings)
        lines.append(f"        {name})")
        lines.append("            case $prev in")
        for a in opts:
            if not _takes_value(a):
                continue
            pattern = "|".join(a.option_strings)
            if a.choices:
                values = " ".join(str(c) for c in a.choices)
                lines.append(f"                {pattern}) COMPREPLY=($(compgen -W '{values}' "
                             "-- \"$cur\")); return ;;")
            elif a.dest == "profile":
                lines.append(f"                {pattern}) COMPREPLY=($(compgen -f -W "
                             "'docker podman' -- \"$cur\")); return ;;")
            elif a.dest == "caps":
                lines.append(f"                {pattern}) COMPREPLY=($(compgen -W "
                             "'docker podman all none' -- \"$cur\")); return ;;")
            elif _wants_file(a):
                lines.append(f"                {pattern}) COMPREPLY=($(compgen -f -- "
                             "\"$cur\")); return ;;")
            else:
                lines.append(f"                {pattern}) return ;;")
        lines.append("            esac")
        positional = _positionals(sp)
        extra = " docker podman" if any(p.dest == "profile" for p in positional) else ""
        if name == "completion":
            extra = " " + " ".join(SHELLS)
        lines.append("            if [[ $cur == -* ]]; then")
        lines.append(f"                COMPREPLY=($(compgen -W '{words}' -- \"$cur\"))")
        lines.append("            else")
        if any(p.dest == "cmd" for p in positional):
            lines.append("                COMPREPLY=($(compgen -c -- \"$cur\"))")
        elif name == "completion":
            lines.append(f"                COMPREPLY=($(compgen -W '{extra.strip()}' -- "
                         "\"$cur\"))")
        else:
            lines.append(f"                COMPREPLY=($(compgen -f -W '{extra.strip()}' -- "
                         "\"$cur\"))")
        lines.append("            fi")
        lines.append("            ;;")
    lines += ["    esac", "}", f"complete -F _seccomp_py {PROG}", ""]
    return "\n".join(lines)


# -- zsh ------------------------------------------------------------------------------------


def _zsh_spec(a: argparse.Action) -> list[str]:
    desc = _plain(a.help)
    if _takes_value(a):
        meta = _plain(str(a.metavar or a.dest)) or "value"
        if a.choices:
            action = "(" + " ".join(str(c) for c in a.choices) + ")"
        elif a.dest == "profile":
            action = "_files"
        elif a.dest == "caps":
            action = "(docker podman all none)"
        elif _wants_file(a):
            action = "_files"
        else:
            action = " "
        tail = f":{meta}:{action}"
    else:
        tail = ""
    return [f"'{opt}[{desc}]{tail}'" for opt in a.option_strings]


def zsh(parser: argparse.ArgumentParser) -> str:
    """A zsh completion function (for share/zsh/site-functions/_seccomp-py)."""
    subs = _subparsers(parser)
    helps = _sub_help(parser)
    lines = [f"#compdef {PROG}",
             f"# zsh completion for {PROG} (generated from its argparse parser; do not edit)",
             "",
             "_seccomp_py() {",
             "    local -a commands",
             "    commands=("]
    lines += [f"        '{name}:{_plain(helps.get(name))}'" for name in subs]
    lines += ["    )",
              "    if (( CURRENT == 2 )); then",
              "        _describe -t commands command commands",
              "        return",
              "    fi",
              "    local cmd=$words[2]",
              "    shift words",
              "    (( CURRENT-- ))",
              "    case $cmd in"]
    for name, sp in subs.items():
        specs = [spec for a in _options(sp) for spec in _zsh_spec(a)]
        positional = _positionals(sp)
        if any(p.dest == "cmd" for p in positional):
            specs.append("'*::command:_normal'")
        elif name == "completion":
            specs.append("'1:shell:(" + " ".join(SHELLS) + ")'")
        elif positional:
            specs.append("'*:file:_files'")
        lines.append(f"        {name})")
        lines.append("            _arguments -s \\")
        lines += [f"                {spec} \\" for spec in specs]
        lines.append("                && return 0")
        lines.append("            ;;")
    lines += ["    esac", "}", "", '_seccomp_py "$@"', ""]
    return "\n".join(lines)


# -- fish -----------------------------------------------------------------------------------


def fish(parser: argparse.ArgumentParser) -> str:
    """A fish completion file (for share/fish/vendor_completions.d/seccomp-py.fish)."""
    subs = _subparsers(parser)
    helps = _sub_help(parser)
    names = " ".join(subs)
    lines = [f"# fish completion for {PROG} (generated from its argparse parser; do not edit)",
             f"complete -c {PROG} -f",
             f"complete -c {PROG} -n '__fish_use_subcommand' -l version -d 'print the version'"]
    for name in subs:
        lines.append(f"complete -c {PROG} -n '__fish_use_subcommand' -a {name} "
                     f"-d '{_plain(helps.get(name))}'")
    for name, sp in subs.items():
        cond = f"'__fish_seen_subcommand_from {name}'"
        for a in _options(sp):
            parts = [f"complete -c {PROG} -n {cond}"]
            for opt in a.option_strings:
                if opt.startswith("--"):
                    parts.append(f"-l {opt[2:]}")
                elif len(opt) == 2:
                    parts.append(f"-s {opt[1]}")
            if _takes_value(a):
                parts.append("-r")
                if a.choices:
                    parts.append("-a '" + " ".join(str(c) for c in a.choices) + "'")
                elif a.dest == "caps":
                    parts.append("-a 'docker podman all none'")
                elif a.dest == "profile":
                    parts.append("-F -a 'docker podman'")
                elif _wants_file(a):
                    parts.append("-F")
            parts.append(f"-d '{_plain(a.help)}'")
            lines.append(" ".join(parts))
        positional = _positionals(sp)
        if name == "completion":
            lines.append(f"complete -c {PROG} -n {cond} -a '{' '.join(SHELLS)}'")
        elif any(p.dest == "cmd" for p in positional):
            lines.append(f"complete -c {PROG} -n {cond} -a '(__fish_complete_subcommand)'")
        elif any(p.dest == "profile" for p in positional):
            lines.append(f"complete -c {PROG} -n {cond} -F -a 'docker podman'")
        elif positional:
            lines.append(f"complete -c {PROG} -n {cond} -F")
    lines.append(f"# subcommands: {names}")
    lines.append("")
    return "\n".join(lines)


# -- man page -------------------------------------------------------------------------------


def _roff(text: str | None) -> str:
    text = re.sub(r"\s+", " ", (text or "").replace("%%", "%")).strip()
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text[:1] in (".", "'"):
        text = "\\&" + text
    return text


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().strip()
    return re.sub(r"^usage:\s*", "", usage)


def manpage(parser: argparse.ArgumentParser, version: str) -> str:
    """The seccomp-py(1) man page in roff (for share/man/man1/seccomp-py.1)."""
    subs = _subparsers(parser)
    helps = _sub_help(parser)
    out = [f'.TH SECCOMP\\-PY 1 "" "seccomp_py {version}" "User Commands"',
           ".\\\" generated from the argparse parser of seccomp-py; do not edit",
           ".SH NAME",
           "seccomp\\-py \\- " + _roff(parser.description),
           ".SH SYNOPSIS",
           ".B seccomp\\-py",
           "[\\-\\-version] [\\-h]",
           ".I COMMAND",
           "[options]",
           ".SH DESCRIPTION",
           _roff(parser.description),
           "Every command has \\fB\\-\\-help\\fR.",
           ".SH COMMANDS"]
    for name, sp in subs.items():
        out.append(".SS " + _roff(name) + " \\- " + _roff(helps.get(name)))
        out.append(".nf")
        out.append(_roff(_usage(sp)))
        out.append(".fi")
        out.append(".PP")
        out.append(_roff(sp.description))
        for a in _positionals(sp):
            out.append(".TP")
            out.append(".I " + _roff(str(a.metavar or a.dest)))
            out.append(_roff(a.help or ""))
        for a in _options(sp):
            if isinstance(a, argparse._HelpAction):
                continue
            out.append(".TP")
            flags = ", ".join(f"\\fB{_roff(o)}\\fR" for o in a.option_strings)
            if _takes_value(a):
                meta = a.metavar or (("{" + ",".join(map(str, a.choices)) + "}")
                                     if a.choices else a.dest.upper())
                flags += " \\fI" + _roff(str(meta)) + "\\fR"
            out.append(flags)
            out.append(_roff(a.help or ""))
    out += [".SH EXIT STATUS",
            "0 on success; 1 on an error (one line on stderr) or when \\fBcheck\\fR finds a "
            "problem; 2 on bad usage; for \\fBrun\\fR and \\fBlearn\\fR the command's own "
            "status, 128+N when signal N killed it, 126 when it cannot be executed, 127 when "
            "it is not found.",
            ".SH FILES",
            "The built\\-in profiles \\fBdocker\\fR and \\fBpodman\\fR ship inside the package "
            "(\\fBseccomp\\-py profiles \\-v\\fR shows where and where they come from).",
            ".SH SEE ALSO",
            "\\fBseccomp\\fR(2), \\fBseccomp_init\\fR(3), \\fBseccomp_rule_add\\fR(3), "
            "\\fBseccomp_unotify\\fR(2), \\fBcapabilities\\fR(7); " + _roff(_docs_url()),
            ""]
    return "\n".join(out)


def _docs_url() -> str:
    return ("the documentation: docs/cli.md and docs/profiles.md in the source "
            "distribution of seccomp_py")


def generate(kind: str, parser: argparse.ArgumentParser) -> str:
    """``bash``, ``zsh``, ``fish`` or ``man``: the text, from ``parser`` (the
    whole command's: :func:`seccomp_py.cli.build_parser`)."""
    from . import __version__

    if kind == "man":
        return manpage(parser, __version__)
    return {"bash": bash, "zsh": zsh, "fish": fish}[kind](parser)


#: Where each file goes, under the installation prefix (the wheel's data files).
INSTALL_PATHS = {
    "bash": "share/bash-completion/completions/seccomp-py",
    "zsh": "share/zsh/site-functions/_seccomp-py",
    "fish": "share/fish/vendor_completions.d/seccomp-py.fish",
    "man": "share/man/man1/seccomp-py.1",
}


def cmd_completion(args: argparse.Namespace) -> int:
    import sys

    sys.stdout.write(generate(args.shell, args.root_parser))
    return 0


def cmd_manpage(args: argparse.Namespace) -> int:
    import sys

    sys.stdout.write(generate("man", args.root_parser))
    return 0


def register(sub: Any, root: argparse.ArgumentParser) -> None:
    """Add ``completion`` and ``manpage`` to the subparsers ``sub`` of ``root``, the
    ``seccomp-py`` parser they describe."""
    p = sub.add_parser("completion", help="print the shell completion script",
                       description="Print the completion script for bash, zsh or fish "
                                   "(the wheel installs them too), e.g. "
                                   "'source <(seccomp-py completion bash)'.")
    p.add_argument("shell", choices=SHELLS, help="bash, zsh or fish")
    p.set_defaults(func=cmd_completion, root_parser=root)
    p = sub.add_parser("manpage", help="print the man page (roff)",
                       description="Print the seccomp-py(1) man page in roff, e.g. "
                                   "'seccomp-py manpage | man -l -'.")
    p.set_defaults(func=cmd_manpage, root_parser=root)
