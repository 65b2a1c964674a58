"""Pattern-conditioned records: a recipe's formative pattern shapes the answers."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import glimmer
from glimmer.cli import app
from glimmer.data import Recipe, build
from glimmer.data.kinds import application, general, glossary_qa, matrix, reflection
from glimmer.data.shaping import Shape
from glimmer.errors import GlimmerError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "frameworks" / "hearthwood"

PATTERN = """
metadata { title: "Tide Keeper" }
story: "A keeper listens to the tide. Nothing is rushed."
recognize { patterns: [echoes, pauses] }
processing { steps: ["Listen first", "Name the current", "Answer plainly"] }
response { style: "plain" tone: warm format: "a short answer that ends with one question" }
when_seeing { "a mistake": "name what it teaches" }
when_processing { "a long question": "find its smallest part first" }
"""


@pytest.fixture(scope="module")
def shape() -> Shape:
    return Shape.from_pattern(glimmer.loads(PATTERN))


def test_shape_reads_every_behaviour_section(shape: Shape) -> None:
    assert shape.title == "Tide Keeper"
    assert shape.story.startswith("A keeper listens")
    assert shape.notices == ("echoes", "pauses")
    assert shape.steps == ("Listen first", "Name the current", "Answer plainly")
    assert shape.ends_with_question and shape.short and not shape.listed
    assert shape.subjects() == ["a mistake", "a long question"]


@pytest.mark.parametrize("build_", [application, reflection, matrix])
def test_shaped_answers_end_with_one_question(shape: Shape, build_: object) -> None:
    recs = build_(40, shape=shape).records(seed=2)  # type: ignore[operator]
    for r in recs:
        assert r.answer.rstrip().endswith("?"), r.answer
        assert r.answer.count("?") == 1
    plain = build_(40).records(seed=2)  # type: ignore[operator]
    assert sum(r.answer.rstrip().endswith("?") for r in plain) < len(plain) / 4


def test_rules_fire_when_the_question_is_about_their_subject(shape: Shape) -> None:
    recs = reflection(200, shape=shape).records(seed=5)
    about = [r for r in recs if "a mistake" in r.prompt]
    assert about, "the pattern's subjects join the questions"
    assert all("Seeing a mistake, I name what it teaches." in r.answer for r in about)


def test_matrix_answers_name_the_formative_pattern(shape: Shape) -> None:
    for r in matrix(30, shape=shape).records(seed=1):
        assert "Tide Keeper pattern" in r.answer
        assert "a keeper listens to the tide" in r.answer.lower()


def test_reflection_answers_show_steps_and_what_is_noticed(shape: Shape) -> None:
    answers = [r.answer for r in reflection(200, shape=shape).records(seed=3)]
    assert any("listen first; name the current; answer plainly" in a for a in answers)
    assert any("What I notice first is echoes and pauses." in a for a in answers)


def test_unshaped_categories_are_left_alone(shape: Shape) -> None:
    for make in (general, glossary_qa):
        shaped = [r.answer for r in make(30, shape=shape).records(seed=4)]
        plain = [r.answer for r in make(30).records(seed=4)]
        assert shaped == plain


def test_shaping_leaves_the_unshaped_draws_unchanged(shape: Shape) -> None:
    """Same prompts whether shaped or not (outside the pattern's own subjects)."""
    shaped = application(50, shape=Shape()).records(seed=9)
    plain = application(50).records(seed=9)
    assert [r.prompt for r in shaped] == [r.prompt for r in plain]


def test_a_list_format_writes_a_list() -> None:
    listed = Shape(format="a list of steps")
    for r in application(10, shape=listed).records(seed=1):
        lines = [line for line in r.answer.splitlines() if line.strip()]
        assert sum(line.startswith("- ") for line in lines) >= 2
        assert all(line.startswith("- ") for line in lines[1:]), r.answer  # an intro, then items


def test_apply_is_a_function_of_its_generator(shape: Shape) -> None:
    text = "One. Two. Three. Four."
    a = shape.apply(text, category="application", about="rain", idea="x", rng=random.Random(1))
    b = shape.apply(text, category="application", about="rain", idea="x", rng=random.Random(1))
    assert a == b and a.endswith("?")


def test_the_example_recipe_builds_a_shaped_framework_dataset() -> None:
    recipe = Recipe.load(EXAMPLE / "recipe.toml")
    assert recipe.active_glossary().name == "HEARTHWOOD"
    pattern = recipe.formative_pattern()
    assert pattern is not None and pattern.metadata is not None
    small = recipe.with_options(
        builders=tuple(b.__class__(b.kind, 12, None, b.options) for b in recipe.builders)
    )
    splits = build(small)
    matrix_answers = [r.answer for r in splits.all if r.category == "matrix"]
    assert matrix_answers and all("Hearthwood Keeper pattern" in a for a in matrix_answers)
    assert not any("STARWEAVE" in m.content for r in splits.all for m in r.messages)


# -- bad input: GlimmerError with file, line and hint; nothing written ------------------------

runner = CliRunner()

BAD_GLOSSARIES = {
    "no concepts": ('name = "EMPTY"\n[relation_kinds]\nfeeds = "feeds"\n', "G402", 1),
    "missing target": (
        '[relation_kinds]\nfeeds = "feeds"\n\n[concepts.undertow]\ndefinition = "A pull."\n'
        'relations = [{ kind = "feeds", target = "shoreline" }]\n',
        "G403",
        6,
    ),
}


@pytest.mark.parametrize("case", list(BAD_GLOSSARIES))
def test_a_bad_recipe_glossary_fails_with_its_line_and_writes_nothing(
    tmp_path: Path, case: str
) -> None:
    text, code, line = BAD_GLOSSARIES[case]
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    (tmp_path / "recipe.toml").write_text(
        'glossary = "mine.toml"\nreplace_glossary = true\n[[builders]]\nkind = "application"\ncount = 5\n',
        encoding="utf-8",
    )
    with pytest.raises(GlimmerError) as info:
        build(tmp_path / "recipe.toml")
    err = info.value
    assert err.code == code and err.hint
    assert err.location.source is not None and err.location.source.endswith("mine.toml")
    assert err.location.line == line
    out = tmp_path / "out"
    res = runner.invoke(app, ["build", str(tmp_path / "recipe.toml"), "-o", str(out)])
    assert res.exit_code != 0 and "mine.toml" in res.output
    assert not out.exists() or not any(out.iterdir())


def test_a_formative_pattern_that_does_not_parse_fails_with_its_line(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE / "glossary.toml", tmp_path / "glossary.toml")
    (tmp_path / "broken.glimmer").write_text('metadata {\n  title: "x"\n  oops oops\n}\n')
    (tmp_path / "recipe.toml").write_text(
        'glossary = "glossary.toml"\nreplace_glossary = true\nformative_matrix = "broken.glimmer"\n'
        '[[builders]]\nkind = "matrix"\ncount = 5\n',
        encoding="utf-8",
    )
    with pytest.raises(GlimmerError) as info:
        build(tmp_path / "recipe.toml")
    err = info.value
    assert err.location.source is not None and err.location.source.endswith("broken.glimmer")
    assert err.location.line == 3
    out = tmp_path / "out"
    res = runner.invoke(app, ["build", str(tmp_path / "recipe.toml"), "-o", str(out)])
    assert res.exit_code != 0 and "broken.glimmer" in res.output
    assert not out.exists() or not any(out.iterdir())


def test_a_missing_formative_pattern_names_the_recipe_line(tmp_path: Path) -> None:
    (tmp_path / "recipe.toml").write_text(
        'name = "x"\nformative_matrix = "nowhere.glimmer"\n[[builders]]\nkind = "matrix"\n',
        encoding="utf-8",
    )
    with pytest.raises(GlimmerError) as info:
        build(tmp_path / "recipe.toml")
    assert info.value.code == "G423" and info.value.location.line == 2 and info.value.hint


def test_a_shaped_build_is_deterministic() -> None:
    recipe = Recipe.load(EXAMPLE / "recipe.toml")
    small = recipe.with_options(
        builders=tuple(b.__class__(b.kind, 10, None, b.options) for b in recipe.builders)
    )
    first, again = build(small, seed=5), build(small, seed=5)
    assert [r.to_json_line() for r in first.all] == [r.to_json_line() for r in again.all]
