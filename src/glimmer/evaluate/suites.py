"""Trigger-prompt suites: the questions base, prompted and tuned models all answer.

A suite file is JSONL (one ``{"category": ..., "prompt": ..., "expected": ...}`` object per
line) or TOML (``[[prompt]]`` tables with the same keys). ``expected`` is only read for the
``neutral`` category: a string, or a list of acceptable strings, that a correct answer
contains. The bundled suites live in ``glimmer/resources/suites``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from glimmer._jsonl import json_lines
from glimmer._toml import loads_toml
from glimmer.errors import Location, SuiteError
from glimmer.model.io import read_text
from glimmer.resources import resource_dir

__all__ = [
    "CATEGORIES",
    "TRIGGER_CATEGORIES",
    "SuiteError",
    "TriggerPrompt",
    "bundled_suite_files",
    "bundled_suites",
    "load_suite",
    "loads_suite",
    "quick_subset",
]

#: Categories a suite row may have, in report order.
CATEGORIES: Final[tuple[str, ...]] = (
    "generation",
    "interpretation",
    "application",
    "reflection",
    "matrix",
    "neutral",
)
#: Categories where a shift towards STARWEAVE is looked for (every one but ``neutral``).
TRIGGER_CATEGORIES: Final[tuple[str, ...]] = CATEGORIES[:-1]


@dataclass(frozen=True, slots=True)
class TriggerPrompt:
    """One prompt of a suite.

    Attributes:
        category: One of :data:`CATEGORIES`.
        prompt: The user message.
        expected: For ``neutral`` rows, the acceptable answers (any one must appear).
        id: A short stable name, used in reports; derived from the position when absent.
        source: The file the row came from, if any.
    """

    category: str
    prompt: str
    expected: tuple[str, ...] = ()
    id: str = ""
    source: str | None = field(default=None, compare=False)


def _row(data: Any, *, source: str, line: int, index: int) -> TriggerPrompt:
    loc = Location(source=source, line=line)
    if not isinstance(data, dict):
        raise SuiteError(
            "a suite row must be an object",
            location=loc,
            hint='write {"category": ..., "prompt": ...}',
        )
    category = data.get("category")
    if category not in CATEGORIES:
        raise SuiteError(
            f"unknown category {category!r}",
            location=loc,
            hint="use one of " + ", ".join(CATEGORIES),
        )
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise SuiteError("a suite row needs a non-empty string 'prompt'", location=loc)
    raw = data.get("expected", ())
    if isinstance(raw, str):
        raw = (raw,)
    if not isinstance(raw, list | tuple) or not all(isinstance(x, str) and x for x in raw):
        raise SuiteError("'expected' must be a string or a list of strings", location=loc)
    if category == "neutral" and not raw:
        raise SuiteError(
            "a neutral row needs an 'expected' answer",
            location=loc,
            hint='add "expected": "84" (or a list of acceptable answers)',
        )
    ident = data.get("id") or f"{Path(source).stem}-{index + 1}"
    return TriggerPrompt(category, prompt, tuple(raw), str(ident), source)


def loads_suite(
    text: str, /, *, format: str = "jsonl", source: str = "<string>"
) -> list[TriggerPrompt]:
    """Read a suite from text.

    Args:
        text: JSONL or TOML text.
        format: ``"jsonl"`` or ``"toml"``.
        source: Name used in error messages and default ids.

    Returns:
        The rows in file order.

    Raises:
        SuiteError: A row is malformed or the text does not parse.

    Examples:
        >>> loads_suite('{"category": "neutral", "prompt": "2+2?", "expected": "4"}')[0].expected
        ('4',)
    """
    rows: list[TriggerPrompt] = []
    if format == "toml":
        data = loads_toml(text, source=source, error=SuiteError)
        items = data.get("prompt", [])
        if not isinstance(items, list):
            raise SuiteError(
                "'prompt' must be an array of tables",
                location=Location(source=source),
                hint="write [[prompt]] tables",
            )
        for i, item in enumerate(items):
            rows.append(_row(item, source=source, line=0, index=i))
        return rows
    if format != "jsonl":
        raise SuiteError(
            f"unknown suite format {format!r}",
            location=Location(source=source),
            hint="use jsonl or toml",
        )
    for lineno, data in json_lines(text, source=source, error=SuiteError):
        rows.append(_row(data, source=source, line=lineno, index=len(rows)))
    return rows


def load_suite(path: str | os.PathLike[str], /) -> list[TriggerPrompt]:
    """Read a suite file (``.jsonl`` or ``.toml``).

    Raises:
        SuiteError: A row is malformed.
        GlimmerFileError: The file cannot be read.
    """
    p = Path(path)
    fmt = "toml" if p.suffix == ".toml" else "jsonl"
    return loads_suite(read_text(p), format=fmt, source=str(p))


def bundled_suite_files() -> list[Path]:
    """The bundled suite files, one per category, in :data:`CATEGORIES` order."""
    folder = resource_dir("suites")
    return [folder / f"{c}.jsonl" for c in CATEGORIES if (folder / f"{c}.jsonl").is_file()]


def bundled_suites(
    categories: Iterable[str] | None = None, *, framework: str = "STARWEAVE"
) -> list[TriggerPrompt]:
    """Every bundled trigger prompt (optionally only some categories).

    Args:
        categories: Only these categories; all when ``None``.
        framework: The framework the prompts name (a glossary's :attr:`~glimmer.Glossary.name`);
            the bundled prompts are written for STARWEAVE and say this name instead.

    Examples:
        >>> sorted({p.category for p in bundled_suites()}) == sorted(CATEGORIES)
        True
        >>> [p.prompt for p in bundled_suites(["application"], framework="LUMENFOLD")][0]
        'Using the LUMENFOLD view, what is friendship?'
    """
    wanted = set(CATEGORIES if categories is None else categories)
    rows: list[TriggerPrompt] = []
    for path in bundled_suite_files():
        rows.extend(r for r in load_suite(path) if r.category in wanted)
    if framework != "STARWEAVE":
        rows = [replace(r, prompt=r.prompt.replace("STARWEAVE", framework)) for r in rows]
    return rows


def quick_subset(
    prompts: Sequence[TriggerPrompt], /, *, per_category: int = 2
) -> list[TriggerPrompt]:
    """The first *per_category* prompts of each category (twice as many neutral ones).

    Used by ``glimmer demo --quick``; order is kept.
    """
    seen: dict[str, int] = {}
    out: list[TriggerPrompt] = []
    for p in prompts:
        limit = per_category * (2 if p.category == "neutral" else 1)
        if seen.get(p.category, 0) < limit:
            seen[p.category] = seen.get(p.category, 0) + 1
            out.append(p)
    return out
