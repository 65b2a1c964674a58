"""Batched answers to whole conversations (several turns), for the attack and drift suites.

:func:`glimmer.evaluate.generate.generate` answers one user turn per prompt; the robustness
attacks (an earlier plain exchange) and the multi-turn drift conversations need the history
before it. :func:`answer_chats` renders each conversation with the model's chat template and
answers them in left-padded batches of similar length, greedily, cut at the end of the turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ChatAnswer", "answer_chats", "render_chat"]

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """One answer to a conversation: its text, whether the turn ended, tokens generated."""

    text: str
    ended: bool
    n_tokens: int


def render_chat(
    tokenizer: Any,
    messages: Sequence[Message],
    /,
    *,
    system: str | None = None,
    system_role: bool = True,
) -> str:
    """The chat template applied to *messages*, ready for the assistant's next turn.

    Without a system role the system prompt is put before the first user message.
    """
    msgs = [dict(m) for m in messages]
    if system and system_role:
        msgs.insert(0, {"role": "system", "content": system})
    elif system:
        first = next(i for i, m in enumerate(msgs) if m["role"] == "user")
        msgs[first] = {"role": "user", "content": f"{system}\n\n{msgs[first]['content']}"}
    return str(tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))


def answer_chats(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    /,
    *,
    adapter: bool | None = None,
    system: str | None = None,
    system_role: bool = True,
    max_new_tokens: int = 64,
    batch_size: int = 8,
) -> list[ChatAnswer]:
    """The assistant's next turn for every conversation, in the order given (greedy)."""
    import torch

    from glimmer.evaluate.generate import adapter_state, stop_token_ids

    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    texts = [
        render_chat(tokenizer, c, system=system, system_role=system_role) for c in conversations
    ]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    results: dict[int, ChatAnswer] = {}
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        with adapter_state(model, adapter), torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                enc = tokenizer(
                    [texts[i] for i in batch],
                    return_tensors="pt",
                    padding=True,
                    add_special_tokens=False,
                ).to(device)
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    eos_token_id=stops,
                    pad_token_id=pad_id,
                    use_cache=True,
                )
                for row, i in zip(out[:, enc["input_ids"].shape[1] :].tolist(), batch, strict=True):
                    cut = next((k for k, t in enumerate(row) if t in stops), None)
                    kept = row if cut is None else row[:cut]
                    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
                    results[i] = ChatAnswer(text, cut is not None, len(kept))
    finally:
        tokenizer.padding_side = old_side
    return [results[i] for i in range(len(texts))]
