"""Completion-only labels: exactly the assistant replies and their end-of-turn token."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.train.masking import IGNORE_INDEX, tokenize_chat
from glimmer.train.models import prepare_messages, resolve_model
from tests.train.tiny import CHATML, GEMMA, MISTRAL, make_tokenizer

FORMATS = {
    # template, end-of-turn token, preset whose quirks apply
    "chatml": (CHATML, "<|im_end|>", "smollm2-135m"),
    "mistral": (MISTRAL, "</s>", "mistral-7b-instruct-v0.2"),
    "gemma": (GEMMA, "<end_of_turn>", "gemma-7b-it"),
}

CHAT = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is a weave?"},
    {"role": "assistant", "content": "A weave holds every thread."},
    {"role": "user", "content": "And a glimmer?"},
    {"role": "assistant", "content": "A glimmer is a pattern of perception."},
]


def _tokenizer(fmt: str) -> Any:
    template, eot, _ = FORMATS[fmt]
    return make_tokenizer(template, pad=eot if fmt == "chatml" else "<pad>", eos=eot)


def _learned_text(tokenizer: Any, chat: Any) -> list[str]:
    """Decode each run of consecutive labelled tokens."""
    runs: list[list[int]] = []
    previous = False
    for token, label in zip(chat.input_ids, chat.labels, strict=True):
        if label != IGNORE_INDEX:
            if not previous:
                runs.append([])
            runs[-1].append(token)
        previous = label != IGNORE_INDEX
    return [tokenizer.decode(run) for run in runs]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_mask_covers_exactly_the_replies_and_their_end_of_turn(fmt: str) -> None:
    _, eot, preset = FORMATS[fmt]
    tokenizer = _tokenizer(fmt)
    messages = prepare_messages(CHAT, preset=resolve_model(preset))
    chat = tokenize_chat(messages, tokenizer, end_of_turn=eot)
    replies = [m["content"] for m in CHAT if m["role"] == "assistant"]
    assert _learned_text(tokenizer, chat) == [r + eot for r in replies]
    # every end-of-turn after a reply is learned, none after a user turn
    eot_id = tokenizer.convert_tokens_to_ids(eot)
    learned_eots = [t for t, lab in zip(chat.input_ids, chat.labels, strict=True) if lab == eot_id]
    assert len(learned_eots) == len(replies)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_pad_equal_to_end_of_turn_does_not_hide_it(fmt: str) -> None:
    # SmolLM2 pads with <|im_end|>: labels must not depend on the pad token.
    _, eot, preset = FORMATS[fmt]
    tokenizer = make_tokenizer(FORMATS[fmt][0], pad=eot, eos=eot)
    chat = tokenize_chat(prepare_messages(CHAT, preset=resolve_model(preset)), tokenizer)
    eot_id = tokenizer.convert_tokens_to_ids(eot)
    assert eot_id == tokenizer.pad_token_id
    assert chat.labels.count(eot_id) == 2


def test_truncation_keeps_the_start() -> None:
    tokenizer = _tokenizer("chatml")
    full = tokenize_chat(CHAT, tokenizer)
    cut = tokenize_chat(CHAT, tokenizer, max_length=10)
    assert cut.input_ids == full.input_ids[:10]
    assert cut.labels == full.labels[:10]


_TEXT = (
    st.text(alphabet="abcdefghij klmnop.,?!", min_size=1, max_size=30).map(str.strip).filter(bool)
)


@settings(max_examples=25, deadline=None)
@given(
    turns=st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=3),
    fmt=st.sampled_from(list(FORMATS)),
)
def test_learned_tokens_are_the_replies_for_any_conversation(
    turns: list[tuple[str, str]], fmt: str
) -> None:
    eot = FORMATS[fmt][1]
    tokenizer = _TOKENIZERS[fmt]
    messages = []
    for user, reply in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    chat = tokenize_chat(messages, tokenizer, end_of_turn=eot)
    assert "".join(_learned_text(tokenizer, chat)) == "".join(r + eot for _, r in turns)
    assert len(chat.input_ids) == len(chat.labels)


_TOKENIZERS = {fmt: _tokenizer(fmt) for fmt in FORMATS}
