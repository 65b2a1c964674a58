"""The object model: typed values that keep their spelling, unknown keys kept, pleasant authoring."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings

import glimmer
from glimmer import Color, Metadata, Pattern, Timestamp, Version
from glimmer.errors import GlimmerValidationError
from tests.strategies import patterns


def test_keyword_construction_and_equality_by_value() -> None:
    a = Pattern(metadata=Metadata(author="ada", color="#FF69B4"), story="A seed.")
    b = Pattern.model_validate(
        {"story": "A seed.", "metadata": {"color": "#FF69B4", "author": "ada"}}
    )
    assert a == b  # key order is presentation, not value
    assert a != a.replace(story="A bloom.")
    assert a.metadata is not None and a.metadata.color == "#FF69B4"


def test_replace_validates_and_keeps_key_order() -> None:
    p = glimmer.loads("story: x\nmetadata { author: ada }\nzeta: 1")
    q = p.replace(story="y", extra_section={"a": 1})
    assert list(q.to_data()) == ["story", "metadata", "zeta", "extra_section"]
    with pytest.raises(Exception, match="hex colour"):
        p.replace(metadata={"color": "pink"})


def test_unknown_keys_survive_in_order() -> None:
    p = glimmer.loads("b_unknown: 1\nmetadata { z: 1, author: ada, a: 2 }\na_unknown: [x]")
    assert p.unknown_sections == ["b_unknown", "a_unknown"]
    assert list(p.to_data()) == ["b_unknown", "metadata", "a_unknown"]
    assert p.metadata is not None and list(p.metadata.to_data()) == ["z", "author", "a"]
    assert p.metadata.extra == {"z": 1, "a": 2}


def test_patterns_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Pattern())


@pytest.mark.parametrize(
    ("text", "rgb", "normalized"),
    [
        ("#FF69B4", (255, 105, 180), "#FF69B4"),
        ("#ff69b4", (255, 105, 180), "#FF69B4"),
        ("#fff", (255, 255, 255), "#FFFFFF"),
    ],
)
def test_color(text: str, rgb: tuple[int, int, int], normalized: str) -> None:
    c = Color(text)
    assert c == text and c.rgb == rgb and c.normalized == normalized
    assert Pattern(metadata=Metadata(color=text)).to_data() == {"metadata": {"color": text}}


def test_color_alpha() -> None:
    assert Color("#FF69B480").alpha == pytest.approx(128 / 255)
    assert Color("#FF69B4").alpha == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-10 16:21:41", dt.datetime(2025, 7, 10, 16, 21, 41)),
        ("2025-08-01T14:15:00Z", dt.datetime(2025, 8, 1, 14, 15, tzinfo=dt.UTC)),
        ("2025-08-01", dt.datetime(2025, 8, 1)),
        (
            "2025-08-01T14:15+02:00",
            dt.datetime(2025, 8, 1, 14, 15, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
    ],
)
def test_timestamp_keeps_spelling_and_reads_as_datetime(text: str, expected: dt.datetime) -> None:
    ts = Timestamp(text)
    assert ts == text and ts.datetime == expected
    assert ts.has_time == (len(text) > 10)
    assert ts.as_utc().tzinfo is not None


@pytest.mark.parametrize("bad", ["2025-13-01", "2025-02-30", "yesterday", "2025/08/01"])
def test_bad_timestamps_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"2025|timestamp|date"):
        Timestamp(bad)


def test_version_parts() -> None:
    v = Version("1.3.0-rc.1+build.7")
    assert (v.major, v.minor, v.patch) == (1, 3, 0)
    assert v.parts.prerelease == "rc.1" and v.parts.build == "build.7"
    assert Version("1.10.0").parts > Version("1.9.0").parts


def test_validation_error_points_at_the_key_in_the_source() -> None:
    text = 'metadata {\n  author: ada\n  color: pink\n}\nprocessing: "fast"\n'
    with pytest.raises(GlimmerValidationError) as info:
        glimmer.loads(text, source="demo.glimmer")
    exc = info.value
    assert [(p.location.line, p.location.column) for p in exc.problems] == [(3, 3), (5, 1)]
    assert exc.field_path == ("metadata", "color")
    assert exc.path == "demo.glimmer"
    assert "demo.glimmer:3:3: 'pink' is not a hex colour" in str(exc)
    assert "write the section as an object" in str(exc)


def test_validation_error_from_json_also_has_lines() -> None:
    text = '{\n  "metadata": {\n    "timestamp": "soon"\n  }\n}'
    with pytest.raises(GlimmerValidationError) as info:
        glimmer.loads(text, format="json")
    assert (info.value.line, info.value.column) == (3, 5)


def test_strict_mode_rejects_unknown_sections_with_did_you_mean() -> None:
    text = "metadata { author: ada }\nconcsiousness { state: open }\n"
    assert glimmer.loads(text).unknown_sections == ["concsiousness"]
    with pytest.raises(GlimmerValidationError) as info:
        glimmer.loads(text, strict=True)
    assert info.value.code == "G202"
    assert info.value.hint == "did you mean 'consciousness'?"
    assert info.value.line == 2


def test_a_pattern_must_be_an_object() -> None:
    with pytest.raises(GlimmerValidationError) as info:
        glimmer.loads("[1, 2]", format="json")
    assert info.value.code == "G201"


def test_when_sections_expose_their_rules() -> None:
    p = glimmer.loads('when_seeing { "a limit": grow, description: "rules" }')
    assert p.when_seeing is not None
    assert p.when_seeing.rules == {"a limit": "grow"}
    assert p.when_seeing.description == "rules"


@settings(max_examples=100, deadline=None)
@given(patterns)
def test_data_round_trip_through_the_model(p: Pattern) -> None:
    assert Pattern.model_validate(p.to_data()) == p
    assert Pattern.model_validate(p.to_data()).to_data() == p.to_data()
