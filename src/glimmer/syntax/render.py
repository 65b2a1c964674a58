"""Render a :class:`Document` as canonical text, one method per node kind.

Two styles share the walk:

* ``"glimmer"``: the DSL. A top level without braces and a blank line between sections,
  ``name { ... }`` blocks, bare keys, bare names/colours/timestamps/versions where they read
  back the same, triple-quoted blocks for multi-line text, no commas at line ends.
* ``"json"``: JSON laid out two spaces deep. Comments, when the document has any, are kept
  as ``//`` and ``/* */`` (the DSL reads them; strict JSON readers do not).

Every comment of the document is written exactly once, and rendering is idempotent:
``render(parse(render(doc))) == render(doc)``.
"""

from __future__ import annotations

from typing import Any, Literal

from glimmer.syntax import scalars
from glimmer.syntax.nodes import Array, Comment, Document, Item, Member, Node, Object, Scalar

__all__ = ["Style", "data_to_document", "render", "to_node"]

Style = Literal["glimmer", "json"]

INDENT = "  "
LINE_WIDTH = 88


def render(doc: Document, /, *, style: Style = "glimmer") -> str:
    """Write *doc* in the canonical layout of *style*; the result ends with a newline."""
    return _Renderer(style).document(doc)


def to_node(value: Any) -> Node:
    """Build a node for plain Python data, choosing the nicest spelling for each scalar."""
    if isinstance(value, dict):
        return Object([Member(str(k), to_node(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return Array([Item(to_node(v)) for v in value])
    if value is None:
        return Scalar(None, "null")
    if value is True:
        return Scalar(True, "true")
    if value is False:
        return Scalar(False, "false")
    if isinstance(value, (int, float)):
        return Scalar(value, "number")
    if isinstance(value, str):
        kind = scalars.bare_kind(value)
        if kind is not None:
            return Scalar(value, kind)  # type: ignore[arg-type]
        return Scalar(value, "triple" if "\n" in value else "string")
    raise TypeError(f"cannot write a value of type {type(value).__name__} in a GLIMMER pattern")


def data_to_document(data: dict[str, Any]) -> Document:
    """A :class:`Document` for plain data, ready for :func:`render`."""
    root = to_node(data)
    assert isinstance(root, Object)
    return Document(root=root)


class _Renderer:
    def __init__(self, style: Style) -> None:
        self.style = style
        self.json = style == "json"

    # -- document ---------------------------------------------------------------------

    def document(self, doc: Document) -> str:
        lines: list[str] = [c.text for c in doc.header]
        if self.json or not doc.root.members:  # an empty pattern needs its braces to parse
            lines.append(self.object(doc.root, ""))
        else:
            lines.extend(self.top_level(doc.root))
        lines.extend(c.text for c in doc.footer)
        return "\n".join(lines).rstrip("\n") + "\n"

    def top_level(self, root: Object) -> list[str]:
        out: list[str] = []
        for i, member in enumerate(root.members):
            if i:
                out.append("")
            out.extend(self.member(member, "", last=True))
        if root.dangling:
            if out:
                out.append("")
            out.extend(self.comment_lines(root.dangling, ""))
        return out

    # -- containers -------------------------------------------------------------------

    def object(self, obj: Object, indent: str) -> str:
        if not obj.members and not obj.dangling:
            return "{}"
        inner = indent + INDENT
        lines = ["{"]
        for i, member in enumerate(obj.members):
            if member.blank_before and i:
                lines.append("")
            lines.extend(self.member(member, inner, last=i == len(obj.members) - 1))
        lines.extend(self.comment_lines(obj.dangling, inner))
        lines.append(indent + "}")
        return "\n".join(lines)

    def array(self, arr: Array, indent: str, prefix_len: int) -> str:
        if not arr.items and not arr.dangling:
            return "[]"
        inline = self.inline_array(arr)
        if inline is not None and prefix_len + len(inline) <= LINE_WIDTH:
            return inline
        inner = indent + INDENT
        lines = ["["]
        for i, item in enumerate(arr.items):
            if item.blank_before and i:
                lines.append("")
            lines.extend(self.entry_comments(item, inner))
            comma = "," if self.json and i < len(arr.items) - 1 else ""
            text = self.value(item.value, inner, len(inner)) + comma
            lines.append(inner + text + self.trailing(item))
        lines.extend(self.comment_lines(arr.dangling, inner))
        lines.append(indent + "]")
        return "\n".join(lines)

    def inline_array(self, arr: Array) -> str | None:
        if arr.dangling:
            return None
        parts: list[str] = []
        for item in arr.items:
            if item.comments or item.trailing or not isinstance(item.value, Scalar):
                return None
            text = self.scalar(item.value, "")
            if "\n" in text:  # a text block needs lines of its own
                return None
            parts.append(text)
        return "[" + ", ".join(parts) + "]"

    # -- entries ----------------------------------------------------------------------

    def member(self, member: Member, indent: str, *, last: bool) -> list[str]:
        lines = self.entry_comments(member, indent)
        key = scalars.write_key(member.key, quote=self.json)
        comma = "" if last or not self.json else ","
        value = member.value
        if not self.json and isinstance(value, Object):
            head = f"{indent}{key} "
        else:
            head = f"{indent}{key}: "
        text = self.value(value, indent, len(head))
        lines.append(head + text + comma + self.trailing(member))
        return lines

    def entry_comments(self, entry: Member | Item, indent: str) -> list[str]:
        return self.comment_lines(entry.comments, indent)

    def comment_lines(self, comments: list[Comment], indent: str) -> list[str]:
        lines: list[str] = []
        for c in comments:
            lines.append(indent + c.text)
            if c.blank_after:
                lines.append("")
        return lines

    def trailing(self, entry: Member | Item) -> str:
        return f" {entry.trailing.text}" if entry.trailing is not None else ""

    # -- values -----------------------------------------------------------------------

    def value(self, node: Node, indent: str, prefix_len: int) -> str:
        if isinstance(node, Object):
            return self.object(node, indent)
        if isinstance(node, Array):
            return self.array(node, indent, prefix_len)
        return self.scalar(node, indent)

    def scalar(self, node: Scalar, indent: str) -> str:
        kind, value = node.kind, node.value
        if kind in ("true", "false", "null"):
            return kind
        if kind == "number":
            if node.raw is not None:
                return node.raw
            return repr(value) if isinstance(value, float) else str(value)
        assert isinstance(value, str)
        if self.json:
            return scalars.write_string(value)
        if kind == "triple":
            block = scalars.write_triple(value, indent)
            if block is not None:
                return block
            return (
                node.raw
                if node.raw is not None and "\n" not in node.raw
                else scalars.write_string(value)
            )
        if kind == "string":
            return scalars.write_string(value)
        # bare literal written by the author (or chosen by to_node): keep it bare
        return value
