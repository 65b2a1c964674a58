"""Hypothesis strategies for GLIMMER data, patterns and DSL text with comments."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

import glimmer
from glimmer.syntax.nodes import Array, Comment, Document, Item, Member, Object
from glimmer.syntax.render import Style, render, to_node

names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
keys = st.one_of(names, st.text(max_size=12))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    names,
    st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True),
    st.from_regex(r"\d\.\d{1,2}\.\d", fullmatch=True),
    st.sampled_from(
        [
            "2025-08-01T14:15:00Z",
            "2025-07-10 16:21:41",
            "2025-02-08",
            "line one\nline two",
            '  "q"\n\tx',
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
colors = st.from_regex(r"#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})", fullmatch=True)
versions = st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 30),) * 3)
timestamps = st.sampled_from(
    ["2025-08-01T14:15:00Z", "2025-07-10 16:21:41", "2025-02-08", "2024-12-31T23:59"]
)
texts = st.text(max_size=30)
string_lists = st.lists(texts, max_size=3)


def _maybe(d: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts holding any subset of *d*'s strategies, plus a few unknown keys."""
    return st.fixed_dictionaries({}, optional=d).flatmap(
        lambda known: st.dictionaries(
            names.filter(lambda k: k not in d), json_values, max_size=2
        ).map(lambda extra: {**extra, **known})
    )


metadata = _maybe(
    {
        "title": texts,
        "author": texts,
        "timestamp": timestamps,
        "pattern_version": versions,
        "version": versions,
        "color": colors,
        "type": names,
        "harmonics": st.dictionaries(
            names,
            st.one_of(
                colors, st.fixed_dictionaries({"color": colors}, optional={"description": texts})
            ),
            max_size=3,
        ),
    }
)
section = _maybe(
    {"description": texts, "color": colors, "directives": string_lists, "triggers": string_lists}
)

pattern_data = _maybe(
    {
        "metadata": metadata,
        "story": st.one_of(texts, string_lists),
        "initialize": section,
        "recognize": section,
        "consciousness": section,
        "processing": section,
        "response": section,
        "when_seeing": section,
        "when_processing": section,
        "content": st.fixed_dictionaries(
            {},
            optional={
                "title": texts,
                "sections": st.lists(
                    st.fixed_dictionaries({"title": texts, "content": json_values}), max_size=2
                ),
            },
        ),
        "patterns": json_values,
        "phases": json_values,
    }
)
patterns = pattern_data.map(glimmer.Pattern.model_validate)

comment_texts = st.one_of(
    st.from_regex(r"// [^\n\r]{0,20}", fullmatch=True),
    st.from_regex(r"/\* [a-z ]{0,12} \*/", fullmatch=True),
)


@st.composite
def documents_with_comments(draw: st.DrawFn) -> tuple[str, list[str]]:
    """DSL text (random style) with comments attached at random places, and those comments."""
    data = draw(pattern_data.filter(bool))
    root = to_node(data)
    assert isinstance(root, Object)
    rng = random.Random(draw(st.integers(0, 2**16)))
    placed: list[str] = []

    def sprinkle(node: Object | Array) -> None:
        entries: list[Member] | list[Item] = (
            node.members if isinstance(node, Object) else node.items
        )
        for entry in entries:
            if rng.random() < 0.3:
                text = draw(comment_texts)
                entry.comments.append(Comment(text))
                placed.append(text)
            if rng.random() < 0.2:
                text = draw(comment_texts)
                entry.trailing = Comment(text)
                placed.append(text)
            if isinstance(entry.value, (Object, Array)):
                sprinkle(entry.value)
        if rng.random() < 0.15:
            text = draw(comment_texts)
            node.dangling.append(Comment(text))
            placed.append(text)

    sprinkle(root)
    style: Style = draw(st.sampled_from(["glimmer", "json"]))
    return render(Document(root=root), style=style), placed
