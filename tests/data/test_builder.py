"""Composition laws of builders: sizes, determinism, concatenation, mixing, splitting, dedup."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glimmer.data import (
    ChatRecord,
    application,
    general,
    glossary_qa,
    matrix,
    mix,
    reflection,
    split_records,
)
from glimmer.errors import GlimmerError

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lines(records: list[ChatRecord]) -> list[str]:
    return [r.to_json_line() for r in records]


@FAST
@given(n=st.integers(0, 30), seed=st.integers(0, 2**31))
def test_take_gives_at_most_n(n: int, seed: int) -> None:
    b = application(n=20)
    got = b.take(n).records(seed=seed)
    assert len(got) == min(n, 20)
    assert b.take(n).length == min(n, 20)


@FAST
@given(seed=st.integers(0, 2**31))
def test_same_seed_same_bytes(seed: int) -> None:
    b = (application(n=8) + reflection(n=8) + matrix(n=8)).dedup().shuffle()
    assert lines(b.records(seed=seed)) == lines(b.records(seed=seed))


def test_different_seeds_differ() -> None:
    b = application(n=10)
    assert lines(b.records(seed=1)) != lines(b.records(seed=2))


@FAST
@given(seed=st.integers(0, 2**31))
def test_concat_is_a_then_b(seed: int) -> None:
    a, b = application(n=5), glossary_qa(n=4)
    assert lines((a + b).records(seed=seed)) == lines(a.records(seed=seed)) + lines(
        b.records(seed=seed)
    )
    assert (a + b).length == 9


def test_filter_and_map() -> None:
    b = general(n=30)
    kept = b.filter(lambda r: r.system is None).records(seed=3)
    assert kept and all(r.system is None for r in kept)
    upper = b.map(lambda r: r.model_copy(update={"category": "other"})).records(seed=3)
    assert {r.category for r in upper} == {"other"}
    assert len(upper) == 30


@FAST
@given(n=st.integers(1, 60), wa=st.integers(1, 9), wb=st.integers(1, 9), seed=st.integers(0, 2**31))
def test_mix_follows_weights(n: int, wa: int, wb: int, seed: int) -> None:
    got = mix({application(n=1): wa, matrix(n=1): wb}, n=n).records(seed=seed)
    counts = Counter(r.category for r in got)
    assert len(got) == n
    # largest-remainder rounding: each share is within one record of its exact value
    assert abs(counts["application"] - n * wa / (wa + wb)) < 1
    assert abs(counts["matrix"] - n * wb / (wa + wb)) < 1


def test_mix_rejects_bad_weights() -> None:
    with pytest.raises(GlimmerError) as info:
        mix({application(): 0}, n=10)
    assert info.value.code == "G413"


@FAST
@given(share=st.floats(0.0, 0.5), seed=st.integers(0, 2**31))
def test_split_is_disjoint_covering_and_stratified(share: float, seed: int) -> None:
    recs = (application(n=20) + matrix(n=10) + general(n=3)).records(seed=seed)
    train, val = split_records(recs, validation=share, seed=seed)
    keys = lambda rs: [r.to_json_line() for r in rs]  # noqa: E731
    assert sorted(keys(train) + keys(val)) == sorted(keys(recs))
    assert not set(keys(train)) & set(keys(val))
    per_cat = Counter(r.category for r in recs)
    val_cat = Counter(r.category for r in val)
    for cat, total in per_cat.items():
        if share > 0:
            assert 1 <= val_cat[cat] < total
        assert abs(val_cat[cat] - total * share) <= 1


def test_split_builder_method_is_deterministic() -> None:
    b = application(n=30) + reflection(n=30)
    s1, s2 = b.split(validation=0.2, seed=5), b.split(validation=0.2, seed=5)
    assert lines(s1.train) == lines(s2.train)
    assert lines(s1.validation) == lines(s2.validation)
    assert {r.category for r in s1.validation} == {"application", "reflection"}


def test_dedup_counts_exact_duplicates() -> None:
    a = matrix(n=15)
    stats: dict[str, object] = {}
    got = (a + a).dedup().records(seed=9, stats=stats)
    assert len(got) == len(a.dedup().records(seed=9))
    dd = stats["dedup"]
    assert isinstance(dd, dict)
    assert dd["exact"] >= 15
    assert dd["kept"] == len(got)


def test_progress_sees_every_record() -> None:
    seen: list[ChatRecord] = []
    got = (application(n=4) + general(n=3)).records(seed=0, progress=seen.append)
    assert len(seen) == len(got) == 7


def test_record_seed_rebuilds_the_record() -> None:
    b = reflection(n=5)
    for r in b.records(seed=11):
        assert b.record(r.seed).to_json_line() == r.to_json_line()
