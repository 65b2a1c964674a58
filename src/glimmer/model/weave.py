"""The typed model of the weave notation, and the ``"weave"`` format of ``loads``/``dumps``.

A ``@name@ ... @name@`` block of a ``.we`` file is a :class:`Weave`: an ordered list of
:class:`Heading` and :class:`Flow` entries. A flow is a chain of nodes (a :class:`Term` or
a :class:`Group` of alternative flows) joined by :class:`Link` s, each with a direction and,
for ``a >define> b``, a verb. Terms and groups may carry an annotation such as
``{color: "#FF69B4"}``.

Inside a :class:`~glimmer.Pattern` a weave section is plain data, so the DSL and JSON forms
carry it unchanged::

    {"title": "STARWEAVE Universe Seed Patterns",      # from ~story~ = "..."
     "weave": [{"heading": "Core Concept Seeds"},     # from @story@ ... @story@
               {"flow": [{"term": "memory"}, "<crystallize<", {"term": "experience"}]}]}

:func:`weave_sections` gives the typed view of every such section of a pattern.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from glimmer.errors import (
    GlimmerValidationError,
    Problem,
)
from glimmer.model.convert import pattern_from_data
from glimmer.model.io import Format, register_format
from glimmer.model.pattern import Pattern
from glimmer.syntax import weave as syntax
from glimmer.syntax.nodes import Document, Member, Object, Scalar

__all__ = [
    "Flow",
    "Group",
    "Heading",
    "Link",
    "Term",
    "Weave",
    "is_weave_section",
    "weave_sections",
]

ScalarValue = str | int | float | bool | None


class _WeaveModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Term(_WeaveModel):
    """A term: a quoted string (``"Consciousness Layer"``) or a bare word (``memory``)."""

    text: str
    """The term's text, without quotes."""
    quoted: bool = False
    """Whether it is written in double quotes."""
    annotation: dict[str, ScalarValue] | None = None
    """The ``{key: value}`` annotation written before it, if any."""
    prefixes: list[str] = []
    """Words written against a bar before it, such as ``verify`` in ``verify| data``."""

    @property
    def color(self) -> str | None:
        """The annotation's ``color``, if it has one."""
        return _color(self.annotation)


class Group(_WeaveModel):
    """``[ a | b | c ]``: alternative flows, in order."""

    alternatives: list[Flow]
    """The alternatives, each a flow."""
    annotation: dict[str, ScalarValue] | None = None
    """The ``{key: value}`` annotation written before the group, if any."""
    prefixes: list[str] = []
    """Words written against a bar before it, such as ``verify|``."""

    @property
    def color(self) -> str | None:
        """The annotation's ``color``, if it has one."""
        return _color(self.annotation)


class Link(_WeaveModel):
    """The link between two nodes of a flow.

    ``>`` and ``<`` point the way the flow runs; ``>define>`` and ``<crystallize<`` also
    name the verb.
    """

    direction: Literal[">", "<"]
    """``">"``: from the left node to the right one; ``"<"``: from right to left."""
    verb: str | None = None
    """The verb between the arrows, or ``None`` for a bare arrow."""

    @property
    def text(self) -> str:
        """The link as written: ``>``, ``<``, ``>define>`` or ``<crystallize<``."""
        return (
            self.direction if self.verb is None else f"{self.direction}{self.verb}{self.direction}"
        )


class Flow(_WeaveModel):
    """A chain of nodes joined by links: ``seed> weave> [ ... ]> crystallize``.

    Examples:
        >>> flow = Flow.parse("memory <crystallize< experience")
        >>> flow.explain()
        'experience crystallizes into memory'
        >>> flow.links[0].verb, flow.links[0].direction
        ('crystallize', '<')
    """

    nodes: list[Term | Group]
    """The nodes, left to right."""
    links: list[Link] = []
    """The links between consecutive nodes: one fewer than the nodes."""

    @model_validator(mode="after")
    def _links_between_nodes(self) -> Flow:
        if not self.nodes or len(self.links) != len(self.nodes) - 1:
            raise ValueError("a flow has at least one node and one link between each two nodes")
        return self

    @classmethod
    def parse(cls, text: str, /) -> Flow:
        """Read one flow written in weave notation.

        Raises:
            GlimmerSyntaxError: The text is not exactly one flow.
        """
        return _flow_from_syntax(syntax.parse_flow(text, source="<flow>"))

    @property
    def text(self) -> str:
        """The flow in weave notation (groups spread over several lines)."""
        return syntax.render_flow(_flow_to_syntax(self))

    def terms(self) -> list[Term]:
        """Every term of the flow, groups included, left to right."""
        out: list[Term] = []
        for node in self.nodes:
            if isinstance(node, Term):
                out.append(node)
            else:
                for alt in node.alternatives:
                    out.extend(alt.terms())
        return out

    def explain(self) -> str:
        """The flow in plain English, for dataset builders and readers new to the notation.

        ``a >verb> b`` reads "a verbs b"; ``a <verb< b`` reads "b verbs into a"; bare arrows
        read as "then" in the direction they point; a group reads "one of: ...".

        Examples:
            >>> Flow.parse('"GLIMMER" >define> "Pattern Language of Stars"').explain()
            'GLIMMER defines Pattern Language of Stars'
            >>> Flow.parse("seed> weave> [a | b <flow< c]> crystallize").explain()
            'seed, then weave, then one of (a; c flows into b), then crystallize'
        """
        return _explain(self)


class Heading(_WeaveModel):
    """``>>> Core Concept Seeds``: a heading inside a weave block."""

    text: str
    """The heading's text."""


class Weave(_WeaveModel):
    """A weave section: the headings and flows of one ``@name@`` block, and its title.

    Examples:
        >>> w = Weave.from_data({"title": "Seeds", "weave": [{"heading": "Core"}]})
        >>> w.title, w.headings()
        ('Seeds', ['Core'])
    """

    entries: list[Heading | Flow] = []
    """Headings and flows, in order."""
    title: ScalarValue = None
    """The value of the ``~name~ = ...`` assignment for the same section, if any."""

    @classmethod
    def from_data(cls, data: Any, /) -> Weave:
        """Build a weave section from its data form (``{"title"?, "weave": [...]}``).

        Raises:
            GlimmerValidationError: The data is not a weave section (code ``G204``).
        """
        if not isinstance(data, dict) or "weave" not in data or not set(data) <= {"title", "weave"}:
            raise _invalid('a weave section is {"weave": [...]} with an optional "title"')
        try:
            entries = syntax.entries_from_data(data["weave"])
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        if "title" in data:
            return cls(entries=[_entry_from_syntax(e) for e in entries], title=data["title"])
        return cls(entries=[_entry_from_syntax(e) for e in entries])

    def to_data(self) -> dict[str, Any]:
        """The data form: ``{"title": ..., "weave": [...]}`` (title only if set)."""
        out: dict[str, Any] = {}
        if "title" in self.model_fields_set:
            out["title"] = self.title
        out["weave"] = [syntax.entry_to_data(_entry_to_syntax(e)) for e in self.entries]
        return out

    def text(self, name: str = "story", /) -> str:
        """The section in weave notation: ``~name~ = title`` if set, then the ``@name@`` block.

        Examples:
            >>> flow = {"flow": [{"term": "seed"}, ">", {"term": "bloom"}]}
            >>> print(Weave.from_data({"weave": [flow]}).text("story"), end="")
            @story@
                seed> bloom
            @story@
        """
        doc = syntax.weave_from_data({name: self.to_data()})
        doc.items = doc.items[1:]  # no meta block
        return syntax.render_weave(doc)

    def explain(self) -> str:
        """Every flow in plain English, one per line, under its heading.

        Examples:
            >>> w = Weave.from_data({"weave": [{"heading": "Memory"},
            ...     {"flow": [{"term": "memory"}, "<crystallize<", {"term": "experience"}]}]})
            >>> print(w.explain())
            Memory:
            - experience crystallizes into memory
        """
        lines: list[str] = []
        for heading, flows in self.sections():
            if heading:
                lines.append(f"{heading}:")
            lines.extend(f"- {flow.explain()}" for flow in flows)
        return "\n".join(lines)

    def flows(self) -> list[Flow]:
        """The flows, in order."""
        return [e for e in self.entries if isinstance(e, Flow)]

    def headings(self) -> list[str]:
        """The headings' texts, in order."""
        return [e.text for e in self.entries if isinstance(e, Heading)]

    def sections(self) -> list[tuple[str | None, list[Flow]]]:
        """Flows grouped under the heading before them (``None`` before the first heading)."""
        out: list[tuple[str | None, list[Flow]]] = []
        for entry in self.entries:
            if isinstance(entry, Heading):
                out.append((entry.text, []))
            else:
                if not out:
                    out.append((None, []))
                out[-1][1].append(entry)
        return out


Group.model_rebuild()


def is_weave_section(value: Any, /) -> bool:
    """Whether a section's data is a weave section (written as an ``@name@`` block)."""
    return syntax.is_weave_data(value)


def weave_sections(pattern: Pattern, /) -> dict[str, Weave]:
    """The typed view of every weave section of *pattern*, by section name, in order.

    Examples:
        >>> import glimmer
        >>> p = glimmer.loads("@story@\\n  >>> Seeds\\n  seed> bloom\\n@story@", format="weave")
        >>> weave_sections(p)["story"].flows()[0].explain()
        'seed, then bloom'
    """
    return {k: Weave.from_data(v) for k, v in pattern.to_data().items() if syntax.is_weave_data(v)}


# -- conversions between the plain tree and the typed model -------------------------------


def _color(annotation: dict[str, ScalarValue] | None) -> str | None:
    value = annotation.get("color") if annotation else None
    return value if isinstance(value, str) else None


def _invalid(message: str) -> GlimmerValidationError:
    return GlimmerValidationError([Problem("G204", message, hint="see the weave notation guide")])


def _node_from_syntax(node: syntax.WeaveTerm | syntax.WeaveGroup) -> Term | Group:
    if isinstance(node, syntax.WeaveTerm):
        return Term(
            text=node.text, quoted=node.quoted, annotation=node.annotation, prefixes=node.prefixes
        )
    return Group(
        alternatives=[_flow_from_syntax(f) for f in node.alternatives],
        annotation=node.annotation,
        prefixes=node.prefixes,
    )


def _flow_from_syntax(flow: syntax.WeaveFlow) -> Flow:
    return Flow(
        nodes=[_node_from_syntax(n) for n in flow.nodes],
        links=[Link(direction=k.direction, verb=k.verb) for k in flow.links],
    )


def _entry_from_syntax(entry: syntax.WeaveHeading | syntax.WeaveFlow) -> Heading | Flow:
    if isinstance(entry, syntax.WeaveHeading):
        return Heading(text=entry.text)
    return _flow_from_syntax(entry)


def _node_to_syntax(node: Term | Group) -> syntax.WeaveTerm | syntax.WeaveGroup:
    if isinstance(node, Term):
        return syntax.WeaveTerm(
            node.text, node.quoted, node.annotation, prefixes=list(node.prefixes)
        )
    return syntax.WeaveGroup(
        [_flow_to_syntax(f) for f in node.alternatives],
        node.annotation,
        prefixes=list(node.prefixes),
    )


def _flow_to_syntax(flow: Flow) -> syntax.WeaveFlow:
    return syntax.WeaveFlow(
        [_node_to_syntax(n) for n in flow.nodes],
        [syntax.WeaveLink(k.direction, k.verb) for k in flow.links],
    )


def _entry_to_syntax(entry: Heading | Flow) -> syntax.WeaveHeading | syntax.WeaveFlow:
    if isinstance(entry, Heading):
        return syntax.WeaveHeading(entry.text)
    return _flow_to_syntax(entry)


# -- explanations -----------------------------------------------------------------------


def _third_person(verb: str) -> str:
    """``crystallize`` -> ``crystallizes``, ``flow`` -> ``flows``, ``harmony`` -> ``harmonies``."""
    words = verb.replace("_", " ").split()
    if not words:
        return verb
    head = words[0]
    if head.endswith(("s", "sh", "ch", "x", "z", "o")):
        head += "es"
    elif len(head) > 1 and head.endswith("y") and head[-2] not in "aeiou":
        head = head[:-1] + "ies"
    else:
        head += "s"
    return " ".join([head, *words[1:]])


def _describe(node: Term | Group) -> str:
    if isinstance(node, Term):
        text = node.text
    else:
        text = "one of (" + "; ".join(_explain(f) for f in node.alternatives) + ")"
    return f"{text} ({', '.join(node.prefixes)})" if node.prefixes else text


def _explain(flow: Flow) -> str:
    nodes, links = list(flow.nodes), list(flow.links)
    directions = {k.direction for k in links}
    if len(directions) > 1:  # mixed directions: one clause per link
        pairs = zip(nodes, links, nodes[1:], strict=False)
        return "; ".join(_explain(Flow(nodes=[a, b], links=[k])) for a, k, b in pairs)
    backward = directions == {"<"}
    if backward:  # read a right-to-left flow in the direction it runs
        nodes.reverse()
        links.reverse()
    out = _describe(nodes[0])
    for link, node in zip(links, nodes[1:], strict=True):
        target = _describe(node)
        if link.verb is None:
            out += f", then {target}"
        elif backward:
            out += f" {_third_person(link.verb)} into {target}"
        else:
            out += f" {_third_person(link.verb)} {target}"
    return out


# -- the "weave" format -------------------------------------------------------------------


def _read(text: str, source: str | None, strict: bool) -> Pattern:
    doc = syntax.parse_weave(text, source=source)
    data = doc.to_data()

    def document() -> Document | None:
        # problems in the meta object point at its lines; in a block or an assignment, at
        # the line that opens it
        members: list[Member] = []
        for item in doc.items:
            if isinstance(item, syntax.WeaveMeta) and item.document is not None:
                members.extend(item.document.root.members)
        seen = {m.key for m in members}
        for item in doc.items:
            if isinstance(item, syntax.WeaveBlock | syntax.WeaveAssignment) and (
                item.name not in seen
            ):
                seen.add(item.name)
                members.append(Member(item.name, Scalar(None, "null"), item.span))
        return Document(Object(members), source=source, text=text)

    return pattern_from_data(data, strict=strict, source=source, document=document)


def _write(pattern: Pattern) -> str:
    return syntax.render_weave(syntax.weave_from_data(pattern.to_data()))


def _fmt(text: str, source: str | None) -> str:
    return syntax.render_weave(syntax.parse_weave(text, source=source))


def sniff(text: str, /) -> bool:
    """Whether *text* is weave notation: it opens with ``@pattern_meta@`` (or a block)."""
    head = text.lstrip("\ufeff \t\r\n")
    return head.startswith(syntax.META_MARK)


register_format(Format("weave", (".we", ".weave"), _read, _write, _fmt, sniff))
