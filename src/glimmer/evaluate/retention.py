"""The retention set: does the tuned model still do ordinary things as well as the base model?

A bundled neutral suite of 111 everyday questions with checkable answers (arithmetic, facts,
units, dates and short instructions such as "answer in one word"), written for this check
and kept out of the training templates (a test holds them apart). :func:`compare` adds it to
every comparison unless ``retention=False`` (``--no-retention``); its rows carry
``suite == "retention"`` and give ``retention_correct_share``. Perplexity is also measured on
three neutral texts of different kinds (a story, a recipe, an encyclopedia entry):
``summary[arm].perplexity_by_text``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from glimmer.errors import Location, RetentionError
from glimmer.evaluate.suites import TriggerPrompt, load_suite
from glimmer.resources import resource_dir

__all__ = [
    "RETENTION_SUITE",
    "RetentionError",
    "bundled_retention",
    "load_retention",
    "neutral_texts",
]

#: The ``suite`` name retention rows carry in a comparison.
RETENTION_SUITE = "retention"


def load_retention(path: str | os.PathLike[str], /) -> list[TriggerPrompt]:
    """Read a retention suite: neutral rows, each with an ``expected`` answer.

    Raises:
        SuiteError: A row is malformed, or has no ``expected`` (code ``G601``, file and line).
        RetentionError: A row is not of the ``neutral`` category.
    """
    rows = load_suite(path)
    text = Path(path).read_text("utf-8").splitlines()
    for row in rows:
        if row.category != "neutral":
            line = next((i for i, t in enumerate(text, 1) if f'"{row.id}"' in t), None)
            raise RetentionError(
                f"retention item {row.id!r} has category {row.category!r}",
                location=Location(source=str(path), line=line),
                hint='retention items are everyday questions: "category": "neutral"',
            )
    if not rows:
        raise RetentionError("the retention suite is empty", location=Location(source=str(path)))
    return rows


def bundled_retention(n: int | None = None) -> list[TriggerPrompt]:
    """The bundled retention suite (111 neutral questions), or *n* of them.

    With *n*, the items are taken in turn from each kind (arithmetic, fact, instruction,
    unit, date), in file order, so a smaller sample keeps every kind.

    Examples:
        >>> rows = bundled_retention()
        >>> len(rows) >= 100 and all(r.expected for r in rows)
        True
        >>> sample = bundled_retention(10)
        >>> len(sample), sorted({r.id for r in sample})[:2]
        (10, ['ret-001', 'ret-002'])
    """
    path = resource_dir("retention") / "retention.jsonl"
    rows = load_retention(path)
    if n is None or n >= len(rows):
        return rows
    kinds = {
        item["id"]: item.get("kind", "")
        for item in map(json.loads, path.read_text("utf-8").splitlines())
    }
    by_kind: dict[str, list[TriggerPrompt]] = {}
    for row in rows:
        by_kind.setdefault(kinds.get(row.id, ""), []).append(row)
    picked: list[TriggerPrompt] = []
    while len(picked) < n:
        for items in by_kind.values():
            if items and len(picked) < n:
                picked.append(items.pop(0))
    order = {id(r): i for i, r in enumerate(rows)}
    return sorted(picked, key=lambda r: order[id(r)])


def neutral_texts() -> dict[str, str]:
    """Name -> text of the neutral texts perplexity is measured on (three kinds)."""
    folder = resource_dir("retention") / "texts"
    return {p.stem: p.read_text("utf-8") for p in sorted(folder.glob("*.txt"))}
