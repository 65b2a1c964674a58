"""Document <-> Pattern: validation with errors that point at the source.

pydantic's errors say *which field*; glimmer's say *which line*. When validation fails the
field path of each error is looked up in the parsed :class:`Document`, so the message reads
``demo.glimmer:7:3: '#GG0000' is not a hex colour`` with a caret under the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from glimmer.errors import GlimmerValidationError, Location, Problem, caret_context
from glimmer.model.pattern import Pattern
from glimmer.syntax.diagnostics import did_you_mean
from glimmer.syntax.nodes import Document

__all__ = ["pattern_from_data", "strict_problems"]


def pattern_from_data(
    data: Any,
    /,
    *,
    strict: bool = False,
    source: str | None = None,
    document: Callable[[], Document | None] | None = None,
    text: str | None = None,
) -> Pattern:
    """Validate plain data as a :class:`Pattern`.

    Args:
        data: Parsed data (a dict).
        strict: Reject top-level sections that are not known GLIMMER sections.
        source: File name for messages.
        document: Called only when validation fails, to get the parsed document whose spans
            locate each problem (parsing for spans costs time the happy path does not pay).
        text: The source text, to locate a problem of the whole document (not an object)
            where no document can be parsed.

    Raises:
        GlimmerValidationError: with every problem found, each located in the source.
    """
    problems: list[tuple[str, str, tuple[str | int, ...], str | None]] = []
    if not isinstance(data, dict):
        problems.append(
            ("G201", f"a pattern is an object of sections, not {_kind(data)}", (), None)
        )
    elif strict:
        problems.extend(strict_problems(data))
    pattern: Pattern | None = None
    if not problems or (strict and isinstance(data, dict)):
        try:
            pattern = Pattern.model_validate(data)
        except ValidationError as exc:
            problems.extend(_from_pydantic(exc))
    if not problems:
        assert pattern is not None
        return pattern
    doc = document() if document is not None else None
    located = [_locate(p, doc, source, text) for p in problems]
    located.sort(key=lambda p: (p.location.line or 0, p.location.column or 0))
    raise GlimmerValidationError(located)


def strict_problems(
    data: dict[str, Any],
) -> list[tuple[str, str, tuple[str | int, ...], str | None]]:
    """Problems strict mode finds: top-level keys that are not known sections."""
    out: list[tuple[str, str, tuple[str | int, ...], str | None]] = []
    known = Pattern.KNOWN_SECTIONS
    for key in data:
        if key not in known:
            guess = did_you_mean(key, known)
            hint = (
                f"did you mean {guess!r}?"
                if guess
                else f"known sections: {', '.join(known[:9])}, ..."
            )
            out.append(("G202", f"unknown section {key!r}", (key,), hint))
    return out


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _from_pydantic(
    exc: ValidationError,
) -> list[tuple[str, str, tuple[str | int, ...], str | None]]:
    out: list[tuple[str, str, tuple[str | int, ...], str | None]] = []
    seen: set[tuple[str | int, ...]] = set()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(err["loc"])
        if loc in seen:  # a union reports one failure per member; one message is enough
            continue
        seen.add(loc)
        out.append(("G203", _message(err), loc, _hint(err, loc)))
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # pydantic adds union member names (``Harmonic``, ``function-after[...]``) to the path
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part[:1].isupper() or "[" in part or part in ("str", "list[str]", "dict[str,any]")
        ):
            continue
        out.append(part)
    return tuple(out)


_TYPE_WORDS = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "int_type": "a number",
}


def _message(err: Any) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
        return msg
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, found {_describe(value)}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (int, float)):
        return f"the number {value}"
    text = repr(value)
    return f"the string {text[:40]}"


def _hint(err: Any, loc: tuple[str | int, ...]) -> str | None:
    if err["type"] in ("model_type", "model_attributes_type", "dict_type") and len(loc) == 1:
        return f"write the section as an object: {loc[0]} {{ ... }}"
    if err["type"] == "list_type":
        return "write a list in brackets: [first, second]"
    return None


def _locate(
    problem: tuple[str, str, tuple[str | int, ...], str | None],
    doc: Document | None,
    source: str | None,
    text: str | None = None,
) -> Problem:
    code, message, path, hint = problem
    span = doc.locate(path) if doc is not None and path else None
    if span is None and not path and text is not None:
        # the document itself (a top-level array): point at its first character
        start = len(text) - len(text.lstrip("\ufeff \t\r\n"))
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        return Problem(
            code, message, Location(source, line, column), hint, caret_context(text, line, column)
        )
    if span is None or doc is None:
        return Problem(code, message, Location(source, None, None, field_path=path), hint)
    return Problem(
        code,
        message,
        Location(source, span.line, span.column, span.end_line, span.end_column, field_path=path),
        hint,
        caret_context(
            doc.text,
            span.line,
            span.column,
            span.end_column if span.end_line == span.line else None,
        ),
    )
