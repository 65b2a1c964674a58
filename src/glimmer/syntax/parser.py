"""Parse GLIMMER DSL text (a superset of JSON) into a :class:`Document` or plain data.

The grammar lives in ``glimmer.lark``; the LALR parsers are built once per process and
cached. Two transformers run inline while parsing: one builds the :class:`Document` tree
with spans and comments (for formatting and for locating errors), one builds plain Python
data directly (the fast path behind :func:`glimmer.loads`).

Limits, so that no input can exhaust memory or recursion: a text may hold at most
:data:`MAX_TEXT_SIZE` characters and nest objects and arrays at most :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedInput

from glimmer.errors import GlimmerSyntaxError, Location, caret_context
from glimmer.syntax import fastpath, scalars
from glimmer.syntax.diagnostics import translate
from glimmer.syntax.grammar import lalr
from glimmer.syntax.nodes import (
    Array,
    Comment,
    Document,
    Item,
    Member,
    Node,
    Object,
    Scalar,
    ScalarKind,
    Span,
    join_spans,
    token_span,
)

__all__ = ["MAX_DEPTH", "MAX_TEXT_SIZE", "check_text", "parse", "parse_data", "too_deep"]

MAX_TEXT_SIZE = 16 * 1024 * 1024
"""Largest text accepted, in characters (16 MiB)."""

MAX_DEPTH = 200
"""Deepest nesting of objects and arrays accepted."""

_KIND: dict[str, ScalarKind] = {
    "STRING": "string",
    "TRIPLE_STRING": "triple",
    "NUMBER": "number",
    "IDENT": "ident",
    "COLOR": "color",
    "TIMESTAMP": "timestamp",
    "VERSION": "version",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
}


class _State(threading.local):
    """Per-parse state the lexer callbacks write to (the Lark object is shared)."""

    def __init__(self) -> None:
        self.comments: list[Token] = []
        self.open: list[Token] = []
        self.collect_comments = False


_state = _State()


def _on_comment(tok: Token) -> Token:
    if _state.collect_comments:
        _state.comments.append(tok)
    return tok


class NestingError(Exception):
    """Raised by the bracket callbacks when nesting passes :data:`MAX_DEPTH`."""

    def __init__(self, tok: Token) -> None:
        self.token = tok

    def error(self, text: str, source: str | None, *, hint: str) -> GlimmerSyntaxError:
        """The user's error: where the nesting passed the limit (G107)."""
        tok = self.token
        return GlimmerSyntaxError(
            f"nesting deeper than {MAX_DEPTH} levels",
            location=Location(source, tok.line, tok.column),
            context=caret_context(text, tok.line or 1, tok.column or 1),
            hint=hint,
            code="G107",
        )


def bracket_callbacks(state: Any) -> dict[str, Callable[[Token], Token]]:
    """Lexer callbacks that keep the open ``{``/``[`` tokens on ``state.open``.

    They bound the nesting depth while lexing (before any recursion) and let an error at the
    end of the text name the bracket that was never closed. Both grammars use them.
    """

    def on_open(tok: Token) -> Token:
        state.open.append(tok)
        if len(state.open) > MAX_DEPTH:
            raise NestingError(tok)
        return tok

    def on_close(tok: Token) -> Token:
        if state.open:
            state.open.pop()
        return tok

    return {"LBRACE": on_open, "LSQB": on_open, "RBRACE": on_close, "RSQB": on_close}


_CALLBACKS: dict[str, Callable[[Token], Token]] = {
    "LINE_COMMENT": _on_comment,
    "BLOCK_COMMENT": _on_comment,
    **bracket_callbacks(_state),
}


class _LiteralFault(Exception):
    def __init__(self, tok: Token, error: scalars.LiteralError) -> None:
        self.token = tok
        self.message = str(error)
        self.code = error.code
        self.hint = error.hint


class _DuplicateKey(Exception):
    def __init__(self, tok: Token, first: Token | None) -> None:
        self.token = tok
        self.first = first


def _scalar_value(tok: Token) -> Any:
    try:
        return scalars.read_token(tok.type, str(tok.value))
    except scalars.LiteralError as exc:
        raise _LiteralFault(tok, exc) from None


def _key(tok: Token) -> str:
    if tok.type != "STRING":
        return str(tok.value)
    try:
        return scalars.read_string(tok.value)
    except scalars.LiteralError as exc:
        raise _LiteralFault(tok, exc) from None


class _DataBuilder(Transformer[Token, Any]):
    """Builds plain dicts, lists and scalars while parsing (no spans)."""

    def braced_root(self, children: list[Any]) -> Any:
        return children[0]

    def bare_root(self, children: list[tuple[Token, Any]]) -> dict[str, Any]:
        return self._members(children)

    def object(self, children: list[Any]) -> dict[str, Any]:
        return self._members(children[1:-1])

    def _members(self, pairs: list[tuple[Token, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for tok, value in pairs:
            key = _key(tok)
            if key in out:
                first = next(t for t, _ in pairs if _key(t) == key)
                raise _DuplicateKey(tok, first)
            out[key] = value
        return out

    def array(self, children: list[Any]) -> list[Any]:
        return [_scalar_value(c) if isinstance(c, Token) else c for c in children[1:-1]]

    def pair(self, children: list[Any]) -> tuple[Token, Any]:
        value = children[1]
        return children[0], _scalar_value(value) if isinstance(value, Token) else value

    def block(self, children: list[Any]) -> tuple[Token, Any]:
        return children[0], children[1]


class _TreeBuilder(Transformer[Token, Any]):
    """Builds the :class:`Document` tree with spans while parsing."""

    def braced_root(self, children: list[Object]) -> tuple[bool, Object]:
        return True, children[0]

    def bare_root(self, children: list[Member]) -> tuple[bool, Object]:
        _check_duplicates(children)
        span = join_spans(children[0].span, children[-1].span) if children else Span()
        return False, Object(children, span)

    def object(self, children: list[Any]) -> Object:
        members: list[Member] = children[1:-1]
        _check_duplicates(members)
        return Object(members, join_spans(token_span(children[0]), token_span(children[-1])))

    def array(self, children: list[Any]) -> Array:
        items = [Item(_node(c)) for c in children[1:-1]]
        return Array(items, join_spans(token_span(children[0]), token_span(children[-1])))

    def pair(self, children: list[Any]) -> Member:
        tok = children[0]
        return Member(_key(tok), _node(children[1]), token_span(tok), tok.type == "STRING")

    def block(self, children: list[Any]) -> Member:
        tok = children[0]
        return Member(_key(tok), children[1], token_span(tok), tok.type == "STRING", block=True)


def _node(value: Any) -> Node:
    if isinstance(value, Token):
        return Scalar(_scalar_value(value), _KIND[value.type], value.value, token_span(value))
    node: Node = value
    return node


def _check_duplicates(members: list[Member]) -> None:
    seen: dict[str, Member] = {}
    for m in members:
        if m.key in seen:
            raise _DuplicateKey(_fake_token(m), _fake_token(seen[m.key]))
        seen[m.key] = m


def _fake_token(m: Member) -> Token:
    s = m.key_span
    return Token("KEY", m.key, s.start, s.line, s.column, s.end_line, s.end_column, s.end)


@cache
def _parser(kind: str) -> Lark:
    transformer = _TreeBuilder() if kind == "tree" else _DataBuilder()
    return lalr("glimmer.lark", transformer=transformer, callbacks=_CALLBACKS)


def check_text(text: str, /, *, source: str | None = None) -> None:
    """The checks every reader (DSL, JSON, weave) makes before any other work.

    Raises:
        TypeError: *text* is not a ``str``.
        GlimmerSyntaxError: It is longer than :data:`MAX_TEXT_SIZE` (G108), or holds a lone
            surrogate character (G112), which no UTF-8 file can hold.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"expected str, got {type(text).__name__}; decode bytes with .decode('utf-8') first"
        )
    if len(text) > MAX_TEXT_SIZE:
        raise GlimmerSyntaxError(
            f"text is {len(text):,} characters; the limit is {MAX_TEXT_SIZE:,}",
            location=Location(source, 1, 1),
            hint="split the pattern into several files",
            code="G108",
        )
    if not text.isascii() and (m := scalars.SURROGATE_RE.search(text)):
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        raise GlimmerSyntaxError(
            f"the text holds a lone surrogate U+{ord(m.group()):04X}",
            location=Location(source, line, column),
            context=caret_context(text, line, column),
            hint="decode the text with errors='strict' from UTF-8; surrogates are not characters",
            code="G112",
        )


def _prepare(text: str, source: str | None) -> str:
    check_text(text, source=source)
    return text[1:] if text.startswith("\ufeff") else text


def _run(kind: str, text: str, source: str | None, comments: bool) -> Any:
    _state.comments = []
    _state.open = []
    _state.collect_comments = comments
    try:
        return _parser(kind).parse(text)
    except NestingError as exc:
        hint = "flatten the structure; GLIMMER patterns rarely nest more than a few levels"
        raise exc.error(text, source, hint=hint) from None
    except _LiteralFault as exc:
        tok = exc.token
        raise GlimmerSyntaxError(
            exc.message,
            location=Location(source, tok.line, tok.column, tok.end_line, tok.end_column),
            context=caret_context(text, tok.line or 1, tok.column or 1, tok.end_column),
            hint=exc.hint or "write it as a string in double quotes if the digits matter",
            code=exc.code,
        ) from None
    except _DuplicateKey as exc:
        tok, first = exc.token, exc.first
        where = f" (first defined at line {first.line})" if first is not None else ""
        raise GlimmerSyntaxError(
            f"duplicate key {_key(tok)!r}{where}",
            location=Location(source, tok.line, tok.column, tok.end_line, tok.end_column),
            context=caret_context(text, tok.line or 1, tok.column or 1, tok.end_column),
            hint="each key may appear once per object; merge the two or rename one",
            code="G105",
        ) from None
    except UnexpectedInput as exc:
        raise translate(exc, text, source, list(_state.open)) from None
    except LarkError as exc:  # pragma: no cover - any other lark failure is still a syntax error
        raise GlimmerSyntaxError(str(exc), location=Location(source), code="G100") from None
    finally:
        _state.open = []


def parse(text: str, /, *, source: str | None = None) -> Document:
    """Parse GLIMMER DSL (or JSON) text into a :class:`Document` with spans and comments.

    Args:
        text: The source text.
        source: File name or label used in error messages.

    Returns:
        The document tree, comments attached to the members and items they annotate.

    Raises:
        GlimmerSyntaxError: The text is not GLIMMER notation.

    Examples:
        >>> doc = parse('story: "a seed" // why')
        >>> doc.root.members[0].trailing.text
        '// why'
    """
    text = _prepare(text, source)
    braced, root = _run("tree", text, source, comments=True)
    doc = Document(root=root, braced=braced, source=source, text=text)
    _attach_comments(doc, [Comment(t.value, token_span(t)) for t in _state.comments], text)
    _state.comments = []
    return doc


def parse_data(text: str, /, *, source: str | None = None) -> dict[str, Any]:
    """Parse GLIMMER DSL (or JSON) text straight into plain Python data.

    Faster than :func:`parse` (no tree, no comments): plain JSON goes through the standard
    library's C decoder, well-formed DSL through :mod:`glimmer.syntax.fastpath`; anything else
    through the grammar, which reports errors precisely.

    Raises:
        GlimmerSyntaxError: The text is not GLIMMER notation.
    """
    text = _prepare(text, source)
    data = None
    # a surrogate escape may stand alone: only the grammar's reader checks and locates it
    if not _SURROGATE_ESCAPE(text):
        data = _json_fast_path(text) if text.lstrip()[:1] == "{" else None
        if data is None:
            data = fastpath.read(text)
    if data is None:  # an error, or something unusual: the grammar decides
        data = _run("data", text, source, comments=False)
    result: dict[str, Any] = data
    return result


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]").search


class _NotStrictJson(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _NotStrictJson  # duplicate keys: let the grammar report where
    return out


def _reject_constant(name: str) -> Any:
    raise _NotStrictJson  # NaN / Infinity are not GLIMMER


def _json_fast_path(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except (ValueError, _NotStrictJson, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    # fewer brackets than the depth limit cannot nest past it; only count when there are more
    if text.count("{") + text.count("[") > MAX_DEPTH and too_deep(data):
        return None
    return data


def too_deep(data: Any, /) -> bool:
    """Whether decoded JSON *data* nests objects and arrays deeper than :data:`MAX_DEPTH`
    (walked without recursion, so any depth is safe to ask about)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


# -- comment attachment -------------------------------------------------------------------


def _attach_comments(doc: Document, comments: list[Comment], text: str) -> None:
    """Hang each comment on the member or item it annotates.

    A comment on the same line as the end of an entry trails it; any other comment leads
    the next entry of the innermost container; a comment after the last entry dangles at
    the end of its container. Blank lines before entries are recorded too.
    """
    root = doc.root
    if doc.braced:
        doc.header = [c for c in comments if c.span.start < root.span.start]
        doc.footer = [c for c in comments if c.span.start >= root.span.end]
        comments = [c for c in comments if root.span.start < c.span.start < root.span.end]
    _attach(root, comments, text.split("\n"))


def _attach(container: Object | Array, comments: list[Comment], lines: list[str]) -> None:
    entries: list[Member] | list[Item] = (
        container.members if isinstance(container, Object) else container.items
    )
    i, n = 0, len(comments)
    prev: Member | Item | None = None
    for entry in entries:
        span = entry.span
        first_line = span.line
        while i < n and comments[i].span.start < span.start:
            c = comments[i]
            if prev is not None and prev.trailing is None and c.span.line == prev.span.end_line:
                prev.trailing = c
            else:
                entry.comments.append(c)
                first_line = min(first_line, c.span.line)
            i += 1
        inner: list[Comment] = []
        while i < n and comments[i].span.start < span.end:
            inner.append(comments[i])
            i += 1
        value = entry.value
        if isinstance(value, (Object, Array)):
            entry.comments.extend(c for c in inner if c.span.start < value.span.start)
            _attach(value, [c for c in inner if c.span.start > value.span.start], lines)
        else:
            entry.comments.extend(inner)
        if prev is not None:
            entry.blank_before = _blank_between(lines, prev.span.end_line, first_line)
        _mark_blank_after(entry.comments, span.line, lines)
        prev = entry
    while i < n:
        c = comments[i]
        if prev is not None and prev.trailing is None and c.span.line == prev.span.end_line:
            prev.trailing = c
        else:
            container.dangling.append(c)
        i += 1


def _mark_blank_after(comments: list[Comment], next_line: int, lines: list[str]) -> None:
    for i, c in enumerate(comments):
        following = comments[i + 1].span.line if i + 1 < len(comments) else next_line
        c.blank_after = _blank_between(lines, c.span.end_line, following)


def _blank_between(lines: list[str], end_line: int, line: int) -> bool:
    """Whether a blank line lies strictly between 1-based *end_line* and *line*."""
    return any(not lines[k].strip() for k in range(end_line, min(line - 1, len(lines))))
