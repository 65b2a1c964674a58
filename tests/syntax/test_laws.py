"""The laws of the notation, as property tests over generated patterns and text."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glimmer
from glimmer.errors import GlimmerError, GlimmerSyntaxError
from glimmer.syntax import fastpath
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
    st.sampled_from([*"{}[]:,\"#/*\n abc123.-_Tz\\'=", '"""', "//", "/*", "*/", "true"]),
    max_size=40,
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
def test_mangled_documents_parse_or_raise_a_syntax_error(
    doc: tuple[str, list[str]], data: st.DataObject
) -> None:
    text, _ = doc
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, len(text)))
    insert = data.draw(st.sampled_from(["", "{", "}", '"', "]", ":", "/*", ",,", "\\"]))
    mangled = text[:i] + insert + text[j:]
    try:
        parse_data(mangled)
    except GlimmerSyntaxError as exc:
        assert exc.line is not None and exc.line >= 1


def _grammar_data(text: str) -> object:
    from glimmer.syntax.parser import _prepare, _run

    try:
        return _run("data", _prepare(text, None), None, comments=False)
    except GlimmerSyntaxError:
        return GlimmerSyntaxError


@settings(max_examples=300, deadline=None)
@given(documents_with_comments(), st.data())
def test_fast_reader_agrees_with_the_grammar(
    doc: tuple[str, list[str]], data: st.DataObject
) -> None:
    """The fast reader returns the grammar's data, or gives up; it never accepts bad text."""
    text, _ = doc
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 3)))
        text = (
            text[:i]
            + data.draw(
                st.sampled_from(["", "{", "}", '"', "]", ":", "/*", ",,", "12a", "#ab", "-"])
            )
            + text[j:]
        )
    fast = fastpath.read(text)
    expected = _grammar_data(text)
    if expected is GlimmerSyntaxError:
        assert fast is None
    elif fast is not None:
        assert fast == expected
        assert json.dumps(fast) == json.dumps(expected)  # same key order too


@settings(max_examples=300, deadline=None)
@given(NEAR_DSL)
def test_fast_reader_never_accepts_what_the_grammar_refuses(text: str) -> None:
    fast = fastpath.read(text)
    expected = _grammar_data(text)
    if expected is GlimmerSyntaxError:
        assert fast is None
    elif fast is not None:
        assert fast == expected


@SETTINGS
@given(patterns)
def test_fast_reader_reads_everything_glimmer_writes(p: glimmer.Pattern) -> None:
    assert fastpath.read(glimmer.dumps(p)) == p.to_data()
