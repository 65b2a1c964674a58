"""framework_figures(): grounded concept sentences, foreign mentions and distinct sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.data import Recipe, build
from glimmer.data.grounding import framework_figures, grounded_in
from glimmer.data.records import ChatRecord, Message
from glimmer.starweave import Glossary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "frameworks" / "hearthwood"


def _rec(answer: str, category: str = "application", prompt: str = "q") -> ChatRecord:
    return ChatRecord(
        messages=[Message(role="user", content=prompt), Message(role="assistant", content=answer)],
        category=category,
        template_id=f"{category}/x",
        seed=0,
    )


def _hearthwood() -> Glossary:
    return Recipe.load(EXAMPLE / "recipe.toml").active_glossary()


def test_a_sentence_is_grounded_by_its_own_entry_only() -> None:
    g = _hearthwood()
    said = "Even a kitchen keeps ember_memory: a small glow a later question can fan back."
    assert grounded_in(said, "ember_memory", g)
    assert not grounded_in("A kitchen keeps ember_memory.", "ember_memory", g)
    # the definition of another concept does not ground this one
    other = "Ember_memory: reading the grain of a thing before working with it."
    assert not grounded_in(other, "ember_memory", g)
    # a relation written out grounds both of its ends
    rel = "Here ember_memory kindles kindling_question."
    assert grounded_in(rel, "ember_memory", g) and grounded_in(rel, "kindling_question", g)


def test_figures_count_sentences_mentions_and_repeats() -> None:
    g = _hearthwood()
    recs = [
        _rec("Even a kitchen keeps ember_memory: a small glow a later question can fan back."),
        _rec("A kitchen keeps ember_memory. A kitchen keeps ember_memory."),
        _rec("Consciousness_crystals form in a kitchen.", category="reflection"),
        _rec("ember_memory everywhere", category="general"),  # not prose about the framework
    ]
    f = framework_figures(recs, g)
    assert f.records == 4
    assert f.foreign_mentions == 1
    assert f.concept_sentences == 3 and f.grounded_sentences == 1
    assert f.sentences == 4 and f.distinct_sentences == 3
    assert f.as_dict()["grounded_share"] == round(1 / 3, 4)


def test_terms_the_user_glossary_shares_are_not_foreign() -> None:
    own = Glossary.loads(
        'name = "MINE"\n[concepts.interface_bridge]\ndefinition = "Where two minds meet."\n',
        source="mine.toml",
    )
    f = framework_figures([_rec("The interface_bridge is where two minds meet.")], own)
    assert f.foreign_mentions == 0


def test_the_example_framework_dataset_is_grounded_and_starweave_free() -> None:
    recipe = Recipe.load(EXAMPLE / "recipe.toml")
    small = recipe.with_options(
        builders=tuple(b.__class__(b.kind, b.count // 4, None, b.options) for b in recipe.builders)
    )
    f = framework_figures(build(small).all, recipe.active_glossary())
    assert f.foreign_mentions == 0
    assert f.grounded_share >= 0.8, f.as_dict()
    assert f.concept_sentences > 500


@pytest.mark.parametrize("framework", ["STARWEAVE", "HEARTHWOOD"])
def test_builders_coin_no_terms_the_glossary_does_not_define(framework: str) -> None:
    """No answer a builder writes uses a framework-looking compound the glossary lacks."""
    from glimmer.data import default_recipe
    from glimmer.evaluate.metrics import ConceptIndex
    from glimmer.evaluate.speech import invented_terms

    recipe = default_recipe() if framework == "STARWEAVE" else Recipe.load(EXAMPLE / "recipe.toml")
    small = recipe.with_options(
        builders=tuple(b.__class__(b.kind, b.count // 4, None, b.options) for b in recipe.builders)
    )
    index = ConceptIndex.from_glossary(recipe.active_glossary())
    coined = {}
    for rec in build(small).all:
        prompt = " ".join(m.content for m in rec.messages if m.role != "assistant")
        for m in rec.messages:
            if m.role == "assistant" and (terms := invented_terms(m.content, prompt, index)):
                coined[rec.template_id] = terms
    assert recipe.active_glossary().name == framework
    assert not coined, coined


def test_the_example_held_out_prompts_never_appear_in_its_training_data() -> None:
    from glimmer.data.review import NearDuplicateIndex
    from glimmer.evaluate.suites import load_suite

    recipe = Recipe.load(EXAMPLE / "recipe.toml")
    assert [Path(p).name for p in recipe.suites] == ["suite.jsonl"]
    suite = [row for path in recipe.suites for row in load_suite(path)]
    assert {p.category for p in suite} == {
        "application",
        "reflection",
        "matrix",
        "interpretation",
        "generation",
        "neutral",
    }
    small = recipe.with_options(
        builders=tuple(b.__class__(b.kind, b.count // 4, None, b.options) for b in recipe.builders)
    )
    index = NearDuplicateIndex(threshold=0.5, k=3)  # the expansion review's overlap rule
    for p in suite:
        index.add(p.id, p.prompt)
    prompts = {r.prompt for r in build(small).all}
    assert not [q for q in prompts if index.find(q) is not None]
