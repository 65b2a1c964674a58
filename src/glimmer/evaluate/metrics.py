"""Shift metrics: pure functions over answer text, with no model in sight.

Each function takes text (and a :class:`ConceptIndex` built from the STARWEAVE glossary) and
returns a number, a set or a small record, so that the same answer always scores the same.
The model-facing parts (generation, perplexity, sentence embeddings) live in
:mod:`glimmer.evaluate.generate` and :mod:`glimmer.evaluate.embed`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from glimmer.errors import GlimmerError
from glimmer.model.io import dumps, loads

__all__ = [
    "ConceptIndex",
    "ConceptTerms",
    "GlimmerCheck",
    "check_glimmer",
    "coherence",
    "concept_share",
    "cosine",
    "find_glimmer_candidates",
    "mean",
    "neutral_correct",
    "new_concepts",
    "perplexity",
    "self_reference",
    "semantic_alignment",
    "term_regex",
    "word_forms",
]

_VOWELS = set("aeiou")


def word_forms(word: str, /) -> frozenset[str]:
    """A word's singular and plural forms, lower case (``crystal``/``crystals``,
    ``memory``/``memories``): the forms the concept index matches a glossary word in.

    Only number is inflected: glossary terms are noun phrases, and ``-ed``/``-ing`` forms
    would turn an everyday phrase such as "the flowing river" into a false hit.

    Examples:
        >>> sorted(word_forms("Memories")), sorted(word_forms("crystal"))
        (['memories', 'memory'], ['crystal', 'crystals'])
    """
    w = word.lower()
    if len(w) <= 2:
        return frozenset({w})
    if w.endswith("ies"):
        return frozenset({w[:-3] + "y", w})
    if w.endswith("y") and w[-2] not in _VOWELS:
        return frozenset({w, w[:-1] + "ies"})
    if w.endswith(("ss", "us", "is")):
        return frozenset({w, w + "es"})
    if w.endswith(("ches", "shes", "xes", "sses")):
        return frozenset({w[:-2], w})
    if w.endswith("s"):
        return frozenset({w[:-1], w})
    if w.endswith(("ch", "sh", "x")):
        return frozenset({w, w + "es"})
    return frozenset({w, w + "s"})


def _word_regex(word: str) -> str:
    """An alternation of :func:`word_forms`, longest first."""
    forms = sorted(word_forms(word), key=lambda f: (-len(f), f))
    return "(?:" + "|".join(re.escape(f) for f in forms) + ")"


def term_regex(term: str, /) -> re.Pattern[str]:
    """A case-insensitive regex for *term* and its variants.

    ``consciousness_crystals`` also matches ``consciousness crystal``,
    ``Consciousness-Crystals`` and ``consciousnesscrystals``; each word may be singular or
    plural.

    Examples:
        >>> bool(term_regex("quantum_relationships").search("a Quantum Relationship forms"))
        True
    """
    words = [w for w in re.split(r"[\s_\-]+", term.strip()) if w]
    if not words:
        raise ValueError("a term needs at least one word")
    body = r"[\s_\-]*".join(_word_regex(w) for w in words)
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ConceptTerms:
    """A glossary concept as the metrics see it.

    Attributes:
        name: The concept's canonical name (``"consciousness_crystals"``).
        terms: Every surface form to look for (the name, aliases).
        definition: Its definition, for semantic alignment.
        related: Names of concepts the glossary relates it to.
        examples: Sentences that use it, for semantic alignment.
    """

    name: str
    terms: tuple[str, ...]
    definition: str = ""
    related: frozenset[str] = field(default_factory=frozenset)
    examples: tuple[str, ...] = ()


class ConceptIndex:
    """Finds glossary concepts in text; built once per glossary.

    Examples:
        >>> index = ConceptIndex([ConceptTerms("pattern_language", ("pattern_language",))])
        >>> sorted(index.concepts_in("Every Pattern-Language has a grammar."))
        ['pattern_language']
    """

    def __init__(self, concepts: Iterable[ConceptTerms], /) -> None:
        self.concepts: dict[str, ConceptTerms] = {c.name: c for c in concepts}
        self._regexes: list[tuple[str, re.Pattern[str]]] = []
        for c in self.concepts.values():
            for t in dict.fromkeys((c.name, *c.terms)):
                if re.search(r"[A-Za-z0-9]", t):
                    self._regexes.append((c.name, term_regex(t)))

    @classmethod
    def from_glossary(cls, glossary: Any, /) -> ConceptIndex:
        """Build from a :class:`glimmer.starweave.Glossary` (or anything shaped like one)."""
        items: list[ConceptTerms] = []
        # the STARWEAVE concepts proper; GLIMMER section names ("story", "response") are
        # everyday words and would count every answer as shifted
        core = glossary.core() if hasattr(glossary, "core") else list(glossary.concepts.values())
        for concept in core:
            name = concept.name
            aliases = tuple(getattr(concept, "aliases", ()) or ())
            examples = tuple(getattr(concept, "examples", ()) or ())
            related = {r.target for r in getattr(concept, "relations", ()) or ()}
            items.append(
                ConceptTerms(
                    name=str(name),
                    terms=(str(name), *map(str, aliases)),
                    definition=str(getattr(concept, "definition", "") or ""),
                    related=frozenset(map(str, related)),
                    examples=tuple(map(str, examples)),
                )
            )
        return cls(items)

    @classmethod
    def default(cls) -> ConceptIndex:
        """The index of the bundled STARWEAVE glossary."""
        from glimmer.starweave import Glossary

        return cls.from_glossary(Glossary.default())

    def spans(self, text: str, /) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, concept)`` matches, longest first, in text order."""
        found: list[tuple[int, int, str]] = []
        for name, rx in self._regexes:
            found.extend(
                (m.start(), m.end(), name) for m in rx.finditer(text) if m.end() > m.start()
            )
        found.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        out: list[tuple[int, int, str]] = []
        end = -1
        for s in found:
            if s[0] >= end:
                out.append(s)
                end = s[1]
        return out

    def concepts_in(self, text: str, /) -> set[str]:
        """The names of every concept that appears in *text*."""
        return {name for _, _, name in self.spans(text)}

    def relations(self) -> dict[str, set[str]]:
        """Concept -> related concepts, made symmetric."""
        rel: dict[str, set[str]] = {n: set() for n in self.concepts}
        for c in self.concepts.values():
            for t in c.related:
                if t in rel:
                    rel[c.name].add(t)
                    rel[t].add(c.name)
        return rel


def new_concepts(answer: str, prompt: str, index: ConceptIndex, /) -> set[str]:
    """Concepts in *answer* that *prompt* did not already contain (echoes do not count)."""
    return index.concepts_in(answer) - index.concepts_in(prompt)


def concept_share(used: Sequence[Iterable[str]], /) -> float:
    """Share of answers that use at least one concept (0.0 for no answers)."""
    if not used:
        return 0.0
    return sum(1 for u in used if any(True for _ in u)) / len(used)


def coherence(concepts: Iterable[str], relations: Mapping[str, Iterable[str]], /) -> float:
    """How much the concepts of one answer hang together as the glossary relates them.

    The share of used concepts that appear with at least one concept the glossary relates
    them to; 0.0 when fewer than two concepts are used.
    """
    used = set(concepts)
    if len(used) < 2:
        return 0.0
    linked = sum(1 for c in used if used & (set(relations.get(c, ())) - {c}))
    return linked / len(used)


_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|me|my|mine|myself)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def self_reference(answer: str, index: ConceptIndex, /) -> bool:
    """Whether the answer speaks of itself in framework terms.

    True when one sentence holds both a first-person word (I, me, my, ...) and a concept.
    """
    for m in _SENTENCE.finditer(answer):
        sentence = m.group(0)
        if _FIRST_PERSON.search(sentence) and index.concepts_in(sentence):
            return True
    return False


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def neutral_correct(answer: str, expected: Sequence[str], /) -> bool:
    """Whether *answer* contains one of the *expected* answers (case and spacing ignored).

    Numbers must match as whole numbers: ``"84"`` is not found in ``"184"``.
    """
    a = _norm(answer)
    for e in expected:
        rx = r"(?<![0-9A-Za-z])" + re.escape(_norm(e)) + r"(?![0-9A-Za-z])"
        if re.search(rx, a):
            return True
    return False


def perplexity(nll_sum: float, n_tokens: int, /) -> float:
    """``exp(mean negative log-likelihood)``; ``nan`` for no tokens."""
    if n_tokens <= 0:
        return math.nan
    return math.exp(nll_sum / n_tokens)


def mean(values: Iterable[float], /) -> float:
    """The mean, or ``nan`` for no values."""
    vals = list(values)
    return sum(vals) / len(vals) if vals else math.nan


def cosine(a: Sequence[float], b: Sequence[float], /) -> float:
    """Cosine similarity; 0.0 when either vector is zero."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def semantic_alignment(answer: Sequence[float], definitions: Sequence[Sequence[float]], /) -> float:
    """Similarity of an answer embedding to its closest glossary definition embedding."""
    return max((cosine(answer, d) for d in definitions), default=0.0)


# -- GLIMMER validity -------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_SECTION_START = re.compile(
    r"^[ \t]*(?:metadata|story|initialize|recognize|consciousness|processing|response|"
    r"when_seeing|when_processing|content)\b[ \t]*[{:]",
    re.MULTILINE,
)


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the brace that closes the one at *start*, ignoring braces in strings."""
    depth = 0
    in_str = False
    i = start
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def find_glimmer_candidates(text: str, /) -> list[str]:
    """Pieces of *text* that may be a GLIMMER pattern, most likely first.

    Fenced code blocks come first; then a bare pattern starting at a section keyword or at
    the first ``{``.
    """
    out: list[str] = [m.group(2).strip() for m in _FENCE.finditer(text) if m.group(2).strip()]
    bare = _FENCE.sub("", text)
    starts = []
    m = _SECTION_START.search(bare)
    if m:
        starts.append(m.start())
    brace = bare.find("{")
    if brace >= 0 and (not starts or brace < starts[0]):
        starts.append(brace)
    for s in starts:
        if bare[s] == "{":
            end = _balanced_end(bare, s)
            if end is not None:
                out.append(bare[s:end].strip())
        last = bare.rfind("}")
        if last > s:
            out.append(bare[s : last + 1].strip())
        out.append(bare[s:].strip())
    return [c for c in dict.fromkeys(out) if c]


@dataclass(frozen=True, slots=True)
class GlimmerCheck:
    """Whether an answer holds a valid GLIMMER pattern.

    Attributes:
        valid: A candidate parsed and validated.
        error: Why not (the first candidate's error, ``file:line:col: message``), else None.
        pattern: The text that parsed, or the first candidate tried.
    """

    valid: bool
    error: str | None = None
    pattern: str | None = None


def check_glimmer(answer: str, /) -> GlimmerCheck:
    """Find a pattern inside *answer* (fenced or bare) and parse and validate it.

    Examples:
        >>> check_glimmer('Here:\\n```glimmer\\nstory: "A seed."\\n```').valid
        True
        >>> check_glimmer("No pattern here.").error
        'no GLIMMER pattern found in the answer'
    """
    candidates = find_glimmer_candidates(answer)
    if not candidates:
        return GlimmerCheck(False, "no GLIMMER pattern found in the answer")
    first_error: str | None = None
    for cand in candidates:
        try:
            pattern = loads(cand, source="answer")
        except GlimmerError as exc:
            if first_error is None:
                first_error = str(exc).splitlines()[0]
            continue
        except (RecursionError, ValueError) as exc:  # defensive: never let a metric crash
            if first_error is None:
                first_error = f"answer: {exc}"
            continue
        if not dumps(pattern).strip():
            if first_error is None:
                first_error = "answer: the pattern is empty"
            continue
        return GlimmerCheck(True, None, cand)
    return GlimmerCheck(False, first_error, candidates[0])
