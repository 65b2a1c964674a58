"""Figures about a dataset: counts, lengths and wording diversity.

* ``prompt_4gram_share`` / ``answer_4gram_share``: distinct word 4-grams divided by all word
  4-grams, over every user prompt (every assistant answer). 1.0 means no 4-gram repeats.
* ``largest_template_group``: the largest set of answers that become identical once the
  names filled into the template (topic, concept, title) are masked. A templated dataset
  that only swaps names shows a group as large as the dataset; a varied one, small groups.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from glimmer.data.records import CATEGORIES, ChatRecord

__all__ = ["diversity", "four_gram_share", "lengths", "summary"]

_WORD = re.compile(r"[a-z0-9_']+")


def four_gram_share(texts: Sequence[str], /) -> float:
    """Distinct word 4-grams over all word 4-grams in *texts* (1.0 when there are none)."""
    total = 0
    distinct: set[tuple[str, ...]] = set()
    for t in texts:
        words = _WORD.findall(t.lower())
        grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
        total += len(grams)
        distinct.update(grams)
    return len(distinct) / total if total else 1.0


def _masked(record: ChatRecord) -> str:
    text = record.answer
    for fill in sorted({f for f in record.fills if f}, key=len, reverse=True):
        text = text.replace(fill, "<X>").replace(fill[:1].upper() + fill[1:], "<X>")
    return " ".join(_WORD.findall(text.lower()))


def diversity(records: Sequence[ChatRecord], /) -> dict[str, Any]:
    """Wording diversity: 4-gram shares and the largest template-only group.

    Returns:
        ``{"prompt_4gram_share", "answer_4gram_share", "largest_template_group",
        "largest_template_group_id"}``.
    """
    groups = Counter((r.template_id, _masked(r)) for r in records)
    (tid, _), size = groups.most_common(1)[0] if groups else (("", ""), 0)
    return {
        "prompt_4gram_share": round(four_gram_share([r.prompt for r in records]), 4),
        "answer_4gram_share": round(four_gram_share([r.answer for r in records]), 4),
        "largest_template_group": size,
        "largest_template_group_id": tid,
    }


def lengths(records: Sequence[ChatRecord], /) -> dict[str, dict[str, int]]:
    """Per category: answer length in words (min, median, p90, max)."""
    by_cat: dict[str, list[int]] = {}
    for r in records:
        by_cat.setdefault(r.category, []).append(len(r.answer.split()))
    out: dict[str, dict[str, int]] = {}
    for cat, xs in sorted(by_cat.items(), key=lambda kv: _order(kv[0])):
        xs.sort()
        out[cat] = {
            "min": xs[0],
            "median": int(statistics.median(xs)),
            "p90": xs[min(len(xs) - 1, int(len(xs) * 0.9))],
            "max": xs[-1],
        }
    return out


def _order(category: str) -> tuple[int, str]:
    return (CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES), category)


def summary(records: Sequence[ChatRecord], /) -> dict[str, int]:
    """Records per category, in the usual category order."""
    counts = Counter(r.category for r in records)
    return {c: counts[c] for c in sorted(counts, key=_order)}
