"""merge(): fold a LoRA adapter into its base model and save a plain safetensors model.

The merged folder loads with ``AutoModelForCausalLM.from_pretrained`` alone (no peft), and
gives the same logits as the base model with the adapter attached. It is written to a
temporary folder beside the output and renamed into place, so a crash never leaves a
half-written model where a finished one is expected.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from glimmer._fs import atomic_dir
from glimmer.errors import AdapterError, GlimmerFileError, Location, MergeError
from glimmer.extras import require

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["MergeError", "merge"]

_ADAPTER_CONFIG = "adapter_config.json"


def _adapter_config(adapter: Path) -> dict[str, object]:
    file = adapter / _ADAPTER_CONFIG
    if not file.is_file():
        raise AdapterError(
            f"{adapter}: not an adapter folder (no {_ADAPTER_CONFIG})",
            location=Location(source=str(adapter)),
            hint="pass the adapter folder fit() wrote (FitResult.adapter_path)",
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GlimmerFileError(
            f"{file}: cannot read ({exc})", location=Location(source=str(file))
        ) from None
    if not isinstance(data, dict):
        raise MergeError(f"{file}: not an adapter config", location=Location(source=str(file)))
    return data


def merge(
    adapter: str | Path,
    output: str | Path,
    /,
    *,
    base: str | None = None,
    dtype: str | torch.dtype | None = None,
    overwrite: bool = False,
) -> Path:
    """Merge a LoRA adapter into its base model and save the result as safetensors.

    Args:
        adapter: A peft adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``),
            such as ``FitResult.adapter_path``.
        output: Folder to write the merged model and its tokenizer to.
        base: The base model (preset name, Hugging Face id or local folder); default: the
            one recorded in the adapter's config.
        dtype: Precision of the merged weights (``"fp32"``, ``"bf16"``, ``"fp16"`` or a torch
            dtype); default float32.
        overwrite: Replace ``output`` if it exists.

    Returns:
        The output folder.

    Raises:
        GlimmerFileError: ``adapter`` is not an adapter folder, or ``output`` exists and
            ``overwrite`` is false (code G004).
        MergeError: The base model is unknown, or the adapter is not a LoRA adapter.
        GlimmerModelError: The base model cannot be loaded.

    Examples:
        >>> glimmer.merge("glimmer-fit/adapter", "merged")  # doctest: +SKIP
        PosixPath('merged')
    """
    require("train", feature="merge()")
    from peft import PeftModel

    from glimmer.train.models import load_model, load_tokenizer
    from glimmer.train.progress import quiet_libraries

    src = Path(adapter)
    out = Path(output)
    config = _adapter_config(src)
    if out.exists() and not overwrite:
        raise GlimmerFileError(
            f"{out} already exists",
            location=Location(source=str(out)),
            hint="pass overwrite=True (--force) to replace it, or choose another folder",
            code="G004",
        )
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type not in {"LORA", "ADALORA"}:
        raise MergeError(
            f"{src}: a {peft_type} adapter cannot be merged into the weights",
            location=Location(source=str(src)),
            hint="merge() folds LoRA adapters; load other adapters with peft instead",
        )
    base_name = base or config.get("base_model_name_or_path")
    if not isinstance(base_name, str) or not base_name:
        raise MergeError(
            f"{src}: the adapter does not say which base model it was trained on",
            location=Location(source=str(src)),
            hint="pass base=... (a preset name, hub id or local folder)",
        )

    net, tokenizer = load_model(base_name, dtype=dtype)
    if (src / "tokenizer_config.json").is_file():  # fit() saves the tokenizer it trained with
        tokenizer = load_tokenizer(str(src))
    vocab = len(tokenizer)
    if net.get_input_embeddings().num_embeddings < vocab:  # type: ignore[operator]
        net.resize_token_embeddings(vocab)
    with quiet_libraries():
        try:
            tuned = PeftModel.from_pretrained(net, str(src))
        except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, OSError) as exc:
            raise MergeError(
                f"{src}: the adapter weights cannot be read ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
                location=Location(source=str(src)),
                hint="glimmer reads adapters saved as safetensors (adapter_model.safetensors); "
                "pickled weights (.bin) are not loaded, as they can run code: re-save the "
                "adapter with safe_serialization=True",
            ) from None
    merged = tuned.merge_and_unload()

    with atomic_dir(out, overwrite=True) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return out
