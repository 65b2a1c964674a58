"""The default recipe: volume, every category, diversity figures, determinism."""

from __future__ import annotations

import pytest

from glimmer.data import DatasetSplits, build
from glimmer.data.stats import diversity, four_gram_share, summary

TRAINING = {"generation", "interpretation", "application", "reflection", "matrix", "glossary"}


@pytest.fixture(scope="module")
def default_splits() -> DatasetSplits:
    return build(seed=0)


def test_at_least_1000_distinct_records_across_all_categories(
    default_splits: DatasetSplits,
) -> None:
    recs = default_splits.all
    lines = {r.to_json_line() for r in recs}
    assert len(lines) == len(recs) >= 1000
    counts = summary(recs)
    assert set(counts) >= TRAINING
    assert all(counts[c] >= 100 for c in TRAINING)
    assert counts.get("general", 0) <= 0.10 * len(recs)


def test_dedup_and_diversity_are_reported(default_splits: DatasetSplits) -> None:
    stats = default_splits.stats
    assert stats["dedup"]["kept"] == len(default_splits.all)
    div = stats["diversity"]
    assert div == diversity(default_splits.all)
    assert 0 < div["prompt_4gram_share"] <= 1 and 0 < div["answer_4gram_share"] <= 1
    # answers that differ only in the filled-in names stay a tiny fraction of the data
    assert div["largest_template_group"] <= 0.01 * len(default_splits.all)


def test_same_seed_same_dataset(default_splits: DatasetSplits) -> None:
    again = build(seed=0)
    assert [r.to_json_line() for r in again.train] == [
        r.to_json_line() for r in default_splits.train
    ]
    assert [r.to_json_line() for r in again.validation] == [
        r.to_json_line() for r in default_splits.validation
    ]


def test_four_gram_share_bounds() -> None:
    assert four_gram_share(["a b c d", "a b c d"]) == 0.5
    assert four_gram_share(["one two three four five"]) == 1.0
    assert four_gram_share([]) == 1.0


def test_no_evaluation_prompt_is_in_the_training_data(default_splits: DatasetSplits) -> None:
    """Evaluation prompts must stay unseen: none appears verbatim among the built prompts."""
    import json

    from glimmer.resources import resource_dir

    suites = resource_dir("suites")
    assert suites.is_dir(), "the evaluation suites are bundled"
    held_out = {
        " ".join(json.loads(line)["prompt"].lower().split())
        for path in suites.glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    prompts = {" ".join(r.prompt.lower().split()) for r in default_splits.all}
    assert held_out and not held_out & prompts
