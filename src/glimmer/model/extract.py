"""Find GLIMMER patterns embedded in other files: source headers and Markdown blocks.

GLIMMER authors put a ``@pattern_meta@ ... @pattern_meta@`` header at the top of their Zig,
Rust, shell or Markdown files, sometimes followed by ``~name~ = ...`` assignments and
``@name@`` weave blocks, and write patterns in fenced ```` ```glimmer ```` / ```` ```json ````
blocks in Markdown. :func:`extract` finds every one, reads it, and says on which lines it
sits.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from glimmer.errors import GlimmerError, GlimmerSyntaxError, GlimmerValidationError, Location
from glimmer.model.io import format_for_path, loads, read_text
from glimmer.model.pattern import SEED_SECTIONS, Pattern
from glimmer.syntax.weave import META_MARK

__all__ = ["ExtractedPattern", "extract", "is_embedding_file"]

Kind = Literal["weave", "glimmer", "json"]

_MARK_LINE = re.compile(r"^[ \t]*@pattern_meta@[ \t]*$", re.M)
_SPACE = re.compile(r"\s*")
_ASSIGNMENT = re.compile(r"~[A-Za-z_][A-Za-z0-9_\-]*~\s*=")
_BLOCK_MARK = re.compile(r"@[A-Za-z_][A-Za-z0-9_\-]*@")
_FENCE = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<ticks>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.M)


@dataclass(frozen=True, slots=True)
class ExtractedPattern:
    """A pattern found inside a file.

    Attributes:
        pattern: The pattern, validated.
        line: 1-based line where its text starts.
        end_line: 1-based line where its text ends.
        kind: ``"weave"`` for a ``@pattern_meta@`` header (with any weave that follows it),
            ``"glimmer"`` or ``"json"`` for a fenced Markdown block.
        source: The file (or label) it was found in.
        text: The pattern's text as written.
    """

    pattern: Pattern
    line: int
    end_line: int
    kind: Kind
    source: str | None
    text: str


def is_embedding_file(path: str | os.PathLike[str], /) -> bool:
    """Whether *path* is a file that may embed patterns rather than be one.

    True for a suffix that no pattern format claims (``.zig``, ``.rs``, ``.md``, ...).
    """
    suffix = Path(path).suffix.lower()
    return bool(suffix) and suffix not in format_for_path(path).suffixes


def extract(
    text_or_path: str | os.PathLike[str], /, *, source: str | None = None, strict: bool = False
) -> list[ExtractedPattern]:
    """Every GLIMMER pattern embedded in a text or file, in the order they appear.

    Finds each ``@pattern_meta@ ... @pattern_meta@`` block, together with the
    ``~name~ = ...`` assignments and ``@name@`` blocks right after it, and each fenced
    ```` ```glimmer ```` or ```` ```weave ```` block and each ```` ```json ```` block whose
    object has a GLIMMER section (``metadata``, ``story``, ...). Line numbers in the result
    and in errors are those of the whole file.

    Args:
        text_or_path: A :class:`~pathlib.Path` (or a string naming an existing file and
            holding no new line), or the text itself.
        source: File name for messages (defaults to the path).
        strict: Reject unknown top-level sections.

    Returns:
        The patterns found; empty when there are none.

    Raises:
        GlimmerFileError: The path cannot be read.
        GlimmerSyntaxError: An embedded block does not parse.
        GlimmerValidationError: An embedded block is not a valid pattern.

    Examples:
        >>> found = extract('const x = 1;\\n```glimmer\\nstory: "A seed."\\n```\\n')
        >>> found[0].pattern.story, found[0].line, found[0].kind
        ('A seed.', 3, 'glimmer')
    """
    label: str | None
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str) and "\n" not in text_or_path and _is_file(text_or_path)
    ):
        label = source or str(text_or_path)
        text = read_text(text_or_path)
    elif isinstance(text_or_path, str):
        label, text = source, str(text_or_path)
    else:
        raise TypeError(f"extract() takes a str or a path, not {type(text_or_path).__name__}")
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    lines = _Lines(text)
    found: list[ExtractedPattern] = []
    taken: list[tuple[int, int]] = []
    for start, end in _meta_regions(text):
        found.append(_read(text, start, end, "weave", label, strict, lines))
        taken.append((start, end))
    ends = [b for _, b in taken]
    for start, end, kind in _fenced_blocks(text):
        i = bisect_right(ends, start)  # the first region ending after this block starts
        if i < len(taken) and taken[i][0] < end:
            continue  # a header inside a fence: already read
        item = _read_fenced(text, start, end, kind, label, strict, lines)
        if item is not None:
            found.append(item)
    found.sort(key=lambda p: p.line)
    return found


def _is_file(text: str) -> bool:
    try:
        return len(text) < 4096 and Path(text).is_file()
    except (OSError, ValueError):
        return False


def _meta_regions(text: str) -> list[tuple[int, int]]:
    """Spans of each meta block plus the weave items that follow it."""
    marks = list(_MARK_LINE.finditer(text))
    regions: list[tuple[int, int]] = []
    i = 0
    while i + 1 < len(marks):
        start, end = marks[i].start(), marks[i + 1].end()
        end = _weave_tail(text, end)
        regions.append((start, end))
        i += 2
        while i < len(marks) and marks[i].start() < end:
            i += 1
    if i < len(marks):  # an opening marker without its closing one: let the parser say so
        regions.append((marks[i].start(), len(text)))
    return regions


def _weave_tail(text: str, pos: int) -> int:
    """Extend a region past the assignments and ``@name@`` blocks that follow it.

    Comments between them belong to the region; comments after the last do not (the
    ``//!`` doc comment that opens a Rust or Zig file is the file's, not the pattern's).
    """
    end = at = pos
    while True:
        at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
        if text.startswith("//", at):
            newline = text.find("\n", at)
            at = len(text) if newline == -1 else newline
            continue
        if text.startswith("/*", at):
            close = text.find("*/", at + 2)
            if close == -1:
                return end
            at = close + 2
            continue
        line_end = text.find("\n", at)
        line_end = len(text) if line_end == -1 else line_end
        head = text[at:line_end].strip()
        if _ASSIGNMENT.match(head):
            end = at = line_end
        elif _BLOCK_MARK.fullmatch(head) and head != META_MARK:
            close_mark = re.compile(rf"^[ \t]*{re.escape(head)}[ \t]*$", re.M).search(
                text, line_end
            )
            if close_mark is None:
                return len(text)  # an unclosed block: the parser says where
            end = at = close_mark.end()
        else:
            return end


def _fenced_blocks(text: str) -> list[tuple[int, int, Kind]]:
    out: list[tuple[int, int, Kind]] = []
    fences = list(_FENCE.finditer(text))
    i = 0
    while i < len(fences):
        opener = fences[i]
        ticks = opener["ticks"]
        info = opener["info"].strip().split()
        lang = info[0].lower() if info else ""
        j = i + 1
        while j < len(fences) and not (
            fences[j]["ticks"][0] == ticks[0]
            and len(fences[j]["ticks"]) >= len(ticks)
            and not fences[j]["info"].strip()
        ):
            j += 1
        if j >= len(fences):
            break
        body_start = opener.end() + 1
        body_end = fences[j].start()
        if lang in ("glimmer", "glim", "json", "jsonc", "weave", "we"):
            kind: Kind = (
                "weave"
                if lang in ("weave", "we")
                else "json"
                if lang.startswith("json")
                else "glimmer"
            )
            out.append((body_start, max(body_start, body_end), kind))
        i = j + 1
    return out


class _Lines:
    """1-based line of an offset, by bisection over the offsets where lines start."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect_right(self.starts, pos)


def _shifted(exc: GlimmerError, by: int) -> GlimmerError:
    """The same error with its lines moved down by *by* (a block's place in its file)."""

    def move(loc: Location) -> Location:
        return replace(
            loc,
            line=None if loc.line is None else loc.line + by,
            end_line=None if loc.end_line is None else loc.end_line + by,
        )

    if isinstance(exc, GlimmerValidationError):
        return GlimmerValidationError([replace(p, location=move(p.location)) for p in exc.problems])
    if isinstance(exc, GlimmerSyntaxError):
        return GlimmerSyntaxError(
            exc.message,
            location=move(exc.location),
            hint=exc.hint,
            context=exc.context,
            code=exc.code,
            expected=exc.expected,
        )
    return type(exc)(
        exc.message, location=move(exc.location), hint=exc.hint, context=exc.context, code=exc.code
    )


def _read(
    text: str, start: int, end: int, kind: Kind, label: str | None, strict: bool, lines: _Lines
) -> ExtractedPattern:
    # Blocks start at the start of a line: read the block alone, then move error lines to
    # their place in the file (reading costs the block's length, not the file's).
    first = lines(start)
    try:
        pattern = loads(
            text[start:end],
            format="weave" if kind == "weave" else "glimmer",
            strict=strict,
            source=label,
        )
    except GlimmerError as exc:
        raise _shifted(exc, first - 1) from None
    body = text[start:end].rstrip()
    return ExtractedPattern(pattern, first, lines(start + len(body)), kind, label, body)


def _read_fenced(
    text: str, start: int, end: int, kind: Kind, label: str | None, strict: bool, lines: _Lines
) -> ExtractedPattern | None:
    body = text[start:end]
    if not body.strip():
        return None
    if kind == "json":
        # a JSON block is GLIMMER only if it reads and has a GLIMMER section
        try:
            item = _read(text, start, end, kind, label, strict, lines)
        except GlimmerError:
            return None
        if not set(item.pattern.to_data()) & set(SEED_SECTIONS):
            return None
        return item
    return _read(text, start, end, kind, label, strict, lines)
