"""Composable, immutable, seeded dataset builders.

A :class:`Builder` is a lazy description of records; nothing is made until
:meth:`Builder.records` or :meth:`Builder.split` is called with a seed. Builders combine
like the pipelines of well-known data libraries::

    (application(n=200) + reflection(n=100)).filter(fn).map(fn).dedup().take(250)
    mix({application(): 0.5, matrix(): 0.3, glossary_qa(): 0.2}, n=1000)

The same seed gives the same records, byte for byte. Children of ``+`` and the chained
methods receive the seed unchanged; each kind salts it with its own name, so
``(a + b).records(seed=s)`` begins with ``a.records(seed=s)``.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from glimmer.data.dedup import Deduper
from glimmer.data.records import ChatRecord, DatasetSplits
from glimmer.errors import OptionError

__all__ = ["BuildContext", "Builder", "derive_seed", "mix", "split_records"]


def derive_seed(seed: int, *parts: object) -> int:
    """A 32-bit seed from *seed* and labels; stable across processes and platforms."""
    return zlib.crc32(":".join([str(seed), *map(str, parts)]).encode())


@dataclass
class BuildContext:
    """What one build shares among its builders: the seed, figures and a progress hook."""

    seed: int
    stats: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[ChatRecord], None] | None = None


class Builder:
    """Base of every builder: a lazy, immutable, seeded source of :class:`ChatRecord`.

    Subclasses implement :meth:`_iter`. ``length`` is the number of records when known
    ahead (``None`` when a filter or dedup makes it unknowable).
    """

    name: str = "builder"

    @property
    def length(self) -> int | None:
        """How many records the builder yields, if known without building."""
        return None

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        raise NotImplementedError

    def _unbounded(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        """The records without this builder's own count (kinds go on for ever)."""
        return self._iter(ctx)

    # -- running --------------------------------------------------------------------------

    def records(
        self,
        *,
        seed: int = 0,
        progress: Callable[[ChatRecord], None] | None = None,
        stats: dict[str, Any] | None = None,
    ) -> list[ChatRecord]:
        """Build the records.

        Args:
            seed: Same seed, same records (byte-identical JSON lines).
            progress: Called with each record as it is made.
            stats: A dict that receives dedup counts and other figures.

        Returns:
            The records, in order.
        """
        ctx = BuildContext(seed=seed, stats=stats if stats is not None else {}, progress=progress)
        return list(self._iter(ctx))

    def split(
        self,
        *,
        validation: float = 0.1,
        seed: int = 0,
        progress: Callable[[ChatRecord], None] | None = None,
    ) -> DatasetSplits:
        """Build the records and split them into train and validation, stratified by category.

        Args:
            validation: Share of each category held out.
            seed: Build and split seed.
            progress: Called with each record as it is made.

        Returns:
            Train and validation records; disjoint, and together exactly the built records.
        """
        stats: dict[str, Any] = {}
        recs = self.records(seed=seed, progress=progress, stats=stats)
        train, val = split_records(recs, validation=validation, seed=seed)
        return DatasetSplits(train=train, validation=val, seed=seed, stats=stats)

    # -- composition ----------------------------------------------------------------------

    def __add__(self, other: Builder) -> Builder:
        if not isinstance(other, Builder):
            return NotImplemented
        return _Concat((self, other))

    def take(self, n: int, /) -> Builder:
        """The first *n* records (all of them if there are fewer)."""
        if n < 0:
            raise ValueError("take() needs n >= 0")
        return _Take(self, n)

    def filter(self, fn: Callable[[ChatRecord], bool], /) -> Builder:
        """Only the records for which *fn* is true."""
        return _Filter(self, fn)

    def map(self, fn: Callable[[ChatRecord], ChatRecord], /) -> Builder:
        """Each record passed through *fn*."""
        return _Map(self, fn)

    def dedup(self, *, near: bool = True, threshold: float = 0.85) -> Builder:
        """Drop exact (and, by default, near) duplicates; counts go to the build's stats."""
        return _Dedup(self, near, threshold)

    def shuffle(self) -> Builder:
        """The records in a seeded random order."""
        return _Shuffle(self)


@dataclass(frozen=True, eq=False)
class _Concat(Builder):
    parts: tuple[Builder, ...]

    @property
    def length(self) -> int | None:
        lens = [p.length for p in self.parts]
        return None if any(n is None for n in lens) else sum(n for n in lens if n is not None)

    def __add__(self, other: Builder) -> Builder:
        if not isinstance(other, Builder):
            return NotImplemented
        return _Concat((*self.parts, other))

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        for p in self.parts:
            yield from p._iter(ctx)


@dataclass(frozen=True, eq=False)
class _Take(Builder):
    inner: Builder
    n: int

    @property
    def length(self) -> int | None:
        inner = self.inner.length
        return self.n if inner is None else min(self.n, inner)

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        if self.n == 0:
            return
        for i, rec in enumerate(self.inner._iter(ctx), start=1):
            yield rec
            if i >= self.n:
                return


@dataclass(frozen=True, eq=False)
class _Filter(Builder):
    inner: Builder
    fn: Callable[[ChatRecord], bool]

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        return (r for r in self.inner._iter(ctx) if self.fn(r))


@dataclass(frozen=True, eq=False)
class _Map(Builder):
    inner: Builder
    fn: Callable[[ChatRecord], ChatRecord]

    @property
    def length(self) -> int | None:
        return self.inner.length

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        return (self.fn(r) for r in self.inner._iter(ctx))


@dataclass(frozen=True, eq=False)
class _Dedup(Builder):
    inner: Builder
    near: bool
    threshold: float

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        d = Deduper(near=self.near, threshold=self.threshold)
        for rec in self.inner._iter(ctx):
            if d.check_record(rec) is None:
                yield rec
        dd = ctx.stats.setdefault("dedup", {"kept": 0, "exact": 0, "near": 0})
        for k, v in d.counts.items():
            dd[k] += v


@dataclass(frozen=True, eq=False)
class _Shuffle(Builder):
    inner: Builder

    @property
    def length(self) -> int | None:
        return self.inner.length

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        recs = list(self.inner._iter(ctx))
        random.Random(derive_seed(ctx.seed, "shuffle")).shuffle(recs)
        return iter(recs)


@dataclass(frozen=True, eq=False)
class _Mix(Builder):
    parts: tuple[tuple[Builder, float], ...]
    n: int

    @property
    def length(self) -> int | None:
        return None

    def _counts(self) -> list[int]:
        total = sum(w for _, w in self.parts)
        raw = [self.n * w / total for _, w in self.parts]
        counts = [int(x) for x in raw]
        # largest remainder, ties to the earlier part
        order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
        for i in order[: self.n - sum(counts)]:
            counts[i] += 1
        return counts

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        streams: list[list[ChatRecord]] = []
        for (b, _), count in zip(self.parts, self._counts(), strict=True):
            got: list[ChatRecord] = []
            if count:
                for rec in b._unbounded(ctx):
                    got.append(rec)
                    if len(got) >= count:
                        break
            streams.append(got)
        # interleave in a seeded order that keeps each part's own order
        slots = [i for i, s in enumerate(streams) for _ in s]
        random.Random(derive_seed(ctx.seed, "mix")).shuffle(slots)
        pos = [0] * len(streams)
        for i in slots:
            yield streams[i][pos[i]]
            pos[i] += 1


def mix(weights: Mapping[Builder, float], /, *, n: int) -> Builder:
    """Draw *n* records from several builders in the given proportions, interleaved.

    Counts are ``n * weight / sum(weights)``, rounded by largest remainder. A kind builder
    in a mix ignores its own count and makes as many records as its share needs.

    Args:
        weights: Builder -> weight (any positive numbers).
        n: Total records.

    Returns:
        A builder.

    Raises:
        OptionError: A weight is not positive, or *n* is negative (code G413).
    """
    if n < 0 or not weights or any(w <= 0 for w in weights.values()):
        raise OptionError(
            "mix() needs positive weights and n >= 0",
            hint="e.g. mix({a: 0.7, b: 0.3}, n=1000)",
            code="G413",
        )
    return _Mix(tuple(weights.items()), n)


def split_records(
    records: list[ChatRecord], /, *, validation: float = 0.1, seed: int = 0
) -> tuple[list[ChatRecord], list[ChatRecord]]:
    """Split records into train and validation, stratified by category, order kept.

    Each category with at least two records gives ``round(len * validation)`` records (at
    least one when *validation* > 0) to validation, chosen with a seeded generator.
    """
    if not 0 <= validation < 1:
        raise OptionError(
            "validation share must be in [0, 1)", hint="e.g. validation=0.1", code="G413"
        )
    by_cat: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_cat.setdefault(r.category, []).append(i)
    held: set[int] = set()
    for cat in sorted(by_cat):
        idx = by_cat[cat]
        k = round(len(idx) * validation)
        if validation > 0 and len(idx) >= 2:
            k = max(1, min(k, len(idx) - 1))
        held.update(random.Random(derive_seed(seed, "split", cat)).sample(idx, k))
    train = [r for i, r in enumerate(records) if i not in held]
    val = [r for i, r in enumerate(records) if i in held]
    return train, val
