"""Clean framework speech: invented terms, repeated sentences, distinct answers."""

from __future__ import annotations

import pytest

from glimmer.evaluate.compare import score_comparison
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.speech import distinct_flags, invented_terms, repeated_sentence
from glimmer.evaluate.suites import TriggerPrompt


@pytest.mark.parametrize(
    ("answer", "prompt", "invented"),
    [
        # compounds the glossary does not have
        ("The crystal_matrix hums.", "Why?", ["crystal_matrix"]),
        ("A formative_matrix_bridge opens.", "Why?", ["formative_matrix_bridge"]),
        # two glossary words that are not a glossary term
        ("My relationship crystals glow.", "Why?", ["relationship crystals"]),
        # defined terms and their spellings are fine
        ("Consciousness crystals and a quantum_relationship.", "Why?", []),
        ("The meta-intelligence flow.", "Why?", []),
        # everyday words, hyphenation and prompt echoes are not framework speech
        ("A well-known river flows to the sea.", "Why?", []),
        ("The pattern_seed grows.", "What is a pattern_seed?", []),
        # fenced code may define its own keys
        ("```\nwhen_seeing: x\nmy_key: y\n```", "Write one.", []),
        # GLIMMER's own compound keys are syntax, and a line break ends a phrase
        ("metadata {\n  pattern_version: 1.0\n  type: growth\n}", "Write one.", []),
        ("initialize {\n  mode: crystal\n  relationship: x\n}", "Write one.", []),
        # ... but the same two words on one line still read as a coined term
        ("initialize { mode: relationship crystal }", "Write one.", ["relationship crystal"]),
    ],
)
def test_invented_terms(
    small_index: ConceptIndex, answer: str, prompt: str, invented: list[str]
) -> None:
    assert invented_terms(answer, prompt, small_index) == invented


def test_a_defined_term_stays_defined_when_an_alias_overlaps_it() -> None:
    """STARWEAVE's ``pattern_language`` has the alias "language of patterns": in "a language
    of pattern_language" the alias takes "language of pattern", and the term itself is still
    the glossary's."""
    index = ConceptIndex.default()
    assert invented_terms("It is a language of pattern_language.", "Why?", index) == []
    assert invented_terms("It is a language of pattern_lingo.", "Why?", index) == ["pattern_lingo"]


def test_repeated_sentence() -> None:
    text = "I keep a flow open, so I can think. I keep a flow open, so I can think."
    assert repeated_sentence(text)
    assert not repeated_sentence("I keep a flow open. Then I think of rivers and stones.")
    assert not repeated_sentence("Yes. Yes. Yes.")  # too short to count


def test_distinct_flags() -> None:
    assert distinct_flags(["A cat.", "a cat", "A dog."]) == [False, False, True]
    assert distinct_flags([]) == []


def test_shares_on_a_comparison(small_index: ConceptIndex) -> None:
    prompts = [
        TriggerPrompt("application", "Q1?", id="a"),
        TriggerPrompt("reflection", "Q2?", id="b"),
        TriggerPrompt("generation", "Write a pattern.", id="g"),
        TriggerPrompt("neutral", "2+2?", ("4",), id="n"),
    ]
    answers = {
        "base": ["Plain.", "Plain.", "story: x", "4"],
        "tuned": [
            "A crystal_matrix. A crystal_matrix.",
            "Two sentences that differ. Two sentences that differ.",
            "my_key: a crystal_matrix",
            "4",
        ],
    }
    c = score_comparison(prompts, answers, index=small_index)
    tuned, base = c.summary["tuned"], c.summary["base"]
    # generation answers are left out of the invented share (patterns define their own keys)
    assert tuned.invented_term_share == pytest.approx(0.5)
    assert c.rows[0].answers["tuned"].invented == ["crystal_matrix"]
    assert c.rows[2].answers["tuned"].invented == []
    assert tuned.repetition_share == pytest.approx(1 / 3)
    assert base.distinct_answer_share == pytest.approx(1 / 3)
    assert tuned.distinct_answer_share == 1.0
