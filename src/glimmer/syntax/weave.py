"""Parse and render the weave notation (``.we``): a plain document tree with spans.

The grammar lives in ``weave.lark``. A weave text is a sequence of three kinds of item:

* a ``@pattern_meta@ ... @pattern_meta@`` block holding ``GLIMMER Pattern:`` and a GLIMMER
  object (JSON with ``//`` comments), read by the DSL parser so its comments and spans are
  kept;
* an assignment ``~story~ = "STARWEAVE Universe Seed Patterns"``;
* a weave block ``@story@ ... @story@`` of ``>>>`` headings and flows.

:func:`parse_weave` returns a :class:`WeaveDocument`; :func:`render_weave` writes one back in
the canonical layout; :meth:`WeaveDocument.to_data` gives the plain data a
:class:`~glimmer.Pattern` is validated from, and :func:`weave_from_data` builds a document
from such data. Positions in errors and spans are those of the original text.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, TypeAlias

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedInput, UnexpectedToken

from glimmer.errors import GlimmerSyntaxError, Location, caret_context
from glimmer.syntax import scalars
from glimmer.syntax.diagnostics import translate
from glimmer.syntax.nodes import Document, Span
from glimmer.syntax.parser import MAX_DEPTH, MAX_TEXT_SIZE, parse
from glimmer.syntax.render import data_to_document, render

__all__ = [
    "META_MARK",
    "WeaveAssignment",
    "WeaveBlock",
    "WeaveDocument",
    "WeaveFlow",
    "WeaveGroup",
    "WeaveHeading",
    "WeaveLink",
    "WeaveMeta",
    "WeaveTerm",
    "entries_from_data",
    "entry_to_data",
    "is_weave_data",
    "parse_weave",
    "render_flow",
    "render_weave",
    "weave_from_data",
]

META_MARK = "@pattern_meta@"
"""The marker that opens and closes the metadata block."""

META_LABEL = "GLIMMER Pattern:"
"""The label written before the metadata object."""

WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
INDENT = "    "

Scalar: TypeAlias = "bool | int | float | str | None"
Direction = Literal[">", "<"]


# -- the tree ---------------------------------------------------------------------------


@dataclass(slots=True)
class WeaveTerm:
    """A term: a ``"quoted string"`` or a bare word, optionally annotated."""

    text: str
    quoted: bool = False
    annotation: dict[str, Scalar] | None = None
    span: Span = field(default_factory=Span)


@dataclass(slots=True)
class WeaveGroup:
    """``[ flow | flow | ... ]``: alternatives, optionally annotated."""

    alternatives: list[WeaveFlow]
    annotation: dict[str, Scalar] | None = None
    span: Span = field(default_factory=Span)


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


WeaveEntry: TypeAlias = "WeaveHeading | WeaveFlow"


@dataclass(slots=True)
class WeaveBlock:
    """``@name@ ... @name@``: the headings and flows of one section, in order."""

    name: str
    entries: list[WeaveEntry] = field(default_factory=list)
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


WeaveItem: TypeAlias = "WeaveMeta | WeaveAssignment | WeaveBlock"


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
            else:
                self._check_new(item.name, "block", origin, item.span)
                entries = [entry_to_data(e) for e in item.entries]
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
            else:
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


_LINK_RE = re.compile(r"(?P<d>[<>])(?:(?P<verb>[A-Za-z_][A-Za-z0-9_\-]*)(?P=d))?")


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
    if "term" in data and set(data) <= {"term", "quoted", "annotation"}:
        text, quoted = data["term"], data.get("quoted", False)
        if not isinstance(text, str) or not isinstance(quoted, bool):
            raise _fail(path, "a term is text; quoted is true or false")
        if not quoted and (WORD_RE.fullmatch(text) is None):
            raise _fail(path, f"{text!r} is not a bare word; set quoted: true")
        if quoted and not _quotable(text):
            raise _fail(path, "a quoted term is one line of text")
        return WeaveTerm(text, quoted, annotation)
    if "any" in data and set(data) <= {"any", "annotation"}:
        alts = data["any"]
        if not isinstance(alts, list) or not alts:
            raise _fail(path, "a group holds at least one alternative")
        flows = [_flow_from_data(f, (*path, "any", i), depth + 1) for i, f in enumerate(alts)]
        return WeaveGroup(flows, annotation)
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
    for key, value in data.items():
        if WORD_RE.fullmatch(key) and key != "pattern_meta" and is_weave_data(value):
            for part in value:
                if part == "title":
                    rest.append(WeaveAssignment(key, value["title"]))
                else:
                    rest.append(WeaveBlock(key, entries_from_data(value["weave"])))
        elif WORD_RE.fullmatch(key) and _is_scalar(value) and _assignable(value):
            rest.append(WeaveAssignment(key, value))
        else:
            meta[key] = value
    return WeaveDocument([WeaveMeta(data_to_document(meta) if meta else None), *rest])


def _assignable(value: Any) -> bool:
    return not (isinstance(value, float) and value != value)  # NaN is no literal


# -- parsing ----------------------------------------------------------------------------


class _State(threading.local):
    """Per-parse state the lexer callbacks and the builder use (the Lark object is shared)."""

    def __init__(self) -> None:
        self.open: list[Token] = []
        self.blocks: list[Token] = []
        self.text = ""
        self.source: str | None = None


_state = _State()


class _DepthError(Exception):
    def __init__(self, tok: Token) -> None:
        self.token = tok


def _on_open(tok: Token) -> Token:
    _state.open.append(tok)
    if len(_state.open) > MAX_DEPTH:
        raise _DepthError(tok)
    return tok


def _on_close(tok: Token) -> Token:
    if _state.open:
        _state.open.pop()
    return tok


def _on_mark(tok: Token) -> Token:
    if _state.blocks:
        _state.blocks.pop()
    else:
        _state.blocks.append(tok)
    return tok


_CALLBACKS: dict[str, Callable[[Token], Token]] = {
    "LSQB": _on_open,
    "LBRACE": _on_open,
    "RSQB": _on_close,
    "RBRACE": _on_close,
    "BLOCK_MARK": _on_mark,
}


def _span(tok: Token) -> Span:
    return Span(tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)  # type: ignore[arg-type]


def _join(a: Span, b: Span) -> Span:
    return Span(a.start, b.end, a.line, a.column, b.end_line, b.end_column)


class _FaultError(Exception):
    def __init__(self, tok: Token, message: str, hint: str | None, code: str) -> None:
        self.token = tok
        self.message = message
        self.hint = hint
        self.code = code


def _scalar(tok: Token) -> Scalar:
    t = tok.type
    if t == "STRING":
        return scalars.read_string(tok.value)
    if t == "TRIPLE_STRING":
        return scalars.read_triple(tok.value)
    if t == "NUMBER":
        try:
            return scalars.read_number(tok.value)
        except scalars.LiteralError as exc:
            raise _FaultError(
                tok, str(exc), "write it as a string in double quotes", "G106"
            ) from None
    if t == "TRUE":
        return True
    if t == "FALSE":
        return False
    if t == "NULL":
        return None
    return str(tok.value)


class _Builder(Transformer[Token, Any]):
    """Builds the weave tree with spans while parsing."""

    def start(self, children: list[WeaveItem]) -> list[WeaveItem]:
        return children

    def meta(self, children: list[Token]) -> WeaveMeta:
        return _read_meta(children[0], _state.text, _state.source)

    def assignment(self, children: list[Token]) -> WeaveAssignment:
        name, _, value = children
        return WeaveAssignment(name.value[1:-1], _scalar(value), _join(_span(name), _span(value)))

    def block(self, children: list[Any]) -> WeaveBlock:
        opener, closer = children[0], children[-1]
        name = opener.value[1:-1]
        if closer.value != opener.value:
            raise _FaultError(
                closer,
                f"block {opener.value} (line {opener.line}) is closed by {closer.value}",
                f"close it with {opener.value}",
                "G111",
            )
        return WeaveBlock(name, children[1:-1], _join(_span(opener), _span(closer)))

    def heading(self, children: list[Token]) -> WeaveHeading:
        tok = children[0]
        return WeaveHeading(tok.value[3:].strip(), _span(tok))

    def flow(self, children: list[Any]) -> WeaveFlow:
        nodes: list[WeaveNode] = children[0::2]
        links = [_link(t) for t in children[1::2]]
        return WeaveFlow(nodes, links, _join(nodes[0].span, nodes[-1].span))

    def node(self, children: list[Any]) -> WeaveNode:
        annotation: tuple[dict[str, Scalar], Span] | None = None
        if len(children) == 2:
            annotation = children[0]
        body = children[-1]
        if isinstance(body, WeaveGroup):
            node: WeaveNode = body
        else:
            node = WeaveTerm(
                _scalar(body) if body.type == "STRING" else str(body.value),  # type: ignore[arg-type]
                body.type == "STRING",
                span=_span(body),
            )
        if annotation is not None:
            node.annotation = annotation[0]
            node.span = _join(annotation[1], node.span)
        return node

    def group(self, children: list[Any]) -> WeaveGroup:
        flows = [c for c in children if isinstance(c, WeaveFlow)]
        return WeaveGroup(flows, span=_join(_span(children[0]), _span(children[-1])))

    def annotation(self, children: list[Any]) -> tuple[dict[str, Scalar], Span]:
        out: dict[str, Scalar] = {}
        for key, value in children[1:-1]:
            name = _scalar(key)
            assert isinstance(name, str)
            if name in out:
                raise _FaultError(key, f"duplicate key {name!r} in an annotation", None, "G105")
            out[name] = _scalar(value)
        return out, _join(_span(children[0]), _span(children[-1]))

    def bare_annotation(self, children: list[Token]) -> tuple[dict[str, Scalar], Span]:
        tok = children[1]
        key = "color" if tok.type == "COLOR" else "label"
        return {key: _scalar(tok)}, _join(_span(children[0]), _span(children[-1]))

    def pair(self, children: list[Token]) -> tuple[Token, Token]:
        return children[0], children[1]


def _link(tok: Token) -> WeaveLink:
    value = str(tok.value)
    direction: Direction = ">" if value[0] == ">" else "<"
    return WeaveLink(direction, value[1:-1] or None, _span(tok))


@cache
def _grammar() -> str:
    return resources.files("glimmer.syntax").joinpath("weave.lark").read_text(encoding="utf-8")


class _GrammarDir:
    """Lets ``%import .common`` resolve inside the installed package (zip-safe)."""

    def __call__(self, base_path: Any, grammar_path: str) -> tuple[str, str]:
        name = grammar_path if grammar_path.endswith(".lark") else grammar_path + ".lark"
        text = resources.files("glimmer.syntax").joinpath(name).read_text(encoding="utf-8")
        return name, text


@cache
def _parser() -> Lark:
    return Lark(
        _grammar(),
        parser="lalr",
        lexer="contextual",
        transformer=_Builder(),
        lexer_callbacks=_CALLBACKS,
        import_paths=[_GrammarDir()],
        maybe_placeholders=False,
        cache=False,
    )


_LABEL_RE = re.compile(r"\s*(?:GLIMMER\s+Pattern\s*:)?")


def _read_meta(tok: Token, text: str, source: str | None) -> WeaveMeta:
    start = (tok.start_pos or 0) + len(META_MARK)
    end = (tok.end_pos or 0) - len(META_MARK)
    m = _LABEL_RE.match(text, start, end)
    body_start = m.end() if m else start
    if not text[body_start:end].strip():
        return WeaveMeta(None, _span(tok))
    # Blank everything before the object (new lines kept) so that the DSL parser's lines
    # and columns are those of the weave text.
    prefix = re.sub(r"[^\n]", " ", text[:body_start])
    document = parse(prefix + text[body_start:end], source=source)
    document.text = text
    return WeaveMeta(document, _span(tok))


def parse_weave(text: str, /, *, source: str | None = None) -> WeaveDocument:
    """Parse weave text into a :class:`WeaveDocument` with spans.

    Args:
        text: The source text.
        source: File name or label used in error messages.

    Returns:
        The document: its meta block, assignments and weave blocks in source order.

    Raises:
        GlimmerSyntaxError: The text is not weave notation.

    Example:
        >>> doc = parse_weave('@story@\\n  memory <crystallize< experience\\n@story@')
        >>> doc.to_data()["story"]["weave"][0]["flow"][1]
        '<crystallize<'
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
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    _state.open, _state.blocks, _state.text, _state.source = [], [], text, source
    try:
        items: list[WeaveItem] = _parser().parse(text)  # type: ignore[assignment]
    except _DepthError as exc:
        tok = exc.token
        raise GlimmerSyntaxError(
            f"nesting deeper than {MAX_DEPTH} levels",
            location=Location(source, tok.line, tok.column),
            context=caret_context(text, tok.line or 1, tok.column or 1),
            hint="flatten the flow",
            code="G107",
        ) from None
    except _FaultError as exc:
        raise _fault_error(exc, text, source) from None
    except UnexpectedInput as exc:
        raise _translate(exc, text, source) from None
    except LarkError as exc:
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, _FaultError):
            raise _fault_error(inner, text, source) from None
        if isinstance(inner, GlimmerSyntaxError):
            raise inner from None
        raise GlimmerSyntaxError(str(exc), location=Location(source), code="G100") from None
    finally:
        _state.open, _state.text = [], ""
    _state.blocks = []
    doc = WeaveDocument(items, source, text)
    doc.check()
    return doc


def _fault_error(exc: _FaultError, text: str, source: str | None) -> GlimmerSyntaxError:
    tok = exc.token
    return GlimmerSyntaxError(
        exc.message,
        location=Location(source, tok.line, tok.column, tok.end_line, tok.end_column),
        context=caret_context(text, tok.line or 1, tok.column or 1, tok.end_column),
        hint=exc.hint,
        code=exc.code,
    )


def _translate(exc: UnexpectedInput, text: str, source: str | None) -> GlimmerSyntaxError:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" and _state.blocks:
        opener = _state.blocks[-1]
        line, column = opener.line or 1, opener.column or 1
        return GlimmerSyntaxError(
            f"block {opener.value} opened at line {line} is never closed",
            location=Location(source, line, column),
            context=caret_context(text, line, column, opener.end_column),
            hint=f"end the block with {opener.value} on a line of its own",
            code="G111",
        )
    metas = [t for t in _state.blocks if t.value == META_MARK]
    pos = getattr(exc, "pos_in_stream", None)
    if metas or (isinstance(pos, int) and text.startswith(META_MARK, pos)):
        line, column = (
            (metas[0].line or 1, metas[0].column or 1) if metas else (exc.line, exc.column)
        )
        return GlimmerSyntaxError(
            f"{META_MARK} block is never closed",
            location=Location(source, line, column),
            context=caret_context(text, line, column),
            hint=f"end the metadata block with {META_MARK} on a line of its own",
            code="G111",
        )
    error = translate(exc, text, source, list(_state.open))
    if "a key" in error.message:  # the DSL's words; in a flow, strings and names are terms
        error = GlimmerSyntaxError(
            error.message.replace("a key", "a term"),
            location=error.location,
            context=error.context,
            expected=[e.replace("a key", "a term") for e in error.expected],
            hint=error.hint,
            code=error.code,
        )
    if isinstance(exc, UnexpectedToken) and exc.token.type == "BLOCK_MARK" and not error.hint:
        error = GlimmerSyntaxError(
            error.message,
            location=error.location,
            context=error.context,
            expected=error.expected,
            hint="a flow ends with a node; close every [ with ] before the block ends",
            code=error.code,
        )
    return error


# -- rendering --------------------------------------------------------------------------


def render_weave(doc: WeaveDocument, /) -> str:
    """Write *doc* in the canonical weave layout; the result ends with a newline.

    The meta block comes first, written as JSON (its comments kept); each assignment on a
    line of its own; blocks with their entries indented four spaces, a blank line before
    every heading but the first entry, groups one alternative per line.
    """
    parts: list[str] = []
    for item in doc.items:
        if isinstance(item, WeaveMeta):
            body = render(item.document, style="json").rstrip("\n") if item.document else "{}"
            parts.append(f"{META_MARK}\n{META_LABEL}\n{body}\n{META_MARK}")
        elif isinstance(item, WeaveAssignment):
            parts.append(f"~{item.name}~ = {_write_scalar(item.value)}")
        else:
            lines = [f"@{item.name}@"]
            for i, entry in enumerate(item.entries):
                if isinstance(entry, WeaveHeading):
                    if i:
                        lines.append("")
                    lines.append(f"{INDENT}>>> {entry.text}".rstrip())
                else:
                    lines.append(INDENT + _write_flow(entry, INDENT))
            lines.append(f"@{item.name}@")
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_flow(flow: WeaveFlow, /) -> str:
    """One flow in weave notation, groups spread over lines indented four spaces."""
    return _write_flow(flow, "")


def _write_scalar(value: Scalar) -> str:
    if isinstance(value, str):
        return scalars.write_string(value)
    return json.dumps(value)


def _write_annotation(annotation: dict[str, Scalar]) -> str:
    pairs = ", ".join(f"{scalars.write_key(k)}: {_write_scalar(v)}" for k, v in annotation.items())
    return "{" + pairs + "}"


def _write_node(node: WeaveNode, indent: str) -> str:
    head = "" if node.annotation is None else _write_annotation(node.annotation) + " "
    if isinstance(node, WeaveTerm):
        return head + (scalars.write_string(node.text) if node.quoted else node.text)
    inner = indent + INDENT
    alts = [inner + _write_flow(f, inner) for f in node.alternatives]
    return head + "[\n" + " |\n".join(alts) + "\n" + indent + "]"


def _write_flow(flow: WeaveFlow, indent: str) -> str:
    out = _write_node(flow.nodes[0], indent)
    for link, node in zip(flow.links, flow.nodes[1:], strict=True):
        out += f"{link.direction} " if link.verb is None else f" {link.text} "
        out += _write_node(node, indent)
    return out
