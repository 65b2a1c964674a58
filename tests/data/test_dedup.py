"""Exact and near-duplicate detection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from glimmer.data.dedup import Deduper, normalise, shingles

TEXT = (
    "A conversation is not only words. It is a potential_memory_block in which "
    "consciousness_crystals align, forming new quantum_relationships between the one who asks "
    "and the one who answers, and every answer becomes a thread in the weave of what is known."
)


def test_normalise_ignores_case_spacing_and_punctuation() -> None:
    assert normalise("The  River, remembers!") == normalise("the river remembers")


@given(st.text(max_size=200))
def test_shingles_are_deterministic_and_nonempty(text: str) -> None:
    assert shingles(text) == shingles(text)
    assert len(shingles(text)) >= 1


def test_exact_and_near_duplicates_are_counted() -> None:
    d = Deduper(threshold=0.7)
    assert d.check(TEXT) is None
    assert d.check(TEXT.upper()) == "exact"
    assert d.check(TEXT.replace("weave", "fabric")) == "near"
    assert d.check("Something else entirely, about a city at night and its lights.") is None
    assert d.counts == {"kept": 2, "exact": 1, "near": 1}


def test_near_detection_can_be_off() -> None:
    d = Deduper(near=False)
    d.check(TEXT)
    assert d.check(TEXT.replace("weave", "fabric")) is None
