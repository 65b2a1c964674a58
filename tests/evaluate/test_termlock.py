"""The term lock: whatever the model prefers, an answer's compounds are accepted terms."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.evaluate.termlock import TermLock, TermLockProcessor, accepted_terms

# every letter (so any term can be spelled), some longer pieces, and the separators
VOCAB = [
    *string.ascii_lowercase,
    "_",
    "__",
    " ",
    ".",
    "\n",
    "\n  ",
    ' "',
    "meta",
    "flow",
    " flow",
    " meta",
    "_flow",
    " crystal",
    "crystals",
    "s",
    "'s",
]
TERMS = ["meta_flow", "consciousness crystals"]
COMPOUND = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+")
KEY = re.compile(r'(?m)^(?:[ \t]+"?|")$')


def _decode(lock: TermLock, accepted: frozenset[str], scores: list[list[float]]) -> str:
    """Greedy decoding of a fixed score sequence through the lock; the answer's text."""
    prompt = [VOCAB.index(".")]
    ids = list(prompt)
    processor = TermLockProcessor(lock, [accepted], start=len(prompt))
    for row in scores:
        out = processor(torch.tensor([ids]), torch.tensor([row]))
        assert torch.isfinite(out).any(), "the lock left no token"
        ids.append(int(out[0].argmax()))
    return "".join(VOCAB[i] for i in ids[len(prompt) :])


def _outside_keys(text: str) -> list[tuple[str, bool]]:
    """Every compound not in a key position, and whether it runs to the end of the text."""
    found = []
    for m in COMPOUND.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if KEY.fullmatch(text[line_start : m.start()]) and m.start() > line_start:
            continue
        found.append((m.group(0).lower(), m.end() == len(text)))
    return found


@settings(max_examples=300, deadline=None)
@given(
    scores=st.lists(
        st.lists(st.floats(-5, 5), min_size=len(VOCAB), max_size=len(VOCAB)),
        min_size=1,
        max_size=40,
    )
)
def test_every_finished_compound_is_accepted_whatever_the_scores(
    scores: list[list[float]],
) -> None:
    """Law: every compound of the answer outside a key position is an accepted term; the
    last one, still being written, is at least the start of one."""
    lock = TermLock(VOCAB, accepted_terms(TERMS))
    (accepted,) = lock.rows(["."])
    text = _decode(lock, accepted, scores)
    for word, open_end in _outside_keys(text):
        if open_end:
            assert any(a.startswith(word) for a in accepted), (word, text)
        else:
            assert word in accepted, (word, text)


def test_a_model_that_wants_to_coin_a_term_says_a_defined_one() -> None:
    lock = TermLock(VOCAB, accepted_terms(TERMS))
    (accepted,) = lock.rows(["."])
    want = ["meta", "_", "c", "r", "y", "s", "t", "a", "l", " "]  # "meta_crystal "
    scores = [[10.0 if tok == w else 0.0 for tok in VOCAB] for w in want]
    text = _decode(lock, accepted, scores)
    assert text.startswith("meta_")
    assert "meta_crystal" not in text
    assert all(word in accepted for word, end in _outside_keys(text) if not end), text


def test_the_prompts_own_compounds_and_the_keys_of_a_pattern_stay_free() -> None:
    lock = TermLock(VOCAB, accepted_terms(TERMS))
    (mine,) = lock.rows(["Tell me about my_garden."])
    assert "my_garden" in mine and "my_garden" not in lock.terms
    assert lock.allowed(mine, "so my_gard") == [VOCAB.index("e")]
    (plain,) = lock.rows(["."])
    assert lock.allowed(plain, "  focus_ar") == []  # a key on an indented line
    assert lock.banned(plain, "  focus") == []
    assert lock.banned(plain, "the focus") == sorted(VOCAB.index(t) for t in ("_", "__", "_flow"))


def test_plurals_and_spacing_of_a_glossary_term_are_accepted() -> None:
    forms = accepted_terms(["consciousness crystals", "meta-intelligence flow", "story"])
    assert {"consciousness_crystal", "consciousness_crystals", "meta_intelligence_flow"} <= forms
    assert not any("story" in f for f in forms)  # one word is no compound


def test_generation_runs_the_lock_and_keeps_its_answers_clean(
    tiny_model: Any, tiny_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glimmer.evaluate.generate import generate
    from glimmer.evaluate.suites import TriggerPrompt

    calls = []
    original = TermLockProcessor.__call__

    def counting(self: TermLockProcessor, input_ids: Any, scores: Any) -> Any:
        calls.append(input_ids.shape[0])
        return original(self, input_ids, scores)

    monkeypatch.setattr(TermLockProcessor, "__call__", counting)
    lock = TermLock(tiny_tokenizer, ["consciousness_crystals"])
    prompts = [TriggerPrompt("reflection", "How do you rest?", id=f"r{i}") for i in range(3)]
    answers = generate(
        tiny_model,
        prompts,
        tokenizer=tiny_tokenizer,
        max_new_tokens=12,
        batch_size=2,
        progress=False,
        term_lock=lock,
    )
    assert calls and set(calls) <= {1, 2}
    for a in answers:
        for m in COMPOUND.finditer(a.text):
            assert "consciousness_crystals".startswith(m.group(0).lower()), a.text
