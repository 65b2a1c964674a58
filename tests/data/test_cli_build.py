"""`glimmer build`: default recipe, recipe files, --seed, --force, --patterns."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from glimmer.cli import app
from glimmer.data import read_jsonl

RECIPE = """
name = "tiny"
validation = 0.2
formats = ["jsonl", "sharegpt"]

[[builders]]
kind = "interpretation"
count = 10

[[builders]]
kind = "reflection"
count = 10
"""

runner = CliRunner()


def test_build_recipe_writes_dataset_and_card(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["build", str(recipe), "-o", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {
        "train.jsonl",
        "validation.jsonl",
        "train.sharegpt.jsonl",
        "validation.sharegpt.jsonl",
        "README.md",
        "dataset_info.json",
    }
    recs = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert len(recs) == 20 and {r.category for r in recs} == {"interpretation", "reflection"}
    assert "distinct 4-grams" in res.output

    again = runner.invoke(app, ["build", str(recipe), "-o", str(out), "--seed", "3"])
    assert again.exit_code == 2
    assert "already exists" in again.output
    forced = runner.invoke(app, ["build", str(recipe), "-o", str(out), "--seed", "4", "--force"])
    assert forced.exit_code == 0, forced.output


def test_build_with_corpus_patterns(tmp_path: Path, corpus_dir: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    res = runner.invoke(
        app,
        [
            "build",
            str(recipe),
            "-o",
            str(tmp_path / "o"),
            "--patterns",
            str(corpus_dir / "pluto-v1"),
        ],
    )
    assert res.exit_code == 0, res.output
    sources = {
        r.source
        for r in read_jsonl(tmp_path / "o" / "train.jsonl")
        if r.category == "interpretation"
    }
    assert any(s and "pluto-v1" in s for s in sources)


def test_bad_recipe_exits_2_with_code_and_location(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text('[[builders]]\nkind = "sonnet"\n', encoding="utf-8")
    res = runner.invoke(app, ["build", str(recipe), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"G414 {recipe}:2:1: unknown builder kind 'sonnet'" in res.output


def test_build_without_recipe_uses_the_default(tmp_path: Path) -> None:
    res = runner.invoke(app, ["build", "-o", str(tmp_path / "d"), "--seed", "2"])
    assert res.exit_code == 0, res.output
    recs = read_jsonl(tmp_path / "d" / "train.jsonl") + read_jsonl(
        tmp_path / "d" / "validation.jsonl"
    )
    assert len(recs) >= 1000
    assert {r.category for r in recs} >= {
        "generation",
        "interpretation",
        "application",
        "reflection",
        "matrix",
        "glossary",
    }
    assert all(r.seed is not None for r in recs)
    card = (tmp_path / "d" / "README.md").read_text(encoding="utf-8")
    assert "seed: 2" in card


def test_build_names_the_framework_of_the_recipes_glossary(tmp_path: Path) -> None:
    (tmp_path / "lumen.toml").write_text(
        'name = "LUMENFOLD"\n'
        '[concepts.fold]\ndefinition = "A crease that keeps a shape."\n'
        '[concepts.gleam]\ndefinition = "Light caught on an edge."\n',
        encoding="utf-8",
    )
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        RECIPE.replace(
            'name = "tiny"', 'name = "tiny"\nglossary = "lumen.toml"\nreplace_glossary = true'
        ),
        encoding="utf-8",
    )
    res = runner.invoke(app, ["build", str(recipe), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "framework LUMENFOLD (2 concepts)" in res.output
    plain = runner.invoke(app, ["build", "-o", str(tmp_path / "default")])
    assert plain.exit_code == 0, plain.output
    assert "framework STARWEAVE" in plain.output
