"""Exact and near-duplicate detection for chat records.

Exact duplicates have the same messages once text is normalised (case, punctuation,
spacing). Near duplicates share most of their word 5-gram shingles: candidates are found
with a bottom-k sketch and confirmed by the exact Jaccard similarity of the shingle sets.
Everything is deterministic (``zlib.crc32``, no salted ``hash()``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from glimmer.data.records import ChatRecord

__all__ = ["Deduper", "normalise", "shingles"]

_WORD = re.compile(r"[a-z0-9_]+")


def normalise(text: str, /) -> str:
    """Lower-case words and numbers joined by single spaces; punctuation dropped."""
    return " ".join(_WORD.findall(text.lower()))


_WORD_IDS: dict[str, int] = {}


def _word_ids(words: list[str]) -> list[int]:
    ids = _WORD_IDS
    if len(ids) > 500_000:  # bound the cache on unusual inputs
        ids.clear()
    out: list[int | None] = list(map(ids.get, words))
    if None in out:
        for w in set(words) - ids.keys():
            ids[w] = zlib.crc32(w.encode())
        out = list(map(ids.get, words))
    return out  # type: ignore[return-value]


def shingles(text: str, /, *, k: int = 5) -> frozenset[int]:
    """Hashes of the word *k*-grams of the normalised text (the whole text if shorter).

    Words map to CRC32 values and each *k*-gram to the hash of its tuple of ints: no salted
    string hashing, so the result is the same in every process.
    """
    return _shingles(_WORD.findall(text.lower()), k)


def _shingles(words: list[str], k: int = 5) -> frozenset[int]:
    ids = _word_ids(words)
    if len(ids) <= k:
        return frozenset((hash(tuple(ids)),))
    return frozenset(map(hash, zip(*(ids[i:] for i in range(k)), strict=False)))


def _record_text(record: ChatRecord) -> str:
    return "\n".join(m.content for m in record.messages if m.role != "system")


@dataclass
class Deduper:
    """Remembers records and tells whether a new one duplicates one already seen.

    Args:
        near: Also catch near duplicates, not only exact ones.
        threshold: Jaccard similarity of shingle sets at or above which two records are near duplicates.

    Examples:
        >>> d = Deduper()
        >>> d.check("The river remembers.") , d.check("the river  remembers!")
        (None, 'exact')
    """

    near: bool = True
    threshold: float = 0.85
    exact_dropped: int = 0
    near_dropped: int = 0
    kept: int = 0
    _exact: set[str] = field(default_factory=set)
    _bands: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    _sets: list[frozenset[int]] = field(default_factory=list)

    def check(self, text: str, /) -> str | None:
        """``"exact"`` or ``"near"`` if *text* duplicates an earlier one, else ``None`` (and remember it)."""
        words = _WORD.findall(text.lower())
        key = " ".join(words)
        if key in self._exact:
            self.exact_dropped += 1
            return "exact"
        if self.near:
            sh = _shingles(words)
            keys = self._band_keys(sh)
            candidates: set[int] = set()
            for k in keys:
                candidates.update(self._bands.get(k, ()))
            for idx in sorted(candidates):
                other = self._sets[idx]
                inter = len(sh & other)
                if inter and inter / (len(sh) + len(other) - inter) >= self.threshold:
                    self.near_dropped += 1
                    return "near"
            idx = len(self._sets)
            self._sets.append(sh)
            for k in keys:
                self._bands.setdefault(k, []).append(idx)
        self._exact.add(key)
        self.kept += 1
        return None

    @staticmethod
    def _band_keys(sh: frozenset[int]) -> list[tuple[int, int]]:
        # bottom-k sketch: the 4 smallest hashes of a content-defined sample (a quarter of
        # the shingles); near duplicates share at least two of them, so every pair is a key
        b = (sorted(x for x in sh if not x & 3) or sorted(sh))[:4]
        return [(b[i], b[j]) for i in range(len(b)) for j in range(i + 1, len(b))] or [(b[0], b[0])]

    def check_record(self, record: ChatRecord, /) -> str | None:
        """:meth:`check` on the record's user and assistant text."""
        return self.check(_record_text(record))

    @property
    def counts(self) -> dict[str, int]:
        """``{"kept": ..., "exact": ..., "near": ...}``."""
        return {"kept": self.kept, "exact": self.exact_dropped, "near": self.near_dropped}
