"""Greedy decoding that drops the rows which have finished.

``model.generate`` keeps every row of a batch in every step until the last row ends: a row
that wrote its end-of-turn token at step 12 of 256 still runs through the model for the
other 244, and its pad tokens cost as much as any row's tokens. In the demo's comparison a
third of the row-steps are such rows (answers to everyday questions end within a few dozen
tokens, patterns run to the budget). :func:`greedy` decodes as ``generate`` does with
``do_sample=False`` and leaves the finished rows out of the model's product once enough of
them have finished, selecting the rows still writing from the key/value cache; the logits
processors and the stop test still see the whole batch (a finished row's pad tokens
included, as under ``generate``), so per-row state they keep stays in step.

The answers are ``generate``'s: the same tokens where the matrix products give each row the
same sums whatever the batch. On the CPUs measured (MKL) they do for a batch of 4, 8, or 12
rows and more, not for 1-3, 5-7, 9-11, so a batch smaller than 12 is kept at a multiple
of 4, the rest of it rows that have finished.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Final

import torch

__all__ = ["greedy", "plain_greedy"]

#: Generation-config settings that add logits processors or stop tests to greedy decoding
#: in ``generate``; a model with any of them set decodes through ``generate``
_PROCESSING: Final = (
    ("repetition_penalty", 1.0),
    ("encoder_repetition_penalty", 1.0),
    ("no_repeat_ngram_size", 0),
    ("encoder_no_repeat_ngram_size", 0),
    ("bad_words_ids", None),
    ("min_length", 0),
    ("min_new_tokens", None),
    ("forced_bos_token_id", None),
    ("forced_eos_token_id", None),
    ("suppress_tokens", None),
    ("begin_suppress_tokens", None),
    ("sequence_bias", None),
    ("exponential_decay_length_penalty", None),
    ("renormalize_logits", False),
    ("watermarking_config", None),
    ("stop_strings", None),
    ("max_time", None),
)

#: Fewest finished rows (and share of the batch) worth a selection of the cache
_PRUNE_ROWS: Final = 4
_PRUNE_SHARE: Final = 0.25
#: Batches below this many rows keep a multiple of 4 (see the module's notes)
_EXACT_ROWS: Final = 12


def plain_greedy(model: Any, cache: Any | None, /) -> bool:
    """Whether :func:`greedy` decodes *model* with *cache* as ``generate`` would: a cache
    given (one the rows can be selected from), a forward that takes ``logits_to_keep`` and
    no generation-config setting that adds processing to greedy decoding."""
    if cache is None or not hasattr(cache, "batch_select_indices"):
        return False
    config = getattr(model, "generation_config", None)
    for key, plain in _PROCESSING:
        value = getattr(config, key, plain)
        if value is not None and value != plain and value != []:
            return False
    return "logits_to_keep" in _forward_parameters(model)


def greedy(
    model: Any,
    inputs: dict[str, torch.Tensor],
    cache: Any,
    /,
    *,
    max_new_tokens: int,
    stops: Sequence[int],
    pad_token_id: int,
    processors: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = (),
    stopping: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    route: Callable[[list[int]], tuple[contextlib.AbstractContextManager[Any], dict[str, Any]]]
    | None = None,
) -> torch.Tensor:
    """Greedy continuations of *inputs* (left-padded ``input_ids``/``attention_mask``), the
    prompt and the new tokens per row, as ``model.generate(do_sample=False)`` returns them.

    Args:
        model: A causal LM (a ``peft`` model too).
        inputs: The batch; where *cache* already holds an opening, its first positions.
        cache: The key/value cache to fill (a :func:`~glimmer.evaluate.kvcache.roomy_cache`).
        max_new_tokens: The budget.
        stops: Token ids that end a row.
        pad_token_id: What a finished row gets after its end.
        processors: Logits processors, called with the whole batch's ids and scores.
        stopping: A stop test over the whole batch (a ``StoppingCriteria``): one flag a row.
        route: Given the batch's rows that go through the model, the context to run them in
            and extra forward arguments (an adapter state per row); ``None``: the model as is.

    Returns:
        ``[rows, prompt + new tokens]`` ids, finished rows padded with *pad_token_id*.

    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from glimmer.evaluate.kvcache import roomy_cache
    >>> _ = torch.manual_seed(0)
    >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16,
    ...     intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...     num_key_value_heads=1, initializer_range=0.5)).eval()
    >>> batch = {"input_ids": torch.tensor([[0, 5, 6], [7, 8, 9]]),
    ...          "attention_mask": torch.tensor([[0, 1, 1], [1, 1, 1]])}
    >>> settings = {"max_new_tokens": 8, "pad_token_id": 0}
    >>> plain = model.generate(**batch, do_sample=False, eos_token_id=[3], **settings)
    >>> mine = greedy(model, batch, roomy_cache(model, 3 + 8), stops=[3], **settings)
    >>> torch.equal(mine, plain)
    True
    """
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    rows_n, device = ids.shape[0], ids.device
    past = int(cache.get_seq_length())
    positions = (mask.long().cumsum(-1) - 1).masked_fill_(mask == 0, 0)
    step_ids, step_pos = ids[:, past:], positions[:, past:]
    names = _forward_parameters(model)
    cache_key = "cache" if "cache" in names else "past_key_values"
    stop_ids = torch.tensor(list(stops), device=device)
    unfinished = torch.ones(rows_n, dtype=torch.bool, device=device)
    rows = list(range(rows_n))  # the batch's rows that go through the model
    picked: torch.Tensor | None = None  # the same as a tensor, once some have left
    with contextlib.ExitStack() as routed:
        extra = _enter(routed, route, rows)
        for step in range(max_new_tokens):
            out = model(
                input_ids=step_ids if picked is None else step_ids[picked],
                attention_mask=mask if picked is None else mask[picked],
                position_ids=step_pos if picked is None else step_pos[picked],
                use_cache=True,
                logits_to_keep=1,
                **{cache_key: cache},
                **extra,
            )
            logits = out.logits[:, -1, :].to(dtype=torch.float32)
            del out
            if picked is None:
                scores = logits
            else:  # finished rows are not in the product: their scores are never used
                scores = logits.new_zeros((rows_n, logits.shape[-1]))
                scores[picked] = logits
            for processor in processors:
                scores = processor(ids, scores)
            chosen = scores.argmax(dim=-1)
            chosen = torch.where(unfinished, chosen, torch.full_like(chosen, pad_token_id))
            ids = torch.cat([ids, chosen[:, None]], dim=1)
            unfinished &= ~torch.isin(chosen, stop_ids)
            if stopping is not None:
                unfinished &= ~stopping(ids, scores).to(device)
            if not bool(unfinished.any()) or step + 1 == max_new_tokens:
                break
            mask = torch.cat([mask, mask.new_ones((rows_n, 1))], dim=1)
            step_ids = chosen[:, None]
            step_pos = step_pos[:, -1:] + 1
            keep = _kept(rows, unfinished.tolist(), max_new_tokens - step - 1)
            if keep is not None:
                at = {r: k for k, r in enumerate(rows)}
                cache.batch_select_indices(torch.tensor([at[r] for r in keep], device=device))
                rows = keep
                picked = torch.tensor(rows, device=device)
                routed.close()
                extra = _enter(routed, route, rows)
    return ids


def _kept(rows: list[int], unfinished: list[bool], left: int) -> list[int] | None:
    """The rows to keep in the product from here, or ``None`` to keep them all: the rows
    still writing, and finished ones to make a batch under :data:`_EXACT_ROWS` a multiple
    of 4; only where that drops enough rows to pay for selecting them from the cache."""
    live = [r for r in rows if unfinished[r]]
    want = len(live)
    if want < _EXACT_ROWS:
        want = min(len(rows), -(-want // 4) * 4)
    dropped = len(rows) - want
    if left < 2 or dropped < max(_PRUNE_ROWS, _PRUNE_SHARE * len(rows)):
        return None
    spare = [r for r in rows if not unfinished[r]][: want - len(live)]
    return sorted(live + spare)


def _enter(
    stack: contextlib.ExitStack,
    route: Callable[[list[int]], tuple[contextlib.AbstractContextManager[Any], dict[str, Any]]]
    | None,
    rows: list[int],
) -> dict[str, Any]:
    if route is None:
        return {}
    context, extra = route(rows)
    stack.enter_context(context)
    return extra


def _forward_parameters(model: Any) -> set[str]:
    """The parameter names of the causal LM's own forward (under a peft wrapper)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return set(inspect.signature(inner.forward).parameters)
    except (TypeError, ValueError):
        return set()
