"""A user's framework in the demo and in compare: what is read from the recipe, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from glimmer.cli import app
from glimmer.errors import GlimmerError
from glimmer.evaluate.framework import demo_framework

ROOT = Path(__file__).resolve().parents[2]
HEARTHWOOD = ROOT / "examples" / "frameworks" / "hearthwood" / "recipe.toml"
GLOSSARY = """name = "TIDEGLASS"

[relation_kinds]
feeds = "feeds"

[concepts.undertow]
definition = "The pull beneath a conversation that decides where it goes."
relations = [{kind = "feeds", target = "shoreline"}]

[concepts.shoreline]
definition = "Where one idea meets another and both change shape."
"""
PATTERN = 'story: "Every answer follows the undertow to a shoreline."\n'
RECIPE = """name = "tideglass"
glossary = "glossary.toml"
replace_glossary = true
formative_matrix = "tide.glimmer"
suites = ["suite.jsonl"]

[[builders]]
kind = "glossary"
count = 10
"""
SUITE = '{"id": "t1", "category": "application", "prompt": "What is a harbour?"}\n'


def _framework(folder: Path, **files: str) -> Path:
    contents = {
        "glossary.toml": GLOSSARY,
        "tide.glimmer": PATTERN,
        "recipe.toml": RECIPE,
        "suite.jsonl": SUITE,
    }
    contents.update({name.replace("_", "."): text for name, text in files.items()})
    for name, text in contents.items():
        (folder / name).write_text(text)
    return folder / "recipe.toml"


def test_the_demo_reads_glossary_pattern_and_suites_from_the_recipe(tmp_path: Path) -> None:
    framework = demo_framework(_framework(tmp_path))
    assert framework.glossary.name == "TIDEGLASS"
    assert sorted(c.name for c in framework.glossary.core()) == ["shoreline", "undertow"]
    assert framework.pattern == tmp_path / "tide.glimmer"
    categories = [p.category for p in framework.prompts]
    assert categories[0] == "application" and framework.prompts[0].prompt == "What is a harbour?"
    assert "neutral" in categories  # the bundled everyday questions guard capability


def test_a_recipe_without_suites_gets_the_bundled_prompts_in_its_framework_s_name(
    tmp_path: Path,
) -> None:
    recipe = _framework(tmp_path, recipe_toml=RECIPE.replace('suites = ["suite.jsonl"]\n', ""))
    prompts = demo_framework(recipe).prompts
    application = [p.prompt for p in prompts if p.category == "application"]
    assert application and all("STARWEAVE" not in p for p in application)
    assert any("TIDEGLASS" in p for p in application)


def test_the_bundled_second_framework_is_read_whole() -> None:
    framework = demo_framework(HEARTHWOOD)
    assert framework.glossary.name == "HEARTHWOOD"
    assert framework.pattern is not None and framework.pattern.name == "hearthwood.glimmer"
    assert framework.prompts


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"glossary_toml": 'name = "X"\n'}, "glossary.toml"),  # no concepts
        (
            {"glossary_toml": GLOSSARY.replace('target = "shoreline"', 'target = "nowhere"')},
            "glossary.toml:",
        ),
        ({"tide_glimmer": "story = 3\n"}, "tide.glimmer:1:"),
        ({"recipe_toml": RECIPE.replace("tide.glimmer", "gone.glimmer")}, "recipe.toml:"),
    ],
)
def test_glimmer_demo_recipe_refuses_bad_files_before_writing(
    tmp_path: Path, files: dict[str, str], where: str
) -> None:
    recipe = _framework(tmp_path, **files)
    with pytest.raises(GlimmerError):
        demo_framework(recipe)
    out = tmp_path / "demo-out"
    result = CliRunner().invoke(app, ["demo", "--recipe", str(recipe), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert where in result.output
    assert "hint:" in result.output
    assert not out.exists()


def test_glimmer_compare_glossary_refuses_a_bad_glossary_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(GLOSSARY.replace('target = "shoreline"', 'target = "nowhere"'))
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["compare", "--adapter", str(tmp_path / "run"), "--glossary", str(bad), "-o", str(report)],
    )
    assert result.exit_code == 2
    assert "bad.toml:" in result.output and "hint:" in result.output
    assert not report.exists()
