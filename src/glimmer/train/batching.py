"""Batches of rows of similar length, so that training spends little compute on padding.

A batch is padded to its longest row; rows drawn at random mix a 60-token replay row with a
300-token pattern, and the pad tokens still go through every layer. :func:`grouped_batches`
shuffles the rows, cuts them into windows of ``window`` batches, sorts each window by length
and shuffles the order of the batches it makes: each batch holds rows of similar length, while
which rows meet and in which order batches come still change with the seed and the epoch.

Packing (several rows in one, ``padding_free``) would remove padding altogether, but it is only
correct where attention honours row boundaries through ``position_ids`` (FlashAttention on
CUDA/ROCm); with the SDPA attention of a CPU the rows would see each other. Length grouping is
correct on every backend, and on the demo's data it leaves a few percent of padding
(``benchmarks/padding.py``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "GroupedSampler",
    "group_trainer_batches",
    "grouped_batches",
    "padding_share",
    "random_batches",
]

#: Batches per window that is sorted by length: wider windows pad less but mix less.
WINDOW = 16


def padding_share(lengths: Sequence[int], batches: Sequence[Sequence[int]], /) -> float:
    """Share of the tokens of padded *batches* that are padding (0 when nothing is padded).

    Args:
        lengths: Tokens in each row.
        batches: Row indices of each batch; a batch is padded to its longest row.
    """
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 0.0 if padded == 0 else 1 - real / padded


def random_batches(n: int, batch_size: int, /, *, seed: int = 0) -> list[list[int]]:
    """Rows shuffled with *seed* and cut into batches (what a random sampler does)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def grouped_batches(
    lengths: Sequence[int], batch_size: int, /, *, seed: int = 0, window: int = WINDOW
) -> list[list[int]]:
    """Batches of rows of similar length, in a shuffled order.

    Every row appears once. Only the last batch may be short, and it comes last (a data loader
    cuts the flat order into batches of ``batch_size``).

    Args:
        lengths: Tokens in each row.
        batch_size: Rows per batch.
        seed: Shuffles rows, windows and batch order; another seed (or epoch) another order.
        window: Batches per window sorted by length.

    Returns:
        The row indices of each batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * max(1, window)
    full: list[list[int]] = []
    short: list[int] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i])
        for b in range(0, len(chunk), batch_size):
            batch = chunk[b : b + batch_size]
            if len(batch) == batch_size:
                full.append(batch)
            else:
                short = batch
    rng.shuffle(full)
    return [*full, short] if short else full


class GroupedSampler:
    """A sampler giving the indices of :func:`grouped_batches`, a new order each epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, seed: int = 0) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of this epoch (accelerate calls it at each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        batches = grouped_batches(self.lengths, self.batch_size, seed=self.seed + self.epoch)
        self.epoch += 1  # without set_epoch, each pass still differs
        return iter([i for b in batches for i in b])


def group_trainer_batches(trainer: Any, /, *, seed: int = 0) -> tuple[float, float]:
    """Make a transformers ``Trainer`` draw length-grouped training batches.

    Args:
        trainer: The trainer (its ``train_dataset`` has ``input_ids``).
        seed: The run's seed.

    Returns:
        ``(random, grouped)``: the padding share of one epoch's batches drawn at random and
        length-grouped, for the fit's report.
    """
    dataset = trainer.train_dataset
    lengths = [len(ids) for ids in dataset["input_ids"]]
    batch = int(trainer.args.per_device_train_batch_size)
    sampler = GroupedSampler(lengths, batch, seed=seed)

    def get_sampler(train_dataset: Any = None) -> GroupedSampler:
        return sampler

    trainer._get_train_sampler = get_sampler
    return (
        padding_share(lengths, random_batches(len(lengths), batch, seed=seed)),
        padding_share(lengths, grouped_batches(lengths, batch, seed=seed)),
    )
