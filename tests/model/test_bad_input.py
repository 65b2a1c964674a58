"""Every bad input found by fuzzing is a located GlimmerError, the same in every reader."""

from __future__ import annotations

import pytest

import glimmer
from glimmer.errors import GlimmerError, GlimmerSyntaxError, GlimmerValidationError

BIG_INT = "1" + "0" * 4300


@pytest.mark.parametrize(
    ("text", "fmt", "code", "line", "column"),
    [
        # integers past Python's conversion limit
        ('{"story": ' + BIG_INT + "}", "json", "G106", 1, 11),
        ("story: " + BIG_INT, "glimmer", "G106", 1, 8),
        # numbers that are not finite
        ('{"story": 1e400}', "json", "G106", 1, 11),
        ('{"story": 1e400}', "glimmer", "G106", 1, 11),
        ('{\n  "story": NaN\n}', "json", "G109", 2, 12),
        ('{"story": -Infinity}', "json", "G106", 1, 11),
        # JSON duplicates, as in the DSL
        ('{"story": "a",\n "story": "b"}', "json", "G105", 2, 2),
        ('{"story": "a",\n "story": "b"}', "glimmer", "G105", 2, 2),
        # lone surrogates, escaped or raw, in values and keys
        ('story: "\\ud800"', "glimmer", "G112", 1, 8),
        ('{"story": "\\udfff x"}', "json", "G112", 1, 11),
        ('{"story": "\\ud800"}', "glimmer", "G112", 1, 11),
        ('metadata { harmonics { "\\udc00": "#fff" } }', "glimmer", "G112", 1, 24),
        ('story: "a\ud800"', "glimmer", "G112", 1, 10),
        ('{"story": "a\ud800"}', "json", "G112", 1, 13),
        # depth: the same limit for JSON as for the DSL
        ('{"a": ' + "[" * 300 + "]" * 300 + "}", "json", "G107", 1, 206),
        # a top-level array has a line
        ("[1, 2]", "json", "G201", 1, 1),
        ("\n  [1, 2]", "json", "G201", 2, 3),
        # semantic versions take ASCII digits
        ('metadata { version: "\u0e51.\u0e52.\u0e53" }', "glimmer", "G203", 1, 12),
    ],
)
def test_bad_input_is_located(text: str, fmt: str, code: str, line: int, column: int) -> None:
    with pytest.raises(GlimmerError) as info:
        glimmer.loads(text, format=fmt)
    assert (info.value.code, info.value.line, info.value.column) == (code, line, column)
    assert isinstance(info.value, GlimmerSyntaxError | GlimmerValidationError)


def test_valid_surrogate_pairs_still_read() -> None:
    assert glimmer.loads('story: "\\ud83d\\ude00"').story == "\U0001f600"
    assert glimmer.loads('{"story": "\\ud83d\\ude00"}', format="json").story == "\U0001f600"


def test_json_is_limited_in_size_before_parsing() -> None:
    text = '{"story": "' + "x" * (16 * 2**20) + '"}'
    with pytest.raises(GlimmerSyntaxError) as info:
        glimmer.loads(text, format="json")
    assert info.value.code == "G108"


def test_top_level_commas_are_one_language() -> None:
    text = 'story: "a", metrics: 1,'
    pattern = glimmer.loads(text)
    assert glimmer.format_text(text) == 'story: "a"\n\nmetrics: 1\n'
    assert glimmer.loads(glimmer.format_text(text)) == pattern
    with pytest.raises(GlimmerSyntaxError):
        glimmer.loads('story: "a",, metrics: 1')


def test_bare_nan_is_a_name_in_the_dsl_and_refused_in_json() -> None:
    assert glimmer.loads("story: NaN").story == "NaN"
    assert glimmer.loads('{"story": NaN}').story == "NaN"
    with pytest.raises(GlimmerSyntaxError):
        glimmer.loads('{"story": NaN}', format="json")


WEAVE_CASES = [
    {"metadata": {"title": 'a "@pattern_meta@" b'}},
    {"metadata": {"title": "@pattern_meta@\n"}, "story": {"weave": [{"heading": "@story@"}]}},
    {"story": {"weave": [{"flow": [{"term": "seed", "quoted": False}]}]}},
    {"story": {"weave": [{"flow": [{"term": "seed", "prefix": []}]}]}},
    {"story": {"weave": [{"flow": [{"term": "a"}]}]}, "metadata": {"author": "a"}},
    {"metadata": {"author": "a"}, "story": {"weave": [{"heading": "x"}]}, "metrics": {"x": 1}},
]


@pytest.mark.parametrize("data", WEAVE_CASES)
def test_weave_writes_what_it_reads_back_equal_in_order(data: dict[str, object]) -> None:
    pattern = glimmer.Pattern.model_validate(data)
    back = glimmer.loads(glimmer.dumps(pattern, format="weave"), format="weave")
    assert back == pattern
    assert back.to_data() == data
    assert list(back.to_data()) == list(data)


@pytest.mark.parametrize("groups", [64, 65, 84, 150])
def test_deep_weave_groups_load_only_within_every_format_limit(groups: int) -> None:
    text = "@story@\n    a > " + "[ {a: 1} b > " * groups + "c" + " ]" * groups + "\n@story@\n"
    try:
        pattern = glimmer.loads(text, format="weave")
    except GlimmerSyntaxError as exc:
        assert exc.code == "G107" and exc.line == 2
        assert groups > 64
        return
    for fmt in ("json", "glimmer", "weave"):
        assert glimmer.loads(glimmer.dumps(pattern, format=fmt), format=fmt) == pattern


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("~metadata~ = 5\n", 1),
        ('@pattern_meta@\n{"metadata": {}}\n@pattern_meta@\n\n~story~ = 5\n', 5),
    ],
)
def test_weave_problems_outside_the_meta_block_have_a_line(text: str, line: int) -> None:
    with pytest.raises(GlimmerValidationError) as info:
        glimmer.loads(text, format="weave")
    assert info.value.line == line
