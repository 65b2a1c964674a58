"""Bootstrap intervals, paired differences and spread across seeds, on known data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.evaluate.compare import score_comparison
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.stats import (
    bootstrap_interval,
    format_interval,
    paired_difference,
    seed_spread,
)
from glimmer.evaluate.suites import TriggerPrompt


def test_interval_brackets_the_mean_and_narrows_with_more_items() -> None:
    small = bootstrap_interval([1.0, 0.0] * 5)
    large = bootstrap_interval([1.0, 0.0] * 200)
    assert small is not None and large is not None
    assert small[0] < 0.5 < small[1]
    assert large[0] < 0.5 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    # a binomial share of 0.5 over 400 items: the normal interval is +-0.049
    assert large[1] - large[0] == pytest.approx(0.098, abs=0.02)


def test_interval_is_seeded_and_degenerate_cases_are_exact() -> None:
    data = [0.1, 0.9, 0.4, 0.7, 0.3]
    assert bootstrap_interval(data, seed=3) == bootstrap_interval(data, seed=3)
    assert bootstrap_interval([0.0, 0.0, 0.0]) == (0.0, 0.0)
    assert bootstrap_interval([1.0]) is None
    assert bootstrap_interval([]) is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=30))
def test_interval_lies_within_the_data(values: list[float]) -> None:
    interval = bootstrap_interval(values, resamples=200)
    assert interval is not None
    low, high = interval
    assert min(values) - 1e-9 <= low <= high <= max(values) + 1e-9


def test_paired_difference_uses_the_pairing() -> None:
    # every item moves by exactly +1: the paired interval is a point, though each arm varies
    base = [0.0, 3.0, 1.0, 5.0, 2.0, 4.0]
    tuned = [b + 1.0 for b in base]
    d = paired_difference(tuned, base)
    assert (d.value, d.low, d.high, d.n) == (1.0, 1.0, 1.0, 6)
    shares = paired_difference([1.0, 1.0, 1.0, 0.0] * 5, [0.0, 0.0, 1.0, 0.0] * 5)
    assert shares.value == pytest.approx(0.5)
    assert shares.low is not None and shares.high is not None
    assert 0.2 < shares.low < 0.5 < shares.high <= 0.8
    with pytest.raises(ValueError, match="differ in number"):
        paired_difference([1.0], [1.0, 0.0])


def test_seed_spread_and_formatting() -> None:
    spread = seed_spread([0.8, 0.9, 1.0, None])
    assert spread is not None and spread.mean == pytest.approx(0.9) and spread.sd == 0.1
    one = seed_spread([0.5])
    assert one is not None and one.sd is None
    assert seed_spread([None]) is None
    assert format_interval(0.85, [0.7, 0.95]) == "0.85 [0.70, 0.95]"
    assert format_interval(None, None) == "n/a"


def test_comparison_carries_n_intervals_and_paired_differences(
    small_index: ConceptIndex,
) -> None:
    prompts = [TriggerPrompt("application", f"Question {i}?", id=f"a{i}") for i in range(10)]
    prompts += [TriggerPrompt("neutral", "What is 2 and 2?", ("4",), id="n")]
    answers = {
        "base": ["Plain words."] * 10 + ["4"],
        "prompted": ["A quantum relationship."] * 3 + ["Plain."] * 7 + ["4"],
        "tuned": ["Consciousness crystals."] * 9 + ["Plain."] + ["5"],
    }
    c = score_comparison(prompts, answers, index=small_index)
    tuned = c.summary["tuned"]
    assert tuned.concept_share == pytest.approx(0.9)
    assert tuned.n["concept_share"] == 10
    assert tuned.n["neutral_correct_share"] == 1
    low, high = tuned.intervals["concept_share"]
    assert low < 0.9 <= high
    assert "neutral_correct_share" not in tuned.intervals  # one item: no interval
    diff = c.differences["tuned-base"]["concept_share"]
    assert diff.value == pytest.approx(0.9) and diff.n == 10
    assert diff.low is not None and diff.low > 0.5
    assert c.differences["tuned-prompted"]["concept_share"].value == pytest.approx(0.6)
    data = c.model_dump()
    assert data["summary"]["tuned"]["intervals"]["concept_share"] == [low, high]
