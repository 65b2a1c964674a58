"""Concept sentences: a glossary's own pools when it has them, composed from its entry when not."""

from __future__ import annotations

import contextlib
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.data.kinds import NoConceptsError, application
from glimmer.data.sentences import compose_forms, gist, voice
from glimmer.starweave import Glossary, GlossaryError

POOLED = """
name = "TIDEGLASS"

[relation_kinds]
feeds = "feeds"

[concepts.undertow]
definition = "The pull beneath a conversation: what is meant but not yet said."
examples = ["A pause before an answer is undertow showing at the surface."]
relations = [{ kind = "feeds", target = "shoreline" }]

[concepts.undertow.sentences]
topic = ["{Topic} has an undertow: the part of {topic} nobody says aloud."]

[concepts.shoreline]
definition = "Where a meaning finally lands and can be stood on by both speakers."
"""


@pytest.fixture(scope="module")
def tide() -> Glossary:
    return Glossary.loads(POOLED, source="tide.toml")


def test_a_concept_with_a_pool_speaks_from_it(tide: Glossary) -> None:
    v = voice(tide)
    lines = {v.line("undertow", "topic", random.Random(i), topic="a harbour") for i in range(20)}
    assert lines == {"A harbour has an undertow: the part of a harbour nobody says aloud."}


@pytest.mark.parametrize("slot", ["topic", "self", "change", "reading"])
def test_a_concept_without_a_pool_is_composed_from_its_own_entry(tide: Glossary, slot: str) -> None:
    v = voice(tide)
    fills = {"topic": {"topic": "a harbour"}, "self": {"subject": "a riddle"}}.get(slot, {})
    if slot == "reading":
        fills = {"part": "this section"}
    lines = {v.line("shoreline", slot, random.Random(i), **fills) for i in range(40)}
    assert len(lines) >= 3  # varied forms, not one filler line
    for line in lines:
        assert "shoreline" in line.lower()
        assert "meaning finally lands" in line or "where a meaning" in line
        assert "{" not in line and "}" not in line


def test_two_concepts_never_share_a_composed_line() -> None:
    g = Glossary.default()
    v = voice(g.extend(Glossary.loads(POOLED, source="tide.toml"), replace=True))
    a = {v.line("shoreline", "change", random.Random(i)) for i in range(30)}
    b = {v.line("undertow", "change", random.Random(i)) for i in range(30)}
    assert not a & b


def test_starweave_pools_came_out_of_the_templates_into_the_glossary() -> None:
    g = Glossary.default()
    for c in g.core():
        for slot in ("topic", "self", "change"):
            assert c.sentences.get(slot), (c.name, slot)


def test_gist_is_the_first_clause_lower_cased() -> None:
    assert (
        gist("The pull beneath a conversation: what is meant.") == "the pull beneath a conversation"
    )
    assert gist("GLIMMER, the language. More.") == "GLIMMER, the language"
    assert gist("One sentence only.") == "one sentence only"


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=80).filter(lambda t: t.strip()))
def test_gist_of_any_definition_is_a_prefix_without_its_end_stop(text: str) -> None:
    g = gist(text)
    assert not g.endswith(".")
    assert text.strip().lower().startswith(g.lower().rstrip(" .")[:1])


def test_every_compose_form_names_its_concept() -> None:
    for slot, forms in compose_forms().items():
        assert forms, slot
        for form in forms:
            assert "{name}" in form or "{Name}" in form or "{alias}" in form, form


@pytest.mark.parametrize(
    ("snippet", "needle"),
    [
        ('[concepts.a.sentences]\ntopic = ["In {place}, a."]', "unknown placeholder {place}"),
        ('[concepts.a.sentences]\nmood = ["a"]', "unknown slot 'mood'"),
        ("[concepts.a.sentences]\ntopic = []", "non-empty list"),
        ('[synthesis]\nsteps = ["Relate it to {c9}"]', "unknown placeholder {c9}"),
        ('[synthesis]\nseen_rules = ["a limit"]', "string pairs"),
        ('[synthesis]\nmoods = ["a"]', "unknown list"),
    ],
)
def test_bad_sentence_pools_name_file_line_and_fix(snippet: str, needle: str) -> None:
    text = '[concepts.a]\ndefinition = "A thing."\n\n' + snippet + "\n"
    with pytest.raises(GlossaryError) as info:
        Glossary.loads(text, source="mine.toml")
    err = info.value
    assert needle in str(err)
    assert err.code in ("G420", "G421")
    assert err.location.source == "mine.toml" and err.location.line is not None
    assert err.location.line >= 4 and err.hint


def test_a_glossary_of_sections_only_is_a_clear_error() -> None:
    only = Glossary.loads(
        '[concepts.story]\nkind = "section"\ndefinition = "The story."\n', source="s.toml"
    )
    with pytest.raises(NoConceptsError) as info:
        application(3, glossary=only).records(seed=0)
    assert info.value.code == "G422" and info.value.location.source == "s.toml"


_words = st.text(alphabet="abcdefghij klmnop,.:;'", min_size=1, max_size=60).filter(
    lambda t: t.strip(" ,.:;'")
)


@settings(max_examples=40, deadline=None)
@given(definition=_words, example=_words, alias=_words)
def test_any_entry_composes_every_slot_without_leftovers(
    definition: str, example: str, alias: str
) -> None:
    text = (
        '[relation_kinds]\nfeeds = "feeds"\n[concepts.tidal]\n'
        f"definition = {json.dumps(definition)}\nexamples = [{json.dumps(example)}]\n"
        f'aliases = [{json.dumps(alias)}]\nrelations = [{{ kind = "feeds", target = "b" }}]\n'
        '[concepts.b]\ndefinition = "B."\n'
    )
    g = Glossary.loads(text, source="h.toml")
    v = voice(g)
    for slot, fills in (
        ("topic", {"topic": "rain"}),
        ("self", {"subject": "a riddle"}),
        ("change", {}),
        ("reading", {"part": "this part"}),
    ):
        for seed in range(6):
            line = v.line("tidal", slot, random.Random(seed), **fills)
            assert "{" not in line.replace(definition, "").replace(example, "")
            assert "tidal" in line.lower() or alias in line


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_loads_returns_or_raises_a_glossary_error(text: str) -> None:
    for candidate in (text, "[concepts.a]\ndefinition = 'x'\n[concepts.a.sentences]\n" + text):
        with contextlib.suppress(GlossaryError):
            Glossary.loads(candidate, source="h.toml")
