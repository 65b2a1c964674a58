"""FitConfig: what a fine-tuning run should do, resolved against the hardware.

A :class:`FitConfig` holds the user's wishes (seed defaults: LoRA r=16, alpha=32, dropout
0.05, 3 epochs, lr 2e-4, warmup as a ratio of the run, a checkpoint each epoch). Fields
left ``None`` are decided by :func:`resolve` from the model and the memory of the
:class:`~glimmer.train.device.DeviceChoice`: batch size, gradient accumulation, gradient
checkpointing (only when memory needs it), precision. The result maps onto trl's
``SFTConfig`` and peft's ``LoraConfig`` (:func:`to_sft_config`, :func:`to_lora_config`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from glimmer.errors import GlimmerError, Location

if TYPE_CHECKING:  # pragma: no cover
    from peft import LoraConfig
    from trl.trainer.sft_config import SFTConfig

    from glimmer.train.device import DeviceChoice
    from glimmer.train.models import ModelPreset

__all__ = ["FitConfig", "FitConfigError", "ModelShape", "Resolved", "resolve"]

Method = Literal["lora", "qlora", "full"]


class FitConfigError(GlimmerError, ValueError):
    """A fit configuration that is not valid (unknown option, wrong type, bad TOML)."""

    code = "G504"


class FitConfig(BaseModel):
    """Settings of one fine-tuning run; ``None`` means "decide from the hardware".

    Attributes:
        model: Preset name, Hugging Face id or local folder.
        method: ``"lora"``, ``"qlora"`` (4-bit NF4 base, needs bitsandbytes and a GPU) or ``"full"``.
        epochs: Passes over the training split.
        max_steps: Stop after this many optimizer steps (overrides ``epochs``).
        learning_rate: Peak learning rate.
        warmup_ratio: Fraction of the run spent warming up (a ratio, never a fixed count).
        lr_scheduler: transformers scheduler name.
        weight_decay: AdamW weight decay.
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling.
        lora_dropout: Dropout on the LoRA path.
        lora_target_modules: Linear layers to adapt; ``None``: the preset's.
        replay_samples: Rows of plain text sampled from the base model before training and
            learned beside the chat records, to keep the tuned model's everyday language
            close to the base model's (see :mod:`glimmer.train.replay`); 0 turns it off.
        replay_tokens: Length in tokens of each replay row's sampled text.
        batch_size: Rows per device per step; ``None``: from model and memory.
        grad_accum: Gradient accumulation steps; ``None``: from batch size and data size.
        max_seq_len: Longest row in tokens (longer rows are truncated); ``None``: the preset's.
        gradient_checkpointing: ``None``: only when memory needs it.
        precision: ``"auto"`` (from the hardware), ``"bf16"``, ``"fp16"`` or ``"fp32"``.
        early_stopping_patience: Epochs without a better validation loss before stopping;
            ``None`` disables early stopping.
        save_total_limit: Checkpoints kept on disk (the best one is always kept).
        logging_steps: Log the training loss every N steps; ``None``: about 10 times an epoch.
        report_to: Loggers: ``["tensorboard"]`` by default, ``"wandb"`` when installed.
        seed: Random seed for shuffling, dropout and LoRA initialisation.
        trust_remote_code: Run code shipped with the model (off unless you ask).
        progress: Show a progress bar with loss and tokens/s.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str = "smollm2-135m"
    method: Method = "lora"
    epochs: float = Field(default=3.0, gt=0)
    max_steps: int | None = Field(default=None, gt=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    lr_scheduler: str = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    lora_r: int = Field(default=16, gt=0)
    lora_alpha: int = Field(default=32, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    lora_target_modules: list[str] | None = None
    replay_samples: int = Field(default=0, ge=0)
    replay_tokens: int = Field(default=128, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    grad_accum: int | None = Field(default=None, gt=0)
    max_seq_len: int | None = Field(default=None, gt=8)
    gradient_checkpointing: bool | None = None
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    early_stopping_patience: int | None = Field(default=2, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    logging_steps: int | None = Field(default=None, gt=0)
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    seed: int = 0
    trust_remote_code: bool = False
    progress: bool = True

    @classmethod
    def from_overrides(cls, /, **overrides: Any) -> FitConfig:
        """Build a config from keyword overrides, with glimmer's error on bad values.

        Raises:
            FitConfigError: An unknown option or a value of the wrong type.
        """
        try:
            return cls.model_validate(overrides)
        except ValidationError as exc:
            raise _config_error(exc, source=None) from exc

    @classmethod
    def from_toml(cls, path: str | Path, /) -> FitConfig:
        """Read a config from a TOML file (top-level keys, or a ``[fit]`` table).

        Args:
            path: The TOML file.

        Returns:
            The config.

        Raises:
            FitConfigError: Not TOML, or an unknown option or bad value.

        Example:
            ```toml
            [fit]
            model = "smollm2-135m"
            epochs = 2
            lora_r = 8
            ```
        """
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text("utf-8"))
        except OSError as exc:
            raise FitConfigError(
                f"cannot read {file}: {exc.strerror or exc}",
                location=Location(source=str(file)),
                code="G504",
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise FitConfigError(
                f"not valid TOML: {exc}",
                location=Location(source=str(file)),
                hint="see https://toml.io for the syntax",
            ) from exc
        table = data.get("fit", data)
        try:
            return cls.model_validate(table)
        except ValidationError as exc:
            raise _config_error(exc, source=str(file)) from exc

    def to_toml(self) -> str:
        """The config as a ``[fit]`` TOML table (``None`` fields left out)."""
        lines = ["[fit]"]
        for key, value in self.model_dump(exclude_none=True).items():
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _config_error(exc: ValidationError, *, source: str | None) -> FitConfigError:
    first = exc.errors()[0]
    path = tuple(p for p in first["loc"] if isinstance(p, str | int))
    field = ".".join(str(p) for p in path)
    if first["type"] == "extra_forbidden":
        message = f"unknown fit option {field!r}"
        hint = f"known options: {', '.join(FitConfig.model_fields)}"
    else:
        message = f"fit option {field!r}: {first['msg']}"
        hint = None
    return FitConfigError(message, location=Location(source=source, field_path=path), hint=hint)


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The few numbers of a model the memory heuristics need."""

    params: int
    hidden_size: int
    num_layers: int
    vocab_size: int


@dataclass(frozen=True, slots=True)
class Resolved:
    """A :class:`FitConfig` with every automatic choice made, and the reasons."""

    config: FitConfig
    batch_size: int
    grad_accum: int
    max_seq_len: int
    gradient_checkpointing: bool
    precision: str
    use_cpu: bool
    target_modules: tuple[str, ...]
    steps_per_epoch: int
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Everything that decides the run, JSON-ready (goes into ``fit_result.json``)."""
        out = self.config.model_dump(mode="json")
        out.update(
            batch_size=self.batch_size,
            grad_accum=self.grad_accum,
            max_seq_len=self.max_seq_len,
            gradient_checkpointing=self.gradient_checkpointing,
            precision=self.precision,
            use_cpu=self.use_cpu,
            lora_target_modules=list(self.target_modules),
            steps_per_epoch=self.steps_per_epoch,
        )
        return out


_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def _activation_bytes_per_row(shape: ModelShape, seq_len: int, precision: str) -> int:
    # ~34 activations of size hidden per token per layer are kept for backward (attention
    # and MLP inputs/outputs), plus the logits (fp32) and their gradient.
    act = _BYTES.get(precision, 4)
    per_layer = 34 * seq_len * shape.hidden_size * act
    return shape.num_layers * per_layer + 2 * seq_len * shape.vocab_size * 4


def _static_bytes(shape: ModelShape, method: str, precision: str) -> int:
    if method == "qlora":
        weights = shape.params // 2 + shape.params // 32  # NF4 plus quantization constants
    elif method == "full":
        weights = shape.params * 4
    else:
        weights = shape.params * (4 if precision == "fp32" else 2)
    if method == "full":
        return weights + shape.params * 4 * 3  # gradients + two Adam moments
    trainable = shape.params // 100  # LoRA r=16 on every linear: about 1% of the weights
    return weights + trainable * 16


def resolve(
    config: FitConfig,
    /,
    *,
    choice: DeviceChoice,
    preset: ModelPreset,
    shape: ModelShape,
    n_train: int,
) -> Resolved:
    """Make every automatic choice of a config for this hardware, model and data size.

    Args:
        config: The user's config.
        choice: Device and precision (from :func:`~glimmer.train.device.choose_device`).
        preset: The model's preset (target modules, max sequence length).
        shape: Parameter count and layer sizes of the loaded model.
        n_train: Rows in the training split.

    Returns:
        The :class:`Resolved` settings, with one reason per automatic decision.
    """
    reasons: list[str] = []
    precision = choice.precision if config.precision == "auto" else config.precision
    seq_len = config.max_seq_len or preset.max_seq_len
    memory = choice.memory_bytes or 8 * 1024**3
    budget = int(memory * (0.8 if not choice.use_cpu else 0.5))
    free = budget - _static_bytes(shape, config.method, precision)
    per_row = _activation_bytes_per_row(shape, seq_len, precision)
    fits_without_ckpt = max(0, free // max(per_row, 1))

    if config.gradient_checkpointing is None:
        checkpointing = fits_without_ckpt < 1
        reasons.append(
            "gradient checkpointing on: one row of "
            f"{seq_len} tokens does not fit in memory without it"
            if checkpointing
            else "gradient checkpointing off: memory suffices (it costs about a third of the speed)"
        )
    else:
        checkpointing = config.gradient_checkpointing
    fits = fits_without_ckpt if not checkpointing else free // max(per_row // shape.num_layers, 1)

    # An effective batch of 16 rows, but at least ~8 optimizer steps per epoch on small data.
    effective = max(1, min(16, n_train // 8 or 1))
    if config.batch_size is None:
        cap = 4 if choice.use_cpu else 16  # a CPU gains nothing from wider batches
        batch = max(1, min(cap, effective, int(fits) or 1))
        batch = 1 << (batch.bit_length() - 1)  # a power of two
        reasons.append(f"batch size {batch} per device (from model size and memory)")
    else:
        batch = config.batch_size
    if config.grad_accum is None:
        grad_accum = max(1, math.ceil(effective / batch))
        reasons.append(f"gradient accumulation {grad_accum} (effective batch {batch * grad_accum})")
    else:
        grad_accum = config.grad_accum
    steps_per_epoch = max(1, math.ceil(math.ceil(n_train / batch) / grad_accum))
    targets = tuple(config.lora_target_modules or preset.lora_target_modules)
    return Resolved(
        config=config,
        batch_size=batch,
        grad_accum=grad_accum,
        max_seq_len=seq_len,
        gradient_checkpointing=checkpointing,
        precision=precision,
        use_cpu=choice.use_cpu,
        target_modules=targets,
        steps_per_epoch=steps_per_epoch,
        reasons=tuple(reasons),
    )


def to_lora_config(resolved: Resolved, /) -> LoraConfig:
    """peft ``LoraConfig`` for a resolved config."""
    from peft import LoraConfig

    cfg = resolved.config
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(resolved.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def _report_to(wanted: list[str]) -> list[str]:
    import importlib.util

    out = []
    for name in wanted:
        module = {"tensorboard": "tensorboard", "wandb": "wandb"}.get(name, name)
        if name == "none":
            return []
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


def to_sft_config(
    resolved: Resolved, /, *, output_dir: str | Path, has_eval: bool = True
) -> SFTConfig:
    """trl ``SFTConfig`` for a resolved config.

    Evaluation and a checkpoint each epoch (or, with ``max_steps``, every epoch's worth of
    steps and at the end), the best checkpoint by validation loss restored at the end,
    padding to the longest row of each batch, ``use_cpu`` where there is no GPU.
    """
    from trl.trainer.sft_config import SFTConfig

    cfg = resolved.config
    if not has_eval:
        every = max(1, min(resolved.steps_per_epoch, cfg.max_steps or resolved.steps_per_epoch))
        strategy: dict[str, Any] = {
            "eval_strategy": "no",
            "save_strategy": "steps",
            "save_steps": every,
        }
    elif cfg.max_steps is not None:
        every = max(1, min(resolved.steps_per_epoch, cfg.max_steps))
        strategy = {
            "eval_strategy": "steps",
            "save_strategy": "steps",
            "eval_steps": every,
            "save_steps": every,
        }
    else:
        strategy = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    logging_steps = cfg.logging_steps or max(1, resolved.steps_per_epoch // 10)
    # transformers 5 renamed gradient_checkpointing to activation_checkpointing
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    ckpt = (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
    strategy[ckpt] = resolved.gradient_checkpointing
    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=resolved.batch_size,
        per_device_eval_batch_size=resolved.batch_size,
        gradient_accumulation_steps=resolved.grad_accum,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,  # below 1: a ratio of the run's steps
        lr_scheduler_type=cfg.lr_scheduler,
        weight_decay=cfg.weight_decay,
        optim="paged_adamw_8bit" if cfg.method == "qlora" else "adamw_torch",
        bf16=resolved.precision == "bf16",
        fp16=resolved.precision == "fp16",
        use_cpu=resolved.use_cpu,
        max_length=resolved.max_seq_len,
        packing=False,
        padding_free=False,
        pad_to_multiple_of=None,
        logging_steps=logging_steps,
        logging_first_step=True,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False,
        include_num_input_tokens_seen="non_padding",
        save_total_limit=cfg.save_total_limit,
        report_to=_report_to(cfg.report_to),
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=True,
        dataloader_pin_memory=not resolved.use_cpu,
        remove_unused_columns=False,
        # every LoRA parameter gets a gradient each step: no search for unused ones under DDP
        ddp_find_unused_parameters=False if cfg.method in {"lora", "qlora"} else None,
        shuffle_dataset=False,
        dataset_num_proc=None,
        **strategy,
    )
