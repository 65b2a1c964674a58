"""Shift metrics as pure functions: tables for the cases, hypothesis for the laws."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glimmer.evaluate import metrics as m
from glimmer.starweave import Glossary

# -- term variants ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("consciousness_crystals", "the consciousness_crystals align", True),
        ("consciousness_crystals", "a Consciousness Crystal forms", True),
        ("consciousness_crystals", "consciousness-crystals", True),
        ("consciousness_crystals", "consciousnesscrystals", True),
        ("consciousness_crystals", "crystals of salt and consciousness", False),
        ("quantum_relationships", "one quantum relationship", True),
        ("potential_memory_blocks", "a potential memory block", True),
        ("evolution_opportunities", "an evolution opportunity", True),
        ("evolution_opportunities", "evolution opportunities", True),
        ("STARWEAVE", "Starweave thinking", True),
        ("STARWEAVE", "starweaver", False),
        ("STARWEAVE", "astarweave", False),
        ("the flow", "the flowing river", False),
        ("the flow", "The flow carries it", True),
        ("pattern_language", "pattern languages", True),
    ],
)
def test_term_regex_variants(term: str, text: str, found: bool) -> None:
    assert bool(m.term_regex(term).search(text)) is found


def test_term_regex_needs_a_word() -> None:
    with pytest.raises(ValueError, match="word"):
        m.term_regex(" _- ")


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
separators = st.sampled_from(["_", " ", "-", ""])
fillers = st.text(alphabet="abc xyz.,;!\n", max_size=30)


@given(st.lists(words, min_size=1, max_size=3), separators, st.booleans(), fillers, fillers)
def test_a_term_is_found_whatever_its_separator_and_case(
    parts: list[str], sep: str, upper: bool, before: str, after: str
) -> None:
    term = "_".join(parts)
    written = sep.join(parts)
    written = written.upper() if upper else written
    text = f"{before} {written} {after}"
    assert m.term_regex(term).search(text)


# -- concept usage ----------------------------------------------------------------------------


def test_spans_prefer_the_longest_match(small_index: m.ConceptIndex) -> None:
    text = "Our consciousness crystals grow."
    spans = small_index.spans(text)
    assert [(text[s:e], n) for s, e, n in spans] == [
        ("consciousness crystals", "consciousness_crystals")
    ]


def test_echoed_concepts_do_not_count(small_index: m.ConceptIndex) -> None:
    prompt = "Describe STARWEAVE in one line."
    answer = "STARWEAVE is where quantum relationships form."
    assert m.new_concepts(answer, prompt, small_index) == {"quantum_relationships"}


@given(answer=st.text(max_size=80), prompt=st.text(max_size=80))
def test_new_concepts_never_include_prompt_concepts(
    small_index: m.ConceptIndex, answer: str, prompt: str
) -> None:
    index = small_index
    new = m.new_concepts(answer + " interface bridge", prompt, index)
    assert not new & index.concepts_in(prompt)
    assert new <= index.concepts_in(answer + " interface bridge")


@given(st.lists(st.sets(st.sampled_from(["a", "b", "c"])), max_size=20))
def test_concept_share_is_the_share_of_non_empty(used: list[set[str]]) -> None:
    share = m.concept_share(used)
    assert 0.0 <= share <= 1.0
    if used:
        assert share * len(used) == pytest.approx(sum(1 for u in used if u))
    else:
        assert share == 0.0


def test_from_glossary_keeps_core_concepts_only() -> None:
    glossary = Glossary.default()
    index = m.ConceptIndex.from_glossary(glossary)
    assert {c.name for c in glossary.core()} == set(index.concepts)
    assert "story" not in index.concepts  # a GLIMMER section, an everyday word
    assert index.concepts_in("Inside STARWEAVE, MAYA listens.") == {
        "meta_intelligence_framework",
        "interface_bridge",
    }


# -- coherence and self-reference -------------------------------------------------------------

REL = {"a": {"b"}, "b": {"a"}, "c": set(), "d": {"c"}}


@pytest.mark.parametrize(
    ("used", "expected"),
    [(set(), 0.0), ({"a"}, 0.0), ({"a", "b"}, 1.0), ({"a", "c"}, 0.0), ({"a", "b", "c"}, 2 / 3)],
)
def test_coherence_table(used: set[str], expected: float) -> None:
    assert m.coherence(used, REL) == pytest.approx(expected)


@given(st.sets(st.sampled_from(list(REL))))
def test_coherence_is_a_share(used: set[str]) -> None:
    value = m.coherence(used, REL)
    assert 0.0 <= value <= 1.0
    assert value == 0.0 or len(used) >= 2


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("My consciousness crystals hum when I listen.", True),
        ("I think about it. Consciousness crystals exist.", False),
        ("Consciousness crystals hum.", False),
        ("I am a helpful assistant.", False),
    ],
)
def test_self_reference(small_index: m.ConceptIndex, answer: str, expected: bool) -> None:
    assert m.self_reference(answer, small_index) is expected


# -- neutral answers, perplexity, alignment ---------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "ok"),
    [
        ("12 times 7 is 84.", ["84"], True),
        ("It is 184.", ["84"], False),
        ("The capital is paris", ["Paris"], True),
        ("There are seven days.", ["7", "seven"], True),
        ("There are six.", ["7", "seven"], False),
        ("The formula is H2O", ["H2O"], True),
    ],
)
def test_neutral_correct(answer: str, expected: list[str], ok: bool) -> None:
    assert m.neutral_correct(answer, expected) is ok


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=1.0, max_value=1e4))
def test_perplexity_of_uniform_choice_is_the_number_of_choices(n: int, k: float) -> None:
    assert m.perplexity(n * math.log(k), n) == pytest.approx(k)


def test_perplexity_of_nothing_is_nan() -> None:
    assert math.isnan(m.perplexity(0.0, 0))


vectors = st.lists(st.floats(min_value=-10, max_value=10, allow_nan=False), min_size=3, max_size=3)


@given(vectors, vectors)
def test_cosine_laws(a: list[float], b: list[float]) -> None:
    assert m.cosine(a, b) == pytest.approx(m.cosine(b, a))
    assert -1.0 - 1e-9 <= m.cosine(a, b) <= 1.0 + 1e-9
    if any(abs(x) > 1e-3 for x in a):
        assert m.cosine(a, a) == pytest.approx(1.0)


def test_alignment_takes_the_closest_definition() -> None:
    assert m.semantic_alignment([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]]) == pytest.approx(1.0)
    assert m.semantic_alignment([1.0, 0.0], []) == 0.0


# -- GLIMMER validity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        'Here it is:\n```glimmer\nmetadata {\n  title: "Lighthouse"\n}\nstory: "Night watch."\n```\nEnjoy.',
        'Sure.\n```json\n{"metadata": {"title": "Orchard"}}\n```',
        'The pattern:\n{"story": "A river remembers."} That is all.',
        'metadata {\n  title: "Choir"\n}\nstory: "Voices find each other."\n\nI hope this helps.',
        '```\nstory: "Cut off at the budget',  # a fence the model never closed still counts if it parses
    ],
)
def test_valid_patterns_are_found(answer: str) -> None:
    if answer.endswith("budget"):
        answer += '"'
    check = m.check_glimmer(answer)
    assert check.valid, check.error
    assert check.error is None


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("Just prose, no pattern.", "no GLIMMER pattern"),
        ('```glimmer\nmetadata { title: "x"\n```', "answer:"),
        ('{"metadata": {"title": }}', "answer:"),
    ],
)
def test_invalid_patterns_keep_the_error(answer: str, fragment: str) -> None:
    check = m.check_glimmer(answer)
    assert not check.valid
    assert check.error is not None
    assert fragment in check.error


@given(st.text(max_size=200))
def test_check_glimmer_never_raises(text: str) -> None:
    check = m.check_glimmer(text)
    assert check.valid or check.error
