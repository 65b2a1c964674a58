"""The one lark bootstrap: both notations' parsers load their grammar through :func:`lalr`.

``glimmer.lark`` (the DSL) and ``weave.lark`` (the ``.we`` notation) live in this package and
share their terminals through ``%import .common``; lark reads all three from the package
(zip-safe) and keeps the analysed tables in its cache file, so a new process builds a parser
in milliseconds. A grammar names every rule it may start from; :func:`lalr` takes the list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from lark import Lark, Token, Transformer
from lark.load_grammar import FromPackageLoader

__all__ = ["TERMINALS", "lalr"]

_SHARED = ("IDENT", "COLOR", "TIMESTAMP", "VERSION", "NUMBER", "STRING", "TRIPLE_STRING")


def _terminals() -> dict[str, str]:
    """The regular expression of each literal terminal of ``common.lark``, by name."""
    text = f"%import common ({', '.join(_SHARED)})\nstart: {' | '.join(_SHARED)}\n"
    parser = Lark(
        text,
        parser="lalr",
        import_paths=[FromPackageLoader("glimmer.syntax", ("",))],
        cache=True,
    )
    return {t.name: t.pattern.to_regexp() for t in parser.terminals}


TERMINALS: Final[Mapping[str, str]] = _terminals()
"""``common.lark``'s literal terminals as regular expressions: the one definition the fast
reader, the scalar writer and the weave nodes compile theirs from.

Examples:
    >>> import re
    >>> bool(re.fullmatch(TERMINALS["COLOR"], "#FF69B4"))
    True
"""


def lalr(
    grammar: str,
    /,
    *,
    transformer: Transformer[Any, Any],
    callbacks: Mapping[str, Callable[[Token], Token]],
    start: Sequence[str] = ("start",),
) -> Lark:
    """An LALR parser (contextual lexer) for *grammar*, a ``.lark`` file of this package.

    Args:
        grammar: The file name (``"glimmer.lark"``).
        transformer: Applied while parsing (no tree is kept).
        callbacks: Lexer callbacks by terminal name.
        start: The rules ``parse(text, start=...)`` may begin at; the first is the default.

    Examples:
        >>> from lark import Transformer
        >>> parser = lalr("weave.lark", transformer=Transformer(), callbacks={},
        ...               start=("start", "flow"))
        >>> parser.parse("seed> weave", start="flow").data
        'flow'
    """
    return Lark.open_from_package(
        "glimmer.syntax",
        grammar,
        ("",),
        parser="lalr",
        lexer="contextual",
        transformer=transformer,
        lexer_callbacks=dict(callbacks),
        maybe_placeholders=False,
        start=list(start),
        cache=True,
    )
