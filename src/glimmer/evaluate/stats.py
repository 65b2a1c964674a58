"""Uncertainty for the shift figures: bootstrap intervals, paired differences, seed spread.

Every summary figure of a comparison is a statistic over items (answers, prompts, attacks).
:func:`bootstrap_interval` resamples those items to give a 95% percentile interval;
:func:`paired_difference` resamples item *pairs* (the same prompt answered by two arms), so
the interval of ``tuned - base`` is as narrow as the pairing allows. Resampling is done by
``scipy.stats.bootstrap`` (the ``eval`` extra), seeded, so the same answers always give the
same interval. :func:`annotate` fills ``summary[arm].n``, ``summary[arm].intervals`` and
``comparison.differences`` from the rows; :func:`seed_spread` gives mean and sd across fits.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.results import Comparison

__all__ = [
    "CONFIDENCE",
    "FIGURES",
    "PAIRS",
    "Difference",
    "Spread",
    "annotate",
    "bootstrap_interval",
    "figure_items",
    "format_interval",
    "paired_difference",
    "seed_spread",
    "spread_across",
]

#: Confidence level of every interval.
CONFIDENCE: Final = 0.95
#: Paired differences reported, as ``(arm, minus_arm)``.
PAIRS: Final[tuple[tuple[str, str], ...]] = (
    ("tuned", "base"),
    ("tuned", "prompted"),
    ("steered", "base"),
)
_RESAMPLES: Final = 2000
# figures whose paired difference says little: a mean of per-answer counts or similarities
_UNPAIRED: Final = frozenset({"semantic_alignment", "mean_concepts", "coherence"})


class Difference(BaseModel):
    """A paired difference ``arm - other`` over the same items, with its interval."""

    value: float
    low: float | None = None
    high: float | None = None
    n: int = Field(0, description="item pairs")


class Spread(BaseModel):
    """One figure across several fits (seeds)."""

    mean: float
    sd: float | None = None
    values: list[float] = Field(default_factory=list)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def bootstrap_interval(
    values: Sequence[float],
    /,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = _RESAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean of *values*.

    Args:
        values: One number per item (``1.0``/``0.0`` for a share).
        confidence: The confidence level.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling; the same values and seed give the same interval.

    Returns:
        ``(low, high)``, or ``None`` for fewer than two items.

    Examples:
        >>> bootstrap_interval([1.0, 1.0, 1.0])
        (1.0, 1.0)
        >>> low, high = bootstrap_interval([0.0, 1.0] * 20)
        >>> 0.3 < low < 0.5 < high < 0.7
        True
    """
    vals = [float(v) for v in values]
    if len(vals) < 2:
        return None
    if len(set(vals)) == 1:
        return vals[0], vals[0]
    import numpy as np
    from scipy.stats import bootstrap

    res = bootstrap(
        (np.asarray(vals),),
        np.mean,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)


def paired_difference(
    values: Sequence[float],
    others: Sequence[float],
    /,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = _RESAMPLES,
    seed: int = 0,
) -> Difference:
    """``mean(values) - mean(others)`` over paired items, with a paired bootstrap interval.

    Raises:
        ValueError: The two sequences differ in length or are empty.

    Examples:
        >>> d = paired_difference([1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0])
        >>> d.value, d.n
        (0.5, 4)
    """
    if len(values) != len(others) or not values:
        raise ValueError(f"paired items differ in number: {len(values)} and {len(others)}")
    diffs = [float(a) - float(b) for a, b in zip(values, others, strict=True)]
    interval = bootstrap_interval(diffs, confidence=confidence, resamples=resamples, seed=seed)
    low, high = interval if interval is not None else (None, None)
    return Difference(value=_mean(diffs), low=low, high=high, n=len(diffs))


def seed_spread(values: Sequence[float | None], /) -> Spread | None:
    """Mean and sample standard deviation of one figure across fits (``None`` values skipped).

    Examples:
        >>> seed_spread([0.8, 0.9, 1.0]).sd
        0.1
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return None
    sd = round(statistics.stdev(vals), 6) if len(vals) > 1 else None
    return Spread(mean=round(_mean(vals), 6), sd=sd, values=vals)


def _flag(x: bool | None) -> float:
    return 1.0 if x else 0.0


Items = Callable[[Any, str], list[float]]


def _answers(c: Any, arm: str, pred: Callable[[Any], bool]) -> list[Any]:
    return [r.answers[arm] for r in c.rows if arm in r.answers and pred(r)]


def _trigger(r: Any) -> bool:
    return bool(r.category != "neutral")


def _retention(r: Any) -> bool:
    return bool(getattr(r, "suite", "") == "retention")


#: Summary figure -> per-item values of one arm (their mean is the figure).
FIGURES: Final[dict[str, Items]] = {
    "concept_share": lambda c, a: [_flag(bool(s.concepts)) for s in _answers(c, a, _trigger)],
    "mean_concepts": lambda c, a: [float(len(s.concepts)) for s in _answers(c, a, _trigger)],
    "semantic_alignment": lambda c, a: [
        float(s.alignment) for s in _answers(c, a, _trigger) if s.alignment is not None
    ],
    "coherence": lambda c, a: [float(s.coherence) for s in _answers(c, a, _trigger)],
    "glimmer_valid_share": lambda c, a: [
        _flag(s.glimmer_valid) for s in _answers(c, a, lambda r: r.category == "generation")
    ],
    "self_reference_share": lambda c, a: [
        _flag(s.self_reference)
        for s in _answers(c, a, lambda r: r.category in ("reflection", "matrix"))
    ],
    "neutral_correct_share": lambda c, a: [
        _flag(s.correct) for s in _answers(c, a, lambda r: r.category == "neutral")
    ],
    "neutral_concept_share": lambda c, a: [
        _flag(bool(s.concepts)) for s in _answers(c, a, lambda r: r.category == "neutral")
    ],
    "retention_correct_share": lambda c, a: [_flag(s.correct) for s in _answers(c, a, _retention)],
    "ended_share": lambda c, a: [_flag(s.ended) for s in _answers(c, a, lambda r: True)],
    "invented_term_share": lambda c, a: [
        _flag(bool(s.invented))
        for s in _answers(c, a, lambda r: r.category not in ("neutral", "generation"))
    ],
    "repetition_share": lambda c, a: [
        _flag(s.repeated) for s in _answers(c, a, _trigger) if s.repeated is not None
    ],
    "distinct_answer_share": lambda c, a: [
        _flag(s.distinct) for s in _answers(c, a, _trigger) if s.distinct is not None
    ],
    "robust_concept_share": lambda c, a: [
        _flag(bool(r.answers[a].concepts)) for r in getattr(c, "robustness", ()) if a in r.answers
    ],
}


def figure_items(comparison: Comparison, arm: str, /) -> dict[str, list[float]]:
    """Figure -> the per-item values of *arm* behind it (only figures with items)."""
    out: dict[str, list[float]] = {}
    for name, items in FIGURES.items():
        vals = items(comparison, arm)
        if vals:
            out[name] = vals
    return out


def annotate(comparison: Comparison, /, *, seed: int = 0) -> None:
    """Fill ``n`` and ``intervals`` of every arm's summary, and the paired differences.

    Figures without scipy are left without intervals, with a note.
    """
    try:
        import scipy.stats  # noqa: F401
    except ImportError:
        comparison.notes.append(
            "intervals skipped: install the eval extra (pip install 'glimmer-dsl[eval]') for scipy"
        )
        return
    items = {arm: figure_items(comparison, arm) for arm in comparison.summary}
    for arm, figures in items.items():
        summary = comparison.summary[arm]
        for name, vals in figures.items():
            summary.n[name] = len(vals)
            interval = bootstrap_interval(vals, seed=seed)
            if interval is not None:
                summary.intervals[name] = [round(interval[0], 4), round(interval[1], 4)]
    for arm, other in PAIRS:
        if arm not in items or other not in items:
            continue
        diffs: dict[str, Difference] = {}
        for name, vals in items[arm].items():
            base = items[other].get(name)
            if base is None or len(base) != len(vals) or name in _UNPAIRED:
                continue
            d = paired_difference(vals, base, seed=seed)
            diffs[name] = Difference(
                value=round(d.value, 4),
                low=None if d.low is None else round(d.low, 4),
                high=None if d.high is None else round(d.high, 4),
                n=d.n,
            )
        comparison.differences[f"{arm}-{other}"] = diffs


def spread_across(summaries: Sequence[Any], /) -> dict[str, Spread]:
    """Figure -> :class:`Spread` over several :class:`ArmSummary` of one arm (one per fit)."""
    out: dict[str, Spread] = {}
    if not summaries:
        return out
    for name, value in summaries[0].model_dump().items():
        if not isinstance(value, int | float) or isinstance(value, bool) or name == "seconds":
            continue
        spread = seed_spread([getattr(s, name) for s in summaries])
        if spread is not None:
            out[name] = spread
    return out


def format_interval(value: float | None, interval: Sequence[float] | None, /) -> str:
    """``"0.85 [0.70, 0.95]"``; the value alone without an interval, ``"n/a"`` without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if not interval:
        return f"{value:.2f}"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"
