"""The weave notation (.we): what each construct parses to, canonical layout, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glimmer.errors import GlimmerSyntaxError
from glimmer.syntax.weave import parse_weave, render_weave

FIXTURES = Path(__file__).parent / "fixtures"


def story(text: str) -> list[Any]:
    """The weave entries of a ``@story@`` block holding *text*."""
    entries: list[Any] = parse_weave(f"@story@\n{text}\n@story@").to_data()["story"]["weave"]
    return entries


def flow(text: str) -> list[Any]:
    [entry] = story(text)
    result: list[Any] = entry["flow"]
    return result


W = {"term": "a"}


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("a", [W]),
        ('"Consciousness Layer"', [{"term": "Consciousness Layer", "quoted": True}]),
        ('"say \\"hi\\""', [{"term": 'say "hi"', "quoted": True}]),
        ("seed> weave> a", [{"term": "seed"}, ">", {"term": "weave"}, ">", W]),
        ("seed > weave >a", [{"term": "seed"}, ">", {"term": "weave"}, ">", W]),
        ("initialize< a", [{"term": "initialize"}, "<", W]),
        ("a >define> b", [W, ">define>", {"term": "b"}]),
        ("a>define>b", [W, ">define>", {"term": "b"}]),
        (
            "memory <crystallize< experience",
            [{"term": "memory"}, "<crystallize<", {"term": "experience"}],
        ),
        ("a >self-reflect> b", [W, ">self-reflect>", {"term": "b"}]),
        ("[a]", [{"any": [[W]]}]),
        ("[a | b]", [{"any": [[W], [{"term": "b"}]]}]),
        (
            "x> [a | b]> y",
            [{"term": "x"}, ">", {"any": [[W], [{"term": "b"}]]}, ">", {"term": "y"}],
        ),
        ("[[a]]", [{"any": [[{"any": [[W]]}]]}]),
        ('{color: "#FF69B4"} a', [{"term": "a", "annotation": {"color": "#FF69B4"}}]),
        ("{color: #FF69B4} a", [{"term": "a", "annotation": {"color": "#FF69B4"}}]),
        ("{#1A936F} a", [{"term": "a", "annotation": {"color": "#1A936F"}}]),
        ("{node1} a", [{"term": "a", "annotation": {"label": "node1"}}]),
        ("{} a", [{"term": "a", "annotation": {}}]),
        (
            '{"w": 2, on: true, off: null} a',
            [{"term": "a", "annotation": {"w": 2, "on": True, "off": None}}],
        ),
        ("{color: #FFF} [a]", [{"any": [[W]], "annotation": {"color": "#FFF"}}]),
        ("true > null", [{"term": "true"}, ">", {"term": "null"}]),
        ("verify| a", [{"term": "a", "prefix": ["verify"]}]),
        ("check| verify| [a]", [{"any": [[W]], "prefix": ["check", "verify"]}]),
        (
            "{#FFF} verify| a",
            [{"term": "a", "prefix": ["verify"], "annotation": {"color": "#FFF"}}],
        ),
        (
            "verify| {#FFF} a",
            [{"term": "a", "prefix": ["verify"], "annotation": {"color": "#FFF"}}],
        ),
        (
            "x> [verify| a <t< b]",
            [
                {"term": "x"},
                ">",
                {"any": [[{"term": "a", "prefix": ["verify"]}, "<t<", {"term": "b"}]]},
            ],
        ),
        ("[a |b]", [{"any": [[W], [{"term": "b"}]]}]),
        ("[a| b]", [{"any": [[{"term": "b", "prefix": ["a"]}]]}]),
        (
            "d <[a]< w <p",
            [{"term": "d"}, "<", {"any": [[W]]}, "<", {"term": "w"}, "<", {"term": "p"}],
        ),
        ("a // note\n  > b", [W, ">", {"term": "b"}]),
        ("a /* x */ >v> b", [W, ">v>", {"term": "b"}]),
    ],
)
def test_flow_constructs(text: str, data: list[Any]) -> None:
    assert flow(text) == data


def test_headings_and_flows_keep_their_order() -> None:
    entries = story(">>> One\na\n>>>   Two words  \nb >x> c\n>>>")
    assert entries == [
        {"heading": "One"},
        {"flow": [W]},
        {"heading": "Two words"},
        {"flow": [{"term": "b"}, ">x>", {"term": "c"}]},
        {"heading": ""},
    ]


def test_flows_need_no_separator_but_links_bind() -> None:
    assert story("a b >v> c\nd") == [
        {"flow": [W]},
        {"flow": [{"term": "b"}, ">v>", {"term": "c"}]},
        {"flow": [{"term": "d"}]},
    ]


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ('~story~ = "A title"', {"story": "A title"}),
        ("~n~ = 3", {"n": 3}),
        ("~c~ = #FF69B4", {"c": "#FF69B4"}),
        ("~v~ = 1.2.3", {"v": "1.2.3"}),
        ("~b~ = false", {"b": False}),
        ("~z~ = null", {"z": None}),
        ("~w~ = bare", {"w": "bare"}),
        ('~t~ = """\n  two\n  lines\n"""', {"t": "two\nlines"}),
        ('~story~ = "T"\n@story@\na\n@story@', {"story": {"title": "T", "weave": [{"flow": [W]}]}}),
        ('@story@\na\n@story@\n~story~ = "T"', {"story": {"weave": [{"flow": [W]}], "title": "T"}}),
        ("@story@\n@story@", {"story": {"weave": []}}),
        ("@pattern_meta@\nGLIMMER Pattern:\n{}\n@pattern_meta@", {}),
        ("@pattern_meta@\n@pattern_meta@", {}),
        ('@pattern_meta@\nGLIMMER Pattern: {"a": 1}\n@pattern_meta@', {"a": 1}),
        ("@pattern_meta@\n{a: 1 // c\n}\n@pattern_meta@", {"a": 1}),
        (
            '@pattern_meta@ GLIMMER Pattern: {"a": {"b": [1]}} @pattern_meta@ ~c~ = 2',
            {"a": {"b": [1]}, "c": 2},
        ),
        ("", {}),
    ],
)
def test_items(text: str, data: dict[str, Any]) -> None:
    assert parse_weave(text).to_data() == data


def test_comments_are_kept_for_formatting_but_not_in_the_data() -> None:
    text = (
        "// top\n~s~ = 1\n/* between\n   lines */\n@story@\n  // lead\n  >>> H\n"
        "  a > // inside\n  b\n  // end\n@story@\n// last\n"
    )
    doc = parse_weave(text)
    assert doc.to_data() == {
        "s": 1,
        "story": {"weave": [{"heading": "H"}, {"flow": [W, ">", {"term": "b"}]}]},
    }
    out = render_weave(doc)
    for comment in (
        "// top",
        "/* between\n   lines */",
        "// lead",
        "// inside",
        "// end",
        "// last",
    ):
        assert out.count(comment) == 1, comment
    assert out.index("// inside") < out.index("a> b")  # a comment inside a flow moves before it
    assert render_weave(parse_weave(out)) == out
    assert parse_weave(out).to_data() == doc.to_data()


def test_the_corpus_file_parses(corpus_dir: Path) -> None:
    text = (corpus_dir / "weave" / "001-STARWEAVE-INIT.we").read_text(encoding="utf-8")
    data = parse_weave(text).to_data()
    assert list(data) == ["metadata", "story"]
    assert data["metadata"]["harmonics"]["starlight"] == "#FFD700"
    assert data["story"]["title"] == "STARWEAVE Universe Seed Patterns"
    weave = data["story"]["weave"]
    assert [e["heading"] for e in weave if "heading" in e] == [
        "Core Concept Seeds",
        "Archetypal Patterns",
        "Meta-State Initialization",
    ]
    first = weave[1]["flow"]
    assert first[:4] == [{"term": "seed"}, ">", {"term": "weave"}, ">"]
    assert len(first[4]["any"]) == 7
    assert first[4]["any"][0] == [
        {"term": "STARWEAVE", "quoted": True, "annotation": {"color": "#FF69B4"}},
        ">define>",
        {"term": "Meta-Intelligence Framework", "quoted": True},
    ]
    assert weave[-1]["flow"][-2:] == ["<", {"term": "process"}]


def test_corpus_file_renders_to_the_same_data_and_keeps_comments(corpus_dir: Path) -> None:
    text = (corpus_dir / "weave" / "001-STARWEAVE-INIT.we").read_text(encoding="utf-8")
    once = render_weave(parse_weave(text))
    assert parse_weave(once).to_data() == parse_weave(text).to_data()
    assert render_weave(parse_weave(once)) == once
    for comment in ("// Birth of concepts", "// Illumination of connections"):
        assert comment in once
    # only the alignment of the comments changes
    assert [line.split("//")[0].rstrip() for line in once.splitlines()] == [
        line.split("//")[0].rstrip() for line in text.rstrip("\n").splitlines()
    ]


def test_identity_fixture_renders_unchanged() -> None:
    text = (FIXTURES / "identity.we").read_text(encoding="utf-8")
    assert render_weave(parse_weave(text)) == text


def test_spans_point_into_the_text() -> None:
    text = '@pattern_meta@\nGLIMMER Pattern:\n{"a": 1}\n@pattern_meta@\n\n@story@\n  x >v> "y"\n@story@\n'
    doc = parse_weave(text)
    meta, block = doc.items
    assert meta.span.line == 1
    assert meta.document is not None
    assert meta.document.root.members[0].key_span.line == 3
    flow_ = block.entries[0]
    assert (flow_.span.line, flow_.span.column) == (7, 3)
    assert text[flow_.span.start : flow_.span.end] == 'x >v> "y"'
    assert flow_.links[0].span.column == 5


@pytest.mark.parametrize(
    ("text", "code", "line", "column", "words"),
    [
        ("@story@\n  a >v> b\n", "G111", 1, 1, "never closed"),
        ("@story@\n  a\n@other@", "G111", 3, 1, "closed by @other@"),
        (
            '@pattern_meta@\nGLIMMER Pattern:\n{"a": 1}\n',
            "G111",
            1,
            1,
            "@pattern_meta@ block is never closed",
        ),
        ("@story@\n  [ a | b\n@story@", "G103", 3, 1, "expected ']'"),
        ("@story@\n  a b |\n@story@", "G103", 2, 7, "unexpected '|'"),
        ("@story@\n  a >\n@story@", "G103", 3, 1, "a term"),
        ("@story@\n  ]\n@story@", "G103", 2, 3, "unexpected ']'"),
        ('~story~ = "x"\n~story~ = "y"', "G110", 2, 1, "defined twice"),
        (
            '@pattern_meta@\n{"story": 1}\n@pattern_meta@\n~story~ = 2',
            "G110",
            4,
            1,
            "defined twice",
        ),
        ("@s@\na\n@s@\n@s@\nb\n@s@", "G110", 4, 1, "defined twice"),
        ("@pattern_meta@{}@pattern_meta@\n@pattern_meta@{}@pattern_meta@", "G110", 2, 1, "second"),
        ('@story@\n {color: "#fff", color: "#000"} a\n@story@', "G105", 2, 18, "duplicate key"),
        ("~story~ = 'x'", "G101", 1, 11, "double quotes"),
        ("~x~ = 1e999", "G106", 1, 7, "too large"),
        (
            '@pattern_meta@\nGLIMMER Pattern:\n{"a": 1,, }\n@pattern_meta@',
            "G103",
            3,
            9,
            "unexpected",
        ),
        (
            '@pattern_meta@\nGLIMMER Pattern:\n{"a": 1, "a": 2}\n@pattern_meta@',
            "G105",
            3,
            10,
            "duplicate key",
        ),
        ("@story@\n  a = b\n@story@", "G103", 2, 5, "unexpected '='"),
        ("@story@\n  a /* open\n@story@", "G102", 2, 5, "unterminated /* comment"),
        ("@story@\n  [verify|]\n@story@", "G103", 2, 11, "unexpected ']'"),
        ("@story@\n" + "[" * 300 + "\n@story@", "G107", 2, 65, "deeper"),
    ],
)
def test_errors_say_where_and_what(
    text: str, code: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(GlimmerSyntaxError) as info:
        parse_weave(text, source="t.we")
    exc = info.value
    assert (exc.code, exc.line, exc.column) == (code, line, column), str(exc)
    assert words in exc.message
    assert str(exc).startswith(f"t.we:{line}:{column}: ")


def test_not_text_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="decode"):
        parse_weave(b"@story@@story@")  # type: ignore[arg-type]
