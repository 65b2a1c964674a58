"""Completion-only labels for any chat template: only assistant replies are learned.

trl's ``assistant_only_loss`` needs ``{% generation %}`` markers in the chat template, which
most templates (SmolLM2's, Mistral's, Gemma's) lack. glimmer finds the assistant spans
itself: for each assistant turn it renders the conversation up to the turn (with the
generation prompt) and up to the end of the turn; the difference is the reply. The span is
trimmed to end just after the end-of-turn token, so the model learns to stop, and no
trailing newline or next-turn header is learned. Character spans become token masks
through the tokenizer's offset mapping.

The mask never depends on the pad token: SmolLM2 pads with ``<|im_end|>``, its end-of-turn
token, and a collator that masks pad ids would never teach the model to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from glimmer.errors import ChatTemplateError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "END_OF_TURN_TOKENS",
    "IGNORE_INDEX",
    "TokenizedChat",
    "assistant_spans",
    "end_of_turn_token",
    "prompt_ids",
    "tokenize_chat",
]

#: The tokens that close an assistant turn in the chat templates glimmer knows (ChatML,
#: Gemma, Llama 3, Phi-3), in the order they are tried; the one table of them.
END_OF_TURN_TOKENS: Final[tuple[str, ...]] = (
    "<|im_end|>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<|end|>",
)

IGNORE_INDEX = -100


@dataclass(frozen=True, slots=True)
class TokenizedChat:
    """One conversation as token ids, with labels only on assistant tokens.

    Attributes:
        text: The conversation rendered with the chat template.
        input_ids: Token ids of ``text``.
        labels: ``input_ids`` where the token belongs to an assistant reply (or its
            end-of-turn token), ``-100`` elsewhere.
        spans: Character spans ``(start, end)`` of the assistant replies in ``text``.
    """

    text: str
    input_ids: list[int]
    labels: list[int]
    spans: tuple[tuple[int, int], ...]


def end_of_turn_token(tokenizer: PreTrainedTokenizerBase, /, hint: str | None = None) -> str | None:
    """The token that closes an assistant turn: the preset's, else the tokenizer's EOS."""
    vocab = tokenizer.get_vocab()
    for candidate in (hint, *END_OF_TURN_TOKENS):
        if candidate and candidate in vocab:
            return candidate
    eos = tokenizer.eos_token
    return eos if isinstance(eos, str) else None


def _render(tokenizer: Any, messages: Sequence[dict[str, str]], *, generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=generation_prompt
    )
    return str(text)


def assistant_spans(
    messages: Sequence[dict[str, str]],
    /,
    tokenizer: PreTrainedTokenizerBase,
    *,
    end_of_turn: str | None = None,
) -> tuple[str, list[tuple[int, int]]]:
    """Render a conversation and find the character span of each assistant reply.

    Args:
        messages: ``[{"role": ..., "content": ...}, ...]``, already adapted to the template.
        tokenizer: A tokenizer with a chat template.
        end_of_turn: The token closing an assistant turn (``"<|im_end|>"``); each span
            ends right after it.

    Returns:
        ``(text, spans)``: the whole conversation and one ``(start, end)`` per assistant turn.

    Raises:
        GlimmerError: The template renders an assistant reply somewhere it cannot be found.
    """
    full = _render(tokenizer, messages, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        content = message["content"]
        if upto.startswith(before) and full.startswith(upto):
            start, end = len(before), len(upto)
            # some templates strip or reformat: start at the reply itself when it is there
            found = full.find(content.strip()[:32], start, end) if content.strip() else -1
            if found > start and not full[start:found].strip():
                start = found
        else:  # a template that renders history differently: find the reply text itself
            start = full.find(content.strip(), cursor)
            if start < 0:
                raise ChatTemplateError(
                    "could not find an assistant reply in the rendered chat template",
                    hint="use a model whose chat template keeps replies verbatim",
                )
            end = start + len(content.strip())
            after = full[end:]
            if end_of_turn and after.lstrip().startswith(end_of_turn):
                end += len(after) - len(after.lstrip()) + len(end_of_turn)
        if end_of_turn:
            last = full.rfind(end_of_turn, start, end)
            if last >= 0:
                end = last + len(end_of_turn)
        else:
            end = start + len(full[start:end].rstrip())
        spans.append((start, end))
        cursor = end
    return full, spans


def tokenize_chat(
    messages: Sequence[dict[str, str]],
    /,
    tokenizer: PreTrainedTokenizerBase,
    *,
    end_of_turn: str | None = None,
    max_length: int | None = None,
) -> TokenizedChat:
    """Tokenize a conversation with labels only on assistant replies and their end-of-turn.

    Args:
        messages: The conversation, adapted to the template's quirks.
        tokenizer: A fast tokenizer with a chat template.
        end_of_turn: The end-of-turn token (default: found from the tokenizer).
        max_length: Truncate to this many tokens (keeping the start).

    Returns:
        The :class:`TokenizedChat`.
    """
    eot = end_of_turn or end_of_turn_token(tokenizer)
    text, spans = assistant_spans(messages, tokenizer, end_of_turn=eot)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    offsets: list[tuple[int, int]] = [tuple(o) for o in enc["offset_mapping"]]
    labels = [IGNORE_INDEX] * len(ids)
    for k, (tok_start, tok_end) in enumerate(offsets):
        if tok_end <= tok_start:
            continue
        for start, end in spans:
            if start <= tok_start < end:
                labels[k] = ids[k]
                break
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return TokenizedChat(text=text, input_ids=ids, labels=labels, spans=tuple(spans))


def prompt_ids(tokenizer: Any, user: str, system: str | None, system_role: bool) -> list[int]:
    """The token ids of one user turn (after *system*, folded into it without a system role),
    ready for the assistant to answer."""
    messages: list[dict[str, str]] = []
    if system and system_role:
        messages.append({"role": "system", "content": system})
    elif system:
        user = f"{system}\n\n{user}"
    messages.append({"role": "user", "content": user})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(str(text), add_special_tokens=False)["input_ids"])
