"""loads/load/dumps/dump/format_text: formats, files, atomic writes, clear file errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import glimmer
from glimmer.errors import GlimmerError, GlimmerFileError, GlimmerSyntaxError
from glimmer.model import io


def test_dump_picks_format_by_suffix_and_round_trips(tmp_path: Path, examples_dir: Path) -> None:
    p = glimmer.load(examples_dir / "starweave-seed.glimmer")
    for name in ("a.glimmer", "a.json"):
        out = glimmer.dump(p, tmp_path / name)
        assert glimmer.load(out) == p
    assert json.loads((tmp_path / "a.json").read_text())["metadata"]["color"] == "#FF69B4"


def test_examples_in_both_forms_are_the_same_pattern(examples_dir: Path) -> None:
    pairs = [
        (g, g.with_suffix(".json"))
        for g in examples_dir.glob("*.glimmer")
        if g.with_suffix(".json").exists()
    ]
    assert pairs
    for dsl, as_json in pairs:
        assert glimmer.load(dsl) == glimmer.load(as_json)


def test_examples_cover_all_nine_sections(examples_dir: Path) -> None:
    seen: set[str] = set()
    for path in examples_dir.glob("*.glimmer"):
        seen |= set(glimmer.load(path).to_data())
    assert set(glimmer.model.pattern.SEED_SECTIONS) <= seen


def test_examples_are_formatted(examples_dir: Path) -> None:
    for path in examples_dir.glob("*.glimmer"):
        text = path.read_text(encoding="utf-8")
        assert glimmer.format_text(text) == text, path


def test_dump_refuses_to_overwrite_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "p.glimmer"
    target.write_text("keep me")
    with pytest.raises(GlimmerFileError) as info:
        glimmer.dump(glimmer.Pattern(story="x"), target, overwrite=False)
    assert info.value.code == "G004"
    assert target.read_text() == "keep me"


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "p.glimmer"
    target.write_text("old")

    class Boom(str):
        def __str__(self) -> str:  # pragma: no cover - never reached
            return "x"

    with pytest.raises(TypeError):
        io.write_text(target, 123)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["p.glimmer"]


@pytest.mark.parametrize("fmt", ["glimmer", "json"])
def test_strict_json_format(fmt: str) -> None:
    text = '{"story": "x" // a comment\n}'
    if fmt == "json":
        with pytest.raises(GlimmerSyntaxError) as info:
            glimmer.loads(text, format=fmt)
        assert info.value.code == "G109" and info.value.line == 1
    else:
        assert glimmer.loads(text, format=fmt).story == "x"


def test_json_files_may_carry_comments_like_real_ones(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{\n  "story": "x" // why\n}\n')
    assert glimmer.load(path).story == "x"


def test_unknown_format() -> None:
    with pytest.raises(GlimmerError, match="unknown format"):
        glimmer.dumps(glimmer.Pattern(), format="yaml")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(GlimmerFileError, match="no such file"):
        glimmer.load(tmp_path / "missing.glimmer")
    with pytest.raises(GlimmerFileError, match="directory"):
        glimmer.load(tmp_path)
    bad = tmp_path / "latin1.glimmer"
    bad.write_bytes(b'story: "caf\xe9"\n')
    with pytest.raises(GlimmerFileError) as info:
        glimmer.load(bad)
    assert (info.value.code, info.value.line, info.value.column) == ("G003", 1, 12)
    assert isinstance(info.value, OSError)


def test_dumps_type_errors_name_the_fix() -> None:
    with pytest.raises(TypeError, match="Pattern"):
        glimmer.dumps({"story": "x"})  # type: ignore[arg-type]
