"""Laws of the weave notation, as property tests over generated weave documents and text."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glimmer.errors import GlimmerSyntaxError
from glimmer.syntax.weave import WeaveBlock, parse_weave, render_weave, weave_from_data
from tests.syntax.weave_strategies import weave_data

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(weave_data)
def test_render_parse_round_trip_and_idempotence(data: dict[str, Any]) -> None:
    doc = weave_from_data(data)
    blocks = {item.name for item in doc.items if isinstance(item, WeaveBlock)}
    assert blocks == {k for k, v in data.items() if isinstance(v, dict) and "weave" in v}
    once = render_weave(doc)
    parsed = parse_weave(once)
    assert parsed.to_data() == data
    assert render_weave(parsed) == once


FRAGMENTS = st.sampled_from(
    [
        "@pattern_meta@",
        "GLIMMER Pattern:",
        "{",
        "}",
        "[",
        "]",
        "|",
        ">",
        "<",
        ">v>",
        "<v<",
        ">>> h",
        "\n",
        " ",
        "~s~",
        "=",
        '"x"',
        "x",
        "@s@",
        "@t@",
        "#FF69B4",
        ":",
        ",",
        "1",
        "//",
        '"',
        "\\",
        "true",
        "/*",
        "*/",
        "v|",
        "{#FFF}",
        "~",
        "@",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(FRAGMENTS, max_size=40).map("".join)))
def test_arbitrary_text_parses_or_raises_a_syntax_error(text: str) -> None:
    error: GlimmerSyntaxError | None = None
    try:
        doc = parse_weave(text)
    except GlimmerSyntaxError as exc:
        error = exc
    if error is not None:
        assert error.line is None or error.line >= 1
        return
    data = doc.to_data()
    assert parse_weave(render_weave(doc)).to_data() == data
