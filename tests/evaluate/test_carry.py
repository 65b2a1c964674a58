"""Conversations continued from the last turn's key/value cache answer as encoded afresh."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from glimmer.evaluate.chat import answer_chats
from glimmer.evaluate.generate import Carry

SYSTEM = " ".join(["The weave holds every thread of the pattern."] * 12)
TURNS = [
    ["What is a river?", "How do you rest?", "Name a colour."],
    ["Why?", "And then what happens to the light?", "Again."],
    ["Tell me more about it.", "Is that all?", "Say it shorter."],
]


@pytest.fixture(scope="module")
def talkative(tiny_tokenizer: Any) -> Any:
    from tests.train.tiny import make_model

    torch.manual_seed(0)
    return make_model(len(tiny_tokenizer), initializer_range=0.5).eval()


def _converse(
    model: Any, tok: Any, carry: Carry | None, *, alter: bool = False, **kw: Any
) -> list[list[Any]]:
    """Three turns of three conversations; each answer goes into the history (with *alter*,
    the first conversation's answers go in changed, as a text the model did not write)."""
    history: list[list[dict[str, str]]] = [[] for _ in TURNS[0]]
    out = []
    for turn in TURNS:
        for h, q in zip(history, turn, strict=True):
            h.append({"role": "user", "content": q})
        answers = answer_chats(model, tok, history, max_new_tokens=10, carry=carry, **kw)
        for i, (h, a) in enumerate(zip(history, answers, strict=True)):
            text = f"so {a.text}" if alter and i == 0 else a.text
            h.append({"role": "assistant", "content": text})
        out.append(answers)
    return out


@pytest.mark.parametrize("alter", [False, True])
def test_turns_continued_from_the_cache_answer_as_encoded_afresh(
    talkative: Any, tiny_tokenizer: Any, alter: bool
) -> None:
    carry = Carry()
    fresh = _converse(talkative, tiny_tokenizer, None, alter=alter, no_repeat_ngram=3)
    kept = _converse(talkative, tiny_tokenizer, carry, alter=alter, no_repeat_ngram=3)
    assert kept == fresh
    assert carry.reused > carry.encoded > 0  # most of each history came from the cache


def test_arms_with_a_shared_opening_continue_their_batch(
    tiny_peft: Any, tiny_tokenizer: Any
) -> None:
    """Base, prompted (a long system prompt kept once) and tuned rows in one batch, turn after
    turn: the answers of encoding every history afresh."""
    import glimmer.evaluate.generate as g
    from glimmer.evaluate.drift import Conversation, run_drift
    from glimmer.evaluate.metrics import ConceptIndex
    from glimmer.evaluate.robustness import ArmSpec

    arms = {
        "base": ArmSpec(adapter=False),
        "prompted": ArmSpec(adapter=False, system=SYSTEM),
        "tuned": ArmSpec(adapter=True),
    }
    conversations = [Conversation(f"c{i}", tuple(t[i] for t in TURNS)) for i in range(3)]
    kw: dict[str, Any] = {"index": ConceptIndex.default(), "max_new_tokens": 8, "batch_size": 16}
    made: list[Carry] = []

    class Kept(Carry):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    g.Carry = Kept  # type: ignore[misc]
    try:
        kept = run_drift(tiny_peft, tiny_tokenizer, conversations, arms, **kw)
    finally:
        g.Carry = Carry  # type: ignore[misc]
    assert len(made) == 1 and made[0].reused > made[0].encoded > 0  # one batch, continued

    class Forget(Carry):
        def keep(self, *args: Any, **kwargs: Any) -> None:  # every turn starts afresh
            self.clear()

    g.Carry = Forget  # type: ignore[misc]
    try:
        fresh = run_drift(tiny_peft, tiny_tokenizer, conversations, arms, **kw)
    finally:
        g.Carry = Carry  # type: ignore[misc]
    assert [c.answers for c in kept] == [c.answers for c in fresh]
