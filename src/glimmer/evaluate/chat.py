"""Batched answers to whole conversations (several turns), for the attack and drift suites.

:func:`glimmer.evaluate.generate.generate` answers one user turn per prompt; the robustness
attacks (an earlier plain exchange) and the multi-turn drift conversations need the history
before it. :func:`answer_chats` renders each conversation with the model's chat template and
answers them in left-padded batches of similar length, greedily, cut at the end of the turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    adapter: bool | Sequence[bool] | None = None,
    system: str | Sequence[str | None] | None = None,
    system_role: bool = True,
    max_new_tokens: int | Sequence[int] = 64,
    batch_size: int = 8,
    no_repeat_ngram: int = 0,
    term_lock: Any | None = None,
    stop_when: Callable[[int, str], bool] | None = None,
    carry: Any | None = None,
) -> list[ChatAnswer]:
    """The assistant's next turn for every conversation, in the order given (greedy).

    *max_new_tokens* is one budget or one per conversation, *system* one system prompt or one
    per conversation; *adapter* (one switch, or one per conversation), *no_repeat_ngram*,
    *term_lock*, *stop_when* (conversation index, answer so far) and *carry* (a
    :class:`~glimmer.evaluate.generate.Carry`: the same conversations a turn on reuse the
    last call's cache) are :func:`~glimmer.evaluate.generate.answer_texts`' settings.
    """
    from glimmer.evaluate.generate import answer_texts

    systems = [system] * len(conversations) if system is None or isinstance(system, str) else system
    texts = [
        render_chat(tokenizer, c, system=s, system_role=system_role)
        for c, s in zip(conversations, systems, strict=True)
    ]
    replies = answer_texts(
        model,
        tokenizer,
        texts,
        [max_new_tokens] * len(texts)
        if isinstance(max_new_tokens, int)
        else [int(n) for n in max_new_tokens],
        adapter=adapter,
        batch_size=batch_size,
        no_repeat_ngram=no_repeat_ngram,
        term_lock=term_lock,
        stop_when=stop_when,
        carry=carry,
    )
    return [ChatAnswer(*reply) for reply in replies]
