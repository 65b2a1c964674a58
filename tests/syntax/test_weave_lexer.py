"""The Pygments lexer for ```weave blocks."""

from __future__ import annotations

from pathlib import Path

from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Generic, Keyword, Name, Operator

from glimmer.syntax.weave_lexer import WeaveLexer


def test_registered_by_name_and_suffix() -> None:
    assert isinstance(get_lexer_by_name("weave"), WeaveLexer)
    assert isinstance(get_lexer_for_filename("seed.we"), WeaveLexer)


def test_prefixes_and_comments() -> None:
    tokens = list(WeaveLexer().get_tokens("@s@\n  verify| a // note\n  /* b */ c\n@s@\n"))
    kinds = {(t, v) for t, v in tokens}
    assert (Name.Decorator, "verify|") in kinds
    assert (Comment.Single, "// note") in kinds
    assert (Comment.Multiline, "/* b */") in kinds


def test_highlights_every_construct(corpus_dir: Path) -> None:
    text = (corpus_dir / "weave" / "001-STARWEAVE-INIT.we").read_text(encoding="utf-8")
    tokens = list(WeaveLexer().get_tokens(text))
    assert "".join(value for _, value in tokens) == text
    assert not [v for t, v in tokens if t is Error]
    kinds = {(t, v) for t, v in tokens}
    assert (Keyword.Namespace, "@pattern_meta@") in kinds
    assert (Keyword.Namespace, "@story@") in kinds
    assert (Name.Variable, "~story~") in kinds
    assert (Generic.Heading, ">>> Core Concept Seeds") in kinds
    assert (Name.Function, ">define>") in kinds
    assert (Name.Function, "<crystallize<") in kinds
    assert (Operator, "|") in kinds
    comments = [t for t, v in tokens if v.startswith("//")]  # the meta object's, via the DSL lexer
    assert len(comments) == 4
    assert all(t in Comment for t in comments)
