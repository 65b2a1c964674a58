"""Estimate the peak memory of a fine-tuning run before loading anything.

:func:`plan` reads a model's shape (a preset's known table, or a local ``config.json``; never
weights, never the network) and adds up what training keeps in memory at its peak: the
weights, the LoRA parameters, their gradients, the optimizer state, the activations saved for
the backward pass and a runtime overhead. It then says whether that fits a GPU.

This module imports neither torch nor transformers, so ``glimmer plan`` answers at once.

The arithmetic, per method (``P`` parameters, ``T`` trainable ones):

* weights: ``P`` at the training dtype (2 bytes in bf16/fp16, 4 in fp32); ``qlora`` stores the
  decoder's linear layers in 4-bit NF4 with double-quantized scales (about 0.52 bytes each)
  and keeps embeddings, head and norms at the compute dtype.
* LoRA parameters: ``r * (d_in + d_out)`` per adapted linear layer, in fp32 (peft keeps
  adapters in fp32 for stable updates).
* gradients: ``T`` at the trainable dtype (fp32 for adapters; the training dtype for ``full``).
* optimizer: AdamW's two moments, ``2 * T`` at the trainable dtype; 8-bit paged AdamW (the
  ``qlora`` default) keeps one byte per moment.
* activations: what each decoder layer saves per token for the backward pass (norm inputs,
  q/k/v after rotary embedding, attention output, the four MLP tensors, each adapter's
  dropout input and mask), times layers, batch and sequence length; plus one tile of the fused
  LM-head loss (the full logits are never built). With gradient checkpointing only
  each layer's input is kept, plus one layer recomputed at a time.
* overhead: on a GPU, the runtime's context (CUDA/ROCm) and the caching allocator's slack;
  on a CPU, what the C allocator keeps of the backward pass's freed blocks (peak RSS).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from glimmer.errors import GlimmerFileError, Location, PlanError
from glimmer.train.shapes import LORA_TARGETS, ModelShape

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

__all__ = [
    "GPUS",
    "HEADROOM",
    "AutoPlan",
    "MemoryPlan",
    "ModelShape",
    "PlanError",
    "auto_plan",
    "known_shape",
    "logits_bytes",
    "model_shape",
    "plan",
    "shape_of",
]

GiB = 1024**3
MiB = 1024**2

Method = Literal["lora", "qlora", "full"]
Precision = Literal["bf16", "fp16", "fp32"]

_DTYPE_BYTES: dict[str, int] = {"bf16": 2, "fp16": 2, "fp32": 4}
_DTYPE_ALIASES: dict[str, str] = {
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
}

#: The linear layers of a Llama/Mistral/Gemma decoder block that LoRA adapts by default.
DEFAULT_TARGETS: tuple[str, ...] = LORA_TARGETS

#: NF4 with double quantization: 4 bits a weight, an 8-bit scale per 64 weights and an fp32
#: scale per 256 scales (bitsandbytes' defaults).
_NF4_BYTES = 0.5 + (1 + 4 / 256) / 64

#: Runtime context a GPU process holds before its first tensor (CUDA or ROCm), in bytes.
_RUNTIME_CONTEXT = 512 * MiB
#: Allocator slack (fragmentation, cached blocks) as a fraction of the tensors' peak.
_ALLOCATOR_SLACK = 0.05
#: On a CPU the C allocator keeps the backward pass's freed blocks, so the process's peak RSS
#: exceeds its live tensors by about this share of the activations (measured on SmolLM2-135M
#: in fp32, benchmarks/plan_accuracy.py).
_CPU_ALLOCATOR_SLACK = 0.55


#: Memory of known GPUs, in bytes (the card's nominal size; drivers keep a little of it).
GPUS: dict[str, int] = {
    "7900xtx": 24 * GiB,
    "7900xt": 20 * GiB,
    "7800xt": 16 * GiB,
    "w7900": 48 * GiB,
    "mi250": 64 * GiB,
    "mi300x": 192 * GiB,
    "4090": 24 * GiB,
    "4080": 16 * GiB,
    "4070ti": 12 * GiB,
    "4060ti-16": 16 * GiB,
    "3090": 24 * GiB,
    "3080": 10 * GiB,
    "3060": 12 * GiB,
    "5090": 32 * GiB,
    "t4": 16 * GiB,
    "l4": 24 * GiB,
    "a10": 24 * GiB,
    "l40s": 48 * GiB,
    "a6000": 48 * GiB,
    "a100-40": 40 * GiB,
    "a100-80": 80 * GiB,
    "h100-80": 80 * GiB,
    "h200": 141 * 10**9,
}
_GPU_ALIASES: dict[str, str] = {
    "rx7900xtx": "7900xtx",
    "rtx4090": "4090",
    "rtx3090": "3090",
    "rtx5090": "5090",
    "a100": "a100-80",
    "h100": "h100-80",
}


def _gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Estimated peak memory of one training run, split by what holds it.

    All sizes are bytes. ``total`` is what the run needs at its peak; ``fits`` compares it
    with the GPU's memory (``None`` when no GPU was given).

    Attributes:
        model: The planned model's id or path.
        method: ``"lora"``, ``"qlora"`` or ``"full"``.
        seq_len: Tokens per row (the longest row of a batch).
        batch: Rows per step on the device.
        dtype: Training precision of weights and activations.
        gradient_checkpointing: Whether the plan recomputes activations in the backward pass.
        num_params: Parameters of the base model.
        trainable_params: Parameters the optimizer updates.
        weights: The base model's weights.
        lora: The LoRA adapters' parameters (0 for ``full``).
        gradients: Gradients of the trainable parameters.
        optimizer: The optimizer's state.
        activations: Tensors saved for the backward pass, logits included.
        overhead: Runtime context and allocator slack.
        gpu: The GPU's name, or ``None``.
        capacity: The GPU's memory, or ``None``.
        shape: The model's shape.
    """

    model: str
    method: Method
    seq_len: int
    batch: int
    dtype: Precision
    gradient_checkpointing: bool
    num_params: int
    trainable_params: int
    weights: int
    lora: int
    gradients: int
    optimizer: int
    activations: int
    overhead: int
    gpu: str | None = None
    capacity: int | None = None
    shape: ModelShape | None = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> int:
        """Estimated peak memory, every part together."""
        return (
            self.weights
            + self.lora
            + self.gradients
            + self.optimizer
            + self.activations
            + self.overhead
        )

    @property
    def fits(self) -> bool | None:
        """Whether ``total`` fits the GPU's memory; ``None`` without a GPU."""
        return None if self.capacity is None else self.total <= self.capacity

    @property
    def headroom(self) -> int | None:
        """GPU memory left at the peak (negative when it does not fit); ``None`` without a GPU."""
        return None if self.capacity is None else self.capacity - self.total

    def parts(self) -> dict[str, int]:
        """The parts of the estimate, by name, in bytes."""
        return {
            "weights": self.weights,
            "lora": self.lora,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "overhead": self.overhead,
        }

    def advice(self) -> list[str]:
        """What to change when the run does not fit (empty when it fits or no GPU is set)."""
        if self.fits is not False:
            return []
        tips: list[str] = []
        if not self.gradient_checkpointing:
            tips.append("turn on gradient checkpointing (gradient_checkpointing=True)")
        if self.method == "full":
            tips.append('train adapters instead of every weight (method="lora")')
        if self.method != "qlora":
            tips.append('quantize the base model to 4 bits (method="qlora")')
        if self.batch > 1:
            tips.append("lower the batch and raise gradient accumulation instead")
        if self.seq_len > 256:
            tips.append("shorten seq_len (the longest row of a batch decides it)")
        return tips

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: the inputs, every part, ``total`` and ``fits``."""
        out = {k: v for k, v in asdict(self).items() if k != "shape"}
        out.update(total=self.total, fits=self.fits)
        return out

    def _rows(self) -> list[tuple[str, str, str]]:
        total = self.total or 1
        return [(k, _gib(v), f"{100 * v / total:4.1f}%") for k, v in self.parts().items()]

    def _title(self) -> str:
        ckpt = ", gradient checkpointing" if self.gradient_checkpointing else ""
        return (
            f"{self.model}: {self.method}, {self.dtype}, seq_len {self.seq_len}, "
            f"batch {self.batch}{ckpt}"
        )

    def _verdict(self) -> str:
        if self.capacity is None:
            return f"peak {_gib(self.total)} (no GPU given)"
        word = "fits" if self.fits else "does NOT fit"
        return f"peak {_gib(self.total)} {word} {self.gpu} ({_gib(self.capacity)}), headroom {_gib(self.headroom or 0)}"

    def __str__(self) -> str:
        lines = [
            self._title(),
            f"  parameters {self.num_params / 1e6:,.1f} M, trainable {self.trainable_params / 1e6:,.2f} M",
        ]
        lines += [f"  {name:<12}{size:>12}  {share}" for name, size, share in self._rows()]
        lines.append(f"  {'total':<12}{_gib(self.total):>12}")
        lines.append(self._verdict())
        lines += [f"  hint: {tip}" for tip in self.advice()]
        return "\n".join(lines)

    def __rich__(self) -> Table:
        """A rich table of the parts (``rich.print(plan)``)."""
        from rich.table import Table

        table = Table(title=self._title(), caption=self._verdict(), show_footer=True)
        table.add_column("part", footer="total")
        table.add_column("memory", justify="right", footer=_gib(self.total))
        table.add_column("share", justify="right")
        for row in self._rows():
            table.add_row(*row)
        return table


def _read_config(path: Path) -> dict[str, Any]:
    file = path / "config.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GlimmerFileError(
            f"{file}: no config.json",
            location=Location(source=str(file)),
            hint="point at a model directory holding config.json",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GlimmerFileError(
            f"{file}: cannot read config ({exc})", location=Location(source=str(file))
        ) from None
    if not isinstance(data, dict):
        raise PlanError(
            f"{file}: config.json is not an object",
            location=Location(source=str(file)),
            code="G571",
        )
    return data


def model_shape(model: str | Path | Mapping[str, Any] | ModelShape, /) -> ModelShape:
    """Find a model's shape without downloading anything.

    Args:
        model: A preset name (``"smollm2-135m"``, ``"mistral-7b-instruct-v0.2"``, ...), a known
            Hugging Face id, a local model directory or ``config.json``, a parsed config
            mapping, or a :class:`ModelShape`.

    Returns:
        The shape.

    Raises:
        PlanError: The name is neither known nor a local path (code G572), or the config is
            not a decoder-only transformer's (G571).
        GlimmerFileError: A local path has no readable ``config.json``.

    Examples:
        >>> model_shape("mistral-7b-instruct-v0.2").num_params
        7241732096
    """
    from glimmer.train.models import KNOWN_SHAPES

    if isinstance(model, ModelShape):
        return model
    if isinstance(model, Mapping):
        return ModelShape.from_config(model, name=str(model.get("_name_or_path") or "<config>"))
    key = str(model).strip().lower()
    if key in KNOWN_SHAPES:
        return KNOWN_SHAPES[key]
    path = Path(model).expanduser()
    if path.exists():
        return ModelShape.from_config(_read_config(path), name=str(model))
    cached = _cached_hub_config(str(model).strip())
    if cached is not None:
        return ModelShape.from_config(_read_config(cached), name=str(model).strip())
    close = sorted(k for k in KNOWN_SHAPES if "/" not in k)
    raise PlanError(
        f"unknown model {str(model)!r}",
        location=Location(source=str(model)),
        hint=f"use a preset ({', '.join(close)}), a known Hugging Face id, a hub id whose "
        "config.json is in the local Hugging Face cache, or a local directory with "
        "config.json (plan() never downloads)",
        code="G572",
    )


def known_shape(model: str | Path, /) -> ModelShape | None:
    """The shape of *model* if it is known without loading it, else ``None``.

    Like :func:`model_shape` (presets, known hub ids, local folders, the hub cache), but a
    model found nowhere, or whose config this planner cannot count, gives ``None``.
    """
    try:
        return model_shape(model)
    except (PlanError, GlimmerFileError):
        return None


def shape_of(config: Mapping[str, Any], /) -> ModelShape | None:
    """The shape in a loaded model's config mapping, or ``None`` if it cannot be counted."""
    try:
        return ModelShape.from_config(config, name=str(config.get("_name_or_path") or "<model>"))
    except PlanError:
        return None


def _cached_hub_config(repo_id: str) -> Path | None:
    """The ``config.json`` of *repo_id* in the local Hugging Face cache, if one is there.

    Reads the cache only (``huggingface_hub.try_to_load_from_cache``); never the network.
    Without huggingface_hub installed there is no cache to read.
    """
    if repo_id.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except HFValidationError:  # not a valid repo id
        return None
    return Path(found) if isinstance(found, str) else None


def gpu_capacity(gpu: str | int | None) -> tuple[str | None, int | None]:
    """A GPU's name and memory in bytes from a name, a size such as ``"24GB"`` or bytes.

    >>> gpu_capacity("24GB")[1] == 24 * 2**30
    True
    """
    if gpu is None:
        return None, None
    if isinstance(gpu, bool) or (isinstance(gpu, int) and gpu <= 0):
        raise PlanError(f"GPU memory must be a positive number of bytes, not {gpu!r}", code="G573")
    if isinstance(gpu, int):
        return f"{gpu / GiB:.1f} GiB GPU", gpu
    key = gpu.strip().lower().replace(" ", "").replace("_", "-")
    key = _GPU_ALIASES.get(key, key)
    if key.endswith("gb") and key[:-2].replace(".", "", 1).isdigit():
        return gpu, int(float(key[:-2]) * GiB)
    if key not in GPUS:
        raise PlanError(
            f"unknown GPU {gpu!r}",
            location=Location(source=str(gpu)),
            hint=f"use one of {', '.join(GPUS)}, a size such as '24GB', or a number of bytes",
            code="G573",
        )
    return key, GPUS[key]


def _activations_per_token_layer(
    shape: ModelShape, *, act: int, targets: Sequence[str], lora_dropout: float
) -> float:
    """Bytes one decoder layer keeps per token for the backward pass."""
    h, i = shape.hidden_size, shape.intermediate_size
    q, kv = shape.q_dim, shape.kv_dim
    # Norms (input + output of each of the two RMSNorms; fp32 copies of the input in the
    # upcast when training in 16 bits), attention (q, k, v after rotary, output and its
    # logsumexp), MLP (gate, up, silu(gate), product).
    elements = 4 * h + (q + 2 * kv) + (q + kv) + q + 4 * i
    size = elements * act
    if act < 4:
        size += 2 * h * 4  # RMSNorm's fp32 upcast of its input
    shapes = shape.linear_shapes()
    for name in targets:
        d_in, _ = shapes[name]
        size += d_in * 4  # adapter input, cast to the adapters' fp32 (after dropout)
        if lora_dropout > 0:
            size += d_in  # dropout mask, one byte an element
    return float(size)


#: Tokens and vocabulary entries of one tile of the fused LM-head loss (trl's kernel; glimmer's
#: chunked head on a CPU stays below it, glimmer.train.loss.CHUNK_BYTES).
_HEAD_TILE_TOKENS = 4096
_HEAD_TILE_VOCAB = 32768
#: fp32 logits of one chunk of glimmer's CPU head (glimmer.train.loss.CHUNK_BYTES); it holds
#: three such buffers at once (logits, softmax, entropy product).
_HEAD_CHUNK_BYTES = 64 * MiB


def logits_bytes(shape: ModelShape, /, *, tokens: int, act: int) -> int:
    """Bytes the output head's logits and the loss keep at the peak, for *tokens* tokens.

    The one place the planner models the loss. ``fit()`` never builds the full
    ``tokens x vocabulary`` logits: its loss (trl's fused LM head on a GPU, glimmer's chunked
    head on a CPU, :mod:`glimmer.train.loss`) projects at most 4096 tokens by 32768 vocabulary
    entries at once, a tile at the training dtype plus one fp32 temporary, and keeps the fp32
    gradient of the head's input (``4 * hidden_size`` bytes a token).

    Args:
        shape: The model (its ``vocab_size`` and ``hidden_size`` decide).
        tokens: Tokens in one micro-batch (``batch * seq_len``).
        act: Bytes of one element at the training dtype (2 for bf16/fp16, 4 for fp32).

    Returns:
        The bytes.

    Examples:
        >>> from glimmer.train.plan import model_shape
        >>> logits_bytes(model_shape("gemma-7b-it"), tokens=2048, act=2) / 2**30
        0.3984375
    """
    tile = min(tokens, _HEAD_TILE_TOKENS) * min(shape.vocab_size, _HEAD_TILE_VOCAB) * (act + 4)
    tile = max(tile, 3 * min(tokens * shape.vocab_size * 4, _HEAD_CHUNK_BYTES))
    return tile + tokens * shape.hidden_size * 4


def plan(
    model: str | Path | Mapping[str, Any] | ModelShape,
    /,
    *,
    method: Method = "lora",
    seq_len: int = 512,
    batch: int = 1,
    gpu: str | int | None = "7900xtx",
    lora_r: int = 16,
    target_modules: Sequence[str] = DEFAULT_TARGETS,
    lora_dropout: float = 0.05,
    dtype: str | None = None,
    gradient_checkpointing: bool | None = None,
    optimizer: Literal["adamw", "adamw_8bit"] | None = None,
    device: Literal["gpu", "cpu"] | None = None,
) -> MemoryPlan:
    """Estimate the peak memory of fine-tuning *model* and whether it fits a GPU.

    Nothing is downloaded or loaded: the shape comes from a preset's table or a local
    ``config.json``.

    Args:
        model: Preset name, Hugging Face id of a known model, local model directory or
            ``config.json``, a config mapping, or a :class:`ModelShape`.
        method: ``"lora"`` (16-bit base, fp32 adapters), ``"qlora"`` (4-bit NF4 base) or
            ``"full"`` (every weight trained).
        seq_len: Tokens in the longest row of a batch.
        batch: Rows per optimizer micro-step on the device.
        gpu: A known GPU name (see :data:`GPUS`), a size like ``"24GB"``, a number of bytes,
            or ``None`` to plan without a verdict.
        lora_r: LoRA rank.
        target_modules: Linear layers adapted by LoRA (default: every linear layer of a block).
        lora_dropout: LoRA dropout; above 0 each adapter keeps a dropout mask.
        dtype: Training precision, ``"bf16"``, ``"fp16"`` or ``"fp32"``; default ``"fp32"``
            when ``gpu`` is ``None`` (a CPU run) and ``"bf16"`` otherwise.
        gradient_checkpointing: Recompute activations in the backward pass. ``None`` (the
            default) turns it on only when the run would not fit otherwise, as ``fit`` does.
        optimizer: ``"adamw"`` (fp32 moments) or ``"adamw_8bit"``; default 8-bit for
            ``qlora``, ``"adamw"`` otherwise.
        device: ``"gpu"`` counts the runtime context and the caching allocator's slack;
            ``"cpu"`` counts what the C allocator keeps of the backward pass (peak RSS).
            Default: ``"cpu"`` when ``gpu`` is ``None``, else ``"gpu"``.

    Returns:
        The plan: each part in bytes, ``total``, ``fits`` and ``advice()``.

    Raises:
        PlanError: Unknown model, GPU, method, dtype or target module, or a non-positive
            size.
        GlimmerFileError: A local model path without a readable ``config.json``.

    Examples:
        >>> p = plan("mistral-7b-instruct-v0.2", method="qlora", gpu="7900xtx")
        >>> p.fits
        True
    """
    shape = model_shape(model)
    precision = _check_plan(
        shape,
        method,
        dtype or ("fp32" if gpu is None else "bf16"),
        target_modules,
        seq_len=seq_len,
        batch=batch,
        lora_r=lora_r,
    )
    gpu_name, capacity = gpu_capacity(gpu)
    act = _DTYPE_BYTES[precision]
    opt = optimizer or ("adamw_8bit" if method == "qlora" else "adamw")
    n_params = shape.num_params
    weights, lora, trainable, gradients, optimizer_state = _static_parts(
        shape, method, act=act, optimizer=opt, lora_r=lora_r, target_modules=target_modules
    )

    tokens = seq_len * batch
    dropout = lora_dropout if method != "full" else 0.0
    targets = () if method == "full" else tuple(target_modules)
    per_layer = _activations_per_token_layer(shape, act=act, targets=targets, lora_dropout=dropout)
    # QLoRA: prepare_model_for_kbit_training leaves the embedding, the norms and the head in
    # fp32, so the residual stream between the layers, and the logits, are fp32 too
    # (measured on an H200: benchmarks/gpu_memory.py).
    stream = 4 if method == "qlora" else act
    logits = logits_bytes(shape, tokens=tokens, act=stream)
    embed = tokens * shape.hidden_size * stream
    if method == "qlora":  # one linear layer dequantized to 16 bits at a time
        embed += max(a * b for a, b in shape.linear_shapes().values()) * act

    def activations_with(ckpt: bool) -> int:
        if ckpt:  # keep each layer's input; recompute one layer at a time
            kept = shape.num_layers * tokens * shape.hidden_size * stream + tokens * per_layer
        else:  # every layer's saved tensors, plus one layer's worth of gradients in flight
            kept = (shape.num_layers + 1) * tokens * per_layer
        return math.ceil(kept + logits + embed)

    on_cpu = (device or ("cpu" if gpu is None else "gpu")) == "cpu"

    def overhead_for(static: int, acts: int) -> int:
        if on_cpu:
            return math.ceil(acts * _CPU_ALLOCATOR_SLACK)
        return _RUNTIME_CONTEXT + math.ceil((static + acts) * _ALLOCATOR_SLACK)

    static = weights + lora + gradients + optimizer_state
    ckpt = bool(gradient_checkpointing)
    if gradient_checkpointing is None and capacity is not None:
        acts = activations_with(False)
        ckpt = static + acts + overhead_for(static, acts) > capacity
    activations = activations_with(ckpt)
    return MemoryPlan(
        model=shape.name,
        method=method,
        seq_len=seq_len,
        batch=batch,
        dtype=precision,  # type: ignore[arg-type]
        gradient_checkpointing=ckpt,
        num_params=n_params,
        trainable_params=trainable,
        weights=weights,
        lora=lora,
        gradients=gradients,
        optimizer=optimizer_state,
        activations=activations,
        overhead=overhead_for(static, activations),
        gpu=gpu_name,
        capacity=capacity,
        shape=shape,
    )


def _check_plan(
    shape: ModelShape,
    method: str,
    dtype: str,
    target_modules: Sequence[str],
    **sizes: Any,
) -> str:
    """The precision *dtype* names, once the method, sizes and target modules are known good."""
    if method not in ("lora", "qlora", "full"):
        raise PlanError(
            f"unknown method {method!r}", hint='use "lora", "qlora" or "full"', code="G574"
        )
    for label, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise PlanError(f"{label} must be a positive integer, not {value!r}", code="G574")
    precision = _DTYPE_ALIASES.get(dtype.lower())
    if precision is None:
        raise PlanError(
            f"unknown dtype {dtype!r}", hint='use "bf16", "fp16" or "fp32"', code="G574"
        )
    unknown = [t for t in target_modules if t not in shape.linear_shapes()]
    if unknown:
        raise PlanError(
            f"unknown target module(s) {', '.join(unknown)}",
            hint=f"choose among {', '.join(DEFAULT_TARGETS)}",
            code="G574",
        )
    return precision


def _static_parts(
    shape: ModelShape,
    method: str,
    *,
    act: int,
    optimizer: str,
    lora_r: int,
    target_modules: Sequence[str],
) -> tuple[int, int, int, int, int]:
    """``(weights, lora, trainable parameters, gradients, optimizer state)`` in bytes
    (trainable parameters as a count): what does not grow with the batch."""
    if method == "qlora":  # peft's prepare_model_for_kbit_training keeps the rest in fp32
        weights = math.ceil(shape.linear_params * _NF4_BYTES) + shape.other_params * 4
    else:
        weights = shape.num_params * act
    if method == "full":
        trainable, lora, train_bytes = shape.num_params, 0, act
    else:
        linear = shape.linear_shapes()
        trainable = shape.num_layers * sum(lora_r * sum(linear[t]) for t in target_modules)
        lora, train_bytes = trainable * 4, 4
    gradients = trainable * train_bytes
    optimizer_state = trainable * (2 if optimizer == "adamw_8bit" else 2 * train_bytes)
    return weights, lora, trainable, gradients, optimizer_state


#: Share of the GPU's memory the automatic choice leaves free: allocator spikes, the
#: runtime's own buffers and the estimate's error (benchmarks/plan_accuracy.py) live there.
HEADROOM = 0.10


@dataclass(frozen=True, slots=True)
class AutoPlan:
    """fit's automatic choice of batch size and gradient checkpointing, and its plan.

    Attributes:
        batch_size: Rows per device step.
        gradient_checkpointing: Whether activations are recomputed in the backward pass.
        plan: The memory plan of that choice.
        headroom: Share of the GPU's memory the choice must leave free.
        advice: What to change when nothing fits (empty when it fits).
    """

    batch_size: int
    gradient_checkpointing: bool
    plan: MemoryPlan
    headroom: float = HEADROOM
    advice: tuple[str, ...] = ()

    @property
    def budget(self) -> int | None:
        """Bytes the run may use: the GPU's memory less the headroom (``None`` without one)."""
        cap = self.plan.capacity
        return None if cap is None else int(cap * (1 - self.headroom))

    @property
    def fits(self) -> bool:
        """Whether the plan's total stays within :attr:`budget` (always true without a GPU)."""
        return self.budget is None or self.plan.total <= self.budget

    def to_dict(self) -> dict[str, Any]:
        """The choice, JSON-ready: batch, checkpointing, sizes in bytes, verdict and advice."""
        p = self.plan
        return {
            "model": p.model,
            "method": p.method,
            "dtype": p.dtype,
            "batch_size": self.batch_size,
            "gradient_checkpointing": self.gradient_checkpointing,
            "seq_len": p.seq_len,
            "total_bytes": p.total,
            "gpu_bytes": p.capacity,
            "headroom_bytes": p.headroom,
            "fits": self.fits,
            "advice": list(self.advice),
            "parts": p.parts(),
        }

    def __str__(self) -> str:
        ckpt = "on" if self.gradient_checkpointing else "off"
        head = f"automatic choice: batch {self.batch_size}, gradient checkpointing {ckpt}"
        plan_lines = str(self.plan).splitlines()
        if self.advice:  # the concrete advice below replaces the plan's generic hints
            plan_lines = [line for line in plan_lines if not line.startswith("  hint:")]
        lines = [head, *plan_lines]
        if not self.fits and self.budget is not None:
            lines.append(
                f"  does not fit: glimmer keeps {self.headroom:.0%} of the GPU free "
                f"(budget {_gib(self.budget)})"
            )
        lines += [f"  advice: {tip}" for tip in self.advice]
        return "\n".join(lines)


def _powers_of_two_down(n: int) -> list[int]:
    top = 1 << (max(1, n).bit_length() - 1)
    return [top >> k for k in range(top.bit_length())]


def auto_plan(
    model: str | Path | Mapping[str, Any] | ModelShape,
    /,
    *,
    method: Method = "lora",
    gpu: str | int | None = "7900xtx",
    seq_len: int | None = None,
    max_batch: int = 16,
    batch: int | None = None,
    gradient_checkpointing: bool | None = None,
    lora_r: int = 16,
    target_modules: Sequence[str] | None = None,
    lora_dropout: float = 0.05,
    dtype: str | None = None,
    device: Literal["gpu", "cpu"] | None = None,
    headroom: float = HEADROOM,
) -> AutoPlan:
    """Choose batch size and gradient checkpointing as ``fit`` does, from :func:`plan`.

    Gradient checkpointing stays off while a batch of one fits without it (it costs about a
    third of the speed); the batch is the largest power of two up to *max_batch* whose plan
    leaves *headroom* of the GPU free. ``fit`` runs this before loading any weight, and
    stops with the advice when nothing fits.

    Args:
        model: As for :func:`plan`.
        method: ``"lora"``, ``"qlora"`` or ``"full"``.
        gpu: As for :func:`plan`; ``None`` plans without a verdict.
        seq_len: Tokens per row; default: the preset's ``max_seq_len`` (1024 for other models).
        max_batch: Largest batch to consider (rounded down to a power of two).
        batch: A batch size fixed by the user (only checkpointing is then chosen).
        gradient_checkpointing: Fixed by the user, or ``None`` to choose.
        lora_r: LoRA rank.
        target_modules: Adapted layers; default: the preset's.
        lora_dropout: LoRA dropout.
        dtype: Training precision (as for :func:`plan`).
        device: As for :func:`plan`.
        headroom: Share of the GPU's memory left free (default :data:`HEADROOM`, 10%).

    Returns:
        The :class:`AutoPlan`; ``fits`` is false, with advice, when nothing fits.

    Raises:
        PlanError: As :func:`plan` does.

    Examples:
        >>> choice = auto_plan("mistral-7b-instruct-v0.2", method="qlora", gpu="24GB")
        >>> choice.batch_size, choice.gradient_checkpointing, choice.fits
        (4, True, True)
    """
    from glimmer.train.models import resolve_model

    preset = resolve_model(model) if isinstance(model, str) else None
    rows = seq_len or (preset.max_seq_len if preset is not None else 1024)
    targets = tuple(target_modules or (preset.lora_target_modules if preset else DEFAULT_TARGETS))

    def plan_for(b: int, ckpt: bool, *, with_method: Method = method, n: int = rows) -> MemoryPlan:
        return plan(
            model,
            method=with_method,
            seq_len=n,
            batch=b,
            gpu=gpu,
            lora_r=lora_r,
            target_modules=targets,
            lora_dropout=lora_dropout,
            dtype=dtype,
            gradient_checkpointing=ckpt,
            device=device,
        )

    def within(p: MemoryPlan) -> bool:
        return p.capacity is None or p.total <= p.capacity * (1 - headroom)

    batches = [batch] if batch is not None else _powers_of_two_down(max_batch)
    ckpts = [gradient_checkpointing] if gradient_checkpointing is not None else [False, True]
    for ckpt in ckpts:
        for b in batches:
            candidate = plan_for(b, ckpt)
            if within(candidate):
                return AutoPlan(b, ckpt, candidate, headroom)
    smallest = plan_for(batches[-1], ckpts[-1])
    return AutoPlan(
        batches[-1],
        ckpts[-1],
        smallest,
        headroom,
        advice=tuple(_advice(smallest, plan_for, within)),
    )


def _advice(
    failed: MemoryPlan, plan_for: Any, within: Any
) -> list[str]:  # callables typed loosely: local closures
    """Concrete changes that would fit, each with its estimate."""
    tips: list[str] = []
    budget = "the budget" if failed.capacity is None else _gib(failed.capacity * (1 - HEADROOM))
    if failed.batch > 1 or not failed.gradient_checkpointing:
        one = plan_for(1, True)
        if within(one):
            tips.append(
                "a batch of 1 with gradient checkpointing (gradient_checkpointing=True) "
                f"fits ({_gib(one.total)})"
            )
    if failed.method != "qlora":
        q = plan_for(1, True, with_method="qlora")
        word = "fits" if within(q) else "needs"
        tips.append(f'QLoRA (method="qlora", a 4-bit base) {word} {_gib(q.total)}')
    n = failed.seq_len // 2
    while n >= 128:
        shorter = plan_for(1, True, n=n)
        if within(shorter):
            tips.append(f"shorter rows: max_seq_len={n} fits ({_gib(shorter.total)})")
            break
        n //= 2
    if not tips or all("needs" in t for t in tips):
        tips.append(
            f"a GPU with more memory: the smallest run needs {_gib(failed.total)}, {budget} free"
        )
    return tips
