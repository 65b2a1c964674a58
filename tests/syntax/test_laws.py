"""The laws of the notation, as property tests over generated patterns and text."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glimmer
from glimmer.errors import GlimmerError, GlimmerSyntaxError
from glimmer.syntax.parser import parse, parse_data
from tests.strategies import documents_with_comments, pattern_data, patterns

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(patterns, st.sampled_from(["glimmer", "json"]))
def test_loads_dumps_round_trip(p: glimmer.Pattern, fmt: str) -> None:
    assert glimmer.loads(glimmer.dumps(p, format=fmt)) == p


@SETTINGS
@given(pattern_data)
def test_json_to_dsl_to_json_is_identical(data: dict[str, object]) -> None:
    as_json = json.dumps(data, indent=2, ensure_ascii=False)
    p = glimmer.loads(as_json)
    back = glimmer.dumps(glimmer.loads(glimmer.dumps(p, format="glimmer")), format="json")
    assert back == glimmer.dumps(p, format="json")
    assert json.loads(back) == data
    assert list(json.loads(back)) == list(data)  # key order kept


@SETTINGS
@given(documents_with_comments())
def test_format_is_idempotent_and_keeps_every_comment(doc: tuple[str, list[str]]) -> None:
    text, placed = doc
    once = glimmer.format_text(text)
    assert glimmer.format_text(once) == once
    assert Counter(c.text for c in parse(once).comments()) == Counter(placed)
    assert parse_data(once) == parse_data(text)
    as_json = glimmer.format_text(text, format="json")
    assert glimmer.format_text(as_json, format="json") == as_json
    assert Counter(c.text for c in parse(as_json).comments()) == Counter(placed)


NEAR_DSL = st.lists(
    st.sampled_from([*'{}[]:,"#/*\n abc123.-_Tz\\\'=', '"""', "//", "/*", "*/", "true"]), max_size=40
).map("".join)


@settings(max_examples=400, deadline=2000)
@given(st.one_of(st.text(max_size=200), NEAR_DSL))
def test_arbitrary_text_parses_or_raises_a_glimmer_error(text: str) -> None:
    try:
        glimmer.loads(text)
    except GlimmerError as exc:
        assert isinstance(exc, (GlimmerSyntaxError, glimmer.GlimmerValidationError))
        assert exc.line is None or exc.line >= 1
        assert exc.column is None or exc.column >= 1


@settings(max_examples=200, deadline=2000)
@given(documents_with_comments(), st.data())
def test_mangled_documents_parse_or_raise_a_syntax_error(doc: tuple[str, list[str]], data: st.DataObject) -> None:
    text, _ = doc
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, len(text)))
    insert = data.draw(st.sampled_from(["", "{", "}", '"', "]", ":", "/*", ",,", "\\"]))
    mangled = text[:i] + insert + text[j:]
    try:
        parse_data(mangled)
    except GlimmerSyntaxError as exc:
        assert exc.line is not None and exc.line >= 1
