"""The weave notation's plain tree (nodes with spans) and its data form.

:mod:`glimmer.syntax.weave` parses text into these nodes and renders them back. The data
form is what a :class:`~glimmer.Pattern` holds for a weave section::

    {"title"?: value, "weave": [{"heading": text} | {"flow": [node, link, node, ...]}]}

where a node is ``{"term": text, "quoted"?: true, "annotation"?: {...}}`` or
``{"any": [flow, ...]}`` and a link is the string written (``">"``, ``"<define<"``, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from glimmer.errors import GlimmerSyntaxError, Location, caret_context
from glimmer.syntax.nodes import Document, Span
from glimmer.syntax.parser import MAX_DEPTH
from glimmer.syntax.render import data_to_document
from glimmer.syntax.scalars import IDENT_RE

__all__ = [
    "META_LABEL",
    "META_MARK",
    "WeaveAssignment",
    "WeaveBlock",
    "WeaveComment",
    "WeaveDocument",
    "WeaveEntry",
    "WeaveFlow",
    "WeaveGroup",
    "WeaveHeading",
    "WeaveItem",
    "WeaveLink",
    "WeaveMeta",
    "WeaveNode",
    "WeaveTerm",
    "entries_from_data",
    "entry_to_data",
    "flow_to_data",
    "is_weave_data",
    "node_to_data",
    "weave_from_data",
]

META_MARK = "@pattern_meta@"
"""The marker that opens and closes the metadata block."""

META_LABEL = "GLIMMER Pattern:"
"""The label written before the metadata object."""

WORD_RE = IDENT_RE  # a bare word of a flow is an identifier of the grammar

Scalar: TypeAlias = "bool | int | float | str | None"
Direction = Literal[">", "<"]


# -- the tree ---------------------------------------------------------------------------


@dataclass(slots=True)
class WeaveTerm:
    """A term: a ``"quoted string"`` or a bare word, optionally annotated and prefixed."""

    text: str
    quoted: bool = False
    annotation: dict[str, Scalar] | None = None
    span: Span = field(default_factory=Span)
    prefixes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WeaveGroup:
    """``[ flow | flow | ... ]``: alternatives, optionally annotated."""

    alternatives: list[WeaveFlow]
    annotation: dict[str, Scalar] | None = None
    span: Span = field(default_factory=Span)
    prefixes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WeaveLink:
    """A link between two nodes: ``>`` / ``<``, or a verb such as ``>define>``."""

    direction: Direction
    verb: str | None = None
    span: Span = field(default_factory=Span)

    @property
    def text(self) -> str:
        """The link as written: ``>``, ``<``, ``>define>`` or ``<crystallize<``."""
        return (
            self.direction if self.verb is None else f"{self.direction}{self.verb}{self.direction}"
        )


WeaveNode: TypeAlias = "WeaveTerm | WeaveGroup"


@dataclass(slots=True)
class WeaveFlow:
    """A chain of nodes joined by links: ``len(links) == len(nodes) - 1``."""

    nodes: list[WeaveNode]
    links: list[WeaveLink] = field(default_factory=list)
    span: Span = field(default_factory=Span)


@dataclass(slots=True)
class WeaveHeading:
    """``>>> A heading``: the text after the marker, stripped."""

    text: str
    span: Span = field(default_factory=Span)


@dataclass(slots=True)
class WeaveComment:
    """A ``// line`` or ``/* block */`` comment outside the meta block, kept by ``fmt`` only.

    Comments are not part of the pattern's data; a comment inside a flow is written back
    on its own line before that flow.
    """

    text: str
    span: Span = field(default_factory=Span)


WeaveEntry: TypeAlias = "WeaveHeading | WeaveFlow"


@dataclass(slots=True)
class WeaveBlock:
    """``@name@ ... @name@``: the headings and flows of one section, in order."""

    name: str
    entries: list[WeaveEntry | WeaveComment] = field(default_factory=list)
    span: Span = field(default_factory=Span)


@dataclass(slots=True)
class WeaveAssignment:
    """``~name~ = value``: one section's value."""

    name: str
    value: Scalar
    span: Span = field(default_factory=Span)


@dataclass(slots=True)
class WeaveMeta:
    """The ``@pattern_meta@`` block: a GLIMMER object, comments and spans kept."""

    document: Document | None
    span: Span = field(default_factory=Span)

    def to_data(self) -> dict[str, Any]:
        """The object's members as plain data (empty for an empty block)."""
        return dict(self.document.to_data()) if self.document is not None else {}


WeaveItem: TypeAlias = "WeaveMeta | WeaveAssignment | WeaveBlock | WeaveComment"


@dataclass(slots=True)
class WeaveDocument:
    """A parsed weave text: its items in source order."""

    items: list[WeaveItem] = field(default_factory=list)
    source: str | None = None
    text: str = ""

    def to_data(self) -> dict[str, Any]:
        """Plain pattern data: the meta object's sections, then one entry per section name.

        An assignment gives the section its value; a block gives ``{"weave": [...]}``; both
        for one name give ``{"title": value, "weave": [...]}`` in the order written.

        Raises:
            GlimmerSyntaxError: A section is defined twice (code ``G110``).
        """
        data: dict[str, Any] = {}
        origin: dict[str, str] = {}
        for item in self.items:
            if isinstance(item, WeaveMeta):
                for key, value in item.to_data().items():
                    self._check_new(key, "meta", origin, item.span)
                    data[key], origin[key] = value, "meta"
            elif isinstance(item, WeaveAssignment):
                self._check_new(item.name, "assignment", origin, item.span)
                if origin.get(item.name) == "block":
                    data[item.name]["title"] = item.value
                    origin[item.name] = "both"
                else:
                    data[item.name], origin[item.name] = item.value, "assignment"
            elif isinstance(item, WeaveBlock):
                self._check_new(item.name, "block", origin, item.span)
                entries = [
                    entry_to_data(e) for e in item.entries if not isinstance(e, WeaveComment)
                ]
                if origin.get(item.name) == "assignment":
                    data[item.name] = {"title": data[item.name], "weave": entries}
                    origin[item.name] = "both"
                else:
                    data[item.name], origin[item.name] = {"weave": entries}, "block"
        return data

    def check(self) -> None:
        """Raise the error :meth:`to_data` would raise for a section defined twice."""
        origin: dict[str, str] = {}
        for item in self.items:
            if isinstance(item, WeaveMeta):
                for key in item.to_data():
                    self._check_new(key, "meta", origin, item.span)
                    origin[key] = "meta"
            elif not isinstance(item, WeaveComment):
                kind = "assignment" if isinstance(item, WeaveAssignment) else "block"
                self._check_new(item.name, kind, origin, item.span)
                origin[item.name] = "both" if item.name in origin else kind

    def _check_new(self, name: str, kind: str, origin: dict[str, str], span: Span) -> None:
        before = origin.get(name)
        if before is None or {before, kind} == {"assignment", "block"}:
            return
        raise GlimmerSyntaxError(
            f"section {name!r} is defined twice",
            location=Location(self.source, span.line, span.column),
            context=caret_context(self.text, span.line or 1, span.column or 1),
            hint="a section comes from the meta object, or from one ~name~ assignment and one "
            "@name@ block; merge the two",
            code="G110",
        )


# -- data form --------------------------------------------------------------------------


def node_to_data(node: WeaveNode) -> dict[str, Any]:
    """``{"term": ..., "quoted": true, "annotation": {...}}`` or ``{"any": [...]}``."""
    out: dict[str, Any]
    if isinstance(node, WeaveTerm):
        out = {"term": node.text}
        if node.quoted:
            out["quoted"] = True
    else:
        out = {"any": [flow_to_data(f) for f in node.alternatives]}
    if node.prefixes:
        out["prefix"] = list(node.prefixes)
    if node.annotation is not None:
        out["annotation"] = dict(node.annotation)
    return out


def flow_to_data(flow: WeaveFlow) -> list[Any]:
    """A flow as a list: node, link, node, ...; links are strings such as ``">define>"``."""
    out: list[Any] = [node_to_data(flow.nodes[0])]
    for link, node in zip(flow.links, flow.nodes[1:], strict=True):
        out.append(link.text)
        out.append(node_to_data(node))
    return out


def entry_to_data(entry: WeaveEntry) -> dict[str, Any]:
    """``{"heading": text}`` or ``{"flow": [...]}``."""
    if isinstance(entry, WeaveHeading):
        return {"heading": entry.text}
    return {"flow": flow_to_data(entry)}


def is_weave_data(value: Any) -> bool:
    """Whether *value* is a section the weave notation writes as an ``@name@`` block."""
    if not isinstance(value, dict) or "weave" not in value or not set(value) <= {"weave", "title"}:
        return False
    if "title" in value and not _is_scalar(value["title"]):
        return False
    try:
        entries_from_data(value["weave"])
    except ValueError:
        return False
    return True


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def entries_from_data(data: Any) -> list[WeaveEntry]:
    """Build entries from their data form.

    Raises:
        ValueError: The data is not in the weave data form (the message says where).
    """
    if not isinstance(data, list):
        raise ValueError("a weave is a list of headings and flows")
    return [_entry_from_data(e, (i,)) for i, e in enumerate(data)]


def _fail(path: tuple[str | int, ...], message: str) -> ValueError:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return ValueError(f"weave{where}: {message}")


def _entry_from_data(data: Any, path: tuple[str | int, ...]) -> WeaveEntry:
    if isinstance(data, dict) and set(data) == {"heading"}:
        text = data["heading"]
        if not isinstance(text, str) or "\n" in text or text != text.strip():
            raise _fail(path, "a heading is one line of text without surrounding spaces")
        return WeaveHeading(text)
    if isinstance(data, dict) and set(data) == {"flow"}:
        return _flow_from_data(data["flow"], (*path, "flow"))
    raise _fail(path, 'an entry is {"heading": text} or {"flow": [...]}')


def _flow_from_data(data: Any, path: tuple[str | int, ...], depth: int = 0) -> WeaveFlow:
    if depth > MAX_DEPTH:
        raise _fail(path, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, list) or len(data) % 2 == 0:
        raise _fail(path, "a flow is a list: node, link, node, ... (an odd number of items)")
    nodes = [_node_from_data(n, (*path, i), depth) for i, n in enumerate(data) if i % 2 == 0]
    links = [_link_from_data(x, (*path, i)) for i, x in enumerate(data) if i % 2 == 1]
    return WeaveFlow(nodes, links)


_LINK_RE = re.compile(rf"(?P<d>[<>])(?:(?P<verb>{IDENT_RE.pattern})(?P=d))?")


def _link_from_data(data: Any, path: tuple[str | int, ...]) -> WeaveLink:
    m = _LINK_RE.fullmatch(data) if isinstance(data, str) else None
    if m is None:
        raise _fail(path, "a link is '>', '<', '>verb>' or '<verb<'")
    direction: Direction = ">" if m["d"] == ">" else "<"
    return WeaveLink(direction, m["verb"])


def _node_from_data(data: Any, path: tuple[str | int, ...], depth: int) -> WeaveNode:
    if not isinstance(data, dict):
        raise _fail(path, 'a node is {"term": ...} or {"any": [...]}')
    annotation = data.get("annotation")
    if annotation is not None and (
        not isinstance(annotation, dict) or not all(_is_scalar(v) for v in annotation.values())
    ):
        raise _fail(path, "an annotation is an object of plain values")
    prefixes = data.get("prefix", [])
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and WORD_RE.fullmatch(p) for p in prefixes
    ):
        raise _fail(path, "a prefix is a list of bare words")
    if "term" in data and set(data) <= {"term", "quoted", "annotation", "prefix"}:
        text, quoted = data["term"], data.get("quoted", False)
        if not isinstance(text, str) or not isinstance(quoted, bool):
            raise _fail(path, "a term is text; quoted is true or false")
        if not quoted and (WORD_RE.fullmatch(text) is None):
            raise _fail(path, f"{text!r} is not a bare word; set quoted: true")
        if quoted and not _quotable(text):
            raise _fail(path, "a quoted term is one line of text")
        return WeaveTerm(text, quoted, annotation, prefixes=list(prefixes))
    if "any" in data and set(data) <= {"any", "annotation", "prefix"}:
        alts = data["any"]
        if not isinstance(alts, list) or not alts:
            raise _fail(path, "a group holds at least one alternative")
        flows = [_flow_from_data(f, (*path, "any", i), depth + 1) for i, f in enumerate(alts)]
        return WeaveGroup(flows, annotation, prefixes=list(prefixes))
    raise _fail(path, 'a node is {"term": ...} or {"any": [...]}')


def _quotable(text: str) -> bool:
    return not any(ord(c) < 0x20 for c in text)


def weave_from_data(data: dict[str, Any], /) -> WeaveDocument:
    """A :class:`WeaveDocument` for plain pattern data, ready for :func:`render_weave`.

    Sections in the weave data form become blocks (with an assignment for a ``title``),
    plain values become assignments, everything else goes into the meta object.
    """
    meta: dict[str, Any] = {}
    rest: list[WeaveItem] = []
    kinds = {key: _form(key, value) for key, value in data.items()}
    # The meta block comes first and reads back first: every section up to the last one
    # that needs the meta object goes into it (as plain data), so sections keep their order.
    keys = list(data)
    cut = max((i + 1 for i, k in enumerate(keys) if kinds[k] is None), default=0)
    for key in keys[:cut]:
        meta[key] = data[key]
    for key in keys[cut:]:
        value = data[key]
        if kinds[key] == "block":
            for part in value:
                if part == "title":
                    rest.append(WeaveAssignment(key, value["title"]))
                else:
                    rest.append(WeaveBlock(key, [*entries_from_data(value["weave"])]))
        else:
            rest.append(WeaveAssignment(key, value))
    return WeaveDocument([WeaveMeta(data_to_document(meta) if meta else None), *rest])


def _form(key: str, value: Any) -> str | None:
    """``"block"`` or ``"assignment"`` when weave notation writes *value* exactly, else None."""
    if not WORD_RE.fullmatch(key) or key == "pattern_meta":
        return None
    if is_weave_data(value):
        try:
            back = [entry_to_data(e) for e in entries_from_data(value["weave"])]
        except (ValueError, RecursionError):
            return None
        # `"quoted": false`, `"prefix": []` or another key order read back differently
        same = json.dumps(back, ensure_ascii=False) == json.dumps(
            value["weave"], ensure_ascii=False
        )
        return "block" if same else None
    if _is_scalar(value) and _assignable(value):
        return "assignment"
    return None


def _assignable(value: Any) -> bool:
    return not (isinstance(value, float) and value != value)  # NaN is no literal
