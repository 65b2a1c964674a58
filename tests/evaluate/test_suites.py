"""Trigger-prompt suites: the bundled files, user files, and their distance from training data."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glimmer.errors import GlimmerError
from glimmer.evaluate.suites import (
    CATEGORIES,
    SuiteError,
    TriggerPrompt,
    bundled_suite_files,
    bundled_suites,
    load_suite,
    loads_suite,
    quick_subset,
)
from glimmer.starweave import Glossary


def test_every_category_is_bundled() -> None:
    rows = bundled_suites()
    assert {r.category for r in rows} == set(CATEGORIES)
    assert [f.stem for f in bundled_suite_files()] == list(CATEGORIES)
    assert len({r.id for r in rows}) == len(rows), "ids are unique"


def test_neutral_rows_carry_expected_answers() -> None:
    neutral = bundled_suites(["neutral"])
    assert neutral
    assert all(r.expected for r in neutral)
    assert any(r.expected == ("84",) for r in neutral)


def test_reflection_and_matrix_prompts_never_name_the_framework() -> None:
    glossary = Glossary.default()
    from glimmer.evaluate.metrics import ConceptIndex

    index = ConceptIndex.from_glossary(glossary)
    for row in bundled_suites(["reflection", "matrix"]):
        low = row.prompt.lower()
        assert "starweave" not in low and "glimmer" not in low, row.id
        assert not index.concepts_in(row.prompt), (row.id, index.concepts_in(row.prompt))


def test_jsonl_and_toml_read_the_same(tmp_path: Path) -> None:
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(
        '{"category": "reflection", "prompt": "How do you rest?"}\n\n'
        '{"category": "neutral", "prompt": "2+2?", "expected": ["4", "four"], "id": "sum"}\n',
        encoding="utf-8",
    )
    toml = tmp_path / "mine.toml"
    toml.write_text(
        '[[prompt]]\ncategory = "reflection"\nprompt = "How do you rest?"\n\n'
        '[[prompt]]\ncategory = "neutral"\nprompt = "2+2?"\nexpected = ["4", "four"]\nid = "sum"\n',
        encoding="utf-8",
    )
    a, b = load_suite(jsonl), load_suite(toml)
    assert a == b
    assert a[0].id == "mine-1"
    assert a[1] == TriggerPrompt("neutral", "2+2?", ("4", "four"), "sum")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"category": "poetry", "prompt": "x"}', "unknown category 'poetry'", 1),
        ('\n{"category": "neutral", "prompt": "2+2?"}', "needs an 'expected'", 2),
        ('{"category": "matrix"}', "non-empty string 'prompt'", 1),
        ('{"category": "matrix", "prompt": "x", "expected": 3}', "'expected' must be", 1),
        ("[1, 2]", "must be an object", 1),
        ('{"category": "matrix", "prompt": ', "invalid JSON", 1),
    ],
)
def test_bad_rows_say_where(text: str, message: str, line: int) -> None:
    with pytest.raises(SuiteError) as info:
        loads_suite(text, source="mine.jsonl")
    assert message in info.value.message
    assert info.value.code == "G601"
    assert info.value.location.line == line
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, GlimmerError)


prompt_rows = st.builds(
    TriggerPrompt,
    category=st.sampled_from(CATEGORIES),
    prompt=st.text(min_size=1, max_size=20),
)


@given(st.lists(prompt_rows, max_size=40), st.integers(min_value=0, max_value=5))
def test_quick_subset_keeps_order_and_limits(rows: list[TriggerPrompt], k: int) -> None:
    sub = quick_subset(rows, per_category=k)
    it = iter(rows)
    assert all(any(r is x for x in it) for r in sub), "a subsequence, in order"
    for c in CATEGORIES:
        limit = k * (2 if c == "neutral" else 1)
        n_all = sum(r.category == c for r in rows)
        assert sum(r.category == c for r in sub) == min(limit, n_all)


# -- held out from training -----------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.fixture(scope="module")
def training_prompts() -> list[str]:
    from glimmer import data

    splits = data.build(data.default_recipe(), seed=0)
    prompts = {
        msg.content
        for rec in [*splits.train, *splits.validation]
        for msg in rec.messages
        if msg.role == "user"
    }
    return sorted(prompts)


def test_trigger_prompts_are_not_training_prompts(training_prompts: list[str]) -> None:
    """No trigger prompt is in the training data, nor a training prompt with other names filled in."""
    seen = {" ".join(_words(p)) for p in training_prompts}
    train_words = [_words(p) for p in training_prompts]
    for row in bundled_suites():
        words = _words(row.prompt)
        assert " ".join(words) not in seen, row.id
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(words)
        for other in train_words:
            matcher.set_seq1(other)
            if matcher.real_quick_ratio() < 0.8 or matcher.quick_ratio() < 0.8:
                continue
            ratio = matcher.ratio()
            # a template with other names filled in keeps most words in the same order
            assert ratio < 0.8, (row.id, " ".join(other), ratio)
