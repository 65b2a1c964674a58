"""JSON lines: the one reader of ``.jsonl`` text that every stage's files go through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from glimmer.errors import GlimmerError, Location

__all__ = ["json_lines"]


def json_lines(
    text: str, /, *, source: str, error: type[GlimmerError]
) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of *text*, in order.

    Raises:
        GlimmerError: Of class *error*: a line that is not JSON, with its line and column.

    Examples:
        >>> from glimmer.errors import GlimmerFileError
        >>> list(json_lines('{"a": 1}\\n\\n[2]', source="x.jsonl", error=GlimmerFileError))
        [(1, {'a': 1}), (3, [2])]
        >>> next(json_lines("{oops", source="x.jsonl", error=GlimmerFileError))
        Traceback (most recent call last):
        ...
        glimmer.errors.GlimmerFileError: x.jsonl:1:2: invalid JSON: Expecting property name enclosed in double quotes
        hint: each line of a .jsonl file is one JSON value
    """
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(
                f"invalid JSON: {exc.msg}",
                location=Location(source=source, line=lineno, column=exc.colno),
                hint="each line of a .jsonl file is one JSON value",
            ) from None
        yield lineno, value
