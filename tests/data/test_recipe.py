"""Recipes: the TOML format, errors with lines, mixing by weight, and build()."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from glimmer.data import Recipe, RecipeError, build, default_recipe

SMALL = """
name = "small"
seed = 4
validation = 0.25
formats = ["jsonl", "alpaca"]

[[builders]]
kind = "application"
count = 12

[[builders]]
kind = "matrix"
count = 8
"""


def test_loads_small_recipe() -> None:
    r = Recipe.loads(SMALL)
    assert r.name == "small" and r.seed == 4 and r.formats == ("jsonl", "alpaca")
    assert [(b.kind, b.count) for b in r.builders] == [("application", 12), ("matrix", 8)]


def test_build_uses_recipe_seed_and_split() -> None:
    s = build(Recipe.loads(SMALL))
    assert s.seed == 4
    assert Counter(r.category for r in s.all) == {"application": 12, "matrix": 8}
    assert len(s.validation) == 5
    again = build(Recipe.loads(SMALL))
    assert [r.to_json_line() for r in again.train] == [r.to_json_line() for r in s.train]
    assert build(Recipe.loads(SMALL), seed=5).train != s.train


def test_total_mixes_by_weight() -> None:
    text = (
        SMALL.replace('name = "small"', 'name = "small"\ntotal = 40')
        .replace("count = 12", "weight = 3")
        .replace("count = 8", "weight = 1")
    )
    counts = Counter(r.category for r in build(Recipe.loads(text)).all)
    assert counts == {"application": 30, "matrix": 10}


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        (SMALL.replace('kind = "matrix"', 'kind = "poetry"'), "poetry", "poetry"),
        (SMALL.replace('"alpaca"', '"parquet"'), "parquet", "parquet"),
        ("colour = 1\n" + SMALL, "colour", "colour"),
        ("[[builders]\n", "TOML", "[[builders]"),
        ('name = "x"\n', "at least one", None),
    ],
)
def test_recipe_errors_name_the_line(text: str, needle: str, line: str | None) -> None:
    with pytest.raises(RecipeError) as info:
        Recipe.loads(text, source="r.toml")
    assert info.value.code == "G414"
    assert needle in str(info.value)
    if line is not None:  # the line of the offending text
        assert info.value.line == next(i for i, t in enumerate(text.splitlines(), 1) if line in t)


def test_relative_paths_resolve_against_the_recipe(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text('patterns = ["pats"]\n' + SMALL, encoding="utf-8")
    r = Recipe.load(tmp_path / "r.toml")
    assert r.patterns == (str(tmp_path / "pats"),)


def test_default_recipe_covers_every_category() -> None:
    kinds = {b.kind for b in default_recipe().builders}
    assert kinds == {
        "generation",
        "interpretation",
        "application",
        "reflection",
        "matrix",
        "glossary",
        "general",
    }
