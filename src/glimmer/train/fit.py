"""fit(): LoRA, QLoRA or full fine-tuning, a thin layer over trl's SFTTrainer and peft.

What glimmer adds to using trl by hand: device and precision chosen from the hardware
(and printed), batch size and gradient checkpointing from memory, completion-only labels
for any chat template (multi-turn included, end-of-turn token learned), a pad token that
never hides the end-of-turn token, padding to the longest row of each batch, validation
each epoch with early stopping and the best checkpoint kept, TensorBoard logs, a progress
bar with loss and tokens/s, resume after an interruption, and a :class:`FitResult`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, get_args

from glimmer._log import get_logger
from glimmer.data.records import chat_messages, read_chats
from glimmer.errors import (
    FitDataError,
    FitOutputError,
    Location,
    QLoRAUnavailableError,
)
from glimmer.extras import require
from glimmer.train.config import (
    FitConfig,
    Resolved,
    resolve,
    to_lora_config,
    to_sft_config,
)
from glimmer.train.device import DeviceChoice, Precision, choose_device, distributed_warning
from glimmer.train.masking import end_of_turn_token, tokenize_chat
from glimmer.train.models import ModelPreset, load_model, prepare_messages, resolve_model
from glimmer.train.outdir import clear_previous_run
from glimmer.train.plan import known_shape, shape_of
from glimmer.train.result import FitResult, LossPoint

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

__all__ = [
    "FitDataError",
    "FitOutputError",
    "QLoRAUnavailableError",
    "fit",
    "last_checkpoint",
    "load_chat_splits",
]

Messages = list[dict[str, str]]


# --------------------------------------------------------------------------- data


def _messages_of(record: Any, *, source: str, index: int) -> Messages:
    return chat_messages(record, source=source, line=index + 1, error=FitDataError)


#: The largest JSON-lines file fit() reads (its records are held in memory anyway).
MAX_DATASET_BYTES = 2 * 1024**3


def _read_jsonl(path: Path) -> list[Messages]:
    return read_chats(path, error=FitDataError, limit=MAX_DATASET_BYTES)


def load_chat_splits(dataset: Any, /) -> tuple[list[Messages], list[Messages]]:
    """Read the train and validation conversations from whatever fit() accepts.

    Args:
        dataset: A ``DatasetSplits`` (``.train`` / ``.validation``), a ``datasets.DatasetDict``
            (``train`` and ``validation`` or ``test``), a folder with
            ``train.jsonl`` (and ``validation.jsonl``), a ``.jsonl`` file, or a list of
            chat records (``ChatRecord`` or ``{"messages": [...]}`` dicts).

    Returns:
        ``(train, validation)`` as lists of message lists; validation may be empty.

    Raises:
        FitDataError: Nothing to train on, or records that are not chats.
    """
    if isinstance(dataset, str | Path):
        path = Path(dataset)
        if path.is_dir():
            train_file = path / "train.jsonl"
            if not train_file.is_file():
                raise FitDataError(
                    f"{path} has no train.jsonl",
                    location=Location(source=str(path)),
                    hint="write one with `glimmer build -o DIR`",
                )
            val_file = path / "validation.jsonl"
            val = _read_jsonl(val_file) if val_file.is_file() else []
            train = _read_jsonl(train_file)
        elif path.is_file():
            train, val = _read_jsonl(path), []
        else:
            raise FitDataError(
                f"{path} does not exist", location=Location(source=str(path)), code="G506"
            )
    elif isinstance(dataset, Mapping) and "train" in dataset:  # a datasets.DatasetDict
        held_out = dataset.get("validation") or dataset.get("test") or []
        train = [_messages_of(r, source="<train>", index=i) for i, r in enumerate(dataset["train"])]
        val = [_messages_of(r, source="<validation>", index=i) for i, r in enumerate(held_out)]
    elif hasattr(dataset, "train"):
        train = [_messages_of(r, source="<train>", index=i) for i, r in enumerate(dataset.train)]
        val = [
            _messages_of(r, source="<validation>", index=i)
            for i, r in enumerate(getattr(dataset, "validation", None) or [])
        ]
    elif isinstance(dataset, Iterable) and not isinstance(dataset, Mapping):
        train = [_messages_of(r, source="<records>", index=i) for i, r in enumerate(dataset)]
        val = []
    else:
        raise FitDataError(
            f"cannot train on a {type(dataset).__name__}",
            hint="pass DatasetSplits, a folder with train.jsonl, or a list of ChatRecord",
        )
    if not train:
        raise FitDataError("the training split is empty", hint="build a dataset first")
    return train, val


# --------------------------------------------------------------------------- helpers


def last_checkpoint(output_dir: str | Path, /) -> Path | None:
    """The newest complete ``checkpoint-N`` folder in *output_dir*, if any."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") in {"0", ""}


_log = get_logger(__name__)


def _say(message: str, *, level: int = logging.INFO) -> None:
    """Report through logging (``glimmer.train.fit``), from the main process only."""
    if _is_main_process():
        _log.log(level, message)


def _distinct_pad(
    tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, eot: str | None
) -> list[str]:
    """Make the pad token differ from end-of-turn and EOS; say what changed."""
    vocab = tokenizer.get_vocab()
    stops = {vocab[t] for t in (eot, tokenizer.eos_token) if isinstance(t, str) and t in vocab}
    notes: list[str] = []
    pad_id = tokenizer.pad_token_id
    if pad_id is None or pad_id in stops:
        old = tokenizer.pad_token
        for candidate in ("<|endoftext|>", "<pad>", "<|pad|>", "<unk>", tokenizer.unk_token):
            if isinstance(candidate, str) and candidate in vocab and vocab[candidate] not in stops:
                tokenizer.pad_token = candidate
                break
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            model.resize_token_embeddings(len(tokenizer))
        notes.append(
            f"pad token {tokenizer.pad_token!r} instead of {old!r}, which ends turns "
            "(padding must never hide the end-of-turn token)"
            if old
            else f"pad token {tokenizer.pad_token!r} (the tokenizer had none)"
        )
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        eot_id = vocab.get(eot) if eot else None
        eos = model.generation_config.eos_token_id
        eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        if eot_id is not None and eot_id not in eos_ids:
            model.generation_config.eos_token_id = [*eos_ids, eot_id]
    return notes


def _tokenize_all(
    rows: list[Messages],
    tokenizer: PreTrainedTokenizerBase,
    *,
    preset: ModelPreset,
    eot: str | None,
    max_len: int,
) -> dict[str, list[list[int]]]:
    ids: list[list[int]] = []
    labels: list[list[int]] = []
    for messages in rows:
        chat = tokenize_chat(
            prepare_messages(messages, preset=preset),
            tokenizer,
            end_of_turn=eot,
            max_length=max_len,
        )
        if any(label != -100 for label in chat.labels):
            ids.append(chat.input_ids)
            labels.append(chat.labels)
    return {"input_ids": ids, "labels": labels}


def _check_kept(split: str, kept: int, given: int, max_len: int) -> str | None:
    """Fail when truncation left no row with an answer to learn; else a note on the dropped."""
    if given and not kept:
        raise FitDataError(
            f"no {split} row keeps an answer token within max_seq_len {max_len}: every "
            "answer starts after the cut",
            hint="raise --max-seq-len, or shorten the prompts (and system prompts) of the records",
        )
    if kept < given:
        return (
            f"{given - kept} of {given} {split} rows dropped: their answer starts after "
            f"max_seq_len {max_len} tokens"
        )
    return None


def _with_replay(
    train_ds: Any, net: Any, tokenizer: PreTrainedTokenizerBase, cfg: FitConfig, *, max_len: int
) -> Any:
    """The training set with ``cfg.replay_samples`` rows sampled from the base model added."""
    from datasets import Dataset  # type: ignore[import-untyped,unused-ignore]
    from rich.progress import Progress

    from glimmer.train.replay import sample_replay

    t = time.perf_counter()
    with Progress(transient=True, disable=not (cfg.progress and _is_main_process())) as bar:
        task = bar.add_task("glimmer self-replay", total=cfg.replay_samples)
        rows = sample_replay(
            net,
            tokenizer,
            cfg.replay_samples,
            max_new_tokens=min(cfg.replay_tokens, max_len - 16),
            seed=cfg.seed,
            on_batch=lambda done: bar.update(task, completed=done),
        )
    _say(
        f"self-replay: {len(rows.input_ids)} rows of text sampled from the base model "
        f"({rows.tokens} tokens, {time.perf_counter() - t:.0f}s) learned beside the chat records"
    )
    return Dataset.from_dict(
        {
            "input_ids": list(train_ds["input_ids"]) + rows.input_ids,
            "labels": list(train_ds["labels"]) + rows.labels,
        }
    )


def _peak_memory_bytes(choice: DeviceChoice) -> int:
    if choice.device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _history(log_history: list[dict[str, Any]]) -> tuple[list[LossPoint], list[LossPoint]]:
    train: list[LossPoint] = []
    evals: list[LossPoint] = []
    for entry in log_history:
        step, epoch = int(entry.get("step", 0)), float(entry.get("epoch", 0.0))
        if "loss" in entry:
            train.append(LossPoint(step=step, epoch=epoch, loss=float(entry["loss"])))
        if "eval_loss" in entry:
            evals.append(LossPoint(step=step, epoch=epoch, loss=float(entry["eval_loss"])))
    return train, evals


#: Written into each checkpoint: the choices a resumed run must keep (JSON).
RUN_STATE_FILE = "glimmer_run.json"


def _run_state(precision: str) -> TrainerCallback:
    """A callback that records the run's precision in each checkpoint, for a resume."""
    from transformers import TrainerCallback

    class RunState(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir() and _is_main_process():
                (folder / RUN_STATE_FILE).write_text(
                    json.dumps({"precision": precision}), encoding="utf-8"
                )

    return RunState()


def _resumed_precision(checkpoint: Path | None) -> Precision | None:
    """The precision a checkpoint was trained in, when it says (``None`` otherwise)."""
    if checkpoint is None:
        return None
    try:
        value = json.loads((checkpoint / RUN_STATE_FILE).read_text("utf-8")).get("precision")
    except (OSError, ValueError, AttributeError):
        return None
    return cast("Precision", value) if value in get_args(Precision) else None


def _callbacks(resolved: Resolved, has_eval: bool) -> list[TrainerCallback]:
    from transformers import EarlyStoppingCallback

    from glimmer.train.progress import FitProgress

    out: list[TrainerCallback] = []
    cfg = resolved.config
    if has_eval and cfg.early_stopping_patience is not None:
        out.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    out.append(FitProgress(enabled=cfg.progress and _is_main_process()))
    out.append(_run_state(resolved.precision))
    return out


def _speed_notes(trainer: Any, *, seed: int) -> str:
    """Length-grouped batches, the chunked LM-head loss, cheap LoRA dropout; in one line."""
    from glimmer.train.batching import group_trainer_batches
    from glimmer.train.dropout import use_cheap_lora_dropout
    from glimmer.train.loss import add_chunked_lm_head

    at_random, grouped = group_trainer_batches(trainer, seed=seed)
    model = trainer.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if add_chunked_lm_head(base):
        head = "chunked over the learned tokens"
    elif "forward" in base.__dict__:
        head = "trl's fused head"
    else:
        head = "the model's own (full logits: a trl without a fused head)"
    cheap = use_cheap_lora_dropout(model)
    drops = f"; LoRA dropout from 48-bit draws in {cheap} layers" if cheap else ""
    return (
        f"batches grouped by length: {grouped:.0%} padding instead of {at_random:.0%}; "
        f"LM-head loss: {head}{drops}"
    )


# --------------------------------------------------------------------------- fit


def fit(
    dataset: Any,
    /,
    *,
    model: str | None = None,
    method: str | None = None,
    output_dir: str | Path = "glimmer-fit",
    config: FitConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    **overrides: Any,
) -> FitResult:
    """Fine-tune a model on chat records with LoRA, QLoRA or full fine-tuning.

    Args:
        dataset: ``DatasetSplits``, a ``datasets.DatasetDict`` with ``train`` and
            ``validation``, a folder with ``train.jsonl``/``validation.jsonl`` (as
            ``glimmer build`` writes), or a list of ``ChatRecord``.
        model: Preset name, hub id or local folder (default: the embedded SmolLM2).
        method: ``"lora"`` (default), ``"qlora"`` or ``"full"``.
        output_dir: Where checkpoints, TensorBoard logs, the adapter and
            ``fit_result.json`` go.
        config: A :class:`FitConfig`; ``model``, ``method`` and ``overrides`` replace its fields.
        resume: Continue from the last checkpoint in ``output_dir``.
        overwrite: Delete a previous run in ``output_dir`` and start over.
        callbacks: Extra transformers ``TrainerCallback`` objects.
        **overrides: Any :class:`FitConfig` field (``epochs=1``, ``max_steps=20``, ``lora_r=8``).

    Returns:
        The :class:`FitResult` (also written to ``output_dir/fit_result.json``).

    Raises:
        FitDataError: The dataset is missing, empty or not chat records.
        FitConfigError: An unknown option or a bad value.
        FitOutputError: ``output_dir`` holds a previous run and neither resume nor overwrite was asked.
        QLoRAUnavailableError: ``method="qlora"`` where bitsandbytes cannot run.
        GlimmerModelError: The model cannot be loaded.

    Examples:
        >>> result = glimmer.fit("data/", max_steps=30)  # doctest: +SKIP
        >>> result.adapter_path  # doctest: +SKIP
        'glimmer-fit/adapter'
    """
    require("train", feature="fit()")
    cfg = _config(config, model=model, method=method, overrides=overrides)
    out = Path(output_dir)
    bake_system = None
    if cfg.bake is not None:  # a bad pattern or glossary stops the run before anything is written
        from glimmer.train.bake import bake_system_prompt

        bake_system = bake_system_prompt(cfg.bake, glossary=cfg.bake_glossary)
    choice = _device(cfg, out, resume=resume)
    checkpoint, start_over = _output_policy(out, resume=resume, overwrite=overwrite)
    train_rows, val_rows = load_chat_splits(dataset)
    n_rows = (
        len(train_rows)
        + cfg.replay_samples
        + cfg.replay_chats
        + (cfg.bake_samples if cfg.bake else 0)
    )
    run = _load(cfg, choice, n_rows=n_rows)
    if start_over:  # only now that the data and the model are known good
        clear_previous_run(out, keep=[dataset] if isinstance(dataset, str | Path) else [])
    _say(
        f"{cfg.method} on {cfg.model}: {len(train_rows)} train / {len(val_rows)} validation rows, "
        f"lr {cfg.learning_rate:g}, warmup {cfg.warmup_ratio:.0%} of the run, "
        + (f"{cfg.max_steps} steps" if cfg.max_steps else f"{cfg.epochs:g} epochs")
    )
    train_ds, eval_ds = _datasets(run, train_rows, val_rows, bake_system=bake_system)
    run.net = _with_adapter(run)
    _cap_gpu_memory(cfg, choice)
    trainer = build_trainer(
        run,
        train_ds,
        eval_ds,
        output_dir=out,
        bake=bake_system is not None or cfg.replay_chats > 0,
        callbacks=callbacks,
    )
    _train(trainer, checkpoint)
    return _finish(trainer, run, output_dir=out, dataset=dataset)


@dataclass
class _Run:
    """What the steps of :func:`fit` hand on: the settings, the device, the loaded model."""

    cfg: FitConfig
    choice: DeviceChoice
    preset: ModelPreset
    resolved: Resolved
    net: Any
    tokenizer: Any
    eot: str | None
    quantized: bool


def _config(
    config: FitConfig | None, *, model: str | None, method: str | None, overrides: Mapping[str, Any]
) -> FitConfig:
    """The run's settings: *config*, then *model* and *method*, then the keyword overrides."""
    base = config.model_dump(exclude_unset=True) if config is not None else {}
    if model is not None:
        base["model"] = model
    if method is not None:
        base["method"] = method
    return FitConfig.from_overrides(**{**base, **overrides})


def _device(cfg: FitConfig, out: Path, *, resume: bool) -> DeviceChoice:
    """Device and precision (a resumed run keeps its checkpoint's); QLoRA needs a GPU."""
    warning = distributed_warning()
    if warning:
        _say(warning, level=logging.WARNING)
    forced = None if cfg.precision == "auto" else cfg.precision
    # a resumed run keeps the precision it was trained in (bf16 is chosen by measuring it,
    # and a second measurement may land on the other side)
    resumed_in = _resumed_precision(last_checkpoint(out)) if resume and forced is None else None
    if resumed_in is not None:
        _say(f"resuming in {resumed_in}, the precision the checkpoint was trained in")
        forced = resumed_in
    choice = choose_device(precision=forced, verbose=_is_main_process())
    if cfg.method == "qlora" and not choice.qlora:
        where = "a CPU" if choice.use_cpu else f"this {choice.backend} device"
        raise QLoRAUnavailableError(
            f"QLoRA needs bitsandbytes on a CUDA or ROCm GPU; it cannot run on {where}",
            hint='use method="lora" (same adapters, full-precision base), or on a GPU install '
            "bitsandbytes (`pip install glimmer-dsl[qlora]`; for ROCm the bitsandbytes ROCm build)",
        )
    return choice


def _output_policy(out: Path, *, resume: bool, overwrite: bool) -> tuple[Path | None, bool]:
    """The checkpoint to resume from, and whether a previous run is to be cleared.

    Nothing is deleted here; a folder holding a run is refused unless *resume* or
    *overwrite* says what to do with it, and only what fit wrote is ever cleared.
    """
    checkpoint = last_checkpoint(out) if resume else None
    start_over = False
    if out.exists() and any(out.iterdir()) and not resume:
        previous = last_checkpoint(out) or (out / "fit_result.json").exists()
        if previous and not overwrite:
            raise FitOutputError(
                f"{out} already holds a training run",
                location=Location(source=str(out)),
                hint="pass resume=True (--resume) to continue it, or overwrite=True (--force) "
                "to start over",
            )
        start_over = bool(previous and overwrite and _is_main_process())
    if resume and checkpoint is None:
        _say(f"no checkpoint in {out}: starting from the beginning")
    return checkpoint, start_over


def _load(cfg: FitConfig, choice: DeviceChoice, *, n_rows: int) -> _Run:
    """The memory plan (before any weight is loaded when the shape is known), then the model."""
    preset = resolve_model(cfg.model)
    from transformers import set_seed

    set_seed(cfg.seed)  # LoRA initialisation and dropout are part of the run's identity
    qconfig = None
    if cfg.method == "qlora":  # pragma: no cover - needs a GPU with bitsandbytes
        import torch
        from transformers import BitsAndBytesConfig

        qconfig = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if choice.precision == "bf16" else torch.float16,
        )
    shape = known_shape(cfg.model)
    resolved = (
        resolve(cfg, choice=choice, preset=preset, shape=shape, n_train=n_rows) if shape else None
    )
    # Adapters train on a frozen base held in the precision the run computes in: on a GPU its
    # bf16 or fp16, on a CPU bf16 where bf16 was chosen (autocast then has no fp32 weight to
    # cast each step; benchmarks/fit.py on a 2-core AMX CPU: 166 -> 205 tokens/s, peak RSS
    # 5.55 -> 4.75 GiB). Full fine-tuning keeps fp32 master weights.
    held = choice.device == "cuda" or choice.precision == "bf16"
    load_dtype = choice.precision if (held and cfg.method != "full") else "fp32"
    net, tokenizer = load_model(
        cfg.model,
        dtype=load_dtype,
        device=None if choice.use_cpu or qconfig is not None else choice.device,
        trust_remote_code=cfg.trust_remote_code,
        quantization_config=qconfig,
    )
    eot = end_of_turn_token(tokenizer, preset.end_of_turn)
    notes = _distinct_pad(tokenizer, net, eot)
    if resolved is None:  # a model glimmer has no shape for until its config is loaded
        resolved = resolve(
            cfg, choice=choice, preset=preset, shape=shape_of(net.config.to_dict()), n_train=n_rows
        )
    for line in (*resolved.reasons, *notes):
        _say(line)
    return _Run(cfg, choice, preset, resolved, net, tokenizer, eot, qconfig is not None)


def _with_teacher(
    run: _Run, train_ds: Any, system: str | None, prompts: list[str], *, max_len: int
) -> Any:
    """*train_ds* with KL rows: the baking teacher's answers (*system*: the pattern's prompt)
    or, with ``system=None``, chat replay (the base model's answers to everyday requests)."""
    from glimmer.train.bake import with_bake

    cfg = run.cfg
    if system is None:
        label, what = "glimmer chat replay", "chat replay: base model answers to everyday requests"
    else:
        label, what = "glimmer bake: teacher answers", f"bake {Path(str(cfg.bake)).name}"
    train_ds, rows, seconds = with_bake(
        train_ds,
        run.net,
        run.tokenizer,
        prompts,
        system=system,
        config=cfg,
        eot=run.eot,
        system_role=run.preset.system_role,
        max_len=max_len,
        progress=cfg.progress and _is_main_process(),
        label=label,
    )
    _say(
        f"{what}: {len(rows.input_ids)} rows ({rows.tokens} tokens, top-{cfg.bake_top_k}, "
        f"{seconds:.0f}s) learned by KL beside the other rows"
    )
    return train_ds


def _datasets(
    run: _Run, train_rows: list[Messages], val_rows: list[Messages], *, bake_system: str | None
) -> tuple[Any, Any | None]:
    """Tokenized splits (labels on the assistant's turns only), with replay and bake rows."""
    from datasets import Dataset  # type: ignore[import-untyped,unused-ignore]

    cfg, max_len = run.cfg, run.resolved.max_seq_len

    def tokenized(rows: list[Messages]) -> Any:
        return Dataset.from_dict(
            _tokenize_all(rows, run.tokenizer, preset=run.preset, eot=run.eot, max_len=max_len)
        )

    train_ds = tokenized(train_rows)
    eval_ds = tokenized(val_rows) if val_rows else None
    for split, kept, given in (
        ("training", len(train_ds), len(train_rows)),
        ("validation", 0 if eval_ds is None else len(eval_ds), len(val_rows or [])),
    ):
        note = _check_kept(split, kept, given, max_len)
        if note:
            _say(note)
    if cfg.replay_samples:
        train_ds = _with_replay(train_ds, run.net, run.tokenizer, cfg, max_len=max_len)
    if cfg.replay_chats:
        from glimmer.train.replay import everyday_requests

        asks = everyday_requests(cfg.replay_chats, seed=cfg.seed)
        train_ds = _with_teacher(run, train_ds, None, asks, max_len=max_len)
    if bake_system is not None:
        from glimmer.train.bake import bake_prompts

        asks = bake_prompts(train_rows, cfg.bake_samples, seed=cfg.seed)
        train_ds = _with_teacher(run, train_ds, bake_system, asks, max_len=max_len)
    return train_ds, eval_ds if eval_ds is not None and len(eval_ds) > 0 else None


def _with_adapter(run: _Run) -> Any:
    """The model with its LoRA adapter (k-bit preparation first for QLoRA); as is for full."""
    net = run.net
    if run.cfg.method not in {"lora", "qlora"}:
        return net
    from peft import get_peft_model, prepare_model_for_kbit_training

    from glimmer.train.progress import quiet_libraries

    if run.quantized:  # pragma: no cover - needs a GPU with bitsandbytes
        net = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            net, use_gradient_checkpointing=run.resolved.gradient_checkpointing
        )
    elif run.resolved.gradient_checkpointing:
        net.enable_input_require_grads()
    with quiet_libraries():
        return get_peft_model(net, to_lora_config(run.resolved))


def _cap_gpu_memory(cfg: FitConfig, choice: DeviceChoice) -> None:
    """On CUDA: peak statistics from zero, and the process held to ``gpu_memory``."""
    if choice.device != "cuda":
        return
    import torch

    torch.cuda.reset_peak_memory_stats()
    budget = cfg.gpu_memory_bytes()
    if budget is not None and choice.memory_bytes:
        torch.cuda.set_per_process_memory_fraction(min(1.0, budget / choice.memory_bytes))


def build_trainer(
    run: _Run,
    train_ds: Any,
    eval_ds: Any | None,
    *,
    output_dir: Path,
    bake: bool,
    callbacks: Sequence[TrainerCallback] = (),
) -> Any:
    """trl's ``SFTTrainer`` (``BakeTrainer`` when baking) for the run, glimmer's bar in place.

    The one place :func:`fit` makes its trainer: a test replaces it to check the plumbing
    around training without training.
    """
    from trl.trainer.sft_trainer import SFTTrainer

    from glimmer.train.progress import quiet_libraries

    trainer_cls: type[SFTTrainer] = SFTTrainer
    extra: dict[str, Any] = {}
    if bake:
        from glimmer.train.bake import BakeTrainer

        trainer_cls, extra = BakeTrainer, {"bake_top_k": run.cfg.bake_top_k}
    has_eval = eval_ds is not None
    with quiet_libraries():
        trainer = trainer_cls(
            **extra,
            model=run.net,
            args=to_sft_config(run.resolved, output_dir=output_dir, has_eval=has_eval),
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=run.tokenizer,
            callbacks=[*_callbacks(run.resolved, has_eval), *callbacks],
        )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)  # glimmer's own bar shows loss and tokens/s
    trainer.remove_callback(ProgressCallback)
    _say(_speed_notes(trainer, seed=run.cfg.seed))
    return trainer


def _train(trainer: Any, checkpoint: Path | None) -> None:
    """Train, from *checkpoint* when resuming."""
    from glimmer.train.progress import quiet_libraries

    if checkpoint is not None:
        state = json.loads((checkpoint / "trainer_state.json").read_text("utf-8"))
        _say(f"resuming from {checkpoint.name} (step {state.get('global_step', '?')})")
    with quiet_libraries(), _lora_in_autocast(trainer):
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)


class _CastUnlessAutocast:
    """peft's ``cast_input_dtype_enabled`` switch, true only while autocast is off."""

    def __init__(self, device_type: str) -> None:
        self.device_type = device_type

    def __bool__(self) -> bool:
        import torch

        return not torch.is_autocast_enabled(self.device_type)


@contextlib.contextmanager
def _lora_in_autocast(trainer: Any) -> Iterator[None]:
    """Under bf16/fp16 autocast, LoRA layers take their input as it comes.

    peft casts each LoRA layer's input to its fp32 weights, and autocast casts it straight
    back for the product: two copies of every LoRA input a step for nothing. Without them the
    adapters still train in fp32 (autocast casts the small weights); on a 2-core AMX CPU
    this gave benchmarks/fit.py 323 -> 348 tokens/s and a peak of 3.79 -> 3.62 GiB (two runs
    each). A forward outside autocast (a teacher's pass, say) still casts.
    """
    args = getattr(trainer, "args", None)
    mixed = bool(getattr(args, "bf16", False) or getattr(args, "fp16", False))
    model = trainer.model
    if not mixed or not hasattr(model, "peft_config"):
        yield
        return
    from peft.tuners.tuners_utils import BaseTunerLayer

    device_type = next(model.parameters()).device.type
    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    before = [m.__dict__.get("cast_input_dtype_enabled") for m in layers]
    switch = _CastUnlessAutocast(device_type)
    try:
        for m in layers:
            m.__dict__["cast_input_dtype_enabled"] = switch
        yield
    finally:
        for m, value in zip(layers, before, strict=True):
            if value is None:
                m.__dict__.pop("cast_input_dtype_enabled", None)
            else:
                m.__dict__["cast_input_dtype_enabled"] = value


def _finish(trainer: Any, run: _Run, *, output_dir: Path, dataset: Any) -> FitResult:
    """Save the adapter (or model) with its card, and the :class:`FitResult`."""
    from glimmer.train.progress import FitProgress

    meter = next(c for c in trainer.callback_handler.callbacks if isinstance(c, FitProgress))
    state = trainer.state
    adapter_dir = output_dir / ("model" if run.cfg.method == "full" else "adapter")
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(str(adapter_dir), safe_serialization=True)
        run.tokenizer.save_pretrained(str(adapter_dir))
        from glimmer.train.hub import finish_adapter  # hub id of the base model, model card

        finish_adapter(
            adapter_dir, preset=run.preset, settings=run.resolved.as_dict(), dataset=dataset
        )
    train_hist, eval_hist = _history(state.log_history)
    result = FitResult(
        adapter_path=str(adapter_dir),
        best_checkpoint=state.best_model_checkpoint,
        train_loss=train_hist,
        eval_loss=eval_hist,
        tokens_per_second=meter.tokens / meter.train_seconds if meter.train_seconds else 0.0,
        peak_memory_bytes=_peak_memory_bytes(run.choice),
        steps=int(state.global_step),
        train_seconds=meter.train_seconds,
        device={
            "device": run.choice.device,
            "backend": run.choice.backend,
            "precision": run.resolved.precision,
            "reasons": list(run.choice.reasons),
            "world_size": int(os.environ.get("WORLD_SIZE", "1") or 1),
        },
        config=run.resolved.as_dict(),
    )
    if trainer.is_world_process_zero():
        result.save(output_dir)
        _say(
            f"done: {result.steps} steps, {result.tokens_per_second:.0f} tokens/s, "
            f"adapter in {adapter_dir}"
        )
    return result
