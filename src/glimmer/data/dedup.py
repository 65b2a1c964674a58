"""Exact and near-duplicate detection for chat records.

Exact duplicates have the same messages once text is normalised (case, punctuation,
spacing). Near duplicates share most of their word 5-gram shingles: candidates are found
with MinHash banding and confirmed by the exact Jaccard similarity of the shingle sets.
Everything is deterministic (``zlib.crc32``, no salted ``hash()``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from glimmer.data.records import ChatRecord

__all__ = ["Deduper", "normalise", "shingles"]

_WORD = re.compile(r"[a-z0-9_]+")
_MASK = (1 << 32) - 1
# (multiplier, offset) pairs of the MinHash permutations: 4 bands of 2 rows
_PERMS = (
    (0x9E3779B1, 0x7F4A7C15),
    (0x85EBCA77, 0x165667B1),
    (0xC2B2AE3D, 0x27D4EB2F),
    (0x27D4EB2D, 0x61C88647),
    (0x165667B1, 0x85EBCA6B),
    (0xD3A2646C, 0x9E3779B9),
    (0xFD7046C5, 0xB55A4F09),
    (0x6A09E667, 0xBB67AE85),
)
_ROWS = 2


def normalise(text: str, /) -> str:
    """Lower-case words and numbers joined by single spaces; punctuation dropped."""
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, /, *, k: int = 5) -> frozenset[int]:
    """CRC32 hashes of the word *k*-grams of the normalised text (the whole text if shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) <= k:
        return frozenset((zlib.crc32(" ".join(words).encode()),))
    return frozenset(
        zlib.crc32(" ".join(words[i : i + k]).encode()) for i in range(len(words) - k + 1)
    )


def _record_text(record: ChatRecord) -> str:
    return "\n".join(m.content for m in record.messages if m.role != "system")


@dataclass
class Deduper:
    """Remembers records and tells whether a new one duplicates one already seen.

    Args:
        near: Also catch near duplicates, not only exact ones.
        threshold: Jaccard similarity of shingle sets at or above which two records are near duplicates.

    Example:
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
    _bands: dict[tuple[int, int, int], list[int]] = field(default_factory=dict)
    _sets: list[frozenset[int]] = field(default_factory=list)

    def check(self, text: str, /) -> str | None:
        """``"exact"`` or ``"near"`` if *text* duplicates an earlier one, else ``None`` (and remember it)."""
        key = normalise(text)
        if key in self._exact:
            self.exact_dropped += 1
            return "exact"
        if self.near:
            sh = shingles(key)
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
    def _band_keys(sh: frozenset[int]) -> list[tuple[int, int, int]]:
        # MinHash over a content-defined sample (a quarter of the shingles) keeps long
        # answers cheap; sets that are near duplicates keep near-duplicate samples.
        sample = [x for x in sh if not x & 3] or list(sh)
        sig = [min(((x * a + b) & _MASK) for x in sample) for a, b in _PERMS]
        return [(i, sig[i * _ROWS], sig[i * _ROWS + 1]) for i in range(len(_PERMS) // _ROWS)]

    def check_record(self, record: ChatRecord, /) -> str | None:
        """:meth:`check` on the record's user and assistant text."""
        return self.check(_record_text(record))

    @property
    def counts(self) -> dict[str, int]:
        """``{"kept": ..., "exact": ..., "near": ...}``."""
        return {"kept": self.kept, "exact": self.exact_dropped, "near": self.near_dropped}
