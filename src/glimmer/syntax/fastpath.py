"""A fast reader for well-formed GLIMMER DSL text, straight to plain data.

The grammar in ``glimmer.lark`` is the definition of the notation; this module is an
optimisation of :func:`glimmer.syntax.parser.parse_data` for the common case of text that is
correct. It splits the text into tokens with one compiled regular expression (in C) and walks
them with a small loop. On anything unusual (an error, a duplicate key, a number out of range,
deep nesting) it gives up and returns ``None``; the caller then parses with the grammar, which
either gives the same data or raises the precise :class:`GlimmerSyntaxError`.

The property tests hold the two readers to the same answer on generated and mangled text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from glimmer.syntax import scalars
from glimmer.syntax.grammar import TERMINALS

__all__ = ["read"]

_MAX_DEPTH = 190  # below the grammar's limit: deeper text goes to the grammar's reader

_T = TERMINALS
_TOKENS = (
    r"("
    + _T["IDENT"]
    + r"|[{}\[\]:,]"
    + "|"
    + _T["TRIPLE_STRING"]
    + "|"
    + _T["STRING"]
    + "|"
    + _T["TIMESTAMP"]
    + "|"
    + _T["VERSION"]
    + "|"
    + _T["NUMBER"]
    + "|"
    + _T["COLOR"]
    + r'|"'  # an unterminated string
    # An unterminated comment: one token to the end of the text, so that the comment
    # pattern above fails (scanning to the end) once, not once per later '/*': linear time.
    + r"|/\*[\s\S]*+"
    + r'|[^ \t\r\n\ufeff{}\[\]:,"]++'  # anything else: never valid, sends the text to the grammar
    + r"|\Z)"
)
# Text without comments (what glimmer writes) skips only whitespace between tokens.
_TOKEN = re.compile(r"[ \t\r\n\ufeff]*+" + _TOKENS).findall
_TOKEN_WITH_COMMENTS = re.compile(
    r"(?:[ \t\r\n\ufeff]++|//[^\n]*+|/\*[\s\S]*?\*/)*+" + _TOKENS
).findall

_NUMBER = re.compile(_T["NUMBER"]).fullmatch
_LITERAL = re.compile(f"{_T['TIMESTAMP']}|{_T['VERSION']}|{_T['COLOR']}").fullmatch
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("-0123456789")
_KEYWORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


class _GiveUp(Exception):
    pass


def read(text: str, /) -> dict[str, Any] | None:
    """The data of *text*, or ``None`` when the grammar's reader must decide."""
    toks: list[str] = _TOKEN_WITH_COMMENTS(text) if "/" in text else _TOKEN(text)
    try:
        if toks[0] == "{":
            data, i = _members(toks, 1, "}", 1)
        elif toks[0] == "":
            return None
        else:
            data, i = _members(toks, 0, "", 0)
            i -= 1  # the end marker closed the bare top level
        # the end marker, twice when whitespace or a comment ends the text
        if any(toks[i:]) or len(toks) - i > 2:
            return None
        return data
    except (_GiveUp, IndexError, ValueError, scalars.LiteralError):
        return None


def _scalar(t: str) -> Any:
    """The value of a scalar token; raises _GiveUp for anything that is not one."""
    c = t[:1]
    if c == '"':
        if t[1:2] == '"' and len(t) > 2:  # '""' is the empty string, '"""...' a text block
            return scalars.read_triple(t)
        if len(t) < 2:
            raise _GiveUp
        return t[1:-1] if "\\" not in t else json.loads(t)
    if c in _NAME_START:
        return _KEYWORDS.get(t, t)
    if c in _NUMBER_START and _NUMBER(t):
        return scalars.read_number(t)
    if _LITERAL(t):
        return t
    raise _GiveUp


def _members(toks: list[str], i: int, closer: str, depth: int) -> tuple[dict[str, Any], int]:
    if depth > _MAX_DEPTH:
        raise _GiveUp
    out: dict[str, Any] = {}
    while True:
        t = toks[i]
        if t == closer:
            if not out and closer == "":
                raise _GiveUp  # an empty document
            return out, i + 1
        c = t[:1]
        if c in _NAME_START:
            key = t
        elif c == '"' and t[1:2] != '"' and len(t) > 1:
            key = t[1:-1] if "\\" not in t else json.loads(t)
        elif t == '""':
            key = ""
        else:
            raise _GiveUp
        if key in out:
            raise _GiveUp
        t = toks[i + 1]
        if t == ":":
            t = toks[i + 2]
            if t == "{":
                out[key], i = _members(toks, i + 3, "}", depth + 1)
            elif t == "[":
                out[key], i = _items(toks, i + 3, depth + 1)
            else:
                out[key] = _scalar(t)
                i += 3
        elif t == "{":
            out[key], i = _members(toks, i + 2, "}", depth + 1)
        elif t == "[":
            out[key], i = _items(toks, i + 2, depth + 1)
        else:
            raise _GiveUp
        if toks[i] == ",":
            i += 1


def _items(toks: list[str], i: int, depth: int) -> tuple[list[Any], int]:
    if depth > _MAX_DEPTH:
        raise _GiveUp
    out: list[Any] = []
    append = out.append
    while True:
        t = toks[i]
        if t == "]":
            return out, i + 1
        if t == "{":
            obj, i = _members(toks, i + 1, "}", depth + 1)
            append(obj)
        elif t == "[":
            arr, i = _items(toks, i + 1, depth + 1)
            append(arr)
        else:
            append(_scalar(t))
            i += 1
        if toks[i] == ",":
            i += 1
