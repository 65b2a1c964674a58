"""The cheap alternative to fine-tuning: a steering vector (activation addition).

A control vector is the mean difference of the residual stream between contrast pairs: the
same question with an answer that opens in the framework's terms, and with one that opens
plainly (Contrastive Activation Addition, Rimsky et al. 2024; the repeng and
steering-vectors libraries do the same, but pin versions of transformers that glimmer does
not use, so these few lines stand in). The pairs are built from the active glossary, one
per concept and question. The vector is added to one middle decoder layer's output at
every position while the base model (adapter off) answers; its strength, in units of the
layer's mean hidden-state norm, is chosen from a sweep by measurement: the strongest one
whose answers stay coherent (their perplexity under the base model at most twice the base
answers').
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from glimmer.errors import SteerError
from glimmer.evaluate.metrics import ConceptIndex

__all__ = [
    "STRENGTHS",
    "SteerError",
    "SteeringVector",
    "contrast_pairs",
    "decoder_layers",
    "steering",
    "train_vector",
]

#: Strengths swept, in units of the layer's mean hidden-state norm.
STRENGTHS: Final[tuple[float, ...]] = (0.25, 0.5, 1.0)
_QUESTIONS: Final[tuple[str, ...]] = (
    "How do you make sense of something new?",
    "What happens when you answer a question?",
    "Describe a river.",
    "What is friendship?",
)


@dataclass
class SteeringVector:
    """A control vector for one decoder layer.

    Attributes:
        layer: The decoder layer whose output it is added to.
        direction: Unit vector (a ``torch.Tensor`` of the hidden size).
        norm: The layer's mean hidden-state norm; strength 1.0 adds a vector this long.
        pairs: Contrast pairs it was built from.
    """

    layer: int
    direction: Any
    norm: float
    pairs: int


def contrast_pairs(
    index: ConceptIndex, /, *, framework: str = "STARWEAVE"
) -> list[tuple[list[dict[str, str]], list[dict[str, str]]]]:
    """``(framework, plain)`` conversations for every concept and question.

    Both sides ask the same question; the assistant's answer opens in the framework's terms
    (the concept and its definition) or plainly.
    """
    pairs = []
    for c in index.concepts.values():
        words = c.name.replace("_", " ")
        definition = c.definition or words
        for q in _QUESTIONS:
            user = {"role": "user", "content": q}
            pos = {
                "role": "assistant",
                "content": f"In {framework} terms, through {words}: {definition}",
            }
            neg = {"role": "assistant", "content": "In plain everyday words, simply put:"}
            pairs.append(([user, pos], [user, neg]))
    return pairs


def decoder_layers(model: Any, /) -> Any:
    """The model's list of decoder layers (a ``torch.nn.ModuleList``).

    Raises:
        SteerError: No such list is found.
    """
    import torch

    best = None
    for name, module in model.named_modules():
        is_layers = isinstance(module, torch.nn.ModuleList) and name.split(".")[-1] in (
            "layers",
            "h",
        )
        if is_layers and (best is None or len(module) > len(best)):
            best = module
    if best is None or len(best) == 0:
        raise SteerError(
            f"no decoder layers found in {type(model).__name__}",
            hint="steering needs a decoder-only transformer with a 'layers' or 'h' module list",
        )
    return best


def _last_hidden(model: Any, tokenizer: Any, texts: Sequence[str], layer: int) -> Any:
    import torch

    out = []
    for text in texts:
        enc = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(
            next(model.parameters()).device
        )
        hs = model(**enc, output_hidden_states=True).hidden_states[layer + 1]
        out.append(hs[0, -4:].float().mean(0))
    return torch.stack(out)


def train_vector(
    model: Any,
    tokenizer: Any,
    index: ConceptIndex,
    /,
    *,
    framework: str = "STARWEAVE",
    layer: int | None = None,
) -> SteeringVector:
    """The mean-difference control vector of the glossary's contrast pairs (adapter off)."""
    import torch

    from glimmer.evaluate.generate import adapter_state

    layers = decoder_layers(model)
    at = len(layers) // 2 if layer is None else layer
    pairs = contrast_pairs(index, framework=framework)
    pos = [str(tokenizer.apply_chat_template(p, tokenize=False)) for p, _ in pairs]
    neg = [str(tokenizer.apply_chat_template(n, tokenize=False)) for _, n in pairs]
    adapter = False if hasattr(model, "disable_adapter") else None
    with adapter_state(model, adapter), torch.inference_mode():
        hp = _last_hidden(model, tokenizer, pos, at)
        hn = _last_hidden(model, tokenizer, neg, at)
    diff = (hp - hn).mean(0)
    norm = float(torch.cat([hp, hn]).norm(dim=-1).mean())
    return SteeringVector(at, diff / diff.norm().clamp_min(1e-8), norm, len(pairs))


@contextlib.contextmanager
def steering(model: Any, vector: SteeringVector, strength: float, /) -> Iterator[None]:
    """Add ``strength * norm * direction`` to the output of the vector's layer in the block."""
    layer = decoder_layers(model)[vector.layer]
    add = vector.direction * (strength * vector.norm)

    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] + add.to(output[0].dtype), *output[1:])
        return output + add.to(output.dtype)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
