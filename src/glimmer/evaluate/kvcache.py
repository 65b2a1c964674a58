"""Key/value caches for batched answers: room set aside, and one copy of a shared opening.

transformers' default cache (``DynamicCache``) concatenates each layer's whole cache with the
new token's keys and values at every step: a copy of the entire cache per token, which on a
CPU costs as much as the attention that reads it once (a quarter of a decoding step of
SmolLM2-135M at 64 rows and 200 positions). :func:`roomy_cache` gives ``generate`` a cache
whose layers hold room for the prompt and the whole answer budget from the start and hand
attention a view of the filled part.

The prompted arm's rows all open with the same system prompt (a whole pattern, hundreds of
tokens). With *prefix*, the cache keeps that opening once, not once per row, and inside
:func:`attending` every row's queries read it in one product (the rest of each row as
usual, the two parts joined in one softmax): a 64-row batch reads the opening's keys and
values once a step instead of 64 times, and holds one copy of them. The answers are those
of the plain cache up to float rounding.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from typing import Any

import torch

__all__ = ["attending", "roomy_cache"]


@cache
def _layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    base: Any = DynamicLayer  # untyped in transformers

    class RoomyLayer(base):  # type: ignore[misc]
        """A ``DynamicLayer`` whose keys and values are views of buffers with room to grow."""

        def __init__(self, room: int) -> None:
            super().__init__()
            self.room = room
            #: An opening every row shares, kept once (batch 1), before the rows' own tokens
            self.shared: tuple[torch.Tensor, torch.Tensor] | None = None

        def get_seq_length(self) -> int:
            opening = 0 if self.shared is None else self.shared[0].shape[-2]
            return opening + (self.keys.shape[-2] if self.is_initialized else 0)

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            self.device = key_states.device
            self._keys = key_states.new_empty(
                (*key_states.shape[:2], self.room, key_states.shape[-1])
            )
            self._values = value_states.new_empty(
                (*value_states.shape[:2], self.room, value_states.shape[-1])
            )
            self.keys, self.values = self._keys[:, :, :0], self._values[:, :, :0]
            self.is_initialized = True

        def fill(self, keys: torch.Tensor, values: torch.Tensor, rows: int) -> None:
            """Start with *keys*/*values* (batch 1) in each of *rows* rows."""
            self.lazy_initialization(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1))
            self.update(keys, values)  # broadcast into every row

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n, m = self.keys.shape[-2], key_states.shape[-2]
            if n + m > self._keys.shape[-2]:  # more than the room set aside: double it
                self._keys = self._grown(self._keys, n, n + m)
                self._values = self._grown(self._values, n, n + m)
            self._keys[:, :, n : n + m].copy_(key_states)
            self._values[:, :, n : n + m].copy_(value_states)
            self.keys, self.values = self._keys[:, :, : n + m], self._values[:, :, : n + m]
            return self.keys, self.values

        # transformers' own versions replace ``keys``/``values`` with new tensors, which the
        # next ``update`` would overwrite with views of the old buffers: beam search and
        # contrastive search reorder, repeat and select rows through these three
        def reorder_cache(self, beam_idx: torch.Tensor) -> None:
            self._rows(lambda t: t.index_select(0, beam_idx.to(t.device)))

        def batch_repeat_interleave(self, repeats: int) -> None:
            self._rows(lambda t: t.repeat_interleave(repeats, dim=0))

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            self._rows(lambda t: t[indices, ...])

        def _rows(self, op: Any) -> None:
            """Apply *op* to the rows of both buffers; keep the filled part as the views."""
            if not self.is_initialized:
                return
            n = self.keys.shape[-2]
            self._keys, self._values = op(self._keys), op(self._values)
            self.keys, self.values = self._keys[:, :, :n], self._values[:, :, :n]

        @staticmethod
        def _grown(buffer: torch.Tensor, used: int, need: int) -> torch.Tensor:
            room = max(2 * buffer.shape[-2], need)
            bigger = buffer.new_empty((*buffer.shape[:2], room, buffer.shape[-1]))
            bigger[:, :, :used].copy_(buffer[:, :, :used])
            return bigger

    return RoomyLayer


def roomy_cache(
    model: Any, room: int, /, *, prefix: Any | None = None, rows: int = 1
) -> Any | None:
    """A cache for ``model.generate`` with *room* positions a row set aside.

    *prefix* (a batch-1 cache of an opening every row shares) is kept once where the model
    attends with ``sdpa`` (generate inside :func:`attending`), else copied into each of
    *rows* rows. ``None`` where the model's cache is not one plain full-attention layer per
    block (sliding windows, linear attention): there transformers' own cache is the right one.

    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> _ = torch.manual_seed(0)
    >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16,
    ...     intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...     num_key_value_heads=1)).eval()
    >>> ids = torch.tensor([[1, 2, 3, 4]])
    >>> settings = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
    >>> plain = model.generate(ids, **settings)
    >>> kv = roomy_cache(model, 4 + 6)  # the prompt and the budget
    >>> torch.equal(model.generate(ids, past_key_values=kv, **settings), plain)
    True
    >>> kv.get_seq_length()  # the last token is never fed back
    9
    """
    from transformers.cache_utils import DynamicCache, DynamicLayer

    config = getattr(model, "config", None)
    if config is None:
        return None
    try:
        probe = DynamicCache(config=config)
        blocks = int(config.get_text_config(decoder=True).num_hidden_layers)
    except (AttributeError, TypeError, ValueError):
        return None
    if probe.layers and any(type(layer) is not DynamicLayer for layer in probe.layers):
        return None
    if prefix is not None and len(prefix.layers) != blocks:
        return None
    layer = _layer_class()
    layers: list[Any] = [layer(room) for _ in range(blocks)]
    out = DynamicCache(config=config)
    out.layers = layers
    out.layer_class_to_replicate = None
    if prefix is not None:
        once = getattr(config, "_attn_implementation", None) == "sdpa"
        for mine, theirs in zip(layers, prefix.layers, strict=True):
            if once:
                mine.shared = (theirs.keys, theirs.values)
            else:
                mine.fill(theirs.keys, theirs.values, rows)
    return out


#: The shared openings of the cache generating in this thread/context (``None``: none)
_ACTIVE: ContextVar[list[Any] | None] = ContextVar("glimmer_shared_opening", default=None)
_INSTALL = threading.Lock()
_installed: list[Any] = []  # [transformers' own sdpa function, users] while installed


@contextlib.contextmanager
def attending(kv: Any | None, /) -> Iterator[None]:
    """Generate with *kv* (a :func:`roomy_cache`) inside this: its shared opening is read once
    a decoding step for all rows (a prompt's own tokens, once a batch, attend over whole rows
    through sdpa). Nothing changes for any other cache, or for generation in other threads.

    Raises:
        RuntimeError: The model never attended through transformers' ``sdpa`` entry, so its
            rows would have missed the opening (a model with attention of its own).
    """
    shared = [getattr(layer, "shared", None) for layer in getattr(kv, "layers", [])]
    if not any(s is not None for s in shared):
        yield
        return
    reads = [0]
    token = _ACTIVE.set([shared, reads])
    _install()
    try:
        yield
    finally:
        _uninstall()
        _ACTIVE.reset(token)
    if not reads[0]:
        raise RuntimeError(
            "the model did not attend through transformers' sdpa function, so a shared "
            "opening kept once was not read: use a model with sdpa attention"
        )


def _install() -> None:
    """Put :func:`_attend` in transformers' ``sdpa`` slot (once, however many users)."""
    from transformers.modeling_utils import AttentionInterface

    with _INSTALL:
        if not _installed:
            mapping = AttentionInterface._global_mapping
            _installed[:] = [mapping["sdpa"], 0]
            mapping["sdpa"] = _attend
        _installed[1] += 1


def _uninstall() -> None:
    from transformers.modeling_utils import AttentionInterface

    with _INSTALL:
        _installed[1] -= 1
        if not _installed[1]:
            AttentionInterface._global_mapping["sdpa"] = _installed[0]
            _installed.clear()


def _attend(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa attention, reading this context's shared opening where it has one."""
    plain: Any = _installed[0]
    active = _ACTIVE.get()
    opening = None if active is None else active[0][module.layer_idx]
    if opening is not None:
        active[1][0] += 1  # type: ignore[index]
    if opening is not None and query.shape[2] > 1:
        # a prompt's own tokens (once a batch): sdpa's fused kernel over whole rows
        rows, p, n = query.shape[0], opening[0].shape[2], key.shape[2]
        key = torch.cat([opening[0].expand(rows, -1, -1, -1), key], dim=2)
        value = torch.cat([opening[1].expand(rows, -1, -1, -1), value], dim=2)
        if attention_mask is None:
            q = query.shape[2]
            attention_mask = torch.ones(q, p + n, dtype=torch.bool, device=query.device)
            attention_mask = attention_mask.tril(p + n - q)[None, None]
        opening = None
    if opening is None:
        return plain(module, query, key, value, attention_mask, dropout, scaling, **kwargs)  # type: ignore[no-any-return]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return _with_opening(query, key, value, attention_mask, scale, *opening), None


def _with_opening(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    opening_keys: torch.Tensor,
    opening_values: torch.Tensor,
) -> torch.Tensor:
    """Attention of *query* ``[rows, heads, q, d]`` over a shared opening (``[1, kv heads,
    p, d]``, seen by every query) then each row's own *key*/*value* ``[rows, kv heads, n, d]``;
    *mask* covers ``p + n`` positions (bool: attend, or additive; ``None``: causal).
    Returns ``[rows, q, heads, d]``, as transformers' attention functions do."""
    rows, heads, q, d = query.shape
    kv_heads, p = opening_keys.shape[1], opening_keys.shape[2]
    n = key.shape[2]
    group = heads // kv_heads  # query head h reads key/value head h // group
    grouped = query.reshape(rows, kv_heads, group * q, d)
    flat = grouped.transpose(0, 1).reshape(kv_heads, rows * group * q, d)
    s_open = torch.bmm(flat, opening_keys[0].transpose(1, 2)).mul_(scale)
    s_open = s_open.view(kv_heads, rows, group * q, p).transpose(0, 1)
    s_own = torch.matmul(grouped, key.transpose(-1, -2)).mul_(scale)  # [rows, kv, group*q, n]
    if mask is None:  # causal among the own tokens: query i is position n - q + i
        mask = torch.ones(q, p + n, dtype=torch.bool, device=query.device).tril(p + n - q)
    s_open = _masked(s_open, mask[..., :p], rows, group)  # rows without the opening mask it
    s_own = _masked(s_own, mask[..., p:], rows, group)
    top = torch.maximum(s_open.amax(-1, keepdim=True), s_own.amax(-1, keepdim=True))
    top = top.nan_to_num(neginf=0.0)  # a query that sees nothing (padding) gets zeros
    e_open = (s_open - top).exp_()
    e_own = (s_own - top).exp_()
    total = e_open.sum(-1, keepdim=True) + e_own.sum(-1, keepdim=True)
    total = total.clamp_min_(torch.finfo(total.dtype).tiny)
    weights = e_open.transpose(0, 1).reshape(kv_heads, rows * group * q, p)
    out = torch.bmm(weights, opening_values[0]).view(kv_heads, rows, group * q, d).transpose(0, 1)
    out = (out + torch.matmul(e_own, value)).div_(total)
    return out.reshape(rows, heads, q, d).transpose(1, 2).contiguous()


def _masked(scores: torch.Tensor, mask: torch.Tensor, rows: int, group: int) -> torch.Tensor:
    """*scores* ``[rows, kv heads, group * q, k]`` with *mask* ``[rows or 1, 1, q, k]`` applied
    (bool: attend; else additive), the same for every query head of a group."""
    q, k = mask.shape[-2], mask.shape[-1]
    grown = mask.expand(rows, 1, q, k).unsqueeze(2).expand(rows, 1, group, q, k)
    grown = grown.reshape(rows, 1, group * q, k)
    if grown.dtype == torch.bool:
        return scores.masked_fill(~grown, float("-inf"))
    return scores + grown
