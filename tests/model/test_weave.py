"""The typed weave model, the "weave" format of loads/dumps, and round trips through every form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glimmer
from glimmer.errors import GlimmerSyntaxError, GlimmerValidationError
from glimmer.model.weave import Flow, Group, Heading, Link, Term, Weave, weave_sections
from tests.strategies import patterns
from tests.syntax.weave_strategies import weave_data
from tests.syntax.weave_strategies import weave_sections as weave_section_data

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seed_file(corpus_dir: Path) -> Path:
    return corpus_dir / "weave" / "001-STARWEAVE-INIT.we"


def test_the_corpus_file_loads_as_a_pattern(seed_file: Path) -> None:
    p = glimmer.load(seed_file)
    assert p.metadata is not None
    assert p.metadata.author == "isdood"
    assert p.metadata.harmonics is not None
    assert str(p.metadata.harmonics["bloom"]) == "#9400D3"
    story = weave_sections(p)["story"]
    assert story.title == "STARWEAVE Universe Seed Patterns"
    assert story.headings() == [
        "Core Concept Seeds",
        "Archetypal Patterns",
        "Meta-State Initialization",
    ]
    first, _, third = story.flows()
    group = first.nodes[2]
    assert isinstance(group, Group)
    assert [alt.nodes[0].text for alt in group.alternatives if isinstance(alt.nodes[0], Term)][
        :3
    ] == [
        "STARWEAVE",
        "GLIMMER",
        "MAYA",
    ]
    assert group.alternatives[0].nodes[0].color == "#FF69B4"  # type: ignore[union-attr]
    assert third.links == [Link(direction="<"), Link(direction="<")]
    assert [s[0] for s in story.sections()] == story.headings()


def test_loads_picks_weave_by_sniffing(seed_file: Path) -> None:
    text = seed_file.read_text(encoding="utf-8")
    assert glimmer.loads(text) == glimmer.loads(text, format="weave")


@pytest.mark.parametrize("fmt", ["weave", "glimmer", "json"])
def test_the_corpus_file_round_trips_through_every_form(seed_file: Path, fmt: str) -> None:
    p = glimmer.load(seed_file)
    text = glimmer.dumps(p, format=fmt)
    assert glimmer.loads(text, format=fmt) == p
    assert glimmer.loads(text, format=fmt).to_data() == p.to_data()


def test_dump_and_load_by_suffix(tmp_path: Path, seed_file: Path) -> None:
    p = glimmer.load(seed_file)
    for name in ("copy.we", "copy.weave"):
        written = glimmer.dump(p, tmp_path / name)
        assert written.read_text(encoding="utf-8").startswith("@pattern_meta@\nGLIMMER Pattern:\n")
        assert glimmer.load(written) == p
    renamed = tmp_path / "noext"
    renamed.write_text(seed_file.read_text(encoding="utf-8"), encoding="utf-8")
    assert glimmer.load(renamed) == p  # no suffix: sniffed


def test_format_text_is_idempotent_and_keeps_comments(seed_file: Path) -> None:
    text = seed_file.read_text(encoding="utf-8")
    once = glimmer.format_text(text, format="weave")
    assert glimmer.format_text(once, format="weave") == once
    assert "// Birth of concepts" in once


def test_validation_errors_point_into_the_meta_block() -> None:
    text = (
        '@pattern_meta@\nGLIMMER Pattern:\n{\n  "metadata": {"color": "pink"}\n}\n@pattern_meta@\n'
    )
    with pytest.raises(GlimmerValidationError) as info:
        glimmer.loads(text, format="weave", source="m.we")
    assert (info.value.line, info.value.field_path) == (4, ("metadata", "color"))


def test_strict_mode_applies(seed_file: Path) -> None:
    text = '@pattern_meta@\n{"storyy": 1}\n@pattern_meta@\n'
    with pytest.raises(GlimmerValidationError, match="did you mean 'story'"):
        glimmer.loads(text, format="weave", strict=True)
    glimmer.load(seed_file, strict=True)


def test_any_pattern_can_be_written_as_weave() -> None:
    p = glimmer.Pattern.model_validate(
        {
            "metadata": {"author": "ada"},
            "story": "Plain text",
            "initialize": {"mode": "bloom", "focus": ["a"]},
            "odd key": 1,
            "n": 2.5,
        }
    )
    text = glimmer.dumps(p, format="weave")
    assert "~n~ = 2.5" in text
    assert '"initialize"' in text  # objects go into the meta block
    # so does "story", written before "odd key": sections keep their order
    assert '"story": "Plain text"' in text
    back = glimmer.loads(text)
    assert back == p
    assert list(back.to_data()) == list(p.to_data())
    last = glimmer.Pattern.model_validate({"metadata": {"author": "ada"}, "story": "Plain"})
    assert '~story~ = "Plain"' in glimmer.dumps(last, format="weave")


@SETTINGS
@given(patterns)
def test_loads_dumps_weave_round_trip_for_any_pattern(p: glimmer.Pattern) -> None:
    assert glimmer.loads(glimmer.dumps(p, format="weave"), format="weave") == p


@SETTINGS
@given(weave_data, st.sampled_from(["weave", "glimmer", "json"]))
def test_weave_patterns_round_trip_through_every_form(data: dict[str, Any], fmt: str) -> None:
    p = glimmer.Pattern.model_validate(data)
    back = glimmer.loads(glimmer.dumps(p, format=fmt), format=fmt)
    assert back == p
    assert back.to_data() == data
    text = glimmer.dumps(p, format="weave")
    assert glimmer.dumps(glimmer.loads(text, format="weave"), format="weave") == text


@SETTINGS
@given(weave_section_data)
def test_weave_model_keeps_the_data(data: dict[str, Any]) -> None:
    w = Weave.from_data(data)
    assert w.to_data() == data
    assert Weave.from_data(w.to_data()) == w
    for flow in w.flows():
        assert Flow.parse(flow.text) == flow
        assert isinstance(flow.explain(), str)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"weave": 1},
        {"weave": [], "extra": 1},
        {"weave": [{"heading": "a\nb"}]},
        {"weave": [{"heading": " padded"}]},
        {"weave": [{"flow": []}]},
        {"weave": [{"flow": [{"term": "a"}, ">"]}]},
        {"weave": [{"flow": [{"term": "a"}, "=>", {"term": "b"}]}]},
        {"weave": [{"flow": [{"term": "two words"}]}]},
        {"weave": [{"flow": [{"term": "x", "annotation": {"a": [1]}}]}]},
        {"weave": [{"flow": [{"any": []}]}]},
        {"weave": [{"flow": [{"term": "x", "other": 1}]}]},
        {"weave": [{"other": 1}]},
    ],
)
def test_invalid_weave_data_is_refused(data: Any) -> None:
    with pytest.raises(GlimmerValidationError) as info:
        Weave.from_data(data)
    assert info.value.code == "G204"


@pytest.mark.parametrize(
    ("text", "explanation"),
    [
        ("memory <crystallize< experience", "experience crystallizes into memory"),
        (
            '"STARWEAVE" >define> "Meta-Intelligence Framework"',
            "STARWEAVE defines Meta-Intelligence Framework",
        ),
        ("consciousness <weave< intelligence", "intelligence weaves into consciousness"),
        ("quantum <flow< time", "time flows into quantum"),
        ("a >harmony> b", "a harmonies b"),
        ("a >reach> b", "a reaches b"),
        ("seed> weave> bloom", "seed, then weave, then bloom"),
        ("initialize< [a | b]< process", "process, then one of (a; b), then initialize"),
        ("a >join> b <feed< c", "a joins b; c feeds into b"),
        ("lone", "lone"),
        ("verify| data <transform< source", "source transforms into data (verify)"),
    ],
)
def test_explain(text: str, explanation: str) -> None:
    assert Flow.parse(text).explain() == explanation


def test_flow_parse_takes_exactly_one_flow() -> None:
    with pytest.raises(GlimmerSyntaxError):
        Flow.parse("a\nb")
    with pytest.raises(GlimmerSyntaxError) as info:
        Flow.parse("a >\n  b >v> [c")
    assert (info.value.line, info.value.column) == (2, 11)
    assert info.value.message == "'[' opened at line 2, column 9 is never closed"
    assert info.value.hint == "add ']' to close it"
    with pytest.raises(GlimmerSyntaxError) as info:
        Flow.parse("a >b>")
    assert (info.value.line, info.value.column) == (1, 6)
    assert "expected" in info.value.message
    with pytest.raises(GlimmerSyntaxError) as info:
        Flow.parse("@story@\na\n@story@")  # a block is not a flow
    assert info.value.hint == "a flow is nodes and links only, without @name@ block marks"
    with pytest.raises(GlimmerSyntaxError) as info:
        Flow.parse("a >\n  b | c")
    assert (info.value.line, info.value.column) == (2, 5)


def test_flow_needs_links_between_nodes() -> None:
    with pytest.raises(ValueError, match="link between"):
        Flow(nodes=[Term(text="a"), Term(text="b")], links=[])
    assert Flow(nodes=[Term(text="a")]).terms() == [Term(text="a")]


def test_typed_entries() -> None:
    w = Weave.from_data({"weave": [{"heading": "H"}, {"flow": [{"term": "a"}]}]})
    assert isinstance(w.entries[0], Heading)
    assert isinstance(w.entries[1], Flow)
    assert "title" not in w.to_data()


def test_weave_examples_load_are_formatted_and_round_trip(examples_dir: Path) -> None:
    paths = sorted(examples_dir.glob("*.we"))
    assert len(paths) >= 2
    for path in paths:
        text = path.read_text(encoding="utf-8")
        p = glimmer.load(path, strict=True)
        assert weave_sections(p), path.name
        assert glimmer.format_text(text, format="weave") == text, path.name
        assert glimmer.loads(glimmer.dumps(p, format="weave")) == p
        assert glimmer.loads(glimmer.dumps(p, format="json"), format="json") == p


@SETTINGS
@given(weave_section_data)
def test_section_text_reads_back(data: dict[str, Any]) -> None:
    w = Weave.from_data(data)
    back = glimmer.loads(w.text("story"), format="weave")
    assert weave_sections(back)["story"] == w


def test_section_explain(seed_file: Path) -> None:
    story = weave_sections(glimmer.load(seed_file))["story"]
    lines = story.explain().splitlines()
    assert lines[0] == "Core Concept Seeds:"
    assert [line for line in lines if not line.startswith("- ")] == [
        f"{h}:" for h in story.headings()
    ]
    assert (
        "- pattern, then dream, then one of (intelligence weaves into consciousness;"
        in story.explain()
    )
