"""export(): a tuned model as one GGUF file for llama.cpp, Ollama and LM Studio.

The file carries everything a runtime needs to chat with the model as it was trained: the
weights (``f16``, ``bf16`` or ``q8_0``), the tokenizer with its merges and special tokens,
the chat template, the BOS / EOS / end-of-turn ids and ``general.name``. Beside it go an
Ollama ``Modelfile`` (FROM, a TEMPLATE equivalent to the chat template, PARAMETER stop for
the end-of-turn token, an optional SYSTEM) and a README with the commands that run it.

Written with the ``gguf`` package's :class:`gguf.GGUFWriter` and its tensor-name maps; the
Llama conversion (names, the rotary layout of the query and key projections, hyper-
parameters, vocabulary) is glimmer's own. Llama-architecture models are mapped: SmolLM2,
Llama 2/3 and Mistral. Anything else is refused by name before anything is written.

The output folder is written as one set (a temporary sibling, then one rename): a failed
export leaves nothing behind, and an existing folder is replaced only with ``overwrite``.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glimmer._fs import atomic_dir, write_text
from glimmer.errors import (
    ExportError,
    GlimmerFileError,
    Location,
    UnsupportedArchitectureError,
)
from glimmer.extras import require
from glimmer.train.gguf_template import TemplateExportError, TurnFormat, go_template, turn_format

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "QUANTS",
    "ExportError",
    "ExportResult",
    "TemplateExportError",
    "UnsupportedArchitectureError",
    "export",
]

#: Weight formats export() writes: 16-bit floats, or 8-bit blocks (about half the size).
QUANTS = ("f16", "bf16", "q8_0")

_LLAMA_ARCHITECTURES = {"LlamaForCausalLM", "MistralForCausalLM"}
_NAMED_ARCHITECTURES = {  # what users call the ones not mapped, for the message
    "GemmaForCausalLM": "Gemma",
    "Gemma2ForCausalLM": "Gemma 2",
    "Gemma3ForCausalLM": "Gemma 3",
    "Qwen2ForCausalLM": "Qwen2",
    "Phi3ForCausalLM": "Phi-3",
    "MixtralForCausalLM": "Mixtral",
}


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :func:`export` wrote.

    Attributes:
        folder: The output folder.
        gguf: The GGUF file inside it.
        modelfile: The Ollama Modelfile, or ``None`` when none was asked for.
        readme: The README with the commands that run the model.
        quant: The weight format.
        size_bytes: Size of the GGUF file.
        seconds: Wall time of the export (merge included).
        stop: The stop strings the Modelfile gives Ollama.
    """

    folder: Path
    gguf: Path
    modelfile: Path | None
    readme: Path
    quant: str
    size_bytes: int
    seconds: float
    stop: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- sources


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GlimmerFileError(
            f"cannot read ({exc})", location=Location(source=str(path)), code="G001"
        ) from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: not a JSON object", location=Location(source=str(path)))
    return data


def _architecture(config: dict[str, Any], source: Path) -> str:
    archs = config.get("architectures") or []
    arch = str(archs[0]) if archs else str(config.get("model_type", "unknown"))
    if arch in _LLAMA_ARCHITECTURES:
        return arch
    shown = _NAMED_ARCHITECTURES.get(arch, arch)
    raise UnsupportedArchitectureError(
        f"{source}: cannot export a {shown} model ({arch}) to GGUF: glimmer maps the Llama "
        "architecture (SmolLM2, Llama 2/3, Mistral)",
        location=Location(source=str(source / "config.json")),
        hint="convert it with llama.cpp's convert_hf_to_gguf.py from the merged folder "
        "(`glimmer merge ADAPTER -o DIR`), or fine-tune a Llama-architecture model",
    )


def _check_rope(config: dict[str, Any], source: Path) -> float:
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    kind = rope.get("rope_type") or rope.get("type") or "default"
    if kind != "default":
        raise UnsupportedArchitectureError(
            f"{source}: rotary scaling {kind!r} is not mapped to GGUF by glimmer",
            location=Location(source=str(source / "config.json")),
            hint="convert the merged folder with llama.cpp's convert_hf_to_gguf.py",
        )
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    return float(theta)


def _source_kind(src: Path) -> str:
    """``"adapter"`` or ``"model"``; refuse anything else before loading a thing."""
    if not src.exists():
        raise GlimmerFileError(
            "no such folder",
            location=Location(source=str(src)),
            hint="pass an adapter folder (from glimmer fit) or a model folder (from glimmer merge)",
            code="G001",
        )
    if (src / "adapter_config.json").is_file():
        return "adapter"
    if (src / "config.json").is_file() and any(src.glob("*.safetensors")):
        return "model"
    raise ExportError(
        f"{src}: not an adapter folder (no adapter_config.json) nor a model folder "
        "(config.json and safetensors weights)",
        location=Location(source=str(src)),
        hint="pass the adapter folder fit() wrote (FitResult.adapter_path), or a folder "
        "written by `glimmer merge`",
        code="G582",
    )


# --------------------------------------------------------------------------- tensors


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF's rotary layout (halves) to GGUF's (interleaved pairs) for a q or k projection."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _weights(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor of a safetensors model, as float32 numpy arrays, one at a time."""
    import torch
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as fh:
            for name in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                tensor = fh.get_tensor(name)
                yield name, tensor.to(torch.float32).numpy()


def _encode(data: np.ndarray, quant: str) -> tuple[np.ndarray, Any]:
    """Weights in the file's format; vectors (norms) stay float32 as llama.cpp expects."""
    import gguf
    import numpy as np

    if data.ndim == 1:
        return data.astype(np.float32), gguf.GGMLQuantizationType.F32
    if quant == "f16":
        return data.astype(np.float16), gguf.GGMLQuantizationType.F16
    qtype = gguf.GGMLQuantizationType.BF16 if quant == "bf16" else gguf.GGMLQuantizationType.Q8_0
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if data.shape[-1] % block:  # rows that do not split into whole blocks stay 16-bit
        return data.astype(np.float16), gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(data, qtype), qtype


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True, slots=True)
class _Vocab:
    model: str  # "gpt2" (byte-level BPE) or "llama" (SentencePiece-style BPE)
    pre: str | None
    tokens: list[str]
    scores: list[float] | None
    types: list[int]
    merges: list[str]
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool | None


def _merges(model: dict[str, Any]) -> list[str]:
    merges = model.get("merges") or []
    out: list[str] = []
    for m in merges:
        if isinstance(m, str):
            out.append(m)
        else:  # ["a", "b"]: spaces inside a part are written as U+0120, as llama.cpp reads them
            out.append(" ".join(part.replace(" ", "\u0120") for part in m))
    return out


def _byte_level_pre(pre: Any) -> str | None:
    """llama.cpp's name for a byte-level pre-tokenizer glimmer recognises, else ``None``."""
    if not isinstance(pre, dict):
        return None
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    if pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers") or []
        kinds = [s.get("type") for s in steps]
        if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
            return "smollm"
        if kinds == ["Split", "ByteLevel"]:
            pattern = (steps[0].get("pattern") or {}).get("Regex", "")
            if "\\p{N}{1,3}" in pattern and "(?i:'s|'t|'re|'ve|'m|'ll|'d)" in pattern:
                return "llama-bpe"  # Llama 3
    return None


def _space_prefix(data: dict[str, Any]) -> bool:
    """Whether llama.cpp should put ``▁`` before each piece of text (Llama 2, Mistral).

    llama.cpp adds it to every piece of text that follows a special token (or opens the
    prompt). A ``Prepend`` normalizer (Llama 2, Mistral v0.2) and a Metaspace pre-tokenizer
    with ``prepend_scheme: "always"`` do the same. A Metaspace with ``"first"`` adds it to the
    first piece only, which in a chat prompt (it opens with a special token) is no piece:
    the template's own spaces are kept and nothing is added, so llama.cpp adds nothing either.
    """
    text = json.dumps([data.get("normalizer"), data.get("pre_tokenizer")])
    if '"Prepend"' in text:
        return True
    if '"prepend_scheme": "never"' in text or '"prepend_scheme": "first"' in text:
        return False
    if '"add_prefix_space": false' in text:
        return False
    return '"Metaspace"' in text


def _vocab(tokenizer: PreTrainedTokenizerBase, folder: Path) -> _Vocab:
    import gguf

    data = _read_json(folder / "tokenizer.json") if (folder / "tokenizer.json").is_file() else {}
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise ExportError(
            f"{folder}: the tokenizer is not a BPE tokenizer with a tokenizer.json "
            f"({model.get('type') or 'none found'})",
            location=Location(source=str(folder / "tokenizer.json")),
            hint="save the tokenizer with transformers (`tokenizer.save_pretrained`) so it "
            "writes tokenizer.json",
            code="G583",
        )
    vocab: dict[str, int] = tokenizer.get_vocab()
    n = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(n)]
    for text, i in vocab.items():
        tokens[i] = text
    types: list[int] = []
    added = {int(i): tok for i, tok in tokenizer.added_tokens_decoder.items()}
    byte_fallback = bool(model.get("byte_fallback"))
    for i, text in enumerate(tokens):
        if i in added:
            kind = gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED
        elif text not in vocab:
            kind = gguf.TokenType.UNUSED
        elif byte_fallback and re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", text):
            kind = gguf.TokenType.BYTE
        else:
            kind = gguf.TokenType.NORMAL
        types.append(int(kind))
    probe = tokenizer("a")["input_ids"]
    add_bos = bool(probe) and probe[0] == tokenizer.bos_token_id
    add_eos = bool(probe) and probe[-1] == tokenizer.eos_token_id and len(probe) > 1
    if byte_fallback:  # SentencePiece-style (Llama 2, Mistral): scores order the merges
        ranks = {m.replace(" ", ""): r for r, m in enumerate(_merges(model))}
        scores = [-float(ranks.get(t, 0)) if types[i] == 1 else 0.0 for i, t in enumerate(tokens)]
        return _Vocab(
            "llama", "default", tokens, scores, types, [], add_bos, add_eos, _space_prefix(data)
        )
    decoder = data.get("decoder") or {}
    pre = _byte_level_pre(data.get("pre_tokenizer"))
    if decoder.get("type") != "ByteLevel" or pre is None:
        raise ExportError(
            f"{folder}: the tokenizer's pre-tokenizer is not one glimmer maps to llama.cpp "
            f"({json.dumps(data.get('pre_tokenizer'))[:120]})",
            location=Location(source=str(folder / "tokenizer.json")),
            hint="glimmer maps GPT-2, SmolLM and Llama 3 byte-level tokenizers and "
            "SentencePiece-style ones (Llama 2, Mistral); convert others with llama.cpp",
            code="G583",
        )
    return _Vocab("gpt2", pre, tokens, None, types, _merges(model), add_bos, add_eos, False)


# --------------------------------------------------------------------------- writer


def _closing_token(tokenizer: PreTrainedTokenizerBase, fmt: TurnFormat | None) -> str | None:
    """The special token that closes an assistant turn in the chat template, if one does."""
    if fmt is None:
        return None
    suffix = fmt.assistant[1]
    specials = [str(t) for t in tokenizer.added_tokens_decoder.values() if t.special]
    found = [t for t in specials if t and suffix.lstrip().startswith(t)]
    return max(found, key=len) if found else None


def _end_of_turn(tokenizer: PreTrainedTokenizerBase, base: str | None) -> str | None:
    from glimmer.train.masking import end_of_turn_token
    from glimmer.train.models import resolve_model

    preset = resolve_model(base) if base else None
    known = preset.end_of_turn if preset is not None else None
    return end_of_turn_token(tokenizer, known)


def _write_gguf(
    folder: Path,
    tokenizer: PreTrainedTokenizerBase,
    target: Path,
    *,
    quant: str,
    name: str,
    eot: str | None,
) -> None:
    import gguf

    config = _read_json(folder / "config.json")
    _architecture(config, folder)
    theta = _check_rope(config, folder)
    vocab = _vocab(tokenizer, folder)
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)

    writer = gguf.GGUFWriter(str(target), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_freq_base(theta)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-5)))
    writer.add_rope_dimension_count(head_dim)
    if head_dim != hidden // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(len(vocab.tokens))
    file_type = {
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "bf16": gguf.LlamaFileType.MOSTLY_BF16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[quant]
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    ids = tokenizer.get_vocab()
    for text, add in (
        (tokenizer.bos_token, writer.add_bos_token_id),
        (tokenizer.eos_token, writer.add_eos_token_id),
        (tokenizer.unk_token, writer.add_unk_token_id),
        (tokenizer.pad_token, writer.add_pad_token_id),
        (eot, writer.add_eot_token_id),
    ):
        if isinstance(text, str) and text in ids:
            add(ids[text])
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str):
        writer.add_chat_template(template)

    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, n_layers)
    tied = bool(config.get("tie_word_embeddings"))
    for hf_name, data in _weights(folder):
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise UnsupportedArchitectureError(
                f"{folder}: tensor {hf_name!r} has no GGUF name in the Llama architecture",
                location=Location(source=str(folder)),
                hint="the model is not a plain Llama; convert it with llama.cpp's "
                "convert_hf_to_gguf.py",
            )
        if hf_name.endswith("q_proj.weight"):
            data = _permute(data, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute(data, n_kv)
        encoded, qtype = _encode(data, quant)
        writer.add_tensor(gguf_name, encoded, raw_shape=None, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# --------------------------------------------------------------------------- Ollama


def _quote(text: str) -> str:
    if '"""' in text:
        raise ExportError(
            'the system prompt holds """, which a Modelfile cannot quote',
            hint="write it without three double quotes in a row",
            code="G585",
        )
    return f'"""{text}"""'


def _modelfile(gguf_name: str, fmt: TurnFormat, stops: Sequence[str], system: str | None) -> str:
    lines = [f"FROM ./{gguf_name}", "", f"TEMPLATE {_quote(go_template(fmt))}", ""]
    lines += [f"PARAMETER stop {json.dumps(s, ensure_ascii=False)}" for s in stops]
    if system:
        lines += ["", f"SYSTEM {_quote(system)}"]
    return "\n".join(lines) + "\n"


def _readme(name: str, gguf_name: str, quant: str, *, modelfile: bool, tag: str) -> str:
    lines = [
        f"# {name}",
        "",
        f"`{gguf_name}`: the model as one GGUF file ({quant} weights), with its tokenizer, chat "
        "template and end-of-turn token, written by `glimmer export`.",
        "",
    ]
    if modelfile:
        lines += [
            "## Ollama",
            "",
            "```sh",
            f"ollama create {tag} -f Modelfile",
            f"ollama run {tag}",
            "```",
            "",
        ]
    lines += [
        "## llama.cpp",
        "",
        "```sh",
        f"llama-cli -m {gguf_name} -cnv --jinja",
        f"llama-server -m {gguf_name} --jinja",
        "```",
        "",
        "## LM Studio",
        "",
        f"Copy `{gguf_name}` into a folder under LM Studio's models folder "
        "(`~/.lmstudio/models/<publisher>/<name>/`); the chat template travels inside it.",
        "",
    ]
    return "\n".join(lines)


def _tag(name: str) -> str:
    tag = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return tag or "glimmer-model"


# --------------------------------------------------------------------------- export


def export(
    source: str | Path,
    output: str | Path,
    /,
    *,
    quant: str = "f16",
    name: str | None = None,
    system: str | None = None,
    base: str | None = None,
    modelfile: bool = True,
    overwrite: bool = False,
) -> ExportResult:
    """Write a tuned model as a GGUF file with an Ollama Modelfile and a README.

    Args:
        source: An adapter folder (``FitResult.adapter_path``; merged into its base model on
            the way) or a model folder (from :func:`glimmer.merge`).
        output: The folder to write: ``<name>.<quant>.gguf``, ``Modelfile``, ``README.md``.
        quant: ``"f16"`` (default), ``"bf16"`` or ``"q8_0"`` (8-bit blocks, half the size).
        name: The model's name (``general.name`` and the file name); default: the folder's.
        system: A system prompt for the Modelfile's SYSTEM line.
        base: The base model of an adapter, when its config does not name one.
        modelfile: Write the Ollama Modelfile.
        overwrite: Replace ``output`` if it exists.

    Returns:
        An :class:`ExportResult` with the paths, the file size and the time taken.

    Raises:
        ExportError: An unknown quantisation (G580), a folder that is neither an adapter
            nor a model (G582), a tokenizer glimmer cannot map (G583).
        UnsupportedArchitectureError: The model is not a Llama-architecture model (G581).
        TemplateExportError: The chat template cannot be written as a Modelfile TEMPLATE.
        GlimmerFileError: ``output`` exists and ``overwrite`` is false (G004).

    Examples:
        >>> glimmer.export("glimmer-fit/adapter", "gguf", quant="q8_0")  # doctest: +SKIP
    """
    start = time.perf_counter()
    if quant not in QUANTS:
        raise ExportError(
            f"unknown quantisation {quant!r}",
            hint=f"use one of {', '.join(QUANTS)}",
            code="G580",
        )
    src, out = Path(source), Path(output)
    kind = _source_kind(src)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise GlimmerFileError(
            "already exists",
            location=Location(source=str(out)),
            hint="pass overwrite=True (--force) to replace it, or choose another folder",
            code="G004",
        )
    if kind == "model":
        _architecture(_read_json(src / "config.json"), src)  # refuse early, before any work
    require("train", feature="export()")
    from glimmer.train.merge import merge
    from glimmer.train.models import load_tokenizer

    label = name or (src.parent.name if src.name == "adapter" else src.name) or "model"
    gguf_name = f"{_tag(label)}.{quant}.gguf"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".glimmer-export-", dir=out.parent) as scratch:
        folder = src
        base_name = base
        if kind == "adapter":
            folder = Path(scratch) / "merged"
            config = _read_json(src / "adapter_config.json")
            base_name = base or str(config.get("base_model_name_or_path") or "") or None
            merge(src, folder, base=base, dtype="fp32")
        else:
            base_name = base or str(_read_json(src / "config.json").get("_name_or_path") or "")
        tokenizer = load_tokenizer(str(folder))
        fmt: TurnFormat | None = None
        try:
            fmt = turn_format(_renderer(tokenizer), bos=tokenizer.bos_token, name=str(src))
        except TemplateExportError:
            if modelfile:
                raise
        eot = _closing_token(tokenizer, fmt) or _end_of_turn(tokenizer, base_name)
        if not modelfile:
            fmt = None
        stops = tuple(dict.fromkeys(s for s in (eot, tokenizer.eos_token) if isinstance(s, str)))
        with atomic_dir(out, overwrite=overwrite) as tmp:
            _write_gguf(folder, tokenizer, tmp / gguf_name, quant=quant, name=label, eot=eot)
            if fmt is not None:
                vocab_adds_bos = _adds_bos(tokenizer)
                if vocab_adds_bos and fmt.preamble == tokenizer.bos_token:
                    fmt = _without_preamble(fmt)  # the runtime adds BOS itself
                write_text(tmp / "Modelfile", _modelfile(gguf_name, fmt, stops, system))
            write_text(
                tmp / "README.md",
                _readme(label, gguf_name, quant, modelfile=fmt is not None, tag=_tag(label)),
            )
    size = (out / gguf_name).stat().st_size
    return ExportResult(
        folder=out,
        gguf=out / gguf_name,
        modelfile=out / "Modelfile" if modelfile else None,
        readme=out / "README.md",
        quant=quant,
        size_bytes=size,
        seconds=time.perf_counter() - start,
        stop=stops,
    )


def _adds_bos(tokenizer: PreTrainedTokenizerBase) -> bool:
    probe = tokenizer("a")["input_ids"]
    return bool(probe) and probe[0] == tokenizer.bos_token_id


def _without_preamble(fmt: TurnFormat) -> TurnFormat:
    from dataclasses import replace

    return replace(fmt, preamble="")


def _renderer(tokenizer: PreTrainedTokenizerBase) -> Any:
    def render(messages: list[dict[str, str]], gen: bool) -> str:
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        )

    return render
