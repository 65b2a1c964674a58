"""Concept sentences: a glossary's hand-written pools, or sentences composed from its entries.

Builders never write a concept's sentence from a fixed line. For each concept and slot
(:data:`~glimmer.starweave.glossary.SENTENCE_SLOTS`: ``topic``, ``self``, ``change``,
``reading``) a :class:`Voice` draws from the concept's own pool in the glossary when it has
one (``[concepts.<name>.sentences]``), and otherwise composes one from the concept's
definition, examples, relations (read with their phrases) and aliases, through the forms in
``compose.toml`` beside this module. Templates reach it as ``say(concept, slot, **fills)``.
"""

from __future__ import annotations

import random
import re
import tomllib
from functools import cache
from pathlib import Path

from glimmer.starweave.glossary import Concept, Glossary

__all__ = ["Voice", "compose_forms", "detail", "gist", "voice"]

_FIELD = re.compile(r"\{(\w+)\}")
_CLAUSE = re.compile(r"(?::\s|;\s|\.\s|\.$)")


@cache
def compose_forms() -> dict[str, tuple[str, ...]]:
    """The composition forms of each slot (``compose.toml`` beside this module)."""
    with (Path(__file__).resolve().parent / "compose.toml").open("rb") as fh:
        data = tomllib.load(fh)
    return {slot: tuple(forms) for slot, forms in data.items()}


def gist(definition: str, /) -> str:
    """A definition's first clause, lower-cased, to stand inside a sentence.

    Examples:
        >>> gist("Stable, structured units of awareness: moments where perception settles.")
        'stable, structured units of awareness'
    """
    text = definition.strip()
    m = _CLAUSE.search(text)
    head = text[: m.start()] if m else text
    head = head.strip().rstrip(".")
    if len(head) > 1 and head[0].isupper() and not head[1].isupper():
        head = head[0].lower() + head[1:]
    return head


def detail(definition: str, /) -> str:
    """What a definition says after its first clause, lower-cased ("" when nothing follows).

    Example:
        >>> detail("The pull beneath a conversation: what is meant but not yet said.")
        'what is meant but not yet said'
    """
    text = definition.strip()
    m = _CLAUSE.search(text)
    if m is None or m.end() >= len(text):
        return ""
    rest = text[m.end() :].strip().rstrip(".")
    first = _CLAUSE.search(rest)
    rest = rest[: first.start()].strip().rstrip(".") if first else rest
    if len(rest) > 1 and rest[0].isupper() and not rest[1].isupper():
        rest = rest[0].lower() + rest[1:]
    return rest


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class Voice:
    """The sentences a glossary's concepts speak in, by slot.

    Args:
        glossary: The active glossary.

    Examples:
        >>> import random
        >>> v = voice(Glossary.default())
        >>> "consciousness_crystal" in v.line("consciousness_crystals", "topic", random.Random(0), topic="a river")
        True
    """

    def __init__(self, glossary: Glossary, /) -> None:
        self.glossary = glossary

    def line(self, concept: str, slot: str, rng: random.Random, /, **fills: str) -> str:
        """One sentence about *concept* for *slot*, drawn with *rng*.

        Args:
            concept: A concept name of the glossary.
            slot: ``"topic"``, ``"self"``, ``"change"`` or ``"reading"``.
            rng: The record's generator.
            fills: The slot's placeholders, lower-case (``topic="a river"``); the capitalised
                forms are derived.

        Raises:
            KeyError: The concept is not in the glossary.
        """
        c = self.glossary[concept]
        values = {"framework": self.glossary.name}
        for key, value in fills.items():
            values[key] = value
            values[_cap(key)] = _cap(value)
        pool = c.sentences.get(slot)
        if pool:
            return _fill(pool[rng.randrange(len(pool))], values)
        return self._compose(c, slot, rng, values)

    def _compose(self, c: Concept, slot: str, rng: random.Random, values: dict[str, str]) -> str:
        parts = {
            **values,
            "name": c.name,
            "Name": _cap(c.name),
            "gist": gist(c.definition),
            "definition": c.definition,
        }
        rest = detail(c.definition)
        if rest:
            parts["detail"] = rest
        if c.examples:
            parts["example"] = c.examples[rng.randrange(len(c.examples))]
        if c.relations:
            rel = c.relations[rng.randrange(len(c.relations))]
            parts["phrase"] = self.glossary.phrase(rel)
            parts["target"] = rel.target
            parts["target_gist"] = gist(self.glossary[rel.target].definition)
        aliases = [a for a in c.aliases if a.isascii() and a.lower() != c.name]
        parts["alias"] = aliases[rng.randrange(len(aliases))] if aliases else c.spoken
        forms = [f for f in compose_forms()[slot] if set(_FIELD.findall(f)) <= parts.keys()]
        return _fill(forms[rng.randrange(len(forms))], parts)


def _fill(form: str, values: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), form)


_VOICES: dict[int, tuple[Glossary, Voice]] = {}


def voice(glossary: Glossary, /) -> Voice:
    """The :class:`Voice` of a glossary (one per glossary object; glossaries are immutable)."""
    hit = _VOICES.get(id(glossary))
    if hit is None or hit[0] is not glossary:
        hit = _VOICES[id(glossary)] = (glossary, Voice(glossary))
    return hit[1]
