"""How well a dataset speaks its framework: grounded concept sentences, foreign mentions, variety.

* **Grounded share.** Every sentence of a prose answer (application, reflection, matrix,
  interpretation, glossary) that names a concept of the glossary (its name, spoken form or an
  alias) is a *concept sentence*, once per concept it names. It is *grounded* when it says
  something from that concept's own entry: at least two content words shared with its
  definition, examples or aliases (besides the concept's own name), four words in a row from
  its definition or an example, or a relation at either end of it written out with its phrase
  (``undertow feeds shoreline``).
* **Foreign mentions.** Records naming another framework (by default the bundled STARWEAVE): its
  name, or a concept name (``consciousness_crystals``, ``consciousness crystals``, compound
  aliases) that the active glossary does not define too.
* **Distinct-sentence share.** Distinct answer sentences over all answer sentences of those
  categories.

:func:`framework_figures` computes the three; ``benchmarks/framework_data.py`` prints them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from glimmer.data.records import ChatRecord
from glimmer.starweave.glossary import Concept, Glossary

__all__ = ["PROSE_CATEGORIES", "FrameworkFigures", "framework_figures", "grounded_in"]

#: The categories whose answers are prose about the framework.
PROSE_CATEGORIES: tuple[str, ...] = (
    "application",
    "reflection",
    "matrix",
    "interpretation",
    "glossary",
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z]+")
_STOP = frozenset(
    [
        "about",
        "after",
        "again",
        "also",
        "another",
        "because",
        "become",
        "becomes",
        "been",
        "before",
        "being",
        "between",
        "both",
        "could",
        "does",
        "done",
        "each",
        "even",
        "every",
        "framework",
        "from",
        "have",
        "here",
        "into",
        "itself",
        "just",
        "like",
        "made",
        "make",
        "makes",
        "many",
        "more",
        "most",
        "much",
        "nothing",
        "once",
        "only",
        "onto",
        "other",
        "over",
        "pattern",
        "patterns",
        "same",
        "should",
        "some",
        "something",
        "still",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "thing",
        "things",
        "this",
        "those",
        "through",
        "upon",
        "very",
        "what",
        "when",
        "where",
        "which",
        "while",
        "whom",
        "whose",
        "will",
        "with",
        "within",
        "without",
        "would",
        "your",
    ]
)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOP}


def _forms(c: Concept) -> list[str]:
    return [f for f in dict.fromkeys((c.name, c.spoken, *c.aliases)) if f.strip()]


def _finder(terms: Iterable[str]) -> re.Pattern[str] | None:
    ts = sorted({t.lower() for t in terms if t.strip()}, key=len, reverse=True)
    if not ts:
        return None
    return re.compile(r"(?<![\w])(?:" + "|".join(map(re.escape, ts)) + r")(?![\w])", re.I)


@dataclass(frozen=True)
class _Entry:
    name: str
    finder: re.Pattern[str]
    own: frozenset[str]
    stems: frozenset[str]
    grams: frozenset[tuple[str, ...]]
    relations: tuple[str, ...]


_ENTRIES: dict[int, tuple[Glossary, tuple[_Entry, ...]]] = {}


def _entries(glossary: Glossary) -> tuple[_Entry, ...]:
    hit = _ENTRIES.get(id(glossary))  # glossaries are immutable: one index per object
    if hit is not None and hit[0] is glossary:
        return hit[1]
    out: list[_Entry] = []
    for c in glossary.core():
        finder = _finder(_forms(c))
        if finder is None:
            continue
        own = frozenset(_stems(" ".join(_forms(c))))
        stems = frozenset(_stems(" ".join([c.definition, *c.examples, *c.aliases])) - own)
        # a relation belongs to the entries at both of its ends
        rels = tuple(
            f"{a.name} {glossary.phrase(r)} {r.target}".lower()
            for a in glossary.core()
            for r in a.relations
            if c.name in (a.name, r.target)
        )
        grams = frozenset(g for t in (c.definition, *c.examples) for g in _grams(t))
        out.append(_Entry(c.name, finder, own, stems, grams, rels))
    _ENTRIES[id(glossary)] = (glossary, tuple(out))
    return tuple(out)


def grounded_in(sentence: str, concept: str, glossary: Glossary, /) -> bool:
    """Whether *sentence* says something from *concept*'s own glossary entry.

    Examples:
        >>> g = Glossary.default()
        >>> grounded_in("Quantum_relationships keep several meanings open at once.", "quantum_relationships", g)
        True
        >>> grounded_in("Quantum_relationships are nice.", "quantum_relationships", g)
        False
    """
    for e in _entries(glossary):
        if e.name == concept:
            return _grounded(sentence, e)
    raise KeyError(concept)


def _grams(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def _grounded(sentence: str, e: _Entry) -> bool:
    low = sentence.lower()
    if any(r in low for r in e.relations):
        return True
    if len((_stems(sentence) - e.own) & e.stems) >= 2:
        return True
    return bool(_grams(sentence) & e.grams)  # it quotes the entry


@dataclass(frozen=True)
class FrameworkFigures:
    """What :func:`framework_figures` measures (see the module docs)."""

    records: int
    foreign_mentions: int
    concept_sentences: int
    grounded_sentences: int
    sentences: int
    distinct_sentences: int

    @property
    def grounded_share(self) -> float:
        """Grounded concept sentences over concept sentences (1.0 when there are none)."""
        return self.grounded_sentences / self.concept_sentences if self.concept_sentences else 1.0

    @property
    def distinct_share(self) -> float:
        """Distinct answer sentences over answer sentences (1.0 when there are none)."""
        return self.distinct_sentences / self.sentences if self.sentences else 1.0

    def as_dict(self) -> dict[str, float | int]:
        """The counts and both shares, for JSON."""
        return {
            **asdict(self),
            "grounded_share": round(self.grounded_share, 4),
            "distinct_share": round(self.distinct_share, 4),
        }


def framework_figures(
    records: Sequence[ChatRecord],
    glossary: Glossary,
    /,
    *,
    foreign: Glossary | None = None,
) -> FrameworkFigures:
    """Grounded share, foreign mentions and distinct-sentence share of a dataset.

    Args:
        records: The dataset's records.
        glossary: The glossary it was built with.
        foreign: The framework that must not appear; the bundled glossary when ``None``. Terms
            both glossaries define do not count.

    Returns:
        The figures.
    """
    other = foreign if foreign is not None else Glossary.default()
    own_terms = {t.lower() for t in glossary.terms()} | {glossary.name.lower()}
    foreign_terms = {other.name} | {
        f for c in other.core() for f in (c.name, c.spoken, *(a for a in c.aliases if "_" in a))
    }
    find_foreign = _finder(t for t in foreign_terms if t.lower() not in own_terms)
    entries = _entries(glossary)
    mentions = concept_sentences = grounded = total = 0
    seen: set[str] = set()
    for r in records:
        text = "\n".join(m.content for m in r.messages)
        if find_foreign is not None and find_foreign.search(text):
            mentions += 1
        if r.category not in PROSE_CATEGORIES:
            continue
        for sentence in _SENTENCE.split(r.answer):
            s = sentence.strip()
            if len(s) < 12 or s.startswith(("```", "{", "}")):
                continue
            total += 1
            seen.add(s)
            for e in entries:
                if e.finder.search(s):
                    concept_sentences += 1
                    grounded += _grounded(s, e)
    return FrameworkFigures(
        records=len(records),
        foreign_mentions=mentions,
        concept_sentences=concept_sentences,
        grounded_sentences=grounded,
        sentences=total,
        distinct_sentences=len(seen),
    )
