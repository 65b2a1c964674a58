"""extract(): patterns embedded in source headers and Markdown blocks, with their lines."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glimmer
from glimmer.errors import (
    GlimmerError,
    GlimmerFileError,
    GlimmerSyntaxError,
    GlimmerValidationError,
)
from glimmer.model.extract import extract, is_embedding_file

HEADER = """@pattern_meta@
GLIMMER Pattern:
{
  "metadata": {
    "timestamp": "2025-06-18 20:48:19",
    "author": "isdood",
    "pattern_version": "1.0.0",
    "color": "#FF69B4"
  },
  "file_info": {
    "path": "./src/neural/resource_management.zig",
    "type": "zig"
  }
}
@pattern_meta@
"""

ZIG = HEADER + '\nconst std = @import("std");\npub fn main() void {}\n'

RUST = HEADER.replace('"zig"', '"rs"') + "\n//! Memory system\nuse std::fmt;\n"


def test_a_zig_header_is_found_with_its_lines() -> None:
    [found] = extract(ZIG, source="mod.zig")
    assert (found.line, found.end_line, found.kind, found.source) == (1, 15, "weave", "mod.zig")
    assert found.pattern.metadata is not None
    assert found.pattern.metadata.author == "isdood"
    assert found.pattern.unknown_sections == ["file_info"]
    assert found.text == HEADER.rstrip()


def test_a_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "memory.rs"
    path.write_text(RUST, encoding="utf-8")
    for arg in (path, str(path)):
        [found] = extract(arg)
        assert found.source == str(path)
        assert found.pattern.to_data()["file_info"]["type"] == "rs"


def test_a_missing_path_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(GlimmerFileError):
        extract(tmp_path / "gone.zig")


def test_weave_after_the_header_belongs_to_it() -> None:
    text = (
        "// leading code\n\n"
        + HEADER
        + '\n~story~ = "Seeds"\n\n@story@\n    memory <crystallize< experience\n@story@\n\nfn main() {}\n'
    )
    [found] = extract(text)
    assert (found.line, found.end_line) == (3, 23)
    assert found.pattern.story == {
        "title": "Seeds",
        "weave": [{"flow": [{"term": "memory"}, "<crystallize<", {"term": "experience"}]}],
    }


def test_markdown_fences(corpus_dir: Path) -> None:
    weave = (corpus_dir / "weave" / "001-STARWEAVE-INIT.we").read_text(encoding="utf-8")
    text = (
        "# Notes\n\n"  # lines 1-2
        "```weave\n" + weave + "```\n\n"  # the weave starts on line 4
        '```json\n{"not": "a pattern"}\n```\n\n'
        '```json\n{"story": "JSON block"} // with a comment\n```\n\n'
        "```glimmer\nmetadata { author: ada }\n```\n\n"
        "```python\nprint('@pattern_meta@')\n```\n"
        "~~~glimmer\nstory: tilde\n~~~\n"
    )
    found = extract(text, source="notes.md")
    lines = text.splitlines()
    assert [(f.kind, f.line) for f in found] == [
        ("weave", 4),
        ("json", lines.index('{"story": "JSON block"} // with a comment') + 1),
        ("glimmer", lines.index("metadata { author: ada }") + 1),
        ("glimmer", lines.index("story: tilde") + 1),
    ]
    assert [lines[f.end_line - 1] for f in found] == [
        "@story@",
        '{"story": "JSON block"} // with a comment',
        "metadata { author: ada }",
        "story: tilde",
    ]
    assert found[0].pattern == glimmer.loads(weave)
    assert found[1].pattern.story == "JSON block"
    assert found[3].pattern.story == "tilde"


def test_errors_carry_the_line_in_the_whole_file() -> None:
    text = "# Doc\n\ntext\n\n```glimmer\nmetadata {\n  color: pink\n}\n```\n"
    with pytest.raises(GlimmerValidationError) as info:
        extract(text, source="doc.md")
    assert (info.value.path, info.value.line, info.value.column) == ("doc.md", 7, 3)
    broken = "code();\n" + HEADER.replace('"type": "zig"', '"type": "zig",,')
    with pytest.raises(GlimmerSyntaxError) as syntax_info:
        extract(broken, source="x.zig")
    assert syntax_info.value.line == 13


def test_an_unclosed_header_is_reported() -> None:
    with pytest.raises(GlimmerSyntaxError) as info:
        extract("x\n@pattern_meta@\n{}\n", source="x.zig")
    assert (info.value.code, info.value.line) == ("G111", 2)


def test_several_headers_and_nothing() -> None:
    assert extract("no patterns here\n") == []
    found = extract(ZIG + "\n" + ZIG)
    assert [f.line for f in found] == [1, ZIG.count("\n") + 2]


def test_strict_mode_reaches_embedded_blocks() -> None:
    with pytest.raises(GlimmerValidationError, match="unknown section 'file_info'"):
        extract(ZIG, strict=True)


@pytest.mark.parametrize(
    ("name", "embedding"),
    [
        ("a.zig", True),
        ("a.rs", True),
        ("README.md", True),
        ("a.we", False),
        ("a.json", False),
        ("a.glimmer", False),
        ("plain", False),
    ],
)
def test_is_embedding_file(name: str, embedding: bool) -> None:
    assert is_embedding_file(name) is embedding


def test_exported() -> None:
    assert glimmer.extract is extract


PIECES = st.sampled_from(
    [
        "@pattern_meta@\n",
        "GLIMMER Pattern:\n",
        "{",
        "}",
        '"metadata": {"color": "pink"}',
        '"story": 1',
        "```glimmer\n",
        "```json\n",
        "```weave\n",
        "```\n",
        "~~~\n",
        "~s~ = 1\n",
        "@story@\n",
        "a >v> b\n",
        "[",
        "]",
        "|",
        "\n",
        "code();\n",
        '"',
        ",",
        "#FF69B4",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(PIECES, max_size=30).map("".join)))
def test_arbitrary_text_extracts_or_raises_a_glimmer_error(text: str) -> None:
    try:
        found = extract(text, source="any.md")
    except GlimmerError as exc:
        found, error = [], exc
    else:
        error = None
    if error is not None:
        assert error.line is None or 1 <= error.line <= text.count("\n") + 1
    for item in found:
        assert 1 <= item.line <= item.end_line <= text.count("\n") + 1
    with contextlib.suppress(GlimmerError):  # anything else fails the test
        glimmer.loads(text, format="weave")


def test_comments_between_weave_items_belong_to_the_header_but_not_after_it() -> None:
    text = (
        HEADER
        + '\n/* an earlier stamp */\n\n~story~ = "Seeds"\n\n//! Memory system\nuse std::fmt;\n'
    )
    [found] = extract(text)
    assert found.pattern.story == "Seeds"
    assert found.text.endswith('~story~ = "Seeds"')
    assert found.end_line == text.splitlines().index('~story~ = "Seeds"') + 1
