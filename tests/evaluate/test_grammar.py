"""Generation grammars: derived from glimmer.lark and the schema, and sound.

Soundness is checked by random walks: tokens drawn at random from what the grammar allows,
until the grammar lets the turn end; every such text must load with ``strict=True``.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from glimmer import loads
from glimmer.errors import GlimmerError
from glimmer.evaluate.grammar import (
    GenerationError,
    GrammarError,
    check_format,
    check_scenario,
    compile_grammar,
    dsl_grammar,
    generation_grammar,
    json_grammar_schema,
)
from glimmer.model.pattern import SEED_SECTIONS
from glimmer.syntax.parser import _parser

llguidance = pytest.importorskip("llguidance", reason="the generate extra is not installed")


@cache
def _tokenizer() -> tuple[Any, list[int], dict[int, str]]:
    """The embedded model's tokenizer in llguidance, its end-of-turn ids and a token pool."""
    import llguidance.hf

    from glimmer.evaluate.generate import stop_token_ids
    from glimmer.train.models import load_tokenizer

    tok = load_tokenizer()
    stops = stop_token_ids(tok)
    lltok = llguidance.hf.from_tokenizer(tok, eos_token=stops)
    # a pool of short tokens (every ASCII character, a few words): walks stay short
    pool: dict[int, str] = {}
    for text in [chr(c) for c in range(32, 127)] + ["\n", "  ", *SEED_SECTIONS, "title", "2025"]:
        ids = tok.encode(text, add_special_tokens=False)
        if len(ids) == 1:
            pool[ids[0]] = text
    return lltok, stops, pool


def _walk(grammar_text: str, seed: int, steps: int = 1500) -> str | None:
    """Random tokens the grammar allows until it may end; ``None`` if it never did."""
    lltok, stops, pool = _tokenizer()
    matcher = llguidance.LLMatcher(lltok, grammar_text)
    rng = random.Random(seed)
    out: list[int] = []
    for _ in range(steps):
        mask = matcher.compute_bitmask()

        def allowed(t: int, mask: bytes = mask) -> bool:
            return bool(mask[t // 8] >> (t % 8) & 1)

        if any(allowed(s) for s in stops) and rng.random() < 0.3:
            return str(lltok.decode_str(out))
        choices = [t for t in pool if allowed(t)]
        if choices:
            weights = [8 if pool[t] in '"]}:,\n' else 1 for t in choices]
            token = rng.choices(choices, weights)[0]
        else:  # the grammar forces a word (a key): take any token it allows
            bits = np.unpackbits(np.frombuffer(mask, np.uint8), bitorder="little")
            others = np.setdiff1d(np.flatnonzero(bits), stops)
            if not len(others):  # every section written: only the end of the turn is left
                return str(lltok.decode_str(out))
            token = int(others[rng.randrange(len(others))])
        assert matcher.consume_token(token), matcher.get_error()
        out.append(token)
    return None


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
@example(1099)  # a walk that once wrote a lone surrogate escape ("\uDB6A") into a string
def test_every_text_the_dsl_grammar_allows_loads_strictly(seed: int) -> None:
    text = _walk(generation_grammar("glimmer").text, seed)
    if text is not None:
        pattern = loads(text, format="glimmer", strict=True)
        assert any(getattr(pattern, s) is not None for s in SEED_SECTIONS)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
def test_every_text_the_json_grammar_allows_loads_strictly(seed: int) -> None:
    text = _walk(generation_grammar("json").text, seed)
    if text is not None:
        loads(text, format="json", strict=True)


def test_random_walks_do_finish() -> None:
    """The soundness laws above are not vacuous: most walks end."""
    ended = [_walk(generation_grammar("glimmer").text, s) for s in range(10)]
    assert sum(t is not None for t in ended) >= 5


@pytest.mark.parametrize(
    "text",
    [
        'metadata { title: "Lamp", color: #FF69B4\n}\nstory: "The lamp keeps watch."',
        'initialize {\n  mode: quiet\n  focus: [self, "the sea"]\n}\nresponse { tone: warm }',
        "metadata { timestamp: 2025-08-01T14:15:00Z\n pattern_version: 1.0.0\n}",
    ],
)
def test_the_dsl_grammar_accepts_patterns_as_the_dataset_writes_them(text: str) -> None:
    lltok, _, _ = _tokenizer()
    matcher = llguidance.LLMatcher(lltok, generation_grammar("glimmer").text)
    ids = lltok.tokenize_str(text)
    assert matcher.consume_tokens(ids), matcher.get_error()
    assert matcher.is_accepting()


@pytest.mark.parametrize(
    "text",
    [
        'metadata { title: "a" title: "b" }',  # duplicate key: no free-form keys at all
        "metadata { title: true }",  # a keyword where text is due
        "metadata { pattern_version: 0.1.5type: x }",  # a value glued to the next key
        "extra_section { a: b }",  # strict: unknown top-level sections
        "story: x // a comment",
    ],
)
def test_the_dsl_grammar_refuses_what_strict_loading_refuses(text: str) -> None:
    lltok, _, _ = _tokenizer()
    matcher = llguidance.LLMatcher(lltok, generation_grammar("glimmer").text)
    ok = matcher.consume_tokens(lltok.tokenize_str(text)) and matcher.is_accepting()
    assert not ok


def test_the_dsl_grammar_takes_its_terminals_from_glimmer_lark() -> None:
    grammar = dsl_grammar()
    file_terms = {t.name: t.pattern.value for t in _parser("data").terminals}
    # the JSON string terminal, control characters written as escapes
    string = re.search(r"^STRING: /(.*)/$", grammar, re.M)
    assert string is not None
    assert "\\x{1f}" in string[1]
    assert "\x1f" in file_terms["STRING"]
    # a colour is written as glimmer.lark's COLOR without its lookahead, then whitespace
    color = re.search(r"^COLOR_VALUE: /\(\?:(.*)\)\(\?:\[", grammar, re.M)
    assert color is not None
    assert color[1] == file_terms["COLOR"].split("(?!")[0]


def test_the_dsl_grammar_writes_the_seed_sections_in_order() -> None:
    start = next(line for line in dsl_grammar().splitlines() if line.startswith("start:"))
    names = re.findall(r"m_\d+_(\w+?) tail", start)
    assert tuple(names) == SEED_SECTIONS
    only = dsl_grammar(sections=("story",))
    assert "metadata" not in only
    assert "story" in only


def test_the_json_grammar_is_the_schema_closed_at_the_top() -> None:
    from glimmer import schema

    closed = json_grammar_schema()
    assert closed["additionalProperties"] is False
    assert closed["properties"] == schema()["properties"]


def test_a_grammar_that_does_not_compile_is_a_glimmer_error() -> None:
    with pytest.raises(GrammarError) as info:
        compile_grammar("start: /[unclosed/", kind="lark")
    assert info.value.code == "G642"
    assert info.value.hint
    with pytest.raises(GrammarError):
        compile_grammar(json.dumps({"type": "nonsense-type"}), kind="json")


@pytest.mark.parametrize("fmt", ["yaml", "", "GLIMMER"])
def test_an_unknown_format_names_the_known_ones(fmt: str) -> None:
    with pytest.raises(GrammarError) as info:
        check_format(fmt)
    assert info.value.code == "G641"
    assert "glimmer, json" in (info.value.hint or "")


@pytest.mark.parametrize("scenario", ["", "   ", "\n\t"])
def test_an_empty_scenario_is_refused(scenario: str) -> None:
    with pytest.raises(GenerationError) as info:
        check_scenario(scenario)
    assert info.value.code == "G640"
    assert isinstance(info.value, GlimmerError)
    assert check_scenario("  a  night\ngardener ") == "a night gardener"


def test_generated_strings_never_escape_a_lone_surrogate() -> None:
    """The lexer takes any ``\\uXXXX``; the parser refuses a surrogate half on its own, so the
    generation grammar's strings never write one (every other escape stays allowed)."""
    from glimmer.evaluate.grammar import _file_terminals

    string = re.compile(_file_terminals()["STRING"].regex)
    for text in ['"\\u00e9"', '"\\uD7FF"', '"\\uE000"', '"\\uffff"', '"a\\nb"']:
        assert string.fullmatch(text), text
        loads(f"metadata {{ title: {text} }}", format="glimmer", strict=True)
    for text in ['"\\uD800"', '"\\udb6a"', '"\\uDFFF"', '"x\\uDC00y"']:
        assert not string.fullmatch(text), text
        with pytest.raises(GlimmerError, match="surrogate"):
            loads(f"metadata {{ title: {text} }}", format="glimmer", strict=True)
