"""Hypothesis strategies for weave data: terms, links, groups, flows, headings, sections."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

words = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,10}", fullmatch=True)
one_line = st.text(st.characters(blacklist_categories=["Cs"], min_codepoint=0x20), max_size=24)
plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
)
annotations = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(words, st.text(max_size=8)), plain, max_size=3),
    st.builds(lambda c: {"color": c}, st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True)),
)
links = st.one_of(
    st.sampled_from([">", "<"]),
    st.builds(lambda d, v: f"{d}{v}{d}", st.sampled_from([">", "<"]), words),
)


prefixes = st.lists(words, max_size=2)


def _with_annotation(
    node: dict[str, Any], annotation: dict[str, Any] | None, prefix: list[str]
) -> dict[str, Any]:
    if prefix:
        node = {**node, "prefix": prefix}
    return node if annotation is None else {**node, "annotation": annotation}


bare_terms = st.builds(
    lambda w, a, p: _with_annotation({"term": w}, a, p), words, annotations, prefixes
)
quoted_terms = st.builds(
    lambda t, a, p: _with_annotation({"term": t, "quoted": True}, a, p),
    one_line,
    annotations,
    prefixes,
)
terms = st.one_of(bare_terms, quoted_terms)


def _flow(nodes: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> list[Any]:
        chain = draw(st.lists(nodes, min_size=1, max_size=4))
        out: list[Any] = [chain[0]]
        for node in chain[1:]:
            out += [draw(links), node]
        return out

    return build()


nodes = st.recursive(
    terms,
    lambda inner: st.builds(
        lambda alts, a, p: _with_annotation({"any": alts}, a, p),
        st.lists(_flow(inner), min_size=1, max_size=3),
        annotations,
        prefixes,
    ),
    max_leaves=10,
)
flows = _flow(nodes)
headings = one_line.map(str.strip)
entries = st.one_of(headings.map(lambda h: {"heading": h}), flows.map(lambda f: {"flow": f}))
weave_sections = st.builds(
    lambda title, entries: entries if title is None else {**entries, "title": title[0]},
    st.one_of(st.none(), st.tuples(plain)),
    st.lists(entries, max_size=5).map(lambda e: {"weave": e}),
)
section_names = words.filter(lambda w: w != "pattern_meta")
weave_data = st.dictionaries(
    section_names,
    st.one_of(weave_sections, plain),
    max_size=4,
)
