"""Generation grammars for constrained decoding, derived from glimmer's own sources.

Two forms, each built from the one source of truth for its notation:

* ``"glimmer"``: a Lark grammar in the dialect of `llguidance`_, derived from
  ``syntax/glimmer.lark`` (its terminals, read from the loaded Lark parser, and the shapes of
  its ``object``, ``array``, ``pair`` and ``block`` rules) typed by the Pattern JSON Schema
  (:func:`glimmer.schema`): the top level holds the nine seed sections in their usual order,
  each section its declared fields, each field a value of its type.
* ``"json"``: the Pattern JSON Schema itself, closed at the top level as ``strict`` loading
  is (no unknown sections).

The DSL grammar is a *restriction* of ``glimmer.lark``: every text it accepts parses with
``glimmer.loads`` and validates in strict mode. It leaves out comments, triple-quoted strings,
free-form keys (whose duplicates no context-free grammar can rule out) and the few schema
types that have no DSL terminal. Terminals that end in a lookahead in ``glimmer.lark``
(``12abc`` is an error, not two values) are written followed by whitespace, which the
lookahead accepts.

This module needs no torch; :func:`compile_grammar` needs the ``generate`` extra.

.. _llguidance: https://github.com/guidance-ai/llguidance
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal

from glimmer.errors import GenerationError, GrammarError
from glimmer.model.pattern import SEED_SECTIONS, Section
from glimmer.model.schema import schema

__all__ = [
    "FORMATS",
    "GenerationError",
    "GenerationGrammar",
    "GrammarError",
    "check_format",
    "check_scenario",
    "compile_grammar",
    "dsl_grammar",
    "generation_grammar",
    "json_grammar_schema",
]

GenerationFormat = Literal["glimmer", "json"]

#: The forms a pattern can be generated in.
FORMATS: Final[tuple[str, ...]] = ("glimmer", "json")

# Terminals of glimmer.lark that a typed value may be written as, when the schema's example
# for a constrained string matches them (a colour, a timestamp, a version).
_LITERAL_TERMINALS: Final[tuple[str, ...]] = ("COLOR", "TIMESTAMP", "VERSION")
_KEYWORDS: Final[tuple[str, ...]] = ("TRUE", "FALSE", "NULL")

# What the object model accepts of a terminal, where that is less than the notation allows:
# glimmer.lark reads 2025-53-80 as a timestamp, the Timestamp type refuses it as no real date.
# The generation grammar writes the intersection (years 1000-2099, days 1-28: always real).
_ACCEPTED: Final[dict[str, str]] = {
    "TIMESTAMP": (
        r"(?:1[0-9]{3}|20[0-9]{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
        r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?"
        r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?"
    ),
}


def check_scenario(scenario: str, /) -> str:
    """*scenario* on one line, or a :class:`GenerationError` (G640) when it is empty."""
    text = " ".join(scenario.split())
    if not text:
        raise GenerationError(
            "the scenario is empty",
            code="G640",
            hint='describe what the pattern is for, e.g. glimmer generate "a night gardener"',
        )
    return text


def check_format(fmt: str, /) -> GenerationFormat:
    """*fmt* if it is a generation format, else a :class:`GrammarError` (G641) naming them."""
    if fmt == "glimmer":
        return "glimmer"
    if fmt == "json":
        return "json"
    raise GrammarError(
        f"unknown pattern format {fmt!r}",
        code="G641",
        hint=f"use one of: {', '.join(FORMATS)}",
    )


@dataclass(frozen=True)
class _Terminal:
    name: str
    regex: str
    literal: str | None
    lookahead: bool


@cache
def _file_terminals() -> dict[str, _Terminal]:
    """The terminals of ``glimmer.lark`` as its loaded Lark parser holds them."""
    from lark.lexer import PatternStr

    from glimmer.syntax.parser import _parser

    out: dict[str, _Terminal] = {}
    for term in _parser("data").terminals:
        pattern = term.pattern
        if isinstance(pattern, PatternStr):
            out[term.name] = _Terminal(term.name, re.escape(pattern.value), pattern.value, False)
            continue
        regex, lookahead = _strip_trailing_lookahead(pattern.value)
        out[term.name] = _Terminal(term.name, _no_surrogates(regex), None, lookahead)
    return out


#: A ``\uXXXX`` escape of a string, as the lexer takes it, and as generation may write it:
#: never a UTF-16 surrogate (``D800``-``DFFF``), which the parser refuses unless two make a
#: pair (a model writes the character itself instead).
_ANY_ESCAPE = "u[0-9a-fA-F]{4}"
_NO_SURROGATE = "u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})"


def _no_surrogates(regex: str) -> str:
    r"""*regex* with its ``\uXXXX`` escapes kept off the surrogates.

    >>> import re
    >>> string = re.compile(_no_surrogates(r'"(?:[^"\\]|\\u[0-9a-fA-F]{4})*"'))
    >>> [bool(string.fullmatch(s)) for s in (r'"\u00e9"', r'"\uD7FF"', r'"\uDB6A"', r'"\uE000"')]
    [True, True, False, True]
    """
    return regex.replace(_ANY_ESCAPE, _NO_SURROGATE)


def _strip_trailing_lookahead(regex: str) -> tuple[str, bool]:
    """``regex`` without a trailing ``(?!...)`` group, and whether it had one."""
    if not regex.endswith(")"):
        return regex, False
    depth = 0
    for i in range(len(regex) - 1, -1, -1):
        ch = regex[i]
        escaped = i > 0 and regex[i - 1] == "\\"
        if ch == ")" and not escaped:
            depth += 1
        elif ch == "(" and not escaped:
            depth -= 1
            if depth == 0:
                if regex.startswith("(?!", i):
                    return regex[:i], True
                return regex, False
    return regex, False


def _lark_regex(regex: str) -> str:
    """*regex* written for llguidance's ``/.../`` (ASCII ``\\d`` and ``\\w``, as JSON does)."""
    from llguidance import regex_to_lark

    # control characters and the BOM written as escapes, so the grammar stays plain text
    escaped = re.sub(r"[\x00-\x1f\ufeff]", lambda m: f"\\x{{{ord(m[0]):x}}}", regex)
    return f"/{regex_to_lark(escaped, 'dw')}/"


def _field_order(properties: dict[str, Any]) -> list[str]:
    """A section's own fields first, then those every section shares, as patterns write them
    (``mode``, ``state``, ``focus``, then ``directives``); other objects keep schema order."""
    shared = Section.model_fields
    if not set(shared) <= set(properties):  # not a section (metadata)
        return list(properties)
    own = [k for k in properties if k not in shared]
    return own + [k for k in properties if k in shared]


def _terminal_for_example(example: str) -> _Terminal | None:
    terms = _file_terminals()
    for name in _LITERAL_TERMINALS:
        term = terms[name]
        if re.fullmatch(term.regex, example):
            return term
    return None


class _DslBuilder:
    """Writes one llguidance Lark rule per schema node, in the shapes of ``glimmer.lark``."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.defs: dict[str, Any] = root.get("$defs", {})
        self.rules: dict[str, str] = {}
        self.terms = _file_terminals()
        self.used_terminals: set[str] = set()

    # -- terminals ------------------------------------------------------------------------

    def _lit(self, name: str) -> str:
        literal = self.terms[name].literal
        assert literal is not None
        return json.dumps(literal)

    def _key(self, key: str) -> str:
        ident = self.terms["IDENT"].regex
        keywords = {self.terms[k].literal for k in _KEYWORDS}
        if re.fullmatch(ident, key) and key not in keywords:
            return json.dumps(key)
        return json.dumps(json.dumps(key))  # a quoted STRING key

    def _terminal(self, term: _Terminal) -> str:
        """A terminal as a value: followed by whitespace when the file's ended in a lookahead."""
        name = f"{term.name}_VALUE" if term.lookahead else term.name
        self.used_terminals.add(term.name)
        if name not in self.rules:
            ws = self.terms["WS"].regex
            end = f"(?:{ws})" if term.lookahead else ""
            rule = f"{name}: {_lark_regex(f'(?:{term.regex}){end}')}"
            if term.name in _ACCEPTED:
                rule += f" & {_lark_regex(f'(?:{_ACCEPTED[term.name]}){end}')}"
            self.rules[name] = rule
        return name

    def _text(self) -> str:
        """A string value: a JSON string, or a bare identifier that is not a keyword."""
        if "text" not in self.rules:
            self._terminal(self.terms["STRING"])
            ident = self.terms["IDENT"].regex
            keywords = "|".join(re.escape(self.terms[k].literal or "") for k in _KEYWORDS)
            self.rules["WORD"] = f"WORD: {_lark_regex(ident)} & ~{_lark_regex(keywords)}"
            self.rules["text"] = "text: STRING | WORD"
        return "text"

    # -- schema nodes ---------------------------------------------------------------------

    def _deref(self, node: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            return name, self.defs[name]
        return None, node

    def value(self, node: dict[str, Any]) -> tuple[str | None, str | None]:
        """``(pair value, block value)`` rule expressions for *node*; ``None`` where not possible."""
        name, node = self._deref(node)
        if "anyOf" in node:
            pairs: list[str] = []
            blocks: list[str] = []
            for branch in node["anyOf"]:
                p, b = self.value(branch)
                if p is not None:
                    pairs.append(p)
                if b is not None:
                    blocks.append(b)
            return (" | ".join(pairs) or None), (" | ".join(blocks) or None)
        kind = node.get("type")
        if kind == "string":
            if "pattern" in node:
                examples = node.get("examples") or []
                term = _terminal_for_example(str(examples[0])) if examples else None
                return (self._terminal(term), None) if term is not None else (None, None)
            return self._text(), None
        if kind == "array":
            items, _ = self.value(node.get("items", {}))
            if items is None:
                return None, None
            rule = f"list_{len(self.rules)}"
            self.rules[rule] = (
                f"{rule}: {self._lit('LSQB')} (({items}) {self._lit('_COMMA')}?)* {self._lit('RSQB')}"
            )
            return rule, rule
        if kind == "object" and node.get("properties"):
            rule = f"obj_{(name or str(len(self.rules))).lower()}"
            if rule not in self.rules:
                self.rules[rule] = ""  # reserve the name (recursive schemas)
                members = self._members(node["properties"], self._order(node))
                body = " ".join(f"({m} {self._lit('_COMMA')}?)?" for m in members)
                self.rules[rule] = f"{rule}: {self._lit('LBRACE')} {body} {self._lit('RBRACE')}"
            return rule, rule
        return None, None

    def _order(self, node: dict[str, Any]) -> list[str]:
        return _field_order(node["properties"])

    def _members(self, properties: dict[str, Any], order: list[str]) -> list[str]:
        """One rule per property that has a DSL form: ``key: value`` or ``key {block}``."""
        out: list[str] = []
        for key in order:
            pair, block = self.value(properties[key])
            forms = []
            if pair is not None:
                forms.append(f"{self._key(key)} {self._lit('_COLON')} ({pair})")
            if block is not None:
                forms.append(f"{self._key(key)} ({block})")
            if not forms:
                continue
            rule = f"m_{len(self.rules)}_{re.sub(r'[^a-z0-9_]', '_', key.lower())}"
            self.rules[rule] = f"{rule}: " + " | ".join(forms)
            out.append(rule)
        return out

    def build(self, sections: tuple[str, ...]) -> str:
        props = self.root["properties"]
        members = self._members(props, [s for s in sections if s in props])
        # the top level (glimmer.lark's bare_root): at least one section, in the usual order
        tails = [f"tail_{i}" for i in range(len(members) + 1)]
        lines = [f"{tails[-1]}: "]
        for i in range(len(members) - 1, -1, -1):
            lines.append(f"{tails[i]}: {members[i]}? {tails[i + 1]}")
        starts = [f"{members[i]} {tails[i + 1]}" for i in range(len(members))]
        ws = self.terms["WS"].regex
        head = [
            "// Derived from glimmer.lark and the Pattern JSON Schema by glimmer; do not edit.",
            "start: " + " | ".join(starts),
            *reversed(lines),
            *[r for r in self.rules.values() if r],
            f"%ignore {_lark_regex(ws)}",
        ]
        return "\n".join(head) + "\n"


def dsl_grammar(*, sections: tuple[str, ...] = SEED_SECTIONS) -> str:
    """The llguidance Lark grammar that generates a pattern in the GLIMMER DSL.

    Args:
        sections: Top-level sections it may write, in this order (each optional, at least one).

    Returns:
        The grammar text.

    Examples:
        >>> grammar = dsl_grammar(sections=("story",))
        >>> grammar.splitlines()[0]
        '// Derived from glimmer.lark and the Pattern JSON Schema by glimmer; do not edit.'
        >>> start = grammar.splitlines()[1]  # the start rule names the story section's rule
        >>> start.startswith("start: m_") and "_story" in start
        True
    """
    return _DslBuilder(schema()).build(sections)


def json_grammar_schema() -> dict[str, Any]:
    """The Pattern JSON Schema, closed at the top level as strict loading is.

    A string pattern the object model accepts only part of (timestamps: real dates) is
    narrowed to that part, and a section's own fields come before the shared ones.
    """
    out = schema()
    out["additionalProperties"] = False
    for name in ("$schema", "$id"):
        out.pop(name, None)

    def narrow(node: Any) -> None:
        if isinstance(node, dict):
            examples = node.get("examples") or []
            if "pattern" in node and examples:
                term = _terminal_for_example(str(examples[0]))
                if term is not None and term.name in _ACCEPTED:
                    node["pattern"] = f"^(?:{_ACCEPTED[term.name]})$"
            for value in node.values():
                narrow(value)
        elif isinstance(node, list):
            for value in node:
                narrow(value)

    narrow(out)
    for definition in out.get("$defs", {}).values():  # llguidance keeps keys in schema order
        props = definition.get("properties")
        if props:
            definition["properties"] = {k: props[k] for k in _field_order(props)}
    return out


@dataclass(frozen=True)
class GenerationGrammar:
    """A compiled-ready generation grammar.

    Attributes:
        format: ``"glimmer"`` or ``"json"``.
        text: The grammar in llguidance's serialised form (what ``LLMatcher`` takes).
        source: The Lark grammar (``"glimmer"``) or JSON Schema (``"json"``) it came from.
    """

    format: GenerationFormat
    text: str
    source: str


def generation_grammar(fmt: str = "glimmer", /) -> GenerationGrammar:
    """The grammar for *fmt*, checked by the constraint library.

    Raises:
        GrammarError: An unknown format (G641) or a grammar that does not compile (G642).
        MissingExtraError: The ``generate`` extra is not installed.
    """
    form = check_format(fmt)
    if form == "glimmer":
        source = dsl_grammar()
        return GenerationGrammar(form, compile_grammar(source, kind="lark"), source)
    source = json.dumps(json_grammar_schema(), indent=1)
    return GenerationGrammar(form, compile_grammar(source, kind="json"), source)


def compile_grammar(source: str, /, *, kind: Literal["lark", "json"]) -> str:
    """Check *source* with llguidance and return it in llguidance's serialised form.

    Raises:
        GrammarError: llguidance refuses it (G642); the message carries llguidance's reason.
    """
    from glimmer.extras import require

    require("generate", feature="constrained generation")
    from llguidance import LLMatcher

    try:
        text = (
            LLMatcher.grammar_from_lark(source)
            if kind == "lark"
            else LLMatcher.grammar_from_json_schema(source)
        )
        is_error, messages = LLMatcher.validate_grammar_with_warnings(text)
    except (ValueError, TypeError, RuntimeError) as exc:
        is_error, messages = True, [str(exc)]
    if is_error:
        first = messages[0] if messages else "no reason given"
        raise GrammarError(
            f"the {kind} generation grammar does not compile: {first.splitlines()[0][:300]}",
            code="G642",
            hint="the grammar uses a construct llguidance does not support; "
            "check the grammar source or the installed llguidance version",
        )
    return text
