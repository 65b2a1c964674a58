"""Turn Lark's parse failures into :class:`GlimmerSyntaxError` in the user's terms.

Lark speaks of terminals (``RBRACE``, ``$END``); users think in characters and words. This
module names what was found and what was expected, draws a caret under the fault, and
recognises the usual slips (``=`` for ``:``, single quotes, an unclosed string, comment or
bracket) to say how to fix them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from glimmer.errors import GlimmerSyntaxError, Location, caret_context

__all__ = ["did_you_mean", "translate"]

_NAMES = {
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "_COLON": "':'",
    "COLON": "':'",
    "_COMMA": "','",
    "COMMA": "','",
    "STRING": "a string",
    "TRIPLE_STRING": 'a """text block"""',
    "NUMBER": "a number",
    "IDENT": "a name",
    "COLOR": "a colour",
    "TIMESTAMP": "a timestamp",
    "VERSION": "a version",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "$END": "the end of the text",
}
_VALUE_TERMINALS = frozenset(
    {
        "STRING",
        "TRIPLE_STRING",
        "NUMBER",
        "IDENT",
        "COLOR",
        "TIMESTAMP",
        "VERSION",
        "TRUE",
        "FALSE",
        "NULL",
    }
)
_KEY_TERMINALS = frozenset({"STRING", "IDENT"})
_CLOSER = {"LBRACE": "}", "LSQB": "]"}


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of *choices* to *word*, if any is close enough to suggest."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return matches[0] if matches else None


def describe_expected(expected: Iterable[str]) -> list[str]:
    """Name a set of Lark terminals in the user's terms, grouping values and keys."""
    names = set(expected)
    out: list[str] = []
    if _VALUE_TERMINALS - {"TRIPLE_STRING"} <= names:
        out.append("a value")
        names -= _VALUE_TERMINALS
        names -= {"LBRACE", "LSQB"}
    elif names >= _KEY_TERMINALS:
        out.append("a key")
        names -= _VALUE_TERMINALS
    for name in sorted(names, key=lambda n: (n.startswith("$"), _NAMES.get(n, n))):
        label = _NAMES.get(name)
        if label and label not in out:
            out.append(label)
    return out


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the text"
    value = str(tok.value)
    if len(value) > 30:
        value = value[:27] + "..."
    kind = _NAMES.get(tok.type, "")
    if kind.startswith("'"):
        return kind
    return f"{kind} {value!r}" if kind else repr(value)


def translate(
    exc: UnexpectedInput, text: str, source: str | None, open_brackets: Sequence[Token] = ()
) -> GlimmerSyntaxError:
    """Build the :class:`GlimmerSyntaxError` for a Lark failure on *text*."""
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_character(exc, text, source)
    if isinstance(exc, UnexpectedToken):
        return _unexpected_token(exc, text, source, open_brackets)
    line, column = exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1
    return GlimmerSyntaxError(
        "unexpected end of the text",
        location=Location(source, line, column),
        context=caret_context(text, line, column),
        code="G104",
    )


def _unexpected_character(
    exc: UnexpectedCharacters, text: str, source: str | None
) -> GlimmerSyntaxError:
    pos, line, column = exc.pos_in_stream or 0, exc.line or 1, exc.column or 1
    char = text[pos] if 0 <= pos < len(text) else ""
    expected = describe_expected(exc.allowed or ())
    context = caret_context(text, line, column)
    loc = Location(source, line, column)
    rest_of_line = text[pos : text.find("\n", pos) if "\n" in text[pos:] else len(text)]
    if char == '"' and pos >= 2 and text.startswith('"""', pos - 2):
        pos, column = pos - 2, column - 2  # the lexer read '""' as an empty string first
        loc, context = Location(source, line, column), caret_context(text, line, column)
    if text.startswith('"""', pos):
        return GlimmerSyntaxError(
            'unterminated """text block"""',
            location=loc,
            context=context,
            expected=expected,
            code="G102",
            hint='close the block with """ on a line of its own',
        )
    if char == '"':
        if rest_of_line.count('"') >= 2 and "\\" in rest_of_line:
            message, hint = (
                "invalid escape in string",
                'use \\" \\\\ \\n \\t \\uXXXX, or a """text block""" for raw text',
            )
        else:
            message, hint = (
                "unterminated string",
                'close it with " on the same line; use """ for text over several lines',
            )
        return GlimmerSyntaxError(
            message, location=loc, context=context, expected=expected, hint=hint, code="G102"
        )
    if text.startswith("/*", pos):
        return GlimmerSyntaxError(
            "unterminated /* comment",
            location=loc,
            context=context,
            hint="close it with */",
            code="G102",
        )
    if char == "'":
        return GlimmerSyntaxError(
            "strings use double quotes",
            location=loc,
            context=context,
            expected=expected,
            hint="write \"text\" instead of 'text'",
            code="G101",
        )
    if char == "=":
        return GlimmerSyntaxError(
            "'=' is not an assignment in GLIMMER",
            location=loc,
            context=context,
            expected=expected,
            hint="separate a key from its value with ':' (key: value)",
            code="G101",
        )
    if char.isdigit() or char in "-#":
        return GlimmerSyntaxError(
            f"malformed literal starting {rest_of_line[:20]!r}",
            location=loc,
            context=context,
            expected=expected,
            code="G106",
            hint="numbers are JSON numbers; colours are #RGB or #RRGGBB; timestamps 2025-08-01T14:15:00Z; "
            "versions 1.2.3; quote anything else",
        )
    shown = repr(char) if char else "end of text"
    message = f"unexpected character {shown}"
    if expected:
        message += f"; expected {_join(expected)}"
    return GlimmerSyntaxError(
        message, location=loc, context=context, expected=expected, code="G101"
    )


def _unexpected_token(
    exc: UnexpectedToken, text: str, source: str | None, open_brackets: Sequence[Token]
) -> GlimmerSyntaxError:
    tok = exc.token
    expected = describe_expected(exc.expected or ())
    hint: str | None = None
    if tok.type == "$END":
        line, column = _end_position(text)
        message = "unexpected end of the text"
        if open_brackets:
            opener = open_brackets[-1]
            closer = _CLOSER.get(opener.type, "}")
            message = f"'{opener.value}' opened at line {opener.line}, column {opener.column} is never closed"
            hint = f"add '{closer}' to close it"
        elif expected:
            message += f"; expected {_join(expected)}"
        return GlimmerSyntaxError(
            message,
            location=Location(source, line, column),
            context=caret_context(text, line, column),
            expected=expected,
            hint=hint,
            code="G104",
        )
    line, column = tok.line or 1, tok.column or 1
    found = _describe_token(tok)
    allowed = set(exc.expected or ())
    if "_COLON" in allowed and "LBRACE" in allowed:
        message = f"expected ':' after the key, found {found}"
        hint = "write key: value, or key { ... } for a section"
    elif tok.type in {"RBRACE", "RSQB"}:
        message = f"unexpected {found}"
        if expected:
            message += f"; expected {_join(expected)}"
        hint = (
            "there is a closing bracket without a matching opening one"
            if not open_brackets
            else None
        )
    else:
        message = f"unexpected {found}"
        if expected:
            message += f"; expected {_join(expected)}"
    return GlimmerSyntaxError(
        message,
        location=Location(source, line, column, tok.end_line, tok.end_column),
        context=caret_context(text, line, column, tok.end_column),
        expected=expected,
        hint=hint,
        code="G103",
    )


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    if not stripped:
        return 1, 1
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, column
