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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from glimmer._toml import loads_toml
from glimmer.errors import FitConfigError, FitMemoryError, Location

if TYPE_CHECKING:  # pragma: no cover
    from peft import LoraConfig
    from trl.trainer.sft_config import SFTConfig

    from glimmer.train.device import DeviceChoice
    from glimmer.train.models import ModelPreset
    from glimmer.train.plan import ModelShape

__all__ = [
    "DEFAULT_REPLAY_SAMPLES",
    "FitConfig",
    "FitConfigError",
    "FitMemoryError",
    "Resolved",
    "resolve",
]

Method = Literal["lora", "qlora", "full"]


#: Self-replay rows learned beside the records unless asked otherwise: on the demo, 48 rows
#: of 128 tokens held the tuned model's everyday perplexity to +7% of the base model's
#: (+71% without; docs/demonstrating.md).
DEFAULT_REPLAY_SAMPLES = 48


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
            close to the base model's (see :mod:`glimmer.train.replay`); default
            ``DEFAULT_REPLAY_SAMPLES`` (48), 0 turns it off.
        replay_tokens: Length in tokens of each replay row's sampled text.
        replay_chats: Everyday chat requests the base model answers before training; the
            adapter learns its token distributions on those answers (KL, top
            ``bake_top_k``), so that plain questions keep the base model's answers (chat
            replay, see :mod:`glimmer.train.replay`); 0 (default) turns it off.
        bake: A GLIMMER pattern file to bake into the weights: the base model with the
            pattern in its system prompt answers prompts of the dataset, and the adapter
            learns its token distributions without the prompt (see :mod:`glimmer.train.bake`).
        bake_glossary: Glossary TOML whose summary the baking teacher also sees; ``None``:
            the bundled STARWEAVE glossary.
        bake_samples: Dataset prompts the baking teacher answers.
        bake_tokens: Longest teacher answer in tokens (also of chat replay answers).
        bake_top_k: Teacher tokens per position the student is matched on (baking and chat
            replay).
        batch_size: Rows per device per step; ``None``: from model and memory.
        grad_accum: Gradient accumulation steps; ``None``: from batch size and data size.
        max_seq_len: Longest row in tokens (longer rows are truncated); ``None``: the preset's.
        gradient_checkpointing: ``None``: only when memory needs it.
        gpu_memory: Plan for this much GPU memory instead of the whole card: a size such as
            ``"20GB"``, a GPU name (``"7900xtx"``) or a number of bytes. Use it when the card
            also drives a display or another job. On a CUDA or ROCm GPU the run is also held
            to it (``torch.cuda.set_per_process_memory_fraction``), so a plan that is wrong
            fails early instead of taking memory it was not given.
        precision: ``"auto"`` (from the hardware), ``"bf16"``, ``"fp16"`` or ``"fp32"``.
        early_stopping_patience: Epochs without a better validation loss before stopping;
            ``None`` disables early stopping.
        save_total_limit: Checkpoints kept on disk (the best one is always kept).
        logging_steps: Log the training loss every N steps; ``None``: about 10 times an epoch.
        report_to: Loggers: ``["tensorboard"]`` by default; one that is not installed is
            left out with a warning (and not recorded in ``fit_result.json``).
        seed: Random seed for shuffling, dropout and LoRA initialisation.
        trust_remote_code: Run code shipped with the model (off unless you ask).
        progress: Show a progress bar with loss and tokens/s.
        push_to_hub: Upload checkpoints to the Hugging Face hub as the trainer saves them
            (needs ``huggingface-cli login``); passed to the trainer.
        hub_model_id: The hub repository (``"you/name"``) for ``push_to_hub``.
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
    replay_samples: int = Field(default=DEFAULT_REPLAY_SAMPLES, ge=0)
    replay_tokens: int = Field(default=128, gt=0)
    replay_chats: int = Field(default=0, ge=0)
    bake: str | None = None
    bake_glossary: str | None = None
    bake_samples: int = Field(default=64, gt=0)
    bake_tokens: int = Field(default=128, gt=0)
    bake_top_k: int = Field(default=20, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    grad_accum: int | None = Field(default=None, gt=0)
    max_seq_len: int | None = Field(default=None, gt=8)
    gradient_checkpointing: bool | None = None
    gpu_memory: str | int | None = None
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    early_stopping_patience: int | None = Field(default=2, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    logging_steps: int | None = Field(default=None, gt=0)
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    seed: int = 0
    trust_remote_code: bool = False
    progress: bool = True
    push_to_hub: bool = False
    hub_model_id: str | None = None

    @field_validator("bake", "bake_glossary", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @field_validator("gpu_memory")
    @classmethod
    def _known_size(cls, value: str | int | None) -> str | int | None:
        from glimmer.train.plan import gpu_capacity

        gpu_capacity(value)  # an unknown name or a bad size fails here, before any work
        return value

    def gpu_memory_bytes(self) -> int | None:
        """``gpu_memory`` in bytes (``None``: the whole card).

        >>> FitConfig(gpu_memory="20GB").gpu_memory_bytes() == 20 * 2**30
        True
        """
        from glimmer.train.plan import gpu_capacity

        return gpu_capacity(self.gpu_memory)[1]

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
            GlimmerFileError: The file is missing, not UTF-8, a pipe or too large.

        Examples:
            ```toml
            [fit]
            model = "smollm2-135m"
            epochs = 2
            lora_r = 8
            ```
        """
        from glimmer.model.io import read_text

        file = Path(path)
        text = read_text(file)  # bounded; a missing, binary or pipe file is a GlimmerFileError
        data = loads_toml(
            text, source=str(file), error=FitConfigError, hint="see https://toml.io for the syntax"
        )
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
    plan_bytes: int | None = None

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
            memory_plan_bytes=self.plan_bytes,
        )
        return out


def resolve(
    config: FitConfig,
    /,
    *,
    choice: DeviceChoice,
    preset: ModelPreset,
    shape: ModelShape | None,
    n_train: int,
) -> Resolved:
    """Make every automatic choice of a config for this hardware, model and data size.

    Batch size and gradient checkpointing come from the memory planner
    (:func:`~glimmer.train.plan.auto_plan`): the largest power-of-two batch whose plan leaves
    10% of the GPU free, checkpointing only when a batch of one does not fit without it.

    Args:
        config: The user's config.
        choice: Device and precision (from :func:`~glimmer.train.device.choose_device`).
        preset: The model's preset (target modules, max sequence length).
        shape: The model's shape (:func:`~glimmer.train.plan.model_shape`), known before
            any weight is loaded; ``None`` for an architecture the planner cannot count
            (then batch 1 and no checkpointing unless the config says otherwise).
        n_train: Rows in the training split.

    Returns:
        The :class:`Resolved` settings, with one reason per automatic decision.

    Raises:
        FitMemoryError: On a GPU, nothing fits its memory (code G530); the message says
            what would (QLoRA, shorter rows, a smaller batch).
    """
    from glimmer.train.plan import auto_plan

    reasons: list[str] = []
    loggers = _report_to(config.report_to)
    if loggers != [n for n in config.report_to if n != "none"] and "none" not in config.report_to:
        absent = [n for n in config.report_to if n not in loggers]
        reasons.append(
            f"warning: logger(s) {', '.join(absent)} not installed: not logging there "
            f"(pip install {' '.join(absent)})"
        )
        config = config.model_copy(update={"report_to": loggers})
    precision = choice.precision if config.precision == "auto" else config.precision
    seq_len = config.max_seq_len or preset.max_seq_len
    targets = tuple(config.lora_target_modules or preset.lora_target_modules)
    memory = choice.memory_bytes or 8 * 1024**3
    budget = config.gpu_memory_bytes()
    if budget is not None and not choice.use_cpu:
        reasons.append(
            f"planning for {budget / 2**30:.1f} GiB of the GPU's {memory / 2**30:.1f} GiB "
            "(gpu_memory)"
        )
        memory = min(memory, budget)
    elif budget is not None:
        reasons.append("gpu_memory ignored: training on the CPU")
    # An effective batch of 16 rows, but at least ~8 optimizer steps per epoch on small data.
    effective = max(1, min(16, n_train // 8 or 1))
    cap = 4 if choice.use_cpu else 16  # a CPU gains nothing from wider batches
    if shape is None:
        return _unplanned(config, choice, precision, seq_len, targets, effective, n_train)
    known = shape.linear_shapes()
    auto = auto_plan(
        shape,
        method=config.method,
        gpu=memory,
        seq_len=seq_len,
        max_batch=min(cap, effective),
        batch=config.batch_size,
        gradient_checkpointing=config.gradient_checkpointing,
        lora_r=config.lora_r,
        target_modules=[t for t in targets if t in known] or list(known),
        lora_dropout=config.lora_dropout,
        dtype=precision,
        device="cpu" if choice.use_cpu else "gpu",
    )
    where = "RAM" if choice.use_cpu else "GPU memory"
    verdict = (
        f"memory plan: peak {auto.plan.total / 2**30:.1f} GiB of {memory / 2**30:.1f} GiB {where}"
    )
    if not auto.fits:
        advice = "; ".join(auto.advice) or "use a machine with more memory"
        if not choice.use_cpu:
            raise FitMemoryError(
                f"{config.method} at {seq_len} tokens does not fit this GPU "
                f"({auto.plan.total / 2**30:.1f} GiB needed with batch {auto.batch_size}"
                f"{' and gradient checkpointing' if auto.gradient_checkpointing else ''}, "
                f"{memory / 2**30:.1f} GiB on the device, {auto.headroom:.0%} kept free)",
                location=Location(source=config.model),
                hint=advice,
            )
        reasons.append(f"{verdict}: may not fit ({advice})")
    else:
        reasons.append(f"{verdict}, {auto.headroom:.0%} kept free")
    checkpointing = auto.gradient_checkpointing
    if config.gradient_checkpointing is None:
        reasons.append(
            "gradient checkpointing on: one row of "
            f"{seq_len} tokens does not fit in memory without it"
            if checkpointing
            else "gradient checkpointing off: memory suffices (it costs about a third of the speed)"
        )
    batch = auto.batch_size
    if config.batch_size is None:
        reasons.append(f"batch size {batch} per device (from the memory plan)")
    if config.grad_accum is None:
        grad_accum = max(1, math.ceil(effective / batch))
        reasons.append(f"gradient accumulation {grad_accum} (effective batch {batch * grad_accum})")
    else:
        grad_accum = config.grad_accum
    steps_per_epoch = max(1, math.ceil(math.ceil(n_train / batch) / grad_accum))
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
        plan_bytes=auto.plan.total,
    )


def _unplanned(
    config: FitConfig,
    choice: DeviceChoice,
    precision: str,
    seq_len: int,
    targets: tuple[str, ...],
    effective: int,
    n_train: int,
) -> Resolved:
    """Settings for a model the planner cannot count: the user's, else batch 1."""
    batch = config.batch_size or 1
    grad_accum = config.grad_accum or max(1, math.ceil(effective / batch))
    return Resolved(
        config=config,
        batch_size=batch,
        grad_accum=grad_accum,
        max_seq_len=seq_len,
        gradient_checkpointing=bool(config.gradient_checkpointing),
        precision=precision,
        use_cpu=choice.use_cpu,
        target_modules=targets,
        steps_per_epoch=max(1, math.ceil(math.ceil(n_train / batch) / grad_accum)),
        reasons=(
            f"no memory plan for this architecture: batch size {batch}, gradient "
            f"accumulation {grad_accum} (set batch_size to change it)",
        ),
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
        push_to_hub=cfg.push_to_hub,
        hub_model_id=cfg.hub_model_id,
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
