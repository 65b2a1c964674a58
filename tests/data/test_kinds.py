"""Each built-in builder: category, provenance, wording rules, and valid GLIMMER answers."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

import glimmer
from glimmer.data import (
    application,
    general,
    generation,
    glossary_qa,
    interpretation,
    matrix,
    reflection,
)
from glimmer.data.builder import Builder
from glimmer.starweave import Glossary

BUILDERS: dict[str, Builder] = {
    "generation": generation(n=40),
    "interpretation": interpretation(n=40),
    "application": application(n=40),
    "reflection": reflection(n=40),
    "matrix": matrix(n=40),
    "glossary": glossary_qa(n=40),
    "general": general(n=40),
}
CORE = [c.name for c in Glossary.default().core()]
FENCE = re.compile(r"```(glimmer|json)\n(.*?)\n```", re.S)


@pytest.mark.parametrize("category", list(BUILDERS))
def test_records_carry_category_and_provenance(category: str) -> None:
    recs = BUILDERS[category].records(seed=4)
    assert len(recs) == 40
    for r in recs:
        assert r.category == category
        assert r.template_id.startswith(f"{category}/")
        assert isinstance(r.seed, int)
        roles = [m.role for m in r.messages]
        assert roles[-2:] == ["user", "assistant"]
        assert roles in (["user", "assistant"], ["system", "user", "assistant"])
        assert r.prompt.strip() and r.answer.strip()
        assert "\x00" not in r.prompt + r.answer


@pytest.mark.parametrize("category", list(BUILDERS))
def test_every_generated_glimmer_answer_and_snippet_parses(category: str) -> None:
    """A builder that emits an invalid pattern is a bug: re-parse every pattern it writes."""
    for r in BUILDERS[category].records(seed=8):
        if category == "generation":
            fmt = "json" if r.answer.lstrip().startswith("{") else "glimmer"
            pattern = glimmer.loads(r.answer, format=fmt)
            assert pattern.metadata is not None and pattern.story
            assert glimmer.dumps(pattern, format=fmt) == r.answer + "\n"
        for fmt, body in FENCE.findall(r.prompt + "\n" + r.answer):
            glimmer.loads(body + "\n", format="glimmer" if fmt == "glimmer" else "json")


@pytest.mark.parametrize("category", ["application", "reflection", "matrix", "interpretation"])
def test_answers_use_canonical_concept_names(category: str) -> None:
    recs = BUILDERS[category].records(seed=2)
    with_concepts = [r for r in recs if any(c in r.answer.lower() for c in CORE)]
    assert len(with_concepts) == len(recs)


@pytest.mark.parametrize("category", ["reflection", "matrix"])
def test_self_questions_never_name_the_framework(category: str) -> None:
    for r in BUILDERS[category].records(seed=6):
        prompt = r.prompt.lower()
        assert "starweave" not in prompt and "glimmer" not in prompt
        assert not any(c in prompt for c in CORE)


def test_general_answers_are_plain_and_correct() -> None:
    terms = [t.lower() for t in Glossary.default().terms() if len(t) > 8]
    for r in general(n=200).records(seed=1):
        assert not any(t in r.answer.lower() for t in terms)
        m = re.search(r"(\d+) (plus|\+|minus|-|times|\*|x|×|/|divided by) (\d+)", r.prompt)
        if m and not r.prompt.startswith(("Add", "Subtract", "Multiply")):
            a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
            sums = {"plus": a + b, "+": a + b, "minus": a - b, "-": a - b}
            want = sums.get(op, a // b if op in ("/", "divided by") else a * b)
            assert str(want) in r.answer


def test_glossary_records_name_their_concept() -> None:
    g = Glossary.default()
    for r in glossary_qa(n=60).records(seed=3):
        assert r.source is not None and r.source.startswith("glossary:")
        name = r.source.split(":", 1)[1]
        assert name in g
        assert name in r.answer


def test_generation_formats_can_be_fixed() -> None:
    for r in generation(n=10, format="json").records(seed=1):
        assert r.answer.startswith("{")
    for r in generation(n=10, format="glimmer").records(seed=1):
        assert r.answer.startswith("metadata {")


def test_compact_generation_answers_are_whole_short_patterns() -> None:
    compact = [glimmer.loads(r.answer) for r in generation(n=20, compact_share=1.0).records(seed=2)]
    full = [glimmer.loads(r.answer) for r in generation(n=20, compact_share=0.0).records(seed=2)]
    for p in compact:
        assert p.metadata is not None and p.metadata.harmonics is None
        assert p.story is not None and p.consciousness is not None and p.response is not None
        assert p.recognize is None
    assert all(p.metadata is not None and p.metadata.harmonics for p in full)
    mean = lambda rs: sum(len(r.answer) for r in rs) / len(rs)  # noqa: E731
    short = generation(n=20, compact_share=1.0).records(seed=2)
    long = generation(n=20, compact_share=0.0).records(seed=2)
    assert mean(short) < 0.6 * mean(long)
    mixed = generation(n=200).records(seed=0)
    share = sum("harmonics" not in r.answer for r in mixed) / len(mixed)
    assert 0.35 < share < 0.65  # the default mixes both sizes


def test_interpretation_reads_content_sections_shape(corpus_dir: Path) -> None:
    """Loose real-world shapes: content.sections[] and patterns[] are interpreted too."""
    b = interpretation(n=80, patterns=[corpus_dir / "pluto-v1"], synthetic_share=0.0)
    recs = b.records(seed=0)
    assert all(r.source and r.source.endswith(".json") for r in recs)
    labels = " ".join(r.prompt for r in recs)
    assert "content.sections[" in labels
    assert "patterns[" in labels


def test_interpretation_of_pluto_patterns(corpus_dir: Path) -> None:
    recs = interpretation(
        n=30, patterns=[corpus_dir / "pluto-patterns"], synthetic_share=0.0
    ).records(seed=1)
    assert len(recs) == 30
    assert any("content." in r.prompt for r in recs)


@pytest.mark.parametrize("category", ["application", "reflection", "matrix", "interpretation"])
def test_plain_requests_keep_the_framework_answer(category: str) -> None:
    from dataclasses import replace

    plain = BUILDERS[category]
    asked = replace(plain, plain_request_share=1.0)
    forms = set()
    for seed in range(60):
        a, b = plain.record(seed), asked.record(seed)
        # the same answer, now after a request to drop the framework
        assert b.answer == a.answer and b.category == a.category
        turns = [m for m in b.messages if m.role != "system"]
        assert [m.role for m in turns][-2:] == ["user", "assistant"]
        assert (a.prompt in b.prompt and b.prompt != a.prompt) or len(turns) == 4
        if len(turns) == 4:  # an earlier everyday exchange answered plainly
            assert [m.role for m in turns] == ["user", "assistant", "user", "assistant"]
            assert b.prompt == a.prompt
            forms.add("exchange")
        else:
            forms.add("after" if b.prompt.startswith(a.prompt) else "before")
    assert forms == {"after", "before", "exchange"}


def test_plain_request_share_draws_apart_from_the_records() -> None:
    from dataclasses import replace

    plain = application(n=200)
    some = replace(plain, plain_request_share=0.3)
    recs, asked = plain.records(seed=3), some.records(seed=3)
    changed = sum(a.messages != b.messages for a, b in zip(recs, asked, strict=True))
    assert 0.2 * len(recs) < changed < 0.4 * len(recs)
    assert [r.answer for r in recs] == [r.answer for r in asked]


def test_plain_requests_are_worded_apart_from_the_attacks() -> None:
    """The robustness attacks measure held-out wording: no run of four words is shared."""
    from glimmer.data.kinds import vocab
    from glimmer.evaluate.robustness import bundled_attacks

    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z']+", text.lower())
        return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}

    attack_runs = set().union(*(runs(c) for a in bundled_attacks() for _, c in a.turns))
    requests = vocab()["plain_requests_after"] + vocab()["plain_requests_before"]
    assert len(requests) >= 12
    exchanges = vocab()["plain_exchanges"]
    assert len(exchanges) >= 10
    for request in [*requests, *(turn for pair in exchanges for turn in pair)]:
        assert not runs(request) & attack_runs, request
        assert "{" not in request and "starweave" not in request.lower()
    # the attack's own earlier question is not among them
    attack_questions = {c.lower() for a in bundled_attacks() for _, c in a.turns}
    assert not any(q.lower() in c for q, _ in exchanges for c in attack_questions)


def test_an_earlier_plain_exchange_is_half_the_requests_and_often_a_description() -> None:
    """The form a tuned model held least (an earlier turn answered plainly) is drawn most."""
    from glimmer.data.kinds import vocab, with_plain_request

    described = {q for q, _ in vocab()["plain_exchanges"]}
    turns = [with_plain_request("What is rain?", random.Random(s)) for s in range(400)]
    exchanges = [t for t in turns if len(t) == 3]
    assert 0.4 < len(exchanges) / len(turns) < 0.6
    with_description = [t for t in exchanges if any(q in t[0][1] for q in described)]
    assert 0.35 < len(with_description) / len(exchanges) < 0.65
    assert all(t[-1] == ("user", "What is rain?") for t in exchanges)
