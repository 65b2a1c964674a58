"""Every real pattern in the corpus loads, validates and round-trips as it is.

The test walks the whole folder, so a file added there later is tested too.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import glimmer
from tests.conftest import CORPUS

NOT_PATTERNS = {"SOURCES.md", "pluto-schema.json"}
FILES = (
    sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_PATTERNS)
    if CORPUS.is_dir()
    else []
)
JSON_FILES = [p for p in FILES if p.suffix == ".json"]


def test_corpus_is_there(corpus_dir: Path) -> None:
    assert len(FILES) >= 18


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_corpus_file_loads(path: Path) -> None:
    pattern = glimmer.load(path)
    assert pattern.to_data()
    assert glimmer.loads(glimmer.dumps(pattern)) == pattern
    assert glimmer.loads(glimmer.dumps(pattern, format="json"), format="json") == pattern


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_json_round_trip_is_identical_with_key_order(path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    pattern = glimmer.load(path)
    # equal as data *and* in key order: compare the serialised forms
    assert json.dumps(pattern.to_data()) == json.dumps(original)
    via_dsl = glimmer.loads(glimmer.dumps(pattern, format="glimmer"))
    assert json.dumps(via_dsl.to_data()) == json.dumps(original)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_every_corpus_file_validates_against_the_schema(path: Path) -> None:
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), glimmer.schema())


def test_corpus_spellings_are_kept_and_typed_views_work(corpus_dir: Path) -> None:
    space = glimmer.load(corpus_dir / "pluto-v1" / "0001-GLIMMER.json").metadata
    zulu = glimmer.load(corpus_dir / "pluto-patterns" / "0001-PLUTO_identity.json").metadata
    assert space is not None and zulu is not None
    assert space.timestamp == "2025-07-10 16:21:41"
    assert space.timestamp is not None and space.timestamp.datetime.hour == 16
    assert zulu.timestamp is not None and zulu.timestamp.datetime.tzinfo is not None
    assert zulu.version == "1.0.0" and zulu.effective_version == "1.0.0"
    assert space.effective_version is not None and space.effective_version.parts.minor == 3
    assert space.harmonics is not None
    revelation = space.harmonics["revelation"]
    assert isinstance(revelation, glimmer.Harmonic) and revelation.color is not None
    assert revelation.color.rgb == (255, 215, 0)


def test_content_sections_are_typed(corpus_dir: Path) -> None:
    p = glimmer.load(corpus_dir / "pluto-v1" / "0008-chromatic_cognition.json")
    assert p.content is not None and p.content.sections is not None
    assert [s.title for s in p.content.sections][:2] == ["Core Concept", "Implementation"]


def test_schema_carries_the_field_docs() -> None:
    schema = glimmer.schema()
    assert "narrative" in schema["properties"]["story"]["description"]
    assert (
        "2025-08-01T14:15:00Z"
        in schema["$defs"]["Metadata"]["properties"]["timestamp"]["description"]
    )
