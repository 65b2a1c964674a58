"""The DSL reads JSON unchanged and everything on top of it; errors say what, where and how."""

from __future__ import annotations

import json

import pytest

import glimmer
from glimmer.errors import GlimmerSyntaxError
from glimmer.syntax import parser as parser_module
from glimmer.syntax.parser import MAX_DEPTH, parse, parse_data


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ('{"a": 1}', {"a": 1}),
        ("a: 1", {"a": 1}),
        ("a { b: c }", {"a": {"b": "c"}}),
        ("a: { b: c, }", {"a": {"b": "c"}}),
        ("a: [x y, z,]", {"a": ["x", "y", "z"]}),
        ("a: #FF69B4", {"a": "#FF69B4"}),
        ("a: #fff", {"a": "#fff"}),
        ("a: 2025-08-01", {"a": "2025-08-01"}),
        ("a: 2025-08-01T14:15:00Z", {"a": "2025-08-01T14:15:00Z"}),
        ("a: 2025-08-01T14:15:00.5+02:00", {"a": "2025-08-01T14:15:00.5+02:00"}),
        ("a: 1.0.0", {"a": "1.0.0"}),
        ("a: 1.0.0-rc.1+build.5", {"a": "1.0.0-rc.1+build.5"}),
        ("a: 1.5", {"a": 1.5}),
        ("a: -0", {"a": 0}),
        ("a: 1e3", {"a": 1000.0}),
        ("a: meta-intelligence", {"a": "meta-intelligence"}),
        ("true: false", {"true": False}),
        ("a: null", {"a": None}),
        ("a: trueish", {"a": "trueish"}),
        ('a: "\\u00e9\\n"', {"a": "é\n"}),
        ("a: // c\n 1", {"a": 1}),
        ("/* c */ a /* d */ : /* e */ 1", {"a": 1}),
        ('a: """\n    x\n      y\n    """', {"a": "x\n  y"}),
        ('a: """  keep  """', {"a": "  keep  "}),
        ('a: """\n\n  x\n\n  """', {"a": "\nx\n"}),
        ("a: []\nb: {}", {"a": [], "b": {}}),
    ],
)
def test_reads(text: str, data: object) -> None:
    assert parse(text).to_data() == data
    assert parse_data(text) == data


def test_reads_every_json_document_unchanged() -> None:
    doc = {"k": [1, 2.5, -3e-2, True, False, None, 's"\\/\b\f\n\r\t\u0001é😀'], "n": {"": {}}}
    text = json.dumps(doc)
    assert parse(text).to_data() == doc
    assert parse_data(text) == doc
    assert parse_data(json.dumps(doc, ensure_ascii=False, indent=4)) == doc


def test_keeps_key_order() -> None:
    assert list(parse_data("z: 1\na: 2\nm: 3")) == ["z", "a", "m"]


def test_comments_attach_to_what_they_annotate() -> None:
    doc = parse("// lead\na: 1 // trail\nb {\n  c: 2\n  // end of b\n}\n// end\n")
    a, b = doc.root.members
    assert [c.text for c in a.comments] == ["// lead"]
    assert a.trailing is not None and a.trailing.text == "// trail"
    assert isinstance(b.value, parser_module.Object)
    assert [c.text for c in b.value.dangling] == ["// end of b"]
    assert [c.text for c in doc.root.dangling] == ["// end"]


ERRORS = [
    # text, code, line, column, words in the message
    ('a: "open', "G102", 1, 4, "unterminated string"),
    ('a: """open', "G102", 1, 4, "unterminated"),
    ("a: /* open", "G102", 1, 4, "unterminated /* comment"),
    ("a { b: 1", "G104", 1, 9, "never closed"),
    ("a: [1, 2", "G104", 1, 9, "'[' opened at line 1, column 4"),
    ("a = 1", "G101", 1, 3, "'='"),
    ("a: 'x'", "G101", 1, 4, "double quotes"),
    ("a 1", "G103", 1, 3, "expected ':'"),
    ("a: 1\n}", "G103", 2, 1, "unexpected '}'"),
    ("a: 1\na: 2", "G105", 2, 1, "duplicate key 'a' (first defined at line 1)"),
    ('{"a": 1, "a": 2}', "G105", 1, 10, "duplicate key"),
    ("a: 1e999", "G106", 1, 4, "too large"),
    ("a: 12abc", "G106", 1, 4, "malformed literal"),
    ('a: "\\q"', "G102", 1, 4, "invalid escape"),
    ("", "G104", 1, 1, "end of the text"),
    ("// only a comment", "G104", 1, 18, "end of the text"),
    ("[1, 2]", "G103", 1, 1, "unexpected '['"),
]


@pytest.mark.parametrize(("text", "code", "line", "column", "words"), ERRORS)
def test_errors_say_what_and_where(
    text: str, code: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(GlimmerSyntaxError) as info:
        parse(text, source="demo.glimmer")
    exc = info.value
    assert (exc.code, exc.line, exc.column) == (code, line, column)
    assert words in exc.message
    assert exc.path == "demo.glimmer"
    assert str(exc).startswith(f"demo.glimmer:{line}:{column}: ")
    with pytest.raises(GlimmerSyntaxError):
        parse_data(text, source="demo.glimmer")


def test_error_shows_the_line_with_a_caret() -> None:
    with pytest.raises(GlimmerSyntaxError) as info:
        glimmer.loads("metadata {\n  color: #FF69B4\n  author = ada\n}", source="x.glimmer")
    text = str(info.value)
    assert "x.glimmer:3:10:" in text
    assert "      author = ada\n             ^" in text
    assert "hint:" in text


def test_expected_is_in_the_users_terms() -> None:
    with pytest.raises(GlimmerSyntaxError) as info:
        parse("a: ,")
    assert info.value.expected
    assert all("_" not in e and not e.isupper() for e in info.value.expected)


def test_depth_limit() -> None:
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    parse(ok)
    deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    for fn in (parse, parse_data):
        with pytest.raises(GlimmerSyntaxError) as info:
            fn(deep)
        assert info.value.code == "G107"
    deep_json = '{"a": ' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}"
    with pytest.raises(GlimmerSyntaxError):
        parse_data(deep_json)


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_TEXT_SIZE", 10)
    with pytest.raises(GlimmerSyntaxError) as info:
        parse("a: 12345678901")
    assert info.value.code == "G108"


def test_bytes_are_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match="decode"):
        glimmer.loads(b"a: 1")  # type: ignore[arg-type]


def test_huge_integer_is_a_syntax_error() -> None:
    with pytest.raises(GlimmerSyntaxError) as info:
        parse_data('{"a": ' + "9" * 5000 + "}")
    assert info.value.code == "G106"
