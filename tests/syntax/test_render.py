"""Table-driven round trips: canonical text is left unchanged; other spellings become it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import glimmer
from glimmer.syntax.parser import parse
from glimmer.syntax.render import render

FIXTURES = Path(__file__).parent / "fixtures"


def identity_cases() -> list[str]:
    text = (FIXTURES / "identity.glimmer").read_text(encoding="utf-8")
    cases = [c.strip("\n") + "\n" for c in text.split("\n%%\n")]
    cases[0] = (
        "\n".join(
            line
            for line in cases[0].splitlines()
            if not line.startswith("// Each case") and not line.startswith("// Cases are")
        )
        + "\n"
    )
    return cases


def validate_identity(text: str) -> None:
    """*text* is canonical: formatting returns it unchanged."""
    assert glimmer.format_text(text) == text


def validate_canonical(source: str, canonical: str) -> None:
    """*source* formats to *canonical*, and both mean the same data."""
    assert glimmer.format_text(source) == canonical
    assert parse(source).to_data() == parse(canonical).to_data()


@pytest.mark.parametrize("text", identity_cases())
def test_identity(text: str) -> None:
    validate_identity(text)


CANONICAL = [
    (
        '{"metadata": {"author": "ada"}}',
        'metadata {\n  author: "ada"\n}\n',
    ),  # keys lose their quotes, values keep theirs
    ("metadata: { author: ada, }", "metadata {\n  author: ada\n}\n"),
    ('story: "x"  metadata {}', 'story: "x"\n\nmetadata {}\n'),
    ("a: [1,2,3,]", "a: [1, 2, 3]\n"),
    ("a: [1 2 3]", "a: [1, 2, 3]\n"),
    ('a: "#FF69B4"', 'a: "#FF69B4"\n'),  # the author's quotes are kept
    ("a: #ff69b4", "a: #ff69b4\n"),  # a colour keeps its case
    ("a [x, y]", "a: [x, y]\n"),
    ('a: """one line"""', 'a: """one line"""\n'),
    ("a: 1.50", "a: 1.50\n"),  # a number keeps its spelling
    ("\ufeffa: 1", "a: 1\n"),  # a byte-order mark is dropped
    ("a: 1 /* c */ b: 2", "a: 1 /* c */\n\nb: 2\n"),
    ("a {\n\n\n  b: 1\n\n\n\n  c: 2\n}", "a {\n  b: 1\n\n  c: 2\n}\n"),
]


@pytest.mark.parametrize(("source", "canonical"), CANONICAL)
def test_canonical(source: str, canonical: str) -> None:
    validate_canonical(source, canonical)


def test_json_style_keeps_json_files_as_they_are(corpus_dir: Path) -> None:
    for path in sorted(corpus_dir.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        out = glimmer.format_text(text, format="json")
        assert json.loads(out) == json.loads(text), path
        if text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n":
            assert out == text, path


def test_json_style_writes_valid_json_without_comments() -> None:
    text = 'metadata { color: #FF69B4, n: 1.0 }\nstory: """\n  a\n  b\n  """\n'
    out = render(parse(text), style="json")
    assert json.loads(out) == {"metadata": {"color": "#FF69B4", "n": 1.0}, "story": "a\nb"}


def test_long_array_of_names_breaks_one_per_line() -> None:
    items = ", ".join(f"concept_number_{i}" for i in range(12))
    out = glimmer.format_text(f"a: [{items}]")
    assert out.splitlines()[1] == "  concept_number_0"
    assert out.count("\n") == 14


def test_text_that_a_block_cannot_hold_stays_a_string() -> None:
    for value in [
        "  leading\nindent",
        "has\n   \nspace-only line",
        'quote """ inside\nx',
        "tab\tand\nline",
    ]:
        out = glimmer.dumps(glimmer.Pattern(story=value))
        assert glimmer.loads(out).story == value
