"""Hub-ready adapters: the base model named by its hub id, and a model card that says how it was made.

peft records the folder the base model was loaded from, which for glimmer's embedded
SmolLM2 is a path in a local cache, meaningless anywhere else (and its card then links to
``huggingface.co/None``). :func:`finish_adapter` writes the base model's hub id into
``adapter_config.json`` instead (``HuggingFaceTB/SmolLM2-135M-Instruct`` for the embedded
model, which :func:`~glimmer.train.models.resolve_model` maps back to the local copy, so
loading stays offline) and replaces peft's card with one naming the base model, linking
the dataset card and listing the fit settings. :func:`record_shift` adds the figures of
``glimmer compare`` to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glimmer._fs import write_text
from glimmer.train.models import EMBEDDED, PRESETS, ModelPreset

__all__ = ["base_model_id", "finish_adapter", "model_card", "record_shift"]

_CARD = "README.md"
_SHIFT_START = "<!-- glimmer:shift -->"
_SHIFT_END = "<!-- /glimmer:shift -->"
_SETTINGS = (
    "model",
    "method",
    "epochs",
    "max_steps",
    "learning_rate",
    "lr_scheduler",
    "warmup_ratio",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "batch_size",
    "grad_accum",
    "max_seq_len",
    "precision",
    "replay_samples",
    "bake",
    "seed",
)


def base_model_id(preset: ModelPreset, /) -> str:
    """The hub id of a preset's model (the upstream id for the embedded SmolLM2)."""
    if preset.is_embedded:
        shape = PRESETS[EMBEDDED].shape
        assert shape is not None
        return shape.name
    return preset.source


def _is_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not Path(name).exists() and not name.startswith((".", "/"))


def _dataset_link(dataset: Any, adapter: Path) -> str | None:
    if not isinstance(dataset, str | os.PathLike):
        return None
    folder = Path(dataset)
    card = folder / "README.md" if folder.is_dir() else folder.parent / "README.md"
    if not card.is_file():
        return None
    return os.path.relpath(card.resolve(), adapter.resolve())


def model_card(
    *,
    base: str,
    name: str,
    settings: Mapping[str, Any],
    dataset_link: str | None,
    shift: str | None = None,
) -> str:
    """The adapter's card: hub metadata, the base model, the dataset, the fit settings."""
    tags = ["glimmer", "lora", "peft", "starweave"]
    header = ["---", f"base_model: {base}", "library_name: peft", "pipeline_tag: text-generation"]
    header += ["tags:", *(f"- {t}" for t in tags), "---", ""]
    base_link = f"[{base}](https://huggingface.co/{base})" if _is_hub_id(base) else f"`{base}`"
    lines = [
        f"# {name}",
        "",
        f"A LoRA adapter for {base_link}, fine-tuned with glimmer on a STARWEAVE chat dataset.",
        "",
        "## Dataset",
        "",
        f"See the [dataset card]({dataset_link})."
        if dataset_link
        else "Chat records given to `glimmer.fit()` directly (no dataset card).",
        "",
        "## Fit settings",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    for key in _SETTINGS:
        if key in settings and settings[key] is not None:
            value = settings[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            lines.append(f"| {key} | {shown} |")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from peft import AutoPeftModelForCausalLM",
        "",
        'model = AutoPeftModelForCausalLM.from_pretrained("<this folder or hub id>")',
        "```",
        "",
        "Or merge and export it for llama.cpp, Ollama and LM Studio: "
        "`glimmer export <this folder> -o gguf`.",
        "",
    ]
    if shift:
        lines += [_shift_block(shift), ""]
    return "\n".join(header + lines)


def _shift_block(headline: str) -> str:
    return "\n".join(
        [
            _SHIFT_START,
            "## Shift (glimmer compare)",
            "",
            "```text",
            headline.strip(),
            "```",
            _SHIFT_END,
        ]
    )


def finish_adapter(
    adapter: str | Path,
    /,
    *,
    preset: ModelPreset,
    settings: Mapping[str, Any],
    dataset: Any = None,
) -> Path:
    """Name the base model by its hub id in ``adapter_config.json`` and write the card.

    Args:
        adapter: The folder peft saved the adapter to.
        preset: The base model's preset.
        settings: The resolved fit settings (``Resolved.as_dict()``).
        dataset: What fit() was given; a dataset folder's card is linked.

    Returns:
        The card's path.
    """
    folder = Path(adapter)
    base = base_model_id(preset)
    config_file = folder / "adapter_config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text("utf-8"))
        config["base_model_name_or_path"] = base
        write_text(config_file, json.dumps(config, indent=2, sort_keys=True) + "\n")
    name = folder.parent.name if folder.name in {"adapter", "model"} else folder.name
    card = model_card(
        base=base,
        name=name or "glimmer adapter",
        settings=settings,
        dataset_link=_dataset_link(dataset, folder),
    )
    return write_text(folder / _CARD, card)


def record_shift(adapter: str | Path, headline: str, /) -> Path | None:
    """Put the figures of ``glimmer compare`` into the adapter's card (replacing earlier ones).

    Returns:
        The card's path, or ``None`` when the adapter has no glimmer card.
    """
    card = Path(adapter) / _CARD
    try:
        text = card.read_text("utf-8")
    except OSError:
        return None
    if "library_name: peft" not in text or "glimmer" not in text:
        return None
    if _SHIFT_START in text and _SHIFT_END in text:
        head, _, rest = text.partition(_SHIFT_START)
        _, _, tail = rest.partition(_SHIFT_END)
        text = head + _shift_block(headline) + tail
    else:
        text = text.rstrip("\n") + "\n\n" + _shift_block(headline) + "\n"
    return write_text(card, text)
