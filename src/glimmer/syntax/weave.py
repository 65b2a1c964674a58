"""Parse and render the weave notation (``.we``): a plain document tree with spans.

The grammar lives in ``weave.lark``. A weave text is a sequence of three kinds of item:

* a ``@pattern_meta@ ... @pattern_meta@`` block holding ``GLIMMER Pattern:`` and a GLIMMER
  object (JSON with ``//`` comments), read by the DSL parser so its comments and spans are
  kept;
* an assignment ``~story~ = "STARWEAVE Universe Seed Patterns"``;
* a weave block ``@story@ ... @story@`` of ``>>>`` headings and flows.

:func:`parse_weave` returns a :class:`WeaveDocument` (the nodes and their data form live in
:mod:`glimmer.syntax.weave_nodes`); :func:`render_weave` writes one back in the canonical
layout. Positions in errors and spans are those of the original text.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, TypeAlias

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedInput, UnexpectedToken

from glimmer.errors import GlimmerSyntaxError, Location, caret_context
from glimmer.syntax import scalars
from glimmer.syntax.diagnostics import translate
from glimmer.syntax.grammar import lalr
from glimmer.syntax.nodes import Span, join_spans, token_span
from glimmer.syntax.parser import (
    MAX_DEPTH,
    NestingError,
    bracket_callbacks,
    check_text,
    parse,
)
from glimmer.syntax.render import render
from glimmer.syntax.weave_nodes import (
    META_LABEL,
    META_MARK,
    WeaveAssignment,
    WeaveBlock,
    WeaveComment,
    WeaveDocument,
    WeaveEntry,
    WeaveFlow,
    WeaveGroup,
    WeaveHeading,
    WeaveItem,
    WeaveLink,
    WeaveMeta,
    WeaveNode,
    WeaveTerm,
    entries_from_data,
    entry_to_data,
    is_weave_data,
    weave_from_data,
)

__all__ = [
    "META_MARK",
    "WeaveAssignment",
    "WeaveBlock",
    "WeaveComment",
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
    "parse_flow",
    "parse_weave",
    "render_flow",
    "render_weave",
    "weave_from_data",
]

Scalar: TypeAlias = "bool | int | float | str | None"
Direction = Literal[">", "<"]
INDENT = "    "


# -- parsing ----------------------------------------------------------------------------


class _State(threading.local):
    """Per-parse state the lexer callbacks and the builder use (the Lark object is shared)."""

    def __init__(self) -> None:
        self.open: list[Token] = []
        self.blocks: list[Token] = []
        self.text = ""
        self.source: str | None = None
        self.metas = 0
        self.comments: list[Token] = []


_state = _State()


def _on_mark(tok: Token) -> Token:
    if _state.blocks:
        _state.blocks.pop()
    else:
        _state.blocks.append(tok)
    return tok


def _on_comment(tok: Token) -> Token:
    _state.comments.append(tok)
    return tok


_GROUP_LEVELS = 3
"""Levels of data one ``[ ... ]`` group adds: ``{"any": [[...], ...]}`` (an object, a list
of alternatives, each a list). Counting them keeps a weave text within the depth every
other reader and writer of the data holds to."""

_FLOW_LEVELS = 6
"""Levels of data around a flow's outermost group: the pattern, its section, the weave list,
the entry, the flow list, and an annotation inside the innermost group."""


def _group_callbacks(state: Any) -> dict[str, Callable[[Token], Token]]:
    plain = bracket_callbacks(state)

    def on_open(tok: Token) -> Token:
        for _ in range(_GROUP_LEVELS - 1):
            state.open.append(tok)
        if len(state.open) + 1 + _FLOW_LEVELS > MAX_DEPTH:
            raise NestingError(tok)
        return plain["LSQB"](tok)

    def on_close(tok: Token) -> Token:
        for _ in range(_GROUP_LEVELS - 1):
            if state.open:
                state.open.pop()
        return plain["RSQB"](tok)

    return {**plain, "LSQB": on_open, "RSQB": on_close}


_CALLBACKS: dict[str, Callable[[Token], Token]] = {
    **_group_callbacks(_state),
    "BLOCK_MARK": _on_mark,
    "LINE_COMMENT": _on_comment,
    "BLOCK_COMMENT": _on_comment,
}


class _FaultError(Exception):
    def __init__(self, tok: Token, message: str, hint: str | None, code: str) -> None:
        self.token = tok
        self.message = message
        self.hint = hint
        self.code = code


def _scalar(tok: Token) -> Scalar:
    try:
        return scalars.read_token(tok.type, str(tok.value))
    except scalars.LiteralError as exc:
        hint = exc.hint or "write it as a string in double quotes"
        raise _FaultError(tok, str(exc), hint, exc.code) from None


class _Builder(Transformer[Token, Any]):
    """Builds the weave tree with spans while parsing."""

    def start(self, children: list[WeaveItem]) -> list[WeaveItem]:
        return children

    def meta(self, children: list[Token]) -> WeaveMeta:
        tok = children[0]
        _state.metas += 1
        if _state.metas > 1:
            raise _FaultError(
                tok,
                f"a second {META_MARK} block",
                "a weave text has one metadata block; merge the two",
                "G110",
            )
        return _read_meta(tok, _state.text, _state.source)

    def assignment(self, children: list[Token]) -> WeaveAssignment:
        name, _, value = children
        return WeaveAssignment(
            name.value[1:-1], _scalar(value), join_spans(token_span(name), token_span(value))
        )

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
        return WeaveBlock(name, children[1:-1], join_spans(token_span(opener), token_span(closer)))

    def heading(self, children: list[Token]) -> WeaveHeading:
        tok = children[0]
        return WeaveHeading(tok.value[3:].strip(), token_span(tok))

    def flow(self, children: list[Any]) -> WeaveFlow:
        nodes: list[WeaveNode] = children[0::2]
        links = [_link(t) for t in children[1::2]]
        return WeaveFlow(nodes, links, join_spans(nodes[0].span, nodes[-1].span))

    def node(self, children: list[Any]) -> WeaveNode:
        annotation: tuple[dict[str, Scalar], Span] | None = None
        prefixes: list[Token] = []
        for child in children[:-1]:
            if isinstance(child, Token):
                prefixes.append(child)
            else:
                annotation = child
        body = children[-1]
        if isinstance(body, WeaveGroup):
            node: WeaveNode = body
        else:
            node = WeaveTerm(
                _scalar(body) if body.type == "STRING" else str(body.value),  # type: ignore[arg-type]
                body.type == "STRING",
                span=token_span(body),
            )
        if prefixes:
            node.prefixes = [str(t.value)[:-1] for t in prefixes]
            if annotation is None or token_span(prefixes[0]).start < annotation[1].start:
                node.span = join_spans(token_span(prefixes[0]), node.span)
        if annotation is not None:
            node.annotation = annotation[0]
            if node.span.start > annotation[1].start:
                node.span = join_spans(annotation[1], node.span)
        return node

    def group(self, children: list[Any]) -> WeaveGroup:
        flows = [c for c in children if isinstance(c, WeaveFlow)]
        return WeaveGroup(flows, span=join_spans(token_span(children[0]), token_span(children[-1])))

    def annotation(self, children: list[Any]) -> tuple[dict[str, Scalar], Span]:
        out: dict[str, Scalar] = {}
        for key, value in children[1:-1]:
            name = _scalar(key)
            assert isinstance(name, str)
            if name in out:
                raise _FaultError(key, f"duplicate key {name!r} in an annotation", None, "G105")
            out[name] = _scalar(value)
        return out, join_spans(token_span(children[0]), token_span(children[-1]))

    def bare_annotation(self, children: list[Token]) -> tuple[dict[str, Scalar], Span]:
        tok = children[1]
        key = "color" if tok.type == "COLOR" else "label"
        return {key: _scalar(tok)}, join_spans(token_span(children[0]), token_span(children[-1]))

    def pair(self, children: list[Token]) -> tuple[Token, Token]:
        return children[0], children[1]


def _link(tok: Token) -> WeaveLink:
    value = str(tok.value)
    direction: Direction = ">" if value[0] == ">" else "<"
    return WeaveLink(direction, value[1:-1] or None, token_span(tok))


@cache
@cache
def _parser() -> Lark:
    return lalr("weave.lark", transformer=_Builder(), callbacks=_CALLBACKS, start=("start", "flow"))


_LABEL_RE = re.compile(r"\s*(?:GLIMMER\s+Pattern\s*:)?")


def _read_meta(tok: Token, text: str, source: str | None) -> WeaveMeta:
    start = (tok.start_pos or 0) + len(META_MARK)
    end = (tok.end_pos or 0) - len(META_MARK)
    m = _LABEL_RE.match(text, start, end)
    body_start = m.end() if m else start
    if not text[body_start:end].strip():
        return WeaveMeta(None, token_span(tok))
    # Blank everything before the object (new lines kept) so that the DSL parser's lines
    # and columns are those of the weave text.
    prefix = re.sub(r"[^\n]", " ", text[:body_start])
    document = parse(prefix + text[body_start:end], source=source)
    document.text = text
    return WeaveMeta(document, token_span(tok))


def parse_weave(text: str, /, *, source: str | None = None) -> WeaveDocument:
    """Parse weave text into a :class:`WeaveDocument` with spans.

    Args:
        text: The source text.
        source: File name or label used in error messages.

    Returns:
        The document: its meta block, assignments and weave blocks in source order.

    Raises:
        GlimmerSyntaxError: The text is not weave notation.

    Examples:
        >>> doc = parse_weave('@story@\\n  memory <crystallize< experience\\n@story@')
        >>> doc.to_data()["story"]["weave"][0]["flow"][1]
        '<crystallize<'
    """
    items: list[WeaveItem] = _run(text, source, "start")
    _state.blocks = []
    doc = WeaveDocument(_with_comments(items, _state.comments), source, text)
    _state.comments = []
    doc.check()
    return doc


def _run(text: str, source: str | None, start: str) -> Any:
    """Parse *text* from the rule *start*; every lark failure becomes a GlimmerSyntaxError."""
    check_text(text, source=source)
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    _state.open, _state.blocks, _state.text, _state.source = [], [], text, source
    _state.metas = 0
    _state.comments = []
    try:
        return _parser().parse(text, start=start)
    except NestingError as exc:
        raise exc.error(text, source, hint="flatten the flow") from None
    except _FaultError as exc:
        raise _fault_error(exc, text, source) from None
    except UnexpectedInput as exc:
        raise _translate(exc, text, source, start) from None
    except LarkError as exc:
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, _FaultError):
            raise _fault_error(inner, text, source) from None
        if isinstance(inner, GlimmerSyntaxError):
            raise inner from None
        raise GlimmerSyntaxError(str(exc), location=Location(source), code="G100") from None
    finally:
        _state.open, _state.text = [], ""


def parse_flow(text: str, /, *, source: str | None = None) -> WeaveFlow:
    """Parse exactly one flow (``memory <crystallize< experience``), with spans in *text*.

    Raises:
        GlimmerSyntaxError: The text is not one flow; lines and columns are those of *text*.

    Examples:
        >>> flow = parse_flow('seed> weave> [ "a" | b ]')
        >>> [type(n).__name__ for n in flow.nodes]
        ['WeaveTerm', 'WeaveTerm', 'WeaveGroup']
    """
    flow: WeaveFlow = _run(text, source, "flow")
    _state.blocks, _state.comments = [], []
    return flow


def _fault_error(exc: _FaultError, text: str, source: str | None) -> GlimmerSyntaxError:
    tok = exc.token
    return GlimmerSyntaxError(
        exc.message,
        location=Location(source, tok.line, tok.column, tok.end_line, tok.end_column),
        context=caret_context(text, tok.line or 1, tok.column or 1, tok.end_column),
        hint=exc.hint,
        code=exc.code,
    )


def _translate(
    exc: UnexpectedInput, text: str, source: str | None, start: str = "start"
) -> GlimmerSyntaxError:
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
            hint="a flow is nodes and links only, without @name@ block marks"
            if start == "flow"
            else "a flow ends with a node; close every [ with ] before the block ends",
            code=error.code,
        )
    return error


def _with_comments(items: list[WeaveItem], tokens: list[Token]) -> list[WeaveItem]:
    """Place each comment among the items, or among the entries of the block it is in.

    A comment inside a flow moves before that flow.
    """
    if not tokens:
        return items
    comments = [WeaveComment(str(t.value), token_span(t)) for t in tokens]
    out: list[WeaveItem] = []
    i = 0
    for item in items:
        while i < len(comments) and comments[i].span.start < item.span.start:
            out.append(comments[i])
            i += 1
        if isinstance(item, WeaveBlock):
            inside: list[WeaveComment] = []
            while i < len(comments) and comments[i].span.start < item.span.end:
                inside.append(comments[i])
                i += 1
            item.entries = _merge_entries(item.entries, inside)
        out.append(item)
    out.extend(comments[i:])
    return out


def _merge_entries(
    entries: list[WeaveEntry | WeaveComment], comments: list[WeaveComment]
) -> list[WeaveEntry | WeaveComment]:
    out: list[WeaveEntry | WeaveComment] = []
    i = 0
    for entry in entries:
        while i < len(comments) and comments[i].span.start < entry.span.end:
            out.append(comments[i])  # before the entry, or inside a flow: before it
            i += 1
        out.append(entry)
    out.extend(comments[i:])
    return out


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
            # the marker inside a JSON string would end the block: escape its '@'
            body = body.replace(META_MARK, "\\u0040" + META_MARK[1:])
            parts.append(f"{META_MARK}\n{META_LABEL}\n{body}\n{META_MARK}")
        elif isinstance(item, WeaveAssignment):
            parts.append(f"~{item.name}~ = {_write_scalar(item.value)}")
        elif isinstance(item, WeaveComment):
            parts.append(item.text)
        else:
            lines = [f"@{item.name}@"]
            gaps = _gaps(item.entries)
            for i, entry in enumerate(item.entries):
                if i in gaps:
                    lines.append("")
                if isinstance(entry, WeaveHeading):
                    lines.append(f"{INDENT}>>> {entry.text}".rstrip())
                elif isinstance(entry, WeaveComment):
                    lines.append(INDENT + entry.text)
                else:
                    lines.append(INDENT + _write_flow(entry, INDENT))
            lines.append(f"@{item.name}@")
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _gaps(entries: list[WeaveEntry | WeaveComment]) -> set[int]:
    """Where a blank line goes: before each heading but the first entry, and before the
    comments written right above it."""
    out: set[int] = set()
    for i, entry in enumerate(entries):
        if isinstance(entry, WeaveHeading):
            j = i
            while j > 0 and isinstance(entries[j - 1], WeaveComment):
                j -= 1
            if j:
                out.add(j)
    return out


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
    head += "".join(f"{p}| " for p in node.prefixes)
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
