"""The shape of a decoder-only transformer: the numbers that decide its memory.

:class:`ModelShape` lives apart from the planner so that the preset table
(:mod:`glimmer.train.models`) and the planner (:mod:`glimmer.train.plan`) can both use it
without importing each other. Like the planner it imports neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from glimmer.errors import Location, PlanError

__all__ = ["LORA_TARGETS", "ModelShape"]

#: The linear layers of a Llama/Mistral/Gemma decoder block that LoRA adapts by default.
LORA_TARGETS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The numbers of a decoder-only transformer that decide its memory.

    Attributes:
        name: The model's id or path, for display.
        hidden_size: Width of the residual stream.
        num_layers: Decoder blocks.
        num_heads: Attention (query) heads.
        num_kv_heads: Key/value heads (fewer than ``num_heads`` with grouped-query attention).
        intermediate_size: Width of the MLP.
        vocab_size: Tokens in the vocabulary.
        head_dim: Width of one head (``hidden_size // num_heads`` unless the config says).
        tie_embeddings: Whether the output head shares the input embedding's weights.
        attention_bias: Whether q/k/v/o carry biases (Qwen-style).
    """

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    head_dim: int
    tie_embeddings: bool = False
    attention_bias: bool = False

    @property
    def q_dim(self) -> int:
        """Width of the concatenated query heads."""
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the concatenated key (or value) heads."""
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """``(d_in, d_out)`` of each linear layer in one decoder block."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder blocks' linear layers (what QLoRA quantizes)."""
        per_layer = sum(a * b for a, b in self.linear_shapes().values())
        if self.attention_bias:
            per_layer += self.q_dim + 2 * self.kv_dim + self.hidden_size
        return per_layer * self.num_layers

    @property
    def other_params(self) -> int:
        """Embeddings, output head and norms."""
        embed = self.vocab_size * self.hidden_size
        head = 0 if self.tie_embeddings else embed
        norms = (2 * self.num_layers + 1) * self.hidden_size
        return embed + head + norms

    @property
    def num_params(self) -> int:
        """All parameters of the model."""
        return self.linear_params + self.other_params

    @classmethod
    def from_config(cls, config: Mapping[str, Any], /, *, name: str = "<config>") -> ModelShape:
        """Read a shape from a Hugging Face ``config.json`` mapping.

        Args:
            config: The parsed ``config.json`` (Llama, Mistral, Gemma, Qwen and kin).
            name: Shown in the plan.

        Returns:
            The model's shape.

        Raises:
            PlanError: A needed key is missing (the model is not a decoder-only transformer
                this planner knows how to count).
        """
        cfg = dict(config)
        if "text_config" in cfg and "hidden_size" not in cfg:  # multimodal wrappers
            cfg = dict(cfg["text_config"])
        needed = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        missing = [k for k in (*needed, "vocab_size") if k not in cfg]
        if missing:
            raise PlanError(
                f"{name}: config has no {', '.join(missing)}",
                location=Location(source=name),
                hint="plan() counts decoder-only transformers (Llama, Mistral, Gemma, Qwen, "
                "SmolLM); pass a config.json of such a model",
                code="G571",
            )
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        head_dim = cfg.get("head_dim") or hidden // heads
        return cls(
            name=name,
            hidden_size=hidden,
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            intermediate_size=int(cfg["intermediate_size"]),
            vocab_size=int(cfg["vocab_size"]),
            head_dim=int(head_dim),
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            attention_bias=bool(cfg.get("attention_bias", False)),
        )
