"""A Pygments lexer for the weave notation (``.we``), registered under ``pygments.lexers``.

With glimmer installed, ```weave code blocks in Markdown are highlighted: the
``@pattern_meta@`` block (its GLIMMER object through :class:`GlimmerLexer`), ``~name~``
assignments, ``@name@`` block markers, ``>>>`` headings, verbs between arrows, bare arrows,
``verify|`` prefixes, ``|`` between alternatives, comments, strings and ``{color: ...}`` annotations.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, using
from pygments.token import (
    Comment,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from glimmer.syntax.grammar import TERMINALS
from glimmer.syntax.lexer import GlimmerLexer

__all__ = ["WeaveLexer"]

_NAME = TERMINALS["IDENT"]  # the grammar's own (syntax/common.lark)


class WeaveLexer(RegexLexer):
    """Highlights weave notation: meta block, assignments, blocks, headings and flows."""

    name = "Weave"
    aliases: ClassVar[list[str]] = ["weave", "we"]
    filenames: ClassVar[list[str]] = ["*.we", "*.weave"]
    mimetypes: ClassVar[list[str]] = ["text/x-glimmer-weave"]

    tokens: ClassVar[dict[str, list[object]]] = {
        "root": [
            (r"\s+", Whitespace),
            (
                r"(@pattern_meta@)(\s*)(GLIMMER\s+Pattern\s*:)?([\s\S]*?)(@pattern_meta@)",
                bygroups(
                    Keyword.Namespace,
                    Whitespace,
                    Comment.Special,
                    using(GlimmerLexer),
                    Keyword.Namespace,
                ),
            ),
            (r"//[^\n]*", Comment.Single),
            (r"/\*[\s\S]*?\*/", Comment.Multiline),
            (rf"(~{_NAME}~)(\s*)(=)", bygroups(Name.Variable, Whitespace, Operator)),
            (rf"@{_NAME}@", Keyword.Namespace),
            (r">>>[^\n]*", Generic.Heading),
            (rf">{_NAME}>|<{_NAME}<", Name.Function),
            (r"[<>]", Operator),
            (r"\|", Operator),
            (r'"""[\s\S]*?"""', String.Doc),
            (r'"(?:[^"\\]|\\.)*"', String.Double),
            (r"#(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3,4})\b", Number.Hex),
            (r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", Number),
            (rf"({_NAME})(\s*)(:)", bygroups(Name.Attribute, Whitespace, Punctuation)),
            (rf"{_NAME}\|", Name.Decorator),
            (r"\b(?:true|false|null)\b", Keyword.Constant),
            (_NAME, Name),
            (r"[{}\[\],:]", Punctuation),
            (r".", Text),
        ],
    }
