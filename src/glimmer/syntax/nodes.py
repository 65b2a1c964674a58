"""The plain document tree the parser produces: nodes with spans and attached comments.

A :class:`Document` is what the text *says*, before any typing: objects keep their key
order, scalars keep the spelling they were written with (``raw``) beside their value, and
comments hang on the member or item they belong to. :mod:`glimmer.syntax.render` turns a
Document back into text; :meth:`Document.to_data` turns it into plain Python data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "Array",
    "Comment",
    "Document",
    "Item",
    "Member",
    "Node",
    "Object",
    "Scalar",
    "ScalarKind",
    "Span",
    "join_spans",
    "token_span",
]

JsonData: TypeAlias = "bool | int | float | str | list[JsonData] | dict[str, JsonData] | None"

ScalarKind = Literal[
    "string", "triple", "number", "ident", "color", "timestamp", "version", "true", "false", "null"
]


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets (0-based, end exclusive) and 1-based line/column of a piece of source text."""

    start: int = 0
    end: int = 0
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0


NO_SPAN = Span()


def token_span(tok: Any) -> Span:
    """The span of a lexer token (anything with lark's position attributes)."""
    return Span(tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)


def join_spans(a: Span, b: Span) -> Span:
    """The span from the start of *a* to the end of *b*."""
    return Span(a.start, b.end, a.line, a.column, b.end_line, b.end_column)


@dataclass(slots=True)
class Comment:
    """A ``// line`` or ``/* block */`` comment, text included verbatim."""

    text: str
    span: Span = NO_SPAN
    blank_after: bool = False
    """A leading comment followed by a blank line keeps it (a header stays apart)."""


@dataclass(slots=True)
class Scalar:
    """A string, number, boolean, null or bare literal.

    Attributes:
        value: The Python value (``str`` for names, colours, timestamps and versions).
        kind: How it was written; the renderer keeps this spelling where it can.
        raw: The exact source text, when it came from source.
    """

    value: bool | int | float | str | None
    kind: ScalarKind
    raw: str | None = None
    span: Span = NO_SPAN

    def to_data(self) -> JsonData:
        return self.value


@dataclass(slots=True)
class Member:
    """``key: value`` (or ``key { ... }``) inside an object, with its comments."""

    key: str
    value: Node
    key_span: Span = NO_SPAN
    key_quoted: bool = False
    block: bool = False
    comments: list[Comment] = field(default_factory=list)
    trailing: Comment | None = None
    blank_before: bool = False

    @property
    def span(self) -> Span:
        v = self.value.span
        k = self.key_span
        return Span(k.start, v.end, k.line, k.column, v.end_line, v.end_column)


@dataclass(slots=True)
class Item:
    """One value inside an array, with its comments."""

    value: Node
    comments: list[Comment] = field(default_factory=list)
    trailing: Comment | None = None
    blank_before: bool = False

    @property
    def span(self) -> Span:
        return self.value.span


@dataclass(slots=True)
class Object:
    """``{ ... }``: members in source order; ``dangling`` holds comments after the last."""

    members: list[Member] = field(default_factory=list)
    span: Span = NO_SPAN
    dangling: list[Comment] = field(default_factory=list)
    _index: dict[str, Member] = field(default_factory=dict, init=False, repr=False, compare=False)

    def to_data(self) -> JsonData:
        return {m.key: m.value.to_data() for m in self.members}

    def get(self, key: str) -> Member | None:
        """The member named *key*, or ``None`` (a dict lookup: locating is linear overall)."""
        found = self._index.get(key)
        if found is None or found.key != key or len(self._index) != len(self.members):
            # first use, or the members changed since: index them again (first one wins)
            self._index = {}
            for m in self.members:
                self._index.setdefault(m.key, m)
            found = self._index.get(key)
        return found


@dataclass(slots=True)
class Array:
    """``[ ... ]``: items in order; ``dangling`` holds comments after the last."""

    items: list[Item] = field(default_factory=list)
    span: Span = NO_SPAN
    dangling: list[Comment] = field(default_factory=list)

    def to_data(self) -> JsonData:
        return [i.value.to_data() for i in self.items]


Node: TypeAlias = "Object | Array | Scalar"


@dataclass(slots=True)
class Document:
    """A parsed GLIMMER text.

    Attributes:
        root: The top-level object.
        braced: Whether the top level was written inside ``{ }`` (JSON style).
        header: Comments before the opening brace of a braced root.
        footer: Comments after its closing brace.
        source: The file name or label errors should mention.
        text: The source text, for error context.
    """

    root: Object
    braced: bool = False
    header: list[Comment] = field(default_factory=list)
    footer: list[Comment] = field(default_factory=list)
    source: str | None = None
    text: str = ""

    def to_data(self) -> dict[str, JsonData]:
        """The document as plain Python data (dicts keep source order)."""
        return {m.key: m.value.to_data() for m in self.root.members}

    def comments(self) -> Iterator[Comment]:
        """Every comment in the document, in source order."""
        yield from self.header
        yield from _walk_comments(self.root)
        yield from self.footer

    def locate(self, path: tuple[str | int, ...]) -> Span | None:
        """The span of the key (or item) at *path*, or of its nearest existing parent.

        Validation errors use this to point at the line of the offending key.
        """
        node: Node = self.root
        best: Span | None = None
        for part in path:
            if isinstance(node, Object) and isinstance(part, str):
                member = node.get(part)
                if member is None:
                    break
                best, node = member.key_span, member.value
            elif isinstance(node, Array) and isinstance(part, int) and 0 <= part < len(node.items):
                node = node.items[part].value
                best = node.span
            else:
                break
        return best


def _walk_comments(node: Node) -> Iterator[Comment]:
    if isinstance(node, Object):
        for m in node.members:
            yield from m.comments
            yield from _walk_comments(m.value)
            if m.trailing is not None:
                yield m.trailing
        yield from node.dangling
    elif isinstance(node, Array):
        for i in node.items:
            yield from i.comments
            yield from _walk_comments(i.value)
            if i.trailing is not None:
                yield i.trailing
        yield from node.dangling
