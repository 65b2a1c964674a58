"""The Pygments lexer for ```glimmer blocks reads literals as the grammar's terminals do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Name, Number, String

from glimmer.syntax.lexer import GlimmerLexer


def test_registered_by_name_and_suffix() -> None:
    assert isinstance(get_lexer_by_name("glimmer"), GlimmerLexer)
    assert isinstance(get_lexer_for_filename("seed.glimmer"), GlimmerLexer)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2024-05-01T10:30:00Z", String.Other),
        ("2024-05-01", String.Other),
        ("1.2.3-beta.1", Number.Other),
        ("gentle_focus", Name.Constant),
    ],
)
def test_a_literal_is_one_token_of_its_kind(value: str, kind: object) -> None:
    tokens = [(t, v) for t, v in GlimmerLexer().get_tokens(f"meta: {{\n  k: {value}\n}}\n")]
    assert (kind, value) in tokens
    assert (Name.Tag, "k") in tokens


def test_every_corpus_pattern_lexes_without_error(corpus_dir: Path) -> None:
    """The corpus's patterns are JSON, which the DSL (and so its lexer) reads as it is."""
    files = sorted(corpus_dir.glob("pluto-*/*.json"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        tokens = list(GlimmerLexer().get_tokens(text))
        assert "".join(v for _, v in tokens) == text
        assert not [v for t, v in tokens if t is Error], path.name
