"""The STARWEAVE glossary: the shipped data, loading, extending and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.model.pattern import SEED_SECTIONS
from glimmer.starweave import Concept, Glossary, GlossaryError, Relation

REQUIRED = [
    "meta_intelligence_framework",
    "pattern_language",
    "interface_bridge",
    "quantum_relationships",
    "meta_intelligence_flow",
    "consciousness_crystals",
    "potential_memory_blocks",
    "evolution_opportunities",
    *SEED_SECTIONS,  # the GLIMMER sections are concepts too
]

SMALL = """
[relation_kinds]
forms = "gives rise to"

[concepts.seed]
definition = "A beginning."
examples = ["A seed waits."]
relations = [{ kind = "forms", target = "bloom" }]

[concepts.bloom]
definition = "A growth."
"""


def test_default_has_every_required_concept() -> None:
    g = Glossary.default()
    for name in REQUIRED:
        assert name in g, name
        c = g[name]
        assert c.definition
        assert c.examples
        assert c.relations, f"{name} has no relations"


def test_core_concepts_have_examples_beyond_the_definition() -> None:
    for c in Glossary.default().core():
        assert len(c.examples) >= 3, c.name
        assert all(ex != c.definition for ex in c.examples)


def test_every_relation_points_at_a_concept_of_a_declared_kind() -> None:
    g = Glossary.default()
    for c in g.values():
        for r in c.relations:
            assert r.target in g
            assert r.kind in g.relation_kinds


def test_terms_cover_names_spoken_forms_and_aliases() -> None:
    g = Glossary.default()
    terms = g.terms()
    assert "consciousness_crystals" in terms
    assert "consciousness crystals" in terms
    assert "potential_memory_block" in terms
    assert len(terms) == len(set(terms))


def test_loads_small_glossary_is_a_mapping() -> None:
    g = Glossary.loads(SMALL, source="small.toml")
    assert list(g) == ["seed", "bloom"]
    assert g["seed"].relations == [Relation("forms", "bloom")]
    assert g.phrase(g["seed"].relations[0]) == "gives rise to"
    assert isinstance(g["bloom"], Concept)
    assert g["bloom"].spoken == "bloom"


def test_unknown_relation_target_names_file_and_line() -> None:
    text = SMALL.replace('target = "bloom"', 'target = "blossom"')
    with pytest.raises(GlossaryError) as info:
        Glossary.loads(text, source="bad.toml")
    err = info.value
    assert err.code == "G403"
    assert err.path == "bad.toml"
    assert (
        err.line
        == text.splitlines().index('relations = [{ kind = "forms", target = "blossom" }]') + 1
    )
    assert "blossom" in str(err)


def test_unknown_relation_kind_is_reported() -> None:
    text = SMALL.replace('kind = "forms"', 'kind = "melts"')
    with pytest.raises(GlossaryError) as info:
        Glossary.loads(text, source="bad.toml")
    assert info.value.code == "G403"
    assert "melts" in info.value.message


def test_invalid_toml_has_line_and_column() -> None:
    with pytest.raises(GlossaryError) as info:
        Glossary.loads('[concepts.x]\ndefinition = "a\n', source="broken.toml")
    assert info.value.code == "G401"
    assert info.value.line == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[concepts.Bad-Name]\ndefinition = "x"\n', "snake_case"),
        ("[concepts.empty]\nexamples = []\n", "no definition"),
        ('[concepts.x]\ndefinition = "x"\nexamples = "one"\n', "list of strings"),
        (
            '[relation_kinds]\n[concepts.x]\ndefinition = "x"\nrelations = [{ kind = 1 }]\n',
            "malformed",
        ),
        ('name = "nothing"\n', "at least one"),
    ],
)
def test_malformed_concepts_are_glossary_errors(text: str, needle: str) -> None:
    with pytest.raises(GlossaryError) as info:
        Glossary.loads(text, source="g.toml")
    assert info.value.code == "G402"
    assert needle in info.value.message


def test_extend_adds_and_replaces(tmp_path: Path) -> None:
    extra = tmp_path / "extra.toml"
    extra.write_text(
        '[relation_kinds]\nechoes = "echoes"\n\n[concepts.starlight]\ndefinition = "Light."\n'
        'relations = [{ kind = "echoes", target = "consciousness_crystals" }]\n',
        encoding="utf-8",
    )
    base = Glossary.default()
    merged = base.extend(extra)
    assert "starlight" in merged and "consciousness_crystals" in merged
    assert len(merged) == len(base) + 1
    assert "starlight" not in base  # glossaries are immutable
    with pytest.raises(GlossaryError):
        base.extend(extra, replace=True)  # alone, its relation target does not exist


def test_load_reports_missing_file(tmp_path: Path) -> None:
    from glimmer.errors import GlimmerFileError

    with pytest.raises(GlimmerFileError):
        Glossary.load(tmp_path / "nope.toml")


def test_the_framework_name_comes_from_the_file() -> None:
    assert Glossary.default().name == "STARWEAVE"
    named = Glossary.loads('name = "LUMENFOLD"\n' + SMALL, source="x/mine.toml")
    assert named.name == "LUMENFOLD"
    # no name: named after the file; an extension without one keeps the base's name
    assert Glossary.loads(SMALL, source="x/tide-pool.toml").name == "TIDE_POOL"
    unnamed = Glossary.loads(SMALL, source="x/mine.toml")
    assert Glossary.default().extend(unnamed).name == "STARWEAVE"
    assert Glossary.default().extend(named).name == "LUMENFOLD"
    assert Glossary.default().extend(named, replace=True).name == "LUMENFOLD"


def test_a_name_that_is_not_a_string_is_a_glossary_error() -> None:
    with pytest.raises(GlossaryError) as info:
        Glossary.loads("name = 3\n" + SMALL, source="mine.toml")
    assert info.value.location.line == 1
    assert "name" in str(info.value) and info.value.hint


def test_summary_reads_every_core_concept_with_its_relations() -> None:
    g = Glossary.loads('name = "LUMENFOLD"\n' + SMALL, source="mine.toml")
    text = g.summary()
    assert text.splitlines()[0] == "The LUMENFOLD framework, concept by concept:"
    assert (
        "- seed: A beginning. Example: A seed waits. Relations: seed gives rise to bloom." in text
    )
    assert "- bloom: A growth." in text
