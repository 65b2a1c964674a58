"""The one error tree of glimmer.

Every error a user can cause is a :class:`GlimmerError`. Stages add subclasses and mix in
the builtin a caller would expect, so ``except ValueError`` keeps working::

    GlimmerError                      root; .code, .location, .hint
    ├── GlimmerSyntaxError            (ValueError) text that does not parse
    ├── GlimmerValidationError        (ValueError) parsed data that is not a valid Pattern
    └── GlimmerFileError              (OSError) a path that cannot be read or written

Messages read like ``demo.glimmer:3:14: expected ':' after key``, followed by the offending
line with a caret under the fault and a hint saying how to fix it. Every code is listed on
the docs page ``docs/errors.md``; a test keeps the two in step.

This module imports nothing from glimmer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "GlimmerError",
    "GlimmerFileError",
    "GlimmerSyntaxError",
    "GlimmerValidationError",
    "Location",
    "Problem",
]

DOCS_URL = "https://glimmer.readthedocs.io/errors/"


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is: a source, a 1-based line and column, and a field path.

    Attributes:
        source: File path or a label such as ``"<string>"``; ``None`` when unknown.
        line: 1-based line, ``None`` when unknown.
        column: 1-based column, ``None`` when unknown.
        end_line: 1-based line where the span ends, if known.
        end_column: 1-based column just past the span's end, if known.
        field_path: Keys and indexes from the document root (model errors).
    """

    source: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    field_path: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        parts = [self.source or "<string>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    @property
    def dotted_path(self) -> str:
        """The field path written as ``metadata.harmonics[0].color``."""
        return format_field_path(self.field_path)


def format_field_path(path: Sequence[str | int]) -> str:
    """Write a field path the way users read it: ``content.sections[1].title``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


@lru_cache(maxsize=4)
def _lines(text: str) -> list[str]:
    # one split per text, however many problems it has (a str caches its own hash)
    return text.splitlines()


def caret_context(text: str, line: int, column: int, end_column: int | None = None) -> str:
    """Return the given 1-based line of *text* with a caret line under *column*."""
    lines = _lines(text)
    if not 1 <= line <= len(lines):
        return ""
    src = lines[line - 1].replace("\t", " ")
    if len(src) > 200:  # keep one line readable even on minified input
        start = max(0, column - 80)
        src = ("..." if start else "") + src[start : start + 160]
        column = column - start + (3 if start else 0)
        end_column = None
    width = 1
    if end_column is not None and end_column > column:
        width = min(end_column - column, max(1, len(src) - column + 1))
    return f"    {src}\n    {' ' * (column - 1)}{'^' * width}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a document; a :class:`GlimmerValidationError` holds several."""

    code: str
    message: str
    location: Location = field(default_factory=Location)
    hint: str | None = None
    context: str = ""

    def format(self) -> str:
        """``file:line:col: message`` plus the caret context and the hint."""
        head = f"{self.location}: {self.message}"
        if self.location.field_path:
            head += f" (at {self.location.dotted_path})"
        body = [head]
        if self.context:
            body.append(self.context)
        if self.hint:
            body.append(f"hint: {self.hint}")
        return "\n".join(body)


class GlimmerError(Exception):
    """Root of every error glimmer raises on bad input.

    Attributes:
        code: Stable identifier such as ``"G101"``; see the error reference.
        message: One line in the user's terms.
        location: Where the problem is (source, line, column, field path).
        hint: How to fix it, when there is something to say.
        context: The offending source line with a caret under the fault.
    """

    code = "G000"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        context: str = "",
        code: str | None = None,
    ) -> None:
        self.message = message
        self.location = location or Location()
        self.hint = hint
        self.context = context
        if code is not None:
            self.code = code
        super().__init__(self._render())

    def _render(self) -> str:
        return Problem(self.code, self.message, self.location, self.hint, self.context).format()

    @property
    def path(self) -> str | None:
        """The file (or source label) the error is in."""
        return self.location.source

    @property
    def line(self) -> int | None:
        """1-based line of the fault, when known."""
        return self.location.line

    @property
    def column(self) -> int | None:
        """1-based column of the fault, when known."""
        return self.location.column

    @property
    def field_path(self) -> tuple[str | int, ...]:
        """Keys and indexes from the document root to the fault."""
        return self.location.field_path

    @property
    def problems(self) -> list[Problem]:
        """Every problem this error stands for (one, except for validation errors)."""
        return [Problem(self.code, self.message, self.location, self.hint, self.context)]


class GlimmerSyntaxError(GlimmerError, ValueError):
    """Text that is not GLIMMER (or JSON, or weave) notation.

    Attributes:
        expected: What the parser would have accepted at the fault, in the user's terms.
    """

    code = "G100"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        context: str = "",
        code: str | None = None,
        expected: Sequence[str] = (),
    ) -> None:
        self.expected = tuple(expected)
        super().__init__(message, location=location, hint=hint, context=context, code=code)


class GlimmerValidationError(GlimmerError, ValueError):
    """Parsed data that is not a valid Pattern; carries every problem found.

    The first problem gives ``message``, ``location`` and ``hint``; ``problems`` lists all.
    """

    code = "G200"

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("GlimmerValidationError needs at least one problem")
        self._problems = list(problems)
        first = self._problems[0]
        super().__init__(
            first.message,
            location=first.location,
            hint=first.hint,
            context=first.context,
            code=first.code,
        )

    def _render(self) -> str:
        text = "\n".join(p.format() for p in self._problems)
        if len(self._problems) > 1:
            text = f"{len(self._problems)} problems:\n{text}"
        return text

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)


class GlimmerFileError(GlimmerError, OSError):
    """A path that does not exist, is a directory, is unreadable or is not UTF-8."""

    code = "G001"
