"""Read and write patterns, in the manner of the standard library's ``json`` and ``tomllib``.

``loads``/``load`` read text or a file into a :class:`Pattern`; ``dumps``/``dump`` write one;
``format_text`` rewrites text in the canonical layout, keeping every comment. The source is
positional-only, options keyword-only.

Formats: ``"glimmer"`` (the DSL, which reads JSON unchanged) and ``"json"`` (strict JSON).
Further notations register a :class:`Format` with :func:`register_format`; a file's format
comes from its suffix, or from sniffing its first bytes.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

from glimmer._fs import read_text as _read_text
from glimmer._fs import write_text as _write_text
from glimmer.errors import (
    FormatError,
    GlimmerError,
    GlimmerSyntaxError,
    Location,
    caret_context,
)
from glimmer.model.convert import pattern_from_data
from glimmer.model.pattern import Pattern
from glimmer.syntax.nodes import Array, Object
from glimmer.syntax.parser import (
    MAX_DEPTH,
    MAX_TEXT_SIZE,
    check_text,
    parse,
    parse_data,
    too_deep,
)
from glimmer.syntax.render import Style, data_to_document, render

__all__ = [
    "Format",
    "dump",
    "dumps",
    "format_for_path",
    "format_text",
    "load",
    "loads",
    "read_text",
    "register_format",
    "write_text",
]

FormatName = Literal["glimmer", "json"] | str


@dataclass(frozen=True)
class Format:
    """A notation glimmer reads and writes.

    Attributes:
        name: What users pass as ``format=``.
        suffixes: File suffixes that select it.
        read: ``(text, source, strict) -> Pattern``.
        write: ``(pattern) -> text``.
        fmt: ``(text, source) -> canonical text`` keeping comments, if the notation has them.
        sniff: ``(text) -> bool``: whether text without a known suffix is in this notation.
    """

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[str, str | None, bool], Pattern]
    write: Callable[[Pattern], str]
    fmt: Callable[[str, str | None], str] | None = None
    sniff: Callable[[str], bool] | None = None


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> None:
    """Make a notation available to ``loads``, ``load``, ``dumps``, ``dump`` and the CLI."""
    _FORMATS[fmt.name] = fmt


def _read_glimmer(text: str, source: str | None, strict: bool) -> Pattern:
    data = parse_data(text, source=source)
    return pattern_from_data(
        data, strict=strict, source=source, document=lambda: parse(text, source=source)
    )


class _JsonFault(Exception):
    """Valid JSON syntax that glimmer refuses: the DSL's reader says where and why."""


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _JsonFault  # a duplicate key, as in the DSL (G105)
    return out


def _json_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise _JsonFault  # 1e400: out of range (G106)
    return value


def _json_constant(name: str) -> Any:
    raise _JsonFault  # NaN, Infinity: not JSON


def _read_json(text: str, source: str | None, strict: bool) -> Pattern:
    check_text(text, source=source)  # the size limit, before any work
    try:
        data = json.loads(
            text,
            object_pairs_hook=_json_object,
            parse_float=_json_float,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        raise GlimmerSyntaxError(
            f"invalid JSON: {exc.msg[:1].lower()}{exc.msg[1:]}",
            location=Location(source, exc.lineno, exc.colno),
            context=caret_context(text, exc.lineno, exc.colno),
            hint="comments, bare names and trailing commas are GLIMMER, not JSON: use format='glimmer'",
            code="G109",
        ) from None
    except (_JsonFault, RecursionError, ValueError):  # ValueError: more than 4,300 digits
        data = _json_fault(text, source)
    if _SURROGATE_ESCAPE(text) or (
        isinstance(data, dict | list)
        and text.count("[") + text.count("{") > MAX_DEPTH
        and too_deep(data)
    ):
        _json_fault(text, source)

    def document() -> Any:
        try:
            return parse(text, source=source)
        except GlimmerError:
            return None

    return pattern_from_data(data, strict=strict, source=source, document=document, text=text)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]").search


def _json_fault(text: str, source: str | None) -> Any:
    """Raise the located error for JSON that parses but is refused (the DSL reader finds it)."""
    doc = parse(text, source=source)  # duplicates, depth, huge numbers, surrogates: located
    for scalar, line, column in _scalars(doc.root):
        if scalar.kind == "ident" and scalar.value in ("NaN", "Infinity"):
            raise GlimmerSyntaxError(
                f"invalid JSON: {scalar.value} is not a JSON value",
                location=Location(source, line, column),
                context=caret_context(text, line, column),
                hint="JSON numbers are finite; write null, or the value as a string",
                code="G109",
            )
    return doc.to_data()


def _scalars(node: Any) -> Any:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Object):
            stack.extend(m.value for m in reversed(n.members))
        elif isinstance(n, Array):
            stack.extend(i.value for i in reversed(n.items))
        else:
            yield n, n.span.line, n.span.column


def _write_glimmer(pattern: Pattern) -> str:
    return render(data_to_document(pattern.to_data()), style="glimmer")


def _write_json(pattern: Pattern) -> str:
    return json.dumps(pattern.to_data(), indent=2, ensure_ascii=False) + "\n"


def _fmt(style: Style) -> Callable[[str, str | None], str]:
    def fmt(text: str, source: str | None) -> str:
        return render(parse(text, source=source), style=style)

    return fmt


register_format(
    Format("glimmer", (".glimmer", ".glim"), _read_glimmer, _write_glimmer, _fmt("glimmer"))
)
register_format(Format("json", (".json",), _read_json, _write_json, _fmt("json")))


@dataclass(frozen=True)
class _Deferred:
    """A format in a module of its own, known here by name only (like sqlglot's dialects).

    This module never imports it: the first use loads *module* by name, and the module
    registers its :class:`Format` with :func:`register_format`.
    """

    module: str
    suffixes: tuple[str, ...]
    opens_with: str  # what its text starts with, to sniff it without loading it


_DEFERRED: dict[str, _Deferred] = {
    "weave": _Deferred("glimmer.model.weave", (".we", ".weave"), "@pattern_meta@"),
}


def _format(name: str) -> Format:
    if name not in _FORMATS and name in _DEFERRED:
        import_module(_DEFERRED[name].module)  # registers the format
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(sorted({*_FORMATS, *_DEFERRED}))
        raise FormatError(f"unknown format {name!r}", hint=f"use one of: {known}") from None


def format_for_path(path: str | os.PathLike[str], text: str | None = None) -> Format:
    """The format a file is in: by suffix, else by sniffing *text*, else the GLIMMER DSL."""
    suffix = Path(path).suffix.lower()
    for fmt in _FORMATS.values():
        if suffix in fmt.suffixes:
            return fmt
    for name, deferred in _DEFERRED.items():
        if suffix in deferred.suffixes:
            return _format(name)
    return _FORMATS["glimmer"] if text is None else _sniff(text)


def _sniff(text: str) -> Format:
    for fmt in _FORMATS.values():
        if fmt.sniff is not None and fmt.sniff(text):
            return fmt
    head = text.lstrip("\ufeff \t\r\n")
    for name, deferred in _DEFERRED.items():
        if head.startswith(deferred.opens_with):
            return _format(name)
    return _FORMATS["glimmer"]


def loads(
    text: str, /, *, format: FormatName = "auto", strict: bool = False, source: str | None = None
) -> Pattern:
    """Read a pattern from text.

    Args:
        text: GLIMMER DSL or JSON (``format="auto"`` also recognises registered notations).
        format: ``"auto"``, ``"glimmer"``, ``"json"`` (strict JSON) or a registered name.
        strict: Reject top-level sections that are not known GLIMMER sections.
        source: File name or label for error messages.

    Returns:
        The validated pattern.

    Raises:
        GlimmerSyntaxError: The text does not parse.
        GlimmerValidationError: It parses but is not a valid pattern.

    Examples:
        >>> loads('metadata { author: ada }').metadata.author
        'ada'
    """
    if not isinstance(text, str):
        raise TypeError(
            f"loads() takes str, not {type(text).__name__}; "
            "use load() for a path, or decode bytes with .decode('utf-8')"
        )
    fmt = _sniff(text) if format == "auto" else _format(format)
    return fmt.read(text, source, strict)


def dumps(pattern: Pattern, /, *, format: FormatName = "glimmer") -> str:
    """Write a pattern as text in *format* (``"glimmer"`` or ``"json"``).

    ``loads(dumps(p)) == p`` holds for every pattern and every format.

    Examples:
        >>> print(dumps(Pattern(story="A seed."), format="json"), end="")
        {
          "story": "A seed."
        }
    """
    if not isinstance(pattern, Pattern):
        raise TypeError(
            f"dumps() takes a Pattern, not {type(pattern).__name__}; build one with glimmer.Pattern(...)"
        )
    return _format(format).write(pattern)


def format_text(text: str, /, *, format: FormatName = "glimmer", source: str | None = None) -> str:
    """Rewrite text in the canonical layout of *format*, keeping every comment.

    Idempotent: ``format_text(format_text(t)) == format_text(t)``. The data does not change.

    Raises:
        GlimmerSyntaxError: The text does not parse.
    """
    fmt = _format(format)
    if fmt.fmt is None:  # pragma: no cover - every built-in format can format
        raise FormatError(f"format {fmt.name!r} has no formatter")
    return fmt.fmt(text, source)


def read_text(path: str | os.PathLike[str], /) -> str:
    """Read a UTF-8 text file; every way it can fail is a :class:`GlimmerFileError`.

    A file larger than any text glimmer reads (4 bytes for each of the
    :data:`~glimmer.syntax.parser.MAX_TEXT_SIZE` characters) is refused before it is read
    whole (G014).
    """
    return _read_text(path, limit=4 * MAX_TEXT_SIZE)


def write_text(path: str | os.PathLike[str], text: str, /, *, overwrite: bool = True) -> Path:
    """Write *text* atomically: to a temporary file beside *path*, then rename over it.

    A reader never sees a half-written file, and a failed write leaves the old one intact.
    The file keeps its permissions, a symbolic link is written through, and anything that is
    not a regular file is refused; see :func:`glimmer._fs.write_bytes`.
    """
    return _write_text(path, text, overwrite=overwrite)


def load(
    path: str | os.PathLike[str], /, *, format: FormatName | None = None, strict: bool = False
) -> Pattern:
    """Read a pattern from a file; the format comes from the suffix unless given.

    Raises:
        GlimmerFileError: The file is missing, a directory, unreadable or not UTF-8.
        GlimmerSyntaxError: It does not parse.
        GlimmerValidationError: It parses but is not a valid pattern.
    """
    text = read_text(path)
    fmt = format_for_path(path, text) if format is None else _format(format)
    if fmt.name == "json" and format is None:
        fmt = _FORMATS["glimmer"]  # a .json file may carry // comments, as real patterns do
    return fmt.read(text, str(path), strict)


def dump(
    pattern: Pattern,
    path: str | os.PathLike[str],
    /,
    *,
    format: FormatName | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a pattern to a file atomically; the format comes from the suffix unless given.

    Raises:
        GlimmerFileError: The file exists and *overwrite* is false (G004), is not a regular
            file (G011), or cannot be written (G010).
    """
    fmt = format_for_path(path) if format is None else _format(format)
    return write_text(path, fmt.write(pattern), overwrite=overwrite)
