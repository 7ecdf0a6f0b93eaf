"""Bounded JSON decoding for untrusted input (profiles, OCI agent messages).

:func:`loads` checks the size and the nesting depth before it decodes, so deep or huge
input is one :class:`JsonLimitError` (a ValueError), never RecursionError.  See
docs/oci.md and docs/profiles.md.
"""

from __future__ import annotations

import json
import re

from .errors import JsonLimitError as JsonLimitError

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any

#: Default deepest nesting accepted (objects and arrays).
MAX_DEPTH = 64

# A JSON string (escapes included) or a bracket: strings are matched whole so
# that the brackets they contain are skipped.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in ``text`` (outside strings)."""
    level = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            level += 1
            if level > deepest:
                deepest = level
        elif token in ("]", "}"):
            level -= 1
    return deepest


def loads(data: str | bytes | bytearray, *, max_size: int, max_depth: int = MAX_DEPTH,
          what: str = "the document") -> Any:
    """Decode JSON ``data`` of at most ``max_size`` bytes and ``max_depth`` levels.

    Raises JsonLimitError (a ValueError) with a one-line message for a
    document that is too big, too deep, not UTF-8 or not JSON; never
    RecursionError.
    """
    if isinstance(data, (bytes, bytearray)):
        if len(data) > max_size:
            raise JsonLimitError(what, "size", f"is {len(data)} bytes; at most {max_size} "
                                               f"accepted")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonLimitError(what, "encoding",
                                 f"is not UTF-8: {exc.reason} at byte {exc.start}") from None
    elif isinstance(data, str):
        text = data
        if len(text) > max_size:
            raise JsonLimitError(what, "size", f"is {len(text)} characters; at most "
                                               f"{max_size} accepted")
    else:
        raise TypeError(f"JSON text must be str or bytes, not {type(data).__name__}")
    found = depth(text)
    if found > max_depth:
        raise JsonLimitError(what, "depth", f"nests {found} levels deep; at most {max_depth} "
                                            f"accepted")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonLimitError(what, "syntax", f"is not valid JSON: {exc.msg} at line "
                                             f"{exc.lineno} column {exc.colno}") from None
    except RecursionError:  # cannot happen below max_depth; never let it escape
        raise JsonLimitError(what, "depth", "nests too deep to decode") from None
