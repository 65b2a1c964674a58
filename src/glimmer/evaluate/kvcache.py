"""A key/value cache with room set aside, so decoding writes each new token in place.

transformers' default cache (``DynamicCache``) concatenates each layer's whole cache with the
new token's keys and values at every step: a copy of the entire cache per token, which on a
CPU costs as much as the attention that reads it once (a quarter of a decoding step of
SmolLM2-135M at 64 rows and 200 positions). :func:`roomy_cache` gives ``generate`` a cache
whose layers hold room for the prompt and the whole answer budget from the start and hand
attention a view of the filled part, so the answers are the same token for token.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch

__all__ = ["roomy_cache"]


@cache
def _layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    base: Any = DynamicLayer  # untyped in transformers

    class RoomyLayer(base):  # type: ignore[misc]
        """A ``DynamicLayer`` whose keys and values are views of buffers with room to grow."""

        def __init__(self, room: int) -> None:
            super().__init__()
            self.room = room

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

    *prefix* (a batch-1 cache of an opening every row shares) is copied into each of *rows*
    rows. ``None`` where the model's cache is not one plain full-attention layer per block
    (sliding windows, linear attention): there transformers' own cache is the right one.
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
        for mine, theirs in zip(layers, prefix.layers, strict=True):
            mine.fill(theirs.keys, theirs.values, rows)
    return out
