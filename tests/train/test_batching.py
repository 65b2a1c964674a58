"""Length-grouped batches: every row once, similar lengths together, an order that follows the seed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from glimmer.train.batching import (
    GroupedSampler,
    grouped_batches,
    padding_share,
    random_batches,
)

lengths_st = st.lists(st.integers(1, 400), min_size=1, max_size=300)


@given(lengths=lengths_st, batch=st.integers(1, 9), seed=st.integers(0, 99))
def test_every_row_once_and_only_the_last_batch_short(
    lengths: list[int], batch: int, seed: int
) -> None:
    batches = grouped_batches(lengths, batch, seed=seed)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(len(b) == batch for b in batches[:-1])
    # a data loader cuts the flat order into batches of `batch`: it gets the same batches
    assert [flat[i : i + batch] for i in range(0, len(flat), batch)] == batches


@given(lengths=lengths_st, batch=st.integers(2, 8), seed=st.integers(0, 99))
def test_grouping_pads_no_more_than_sorting_within_windows_allows(
    lengths: list[int], batch: int, seed: int
) -> None:
    grouped = padding_share(lengths, grouped_batches(lengths, batch, seed=seed, window=10**6))
    ordered = sorted(range(len(lengths)), key=lengths.__getitem__)
    best = padding_share(lengths, [ordered[i : i + batch] for i in range(0, len(ordered), batch)])
    assert abs(grouped - best) < 1e-12  # one window: the fewest pad tokens there can be


def test_grouping_cuts_padding_of_mixed_lengths() -> None:
    lengths = [40 + (i * 37) % 300 for i in range(160)]
    at_random = padding_share(lengths, random_batches(len(lengths), 4, seed=0))
    grouped = padding_share(lengths, grouped_batches(lengths, 4, seed=0))
    assert at_random > 0.2
    assert grouped < at_random / 4


def test_padding_share_counts_pad_tokens() -> None:
    assert padding_share([3, 1, 2, 2], [[0, 1], [2, 3]]) == 1 - 8 / 10
    assert padding_share([5, 5], [[0, 1]]) == 0.0
    assert padding_share([], []) == 0.0


def test_seed_decides_the_order_and_epochs_differ() -> None:
    lengths = list(range(1, 200))
    assert grouped_batches(lengths, 4, seed=3) == grouped_batches(lengths, 4, seed=3)
    assert grouped_batches(lengths, 4, seed=3) != grouped_batches(lengths, 4, seed=4)
    sampler = GroupedSampler(lengths, 4, seed=3)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(len(lengths)))
    assert first != second
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert len(sampler) == len(lengths)
