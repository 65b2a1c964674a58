"""The STARWEAVE glossary: concepts, definitions, examples and typed relations, as data.

The default glossary ships as ``glossary.toml`` beside this module. :meth:`Glossary.load`
reads a user file, :meth:`Glossary.extend` merges one into another, and every glossary is
validated on construction: each relation names a declared kind and a concept that exists.
Problems are :class:`GlossaryError` with the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from glimmer._toml import loads_toml
from glimmer.errors import GlossaryError, Location, caret_context

__all__ = ["SENTENCE_SLOTS", "SYNTHESIS_KEYS", "Concept", "Glossary", "GlossaryError", "Relation"]

#: Sentence slots a concept may fill by hand, and the placeholders each may use
#: (``{framework}`` is allowed everywhere; a capitalised placeholder starts a sentence).
SENTENCE_SLOTS: dict[str, tuple[str, ...]] = {
    "topic": ("topic", "Topic"),  # about an everyday topic, third person (application)
    "self": ("subject", "Subject"),  # how the model meets a subject, first person (reflection)
    "change": (),  # what the framework changed in the model (matrix)
    "reading": ("part", "Part"),  # what a part of a pattern does (interpretation)
}
#: Lists a ``[synthesis]`` table may add to the pattern synthesiser's vocabulary, with the
#: placeholders they may use; ``*_rules`` entries are ``[seen, reaction]`` pairs.
SYNTHESIS_KEYS: dict[str, tuple[str, ...]] = {
    "story_lines": ("purpose", "focus", "c1", "c2"),
    "directives": ("purpose", "focus", "c1", "c2"),
    "triggers": ("purpose", "focus", "c1", "c2"),
    "steps": ("purpose", "focus", "c1", "c2"),
    "seen_rules": ("purpose", "focus", "c1", "c2"),
    "processing_rules": ("purpose", "focus", "c1", "c2"),
    "authors": (),
    "modes": (),
}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Relation:
    """A typed link from one concept to another.

    Attributes:
        kind: Relation kind, e.g. ``"forms"``; see :attr:`Glossary.relation_kinds`.
        target: Name of the concept it points at.
    """

    kind: str
    target: str


@dataclass(frozen=True, slots=True)
class Concept:
    """One STARWEAVE concept (or GLIMMER section, when ``kind == "section"``).

    Attributes:
        name: Canonical snake_case name, e.g. ``"consciousness_crystals"``.
        definition: One or two sentences.
        examples: Illustrative sentences that go beyond the definition.
        relations: Typed links to other concepts.
        aliases: Other surface forms people write (``"consciousness crystals"``).
        kind: ``"concept"`` or ``"section"``.
        sentences: Hand-written sentence pools by slot (see :data:`SENTENCE_SLOTS`): builders
            draw this concept's sentences from them, and compose sentences from the
            definition, examples and relations for a slot without a pool.
        keywords: Word stems that point at this concept in a pattern (``"memor"``), besides
            its names and aliases; interpretation records pick the concepts a snippet evokes.
    """

    name: str
    definition: str
    examples: list[str] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    kind: str = "concept"
    sentences: dict[str, list[str]] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)

    @property
    def spoken(self) -> str:
        """The name with spaces: ``"consciousness crystals"``."""
        return self.name.replace("_", " ")


def _line_of(text: str, needle: str, start_at: str | None = None) -> int | None:
    """1-based line of the first *needle* in *text* (after *start_at*, if given)."""
    offset = 0
    if start_at is not None:
        found = text.find(start_at)
        if found >= 0:
            offset = found
    pos = text.find(needle, offset)
    if pos < 0:
        return None
    return text.count("\n", 0, pos) + 1


class Glossary(Mapping[str, Concept]):
    """A validated set of STARWEAVE concepts; a read-only mapping from name to :class:`Concept`.

    Examples:
        >>> g = Glossary.default()
        >>> g["consciousness_crystals"].relations[0]
        Relation(kind='forms', target='quantum_relationships')
    """

    def __init__(
        self,
        concepts: Mapping[str, Concept],
        /,
        *,
        relation_kinds: Mapping[str, str],
        source: str | None = None,
        text: str | None = None,
        name: str | None = None,
        synthesis: Mapping[str, list[Any]] | None = None,
    ) -> None:
        self._concepts = dict(concepts)
        self._declared_name = name
        self.synthesis: dict[str, list[Any]] = dict(synthesis or {})
        """Lines the pattern synthesiser adds to its vocabulary (see :data:`SYNTHESIS_KEYS`)."""
        self.relation_kinds: dict[str, str] = dict(relation_kinds)
        """Relation kind -> the verb phrase that reads it (``"forms"`` -> ``"gives rise to"``)."""
        self.source = source
        """The file the glossary came from (the last one, for extended glossaries)."""
        self._validate(text)

    @property
    def name(self) -> str:
        """The name of the framework this glossary describes, e.g. ``"STARWEAVE"``.

        It is the file's top-level ``name``; a file without one is named after itself
        (``lumenfold.toml`` -> ``"LUMENFOLD"``), and an extension without one keeps the name of
        the glossary it extends. Builders, prompts and reports say this wherever they speak
        of "the framework".

        Examples:
            >>> Glossary.default().name
            'STARWEAVE'
            >>> Glossary.loads('concepts.seed.definition = "A beginning."', source="lumenfold.toml").name
            'LUMENFOLD'
        """
        if self._declared_name:
            return self._declared_name
        if self.source:
            stem = Path(self.source).stem
            return re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_").upper() or "FRAMEWORK"
        return "FRAMEWORK"

    def summary(self, *, examples: int = 1) -> str:
        """A short text of the framework: its name and each core concept with its definition.

        Fit for a system prompt or a teacher prompt. Each concept line carries its definition,
        up to *examples* examples and its relations, read with their phrases.

        Examples:
            >>> print(Glossary.default().summary(examples=0).splitlines()[0])
            The STARWEAVE framework, concept by concept:
        """
        lines = [f"The {self.name} framework, concept by concept:"]
        for c in self.core() or list(self._concepts.values()):
            line = f"- {c.name}: {c.definition}"
            for ex in c.examples[:examples]:
                line += f" Example: {ex}"
            rels = [f"{c.name} {self.phrase(r)} {r.target}" for r in c.relations]
            if rels:
                line += " Relations: " + "; ".join(rels) + "."
            lines.append(line)
        return "\n".join(lines)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def default(cls) -> Glossary:
        """The glossary shipped with glimmer (cached; glossaries are immutable)."""
        return _default()

    @classmethod
    def loads(cls, text: str, /, *, source: str | None = None) -> Glossary:
        """Read a glossary from TOML text.

        Args:
            text: TOML with ``[relation_kinds]`` and ``[concepts.<name>]`` tables.
            source: File name for error messages.

        Returns:
            The validated glossary.

        Raises:
            GlossaryError: The text is not TOML, or a concept or relation is malformed.
        """
        concepts, kinds, name, synth = _parse(text, source)
        return cls(
            concepts, relation_kinds=kinds, source=source, text=text, name=name, synthesis=synth
        )

    @classmethod
    def load(cls, path: str | Path, /) -> Glossary:
        """Read a glossary from a TOML file (see :meth:`loads`).

        Raises:
            GlimmerFileError: The file cannot be read.
            GlossaryError: It is not a valid glossary.
        """
        from glimmer.model.io import read_text

        return cls.loads(read_text(path), source=str(path))

    def extend(self, other: Glossary | str | Path, /, *, replace: bool = False) -> Glossary:
        """A new glossary: this one with *other*'s concepts added (or only *other*'s).

        Concepts in *other* with the same name replace this glossary's. Relation kinds merge.

        Args:
            other: A glossary, or the path of a glossary file.
            replace: Return *other* alone instead of merging.

        Returns:
            The merged (and validated) glossary.
        """
        if isinstance(other, Glossary):
            concepts, kinds, source, text, name, synth = (
                other._concepts,
                other.relation_kinds,
                other.source,
                None,
                other._declared_name,
                other.synthesis,
            )
        else:
            from glimmer.model.io import read_text

            source = str(other)
            text = read_text(other)
            concepts, kinds, name, synth = _parse(text, source)
        if replace:
            return Glossary(
                concepts,
                relation_kinds=kinds,
                source=source,
                text=text,
                name=name,
                synthesis=synth,
            )
        # the extension may relate to this glossary's concepts: validate the merge, not the part
        return Glossary(
            {**self._concepts, **concepts},
            relation_kinds={**self.relation_kinds, **kinds},
            source=source,
            text=text,
            name=name or self.name,
            synthesis={
                k: [*self.synthesis.get(k, []), *synth.get(k, [])]
                for k in sorted({*self.synthesis, *synth})
            },
        )

    # -- mapping --------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Concept:
        return self._concepts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._concepts)

    def __len__(self) -> int:
        return len(self._concepts)

    def __repr__(self) -> str:
        return f"Glossary({len(self)} concepts, source={self.source!r})"

    @property
    def concepts(self) -> dict[str, Concept]:
        """Name -> :class:`Concept`, in file order."""
        return dict(self._concepts)

    def core(self) -> list[Concept]:
        """The STARWEAVE concepts proper (not the GLIMMER sections)."""
        return [c for c in self._concepts.values() if c.kind == "concept"]

    def sections(self) -> list[Concept]:
        """The GLIMMER sections, as concepts."""
        return [c for c in self._concepts.values() if c.kind == "section"]

    def terms(self) -> list[str]:
        """Every surface form to look for in text: names, spoken names and aliases, deduplicated.

        Examples:
            >>> "consciousness crystals" in Glossary.default().terms()
            True
        """
        seen: dict[str, None] = {}
        for c in self._concepts.values():
            for term in (c.name, c.spoken, *c.aliases):
                seen.setdefault(term, None)
        return list(seen)

    def phrase(self, relation: Relation) -> str:
        """How a relation reads in a sentence, e.g. ``"gives rise to"``."""
        return self.relation_kinds.get(relation.kind, relation.kind.replace("_", " "))

    # -- validation -----------------------------------------------------------------------

    def _validate(self, text: str | None) -> None:
        for concept in self._concepts.values():
            for rel in concept.relations:
                header = f"[concepts.{concept.name}]"
                if rel.kind not in self.relation_kinds:
                    line = _line_of(text, f'"{rel.kind}"', header) if text else None
                    raise GlossaryError(
                        f"concept {concept.name!r} has a relation of unknown kind {rel.kind!r}",
                        location=Location(self.source, line, 1 if line else None),
                        context=caret_context(text, line, 1) if text and line else "",
                        hint=f"declare it under [relation_kinds]; known: {', '.join(sorted(self.relation_kinds))}",
                        code="G403",
                    )
                if rel.target not in self._concepts:
                    line = _line_of(text, f'"{rel.target}"', header) if text else None
                    raise GlossaryError(
                        f"concept {concept.name!r} relates to {rel.target!r}, which is not a concept",
                        location=Location(self.source, line, 1 if line else None),
                        context=caret_context(text, line, 1) if text and line else "",
                        hint="add that concept, or fix the target's spelling",
                        code="G403",
                    )


def _problem(msg: str, text: str, source: str | None, needle: str, hint: str) -> GlossaryError:
    line = _line_of(text, needle)
    return GlossaryError(
        msg,
        location=Location(source, line, 1 if line else None),
        context=caret_context(text, line, 1) if line else "",
        hint=hint,
        code="G402",
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _sentence_problem(
    msg: str, text: str, source: str | None, needle: str, after: str, hint: str, code: str
) -> GlossaryError:
    line = _line_of(text, needle, after)
    return GlossaryError(
        msg,
        location=Location(source, line, 1 if line else None),
        context=caret_context(text, line, 1) if line else "",
        hint=hint,
        code=code,
    )


def _check_placeholders(
    line: str, allowed: tuple[str, ...], where: str, text: str, source: str | None, after: str
) -> None:
    for found in _PLACEHOLDER.findall(line):
        if found not in allowed:
            raise _sentence_problem(
                f"{where}: unknown placeholder {{{found}}}",
                text,
                source,
                f"{{{found}}}",
                after,
                "use " + ", ".join(f"{{{a}}}" for a in allowed),
                "G420" if "sentences" in where else "G421",
            )


def _sentences(name: str, raw: Any, text: str, source: str | None) -> dict[str, list[str]]:
    header = f"[concepts.{name}.sentences]"
    if not isinstance(raw, dict):
        raise _sentence_problem(
            f"sentences of concept {name!r} must be a table of sentence lists",
            text,
            source,
            "sentences",
            f"[concepts.{name}",
            f'write {header} with lists such as topic = ["..."]',
            "G420",
        )
    pools: dict[str, list[str]] = {}
    for slot, lines in raw.items():
        if slot not in SENTENCE_SLOTS:
            raise _sentence_problem(
                f"concept {name!r} has sentences for an unknown slot {slot!r}",
                text,
                source,
                slot,
                header,
                "slots: " + ", ".join(SENTENCE_SLOTS),
                "G420",
            )
        if not _strings(lines) or not lines:
            raise _sentence_problem(
                f"sentences.{slot} of concept {name!r} must be a non-empty list of strings",
                text,
                source,
                slot,
                header,
                f'write {slot} = ["...", "..."]',
                "G420",
            )
        for line in lines:
            _check_placeholders(
                line,
                (*SENTENCE_SLOTS[slot], "framework"),
                f"sentences.{slot} of concept {name!r}",
                text,
                source,
                header,
            )
        pools[slot] = list(lines)
    return pools


def _synthesis(raw: Any, text: str, source: str | None) -> dict[str, list[Any]]:
    def bad(msg: str, needle: str, hint: str) -> GlossaryError:
        return _sentence_problem(msg, text, source, needle, "[synthesis]", hint, "G421")

    if not isinstance(raw, dict):
        raise bad("[synthesis] must be a table of lists", "synthesis", "write [synthesis]")
    out: dict[str, list[Any]] = {}
    for key, items in raw.items():
        if key not in SYNTHESIS_KEYS:
            raise bad(
                f"[synthesis] has an unknown list {key!r}",
                key,
                "lists: " + ", ".join(SYNTHESIS_KEYS),
            )
        pairs = key.endswith("_rules")
        ok = isinstance(items, list) and all(
            (isinstance(i, list) and len(i) == 2 and _strings(i)) if pairs else isinstance(i, str)
            for i in items
        )
        if not ok:
            raise bad(
                f"[synthesis] {key} must be a list of "
                + ("[seen, reaction] string pairs" if pairs else "strings"),
                key,
                f'write {key} = [["a limit", "treat it as a boundary"]]'
                if pairs
                else f'write {key} = ["...", "..."]',
            )
        for item in items:
            for part in item if pairs else [item]:
                _check_placeholders(
                    part, SYNTHESIS_KEYS[key], f"[synthesis] {key}", text, source, "[synthesis]"
                )
        out[key] = list(items)
    return out


def _parse(
    text: str, source: str | None
) -> tuple[dict[str, Concept], dict[str, str], str | None, dict[str, list[Any]]]:
    data = loads_toml(
        text,
        source=source,
        error=GlossaryError,
        hint="a glossary is TOML: [relation_kinds] and [concepts.<name>] tables",
    )
    framework = data.get("name")
    if framework is not None and (not isinstance(framework, str) or not framework.strip()):
        raise _problem(
            "the glossary's name must be a non-empty string",
            text,
            source,
            "name",
            'write e.g. name = "LUMENFOLD" at the top of the file',
        )
    kinds = data.get("relation_kinds", {})
    if not isinstance(kinds, dict) or not all(isinstance(v, str) for v in kinds.values()):
        raise _problem(
            "[relation_kinds] must map each kind to a phrase",
            text,
            source,
            "[relation_kinds]",
            'write e.g. forms = "gives rise to"',
        )
    raw = data.get("concepts")
    if not isinstance(raw, dict) or not raw:
        line = _line_of(text, "concepts") or 1  # no table at all: point at the top of the file
        raise GlossaryError(
            "a glossary needs at least one [concepts.<name>] table",
            location=Location(source, line, 1),
            context=caret_context(text, line, 1) if text.strip() else "",
            hint='add [concepts.my_concept] with definition = "..."',
            code="G402",
        )
    concepts: dict[str, Concept] = {}
    for name, body in raw.items():
        header = f"[concepts.{name}]"
        if not _NAME.match(name):
            raise _problem(
                f"concept name {name!r} is not snake_case",
                text,
                source,
                header,
                "names are lower-case words joined by '_', e.g. consciousness_crystals",
            )
        if not isinstance(body, dict):
            raise _problem(
                f"concept {name!r} must be a table", text, source, name, f"write {header}"
            )
        definition = body.get("definition")
        if not isinstance(definition, str) or not definition.strip():
            raise _problem(
                f"concept {name!r} has no definition",
                text,
                source,
                header,
                'add definition = "..."',
            )
        for key in ("examples", "aliases", "keywords"):
            if key in body and not _strings(body[key]):
                raise _problem(
                    f"{key} of concept {name!r} must be a list of strings",
                    text,
                    source,
                    header,
                    f'write {key} = ["...", "..."]',
                )
        relations: list[Relation] = []
        for rel in body.get("relations", []):
            if not (
                isinstance(rel, dict)
                and isinstance(rel.get("kind"), str)
                and isinstance(rel.get("target"), str)
            ):
                raise _problem(
                    f"a relation of concept {name!r} is malformed",
                    text,
                    source,
                    header,
                    'write { kind = "forms", target = "other_concept" }',
                )
            relations.append(Relation(rel["kind"], rel["target"]))
        concepts[name] = Concept(
            name=name,
            definition=definition.strip(),
            examples=list(body.get("examples", [])),
            relations=relations,
            aliases=list(body.get("aliases", [])),
            kind=str(body.get("kind", "concept")),
            sentences=_sentences(name, body["sentences"], text, source)
            if "sentences" in body
            else {},
            keywords=[k.lower() for k in body.get("keywords", [])],
        )
    synth = _synthesis(data["synthesis"], text, source) if "synthesis" in data else {}
    return concepts, dict(kinds), framework.strip() if framework else None, synth


@cache
def _default() -> Glossary:
    res = resources.files("glimmer.starweave").joinpath("glossary.toml")
    return Glossary.loads(res.read_text(encoding="utf-8"), source=str(res))
