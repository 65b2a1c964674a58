"""A user's framework drives the data: its name, its concepts, its sentences; none of STARWEAVE's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from glimmer.data import application, glossary_qa, interpretation, matrix, reflection
from glimmer.data.builder import Builder
from glimmer.starweave import Glossary

TIDE = """
name = "TIDEGLASS"

[relation_kinds]
feeds = "feeds"
settles_into = "settles into"

[concepts.undertow]
definition = "The pull beneath a conversation: what is meant but not yet said."
examples = ["A pause before an answer is undertow showing at the surface."]
relations = [{ kind = "feeds", target = "shoreline" }]
aliases = ["the pull"]

[concepts.shoreline]
definition = "Where a meaning finally lands and can be stood on by both speakers."
examples = ["Agreeing on a word is reaching the shoreline together."]
relations = [{ kind = "settles_into", target = "brine_memory" }]

[concepts.brine_memory]
definition = "Memory that keeps the taste of how it was made, not only what it holds."
examples = ["Remembering a lesson along with the teacher's voice is brine_memory."]
relations = [{ kind = "feeds", target = "undertow" }]
"""


@pytest.fixture(scope="module")
def tide() -> Glossary:
    return Glossary.default().extend(Glossary.loads(TIDE, source="tide.toml"), replace=True)


def _starweave_terms() -> re.Pattern[str]:
    g = Glossary.default()
    terms = {"starweave"} | {t.lower() for c in g.core() for t in (c.name, c.spoken)}
    return re.compile("|".join(sorted(map(re.escape, terms), key=len, reverse=True)), re.I)


def _builders(g: Glossary) -> dict[str, Builder]:
    return {
        "application": application(60, glossary=g),
        "reflection": reflection(60, glossary=g),
        "matrix": matrix(60, glossary=g),
        "glossary": glossary_qa(60, glossary=g),
        "interpretation": interpretation(60, glossary=g),
    }


def test_prompts_name_the_active_framework(tide: Glossary) -> None:
    prompts = [r.prompt for r in application(200, glossary=tide).records(seed=1)]
    assert any("TIDEGLASS" in p for p in prompts)
    assert not any("STARWEAVE" in p for p in prompts)


@pytest.mark.parametrize(
    "kind", ["application", "reflection", "matrix", "glossary", "interpretation"]
)
def test_no_record_names_starweave_or_its_concepts(tide: Glossary, kind: str) -> None:
    found = _starweave_terms()
    for r in _builders(tide)[kind].records(seed=3):
        text = "\n".join(m.content for m in r.messages)
        hit = found.search(text)
        assert hit is None, f"{r.template_id}: {hit.group(0) if hit else ''} in {text!r}"


def test_the_dataset_card_names_the_framework(tmp_path: Path) -> None:
    from glimmer.data import build
    from glimmer.data.card import dataset_card

    (tmp_path / "tide.toml").write_text(TIDE, encoding="utf-8")
    (tmp_path / "r.toml").write_text(
        'glossary = "tide.toml"\nreplace_glossary = true\n[[builders]]\nkind = "matrix"\ncount = 4\n',
        encoding="utf-8",
    )
    splits = build(tmp_path / "r.toml")
    assert splits.stats["framework"] == "TIDEGLASS"
    card = dataset_card(splits, name="tide")
    assert "TIDEGLASS glossary" in card and "STARWEAVE" not in card


def test_teacher_prompts_carry_each_concepts_entry(tide: Glossary) -> None:
    from glimmer.data.review import Reviewer
    from glimmer.data.templates import TemplateSet

    reviewer = Reviewer(glossary=tide, eval_prompts=[])
    assert reviewer.framework == "TIDEGLASS"
    env = TemplateSet().env
    system = env.get_template("expand/answer_system.jinja2").render(
        category="application",
        framework=reviewer.framework,
        glossary=reviewer.teacher_glossary(),
        pattern_example="",
    )
    assert "within the TIDEGLASS framework" in system
    assert "Example: A pause before an answer is undertow showing at the surface." in system
    assert "Relations: undertow feeds shoreline." in system
    assert "(also written the pull)" in system
    assert "STARWEAVE" not in system and "consciousness_crystals" not in system
    question = env.get_template("expand/question.jinja2").render(
        category="glossary",
        category_hint="asks what a concept means",
        framework=reviewer.framework,
        seed_question="What is undertow?",
        concepts=[c["name"] for c in reviewer.teacher_glossary()],
        angle="a memory",
    )
    assert "the TIDEGLASS framework" in question and "STARWEAVE" not in question


def test_bundled_suites_speak_the_active_framework() -> None:
    from glimmer.evaluate.suites import bundled_suites

    default = bundled_suites()
    tide = bundled_suites(framework="TIDEGLASS")
    assert [p.id for p in tide] == [p.id for p in default]
    assert any("TIDEGLASS" in p.prompt for p in tide)
    assert not any("STARWEAVE" in p.prompt for p in tide)
    assert any("STARWEAVE" in p.prompt for p in default)
