"""A Pygments lexer for the GLIMMER DSL, registered under the ``pygments.lexers`` entry point.

With glimmer installed, ```glimmer code blocks in Markdown (mkdocs, GitHub-style renderers
that use Pygments) are highlighted: keys, section blocks, comments, strings, text blocks and
the colour, timestamp and version literals.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import Comment, Keyword, Name, Number, Punctuation, String, Text, Whitespace

from glimmer.syntax.grammar import TERMINALS

__all__ = ["GlimmerLexer"]

# the grammar's own terminals (syntax/common.lark), so highlighting reads what the parser reads
_TIMESTAMP = TERMINALS["TIMESTAMP"]
_VERSION = TERMINALS["VERSION"]
_NAME = TERMINALS["IDENT"]


class GlimmerLexer(RegexLexer):
    """Highlights GLIMMER DSL text (and, since the DSL reads it, JSON with comments)."""

    name = "GLIMMER"
    aliases: ClassVar[list[str]] = ["glimmer", "glim"]
    filenames: ClassVar[list[str]] = ["*.glimmer", "*.glim"]
    mimetypes: ClassVar[list[str]] = ["text/x-glimmer"]

    tokens: ClassVar[dict[str, list[object]]] = {
        "comments": [
            (r"//[^\n]*", Comment.Single),
            (r"/\*[\s\S]*?\*/", Comment.Multiline),
        ],
        "root": [
            (r"\s+", Whitespace),
            include("comments"),
            (r'"""[\s\S]*?"""', String.Doc),
            (r'("(?:[^"\\]|\\.)*")(\s*)(:)', bygroups(Name.Tag, Whitespace, Punctuation)),
            (rf"({_NAME})(\s*)(:)", bygroups(Name.Tag, Whitespace, Punctuation)),
            (rf"({_NAME})(\s*)(?=[{{\[])", bygroups(Name.Class, Whitespace)),
            (r'"(?:[^"\\]|\\.)*"', String.Double),
            (r"#(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3,4})\b", Number.Hex),
            (_TIMESTAMP, String.Other),
            (_VERSION, Number.Other),
            (r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", Number),
            (r"\b(?:true|false|null)\b", Keyword.Constant),
            (_NAME, Name.Constant),
            (r"[{}\[\],:]", Punctuation),
            (r".", Text),
        ],
    }
