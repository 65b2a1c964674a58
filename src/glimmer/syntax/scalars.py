"""Scalar literals: reading a token's text into a value, and choosing how to write a value.

The reading side is shared by every grammar; the writing side guarantees that what it
writes reads back to the same value (``read(write(v)) == v``).
"""

from __future__ import annotations

import json
import math
import re
import textwrap

from glimmer.syntax.grammar import TERMINALS

__all__ = [
    "BARE_RE",
    "KEYWORDS",
    "KEY_RE",
    "SURROGATE_RE",
    "bare_kind",
    "read_number",
    "read_string",
    "read_triple",
    "write_key",
    "write_string",
    "write_triple",
]

# compiled from the grammar's own terminals (common.lark): one definition of each literal
IDENT_RE = re.compile(TERMINALS["IDENT"])
KEY_RE = IDENT_RE
COLOR_RE = re.compile(TERMINALS["COLOR"])
TIMESTAMP_RE = re.compile(TERMINALS["TIMESTAMP"])
VERSION_RE = re.compile(TERMINALS["VERSION"])
BARE_RE = re.compile(
    rf"(?P<ident>{IDENT_RE.pattern})|(?P<color>{COLOR_RE.pattern})"
    rf"|(?P<timestamp>{TIMESTAMP_RE.pattern})|(?P<version>{VERSION_RE.pattern})"
)
KEYWORDS = frozenset({"true", "false", "null"})


class LiteralError(ValueError):
    """A literal matched its token but has no value (a number out of range).

    Attributes:
        code: The error code to report (``G106`` unless another fits better).
        hint: How to fix it, when the default hint of the reader does not fit.
    """

    def __init__(self, message: str, *, code: str = "G106", hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


SURROGATE_RE = re.compile("[\ud800-\udfff]")
"""A UTF-16 surrogate: never a character of valid text on its own."""

SURROGATE_HINT = (
    "a \\uD800-\\uDFFF escape must be the first half of a pair followed by its second "
    "half (\\uD83D\\uDE00 is one emoji); write the character itself instead"
)


def read_string(raw: str) -> str:
    """Decode a double-quoted JSON string token; a lone surrogate raises :class:`LiteralError`."""
    if "\\" not in raw:
        return raw[1:-1]
    value: str = json.loads(raw)
    if "\\u" in raw and (m := SURROGATE_RE.search(value)):
        raise LiteralError(
            f"string holds a lone surrogate \\u{ord(m.group()):04x}",
            code="G112",
            hint=SURROGATE_HINT,
        )
    return value


def read_number(raw: str) -> int | float:
    """Decode a JSON number token; out-of-range numbers raise :class:`LiteralError`."""
    if "." in raw or "e" in raw or "E" in raw:
        value = float(raw)
        if not math.isfinite(value):
            raise LiteralError(f"number {raw[:40]} is too large to represent")
        return value
    try:
        return int(raw)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise LiteralError(f"integer with {len(raw)} digits is too long") from None


def read_triple(raw: str) -> str:
    """Decode a triple-quoted string token.

    Single-line content is taken as written. Multi-line content drops the newline right
    after the opening quotes and a last line holding only whitespace, then the common
    indentation is removed, so a block can sit at any depth of the document.
    """
    body = raw[3:-3]
    if "\n" not in body:
        return body
    body = body.replace("\r\n", "\n")
    if body.startswith("\n"):
        body = body[1:]
    cut = body.rfind("\n")
    if cut != -1 and not body[cut + 1 :].strip(" \t"):
        body = body[:cut]
    return textwrap.dedent(body)


_CONSTANTS: dict[str, bool | None] = {"TRUE": True, "FALSE": False, "NULL": None}


def read_token(kind: str, raw: str) -> bool | int | float | str | None:
    """The value of a scalar token of the shared terminals (``STRING``, ``NUMBER``, ...).

    Names, colours, timestamps and versions read as their text. Raises
    :class:`LiteralError` for a number out of range.
    """
    if kind == "STRING":
        return read_string(raw)
    if kind == "NUMBER":
        return read_number(raw)
    if kind == "TRIPLE_STRING":
        return read_triple(raw)
    if kind in _CONSTANTS:
        return _CONSTANTS[kind]
    return raw


def bare_kind(value: str) -> str | None:
    """The bare-literal kind *value* would be read as, or ``None`` if it needs quotes."""
    if value in KEYWORDS:
        return None
    m = BARE_RE.fullmatch(value)
    return m.lastgroup if m else None


def write_string(value: str) -> str:
    """A double-quoted JSON string (non-ASCII kept as is)."""
    return json.dumps(value, ensure_ascii=False)


def write_key(key: str, *, quote: bool = False) -> str:
    """A key, bare when it is a plain name and *quote* is false."""
    if not quote and key not in KEYWORDS and KEY_RE.fullmatch(key):
        return key
    return write_string(key)


def write_triple(value: str, indent: str) -> str | None:
    """*value* as a triple-quoted block indented under *indent*, or ``None`` if it would not
    read back to the same text (leading indentation, whitespace-only lines, ``\"\"\"``)."""
    if "\n" not in value or '"""' in value or "\r" in value:
        return None
    inner = indent + "  "
    lines = [inner + line if line else "" for line in value.split("\n")]
    text = '"""\n' + "\n".join(lines) + "\n" + inner + '"""'
    return text if read_triple(text) == value else None
