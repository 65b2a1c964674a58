"""Clean framework speech: invented terms, repeated sentences, answers that are all the same.

A model that learned a framework should use the glossary's concepts, not spray look-alike
compounds (``perception_crystals``), repeat one sentence, or give every prompt one answer.
These are pure functions over answer text and a :class:`~glimmer.evaluate.metrics.ConceptIndex`;
:func:`score_speech` puts their results on a comparison's answers and summaries.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.termlock import DSL_WORDS

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.results import Comparison

__all__ = [
    "distinct_flags",
    "invented_terms",
    "repeated_sentence",
    "score_speech",
]

# snake_case or kebab compounds of two or more lower-case words: the shape of a glossary term
_COMPOUND = re.compile(
    r"(?<![A-Za-z0-9_])[A-Za-z][a-z0-9]*(?:[_-][A-Za-z][a-z0-9]*)+(?![A-Za-z0-9_])"
)
# overlapping pairs: the second word of one pair is the first of the next
# (on one line: the last value of one GLIMMER line and the key of the next are not a phrase)
_WORD_PAIR = re.compile(r"(?<![A-Za-z])([A-Za-z]{3,})(?=([ \t]+)([A-Za-z]{3,})(?![A-Za-z]))")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


# words too common to make a two-word phrase look like a framework term
_COMMON: Final = frozenset(
    re.split(
        r"\s+",
        "the and for with that this from into your you our are was were its has have not but "
        "all any can one two new way more most what when how why who each such",
    )
)


def _glossary_words(index: ConceptIndex) -> set[str]:
    words: set[str] = set()
    for c in index.concepts.values():
        for term in (c.name, *c.terms):
            for w in re.split(r"[\s_\-]+", term.lower()):
                if len(w) > 3:
                    words.add(_stem(w))
    return words


def _stem(word: str) -> str:
    w = word.lower()
    return w[:-3] + "y" if w.endswith("ies") else w.rstrip("s")


def invented_terms(answer: str, prompt: str, index: ConceptIndex, /) -> list[str]:
    """Framework-looking terms in *answer* that the glossary does not define.

    A term is framework-looking when it is a snake_case or kebab compound
    (``perception_crystals``), or two words that both belong to the glossary's vocabulary
    without being one of its terms (``perception crystals`` is not; ``memory crystals`` is).
    Defined terms, terms the prompt contains, GLIMMER keywords and fenced code are not counted.

    Examples:
        >>> from glimmer.evaluate.metrics import ConceptTerms
        >>> index = ConceptIndex([ConceptTerms("consciousness_crystals", ("consciousness_crystals",)),
        ...                       ConceptTerms("formative_matrix", ("formative_matrix",))])
        >>> invented_terms("A crystal_matrix holds consciousness crystals.", "Why?", index)
        ['crystal_matrix']
    """
    text = _FENCE.sub(" ", answer)
    defined = index.spans(text)
    covered = [(s, e) for s, e, _ in defined]
    prompt_low = prompt.lower()
    vocab = _glossary_words(index)

    def inside_defined(start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in covered)

    found: list[str] = []
    for m in _COMPOUND.finditer(text):
        term = m.group(0)
        low = term.lower()
        if low in DSL_WORDS or inside_defined(m.start(), m.end()) or low in prompt_low:
            continue
        if any(s == 0 and e == len(term) for s, e, _ in index.spans(term)):
            continue  # a term by itself, where a longer alias took its first word
        if "-" in term and not any(_stem(w) in vocab for w in re.split(r"[_-]", low)):
            continue  # everyday hyphenation ("well-known") is not framework speech
        found.append(low)
    for m in _WORD_PAIR.finditer(text):
        a, b = m.group(1).lower(), m.group(3).lower()
        start, end = m.start(), m.end(1) + len(m.group(2)) + len(b)
        if a in _COMMON or b in _COMMON or _stem(a) not in vocab or _stem(b) not in vocab:
            continue
        if f"{a} {b}" in prompt_low:
            continue
        if any(s < end and start < e for s, e in covered):
            continue  # overlaps a defined term ("the consciousness crystals flow")
        found.append(f"{a} {b}")
    return list(dict.fromkeys(found))


def _norm_sentence(s: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", "", re.sub(r"\s+", " ", s.lower())).strip()


def repeated_sentence(answer: str, /, *, min_words: int = 4) -> bool:
    """Whether one sentence of at least *min_words* words appears twice in *answer*.

    Examples:
        >>> repeated_sentence("I keep a flow open. I keep a flow open. Then I answer.")
        True
        >>> repeated_sentence("Yes. Yes. It rains today in town.")
        False
    """
    seen: set[str] = set()
    for m in _SENTENCE.finditer(answer):
        s = _norm_sentence(m.group(0))
        if len(s.split()) < min_words:
            continue
        if s in seen:
            return True
        seen.add(s)
    return False


def distinct_flags(answers: Sequence[str], /) -> list[bool]:
    """For each answer, whether no other answer in *answers* is the same (case and spacing aside).

    Examples:
        >>> distinct_flags(["A cat.", "a  cat.", "A dog."])
        [False, False, True]
    """
    keys = [_norm_sentence(a) for a in answers]
    counts = Counter(keys)
    return [counts[k] == 1 for k in keys]


def _share(flags: Iterable[bool]) -> float | None:
    vals = list(flags)
    return sum(vals) / len(vals) if vals else None


def score_speech(comparison: Comparison, index: ConceptIndex, /) -> None:
    """Put ``invented``, ``repeated`` and ``distinct`` on every answer and the shares on the summaries.

    ``invented_term_share`` counts prose answers (not neutral, not generation, whose patterns
    may define their own keys); ``repetition_share`` and ``distinct_answer_share`` count every
    non-neutral answer.
    """
    for arm, summary in comparison.summary.items():
        trig = [r for r in comparison.rows if r.category != "neutral" and arm in r.answers]
        flags = distinct_flags([r.answers[arm].text for r in trig])
        for r, distinct in zip(trig, flags, strict=True):
            a: Any = r.answers[arm]
            a.repeated = repeated_sentence(a.text)
            a.distinct = distinct
            if r.category != "generation":
                a.invented = invented_terms(a.text, r.prompt, index)
        prose = [r.answers[arm] for r in trig if r.category != "generation"]
        summary.invented_term_share = _share(bool(a.invented) for a in prose)
        summary.repetition_share = _share(bool(r.answers[arm].repeated) for r in trig)
        summary.distinct_answer_share = _share(flags)
