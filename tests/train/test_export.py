"""export(): Ollama TEMPLATEs equal the chat template, GGUF files read back right, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from glimmer.cli import app
from glimmer.errors import GlimmerFileError
from glimmer.train.export import ExportError, UnsupportedArchitectureError, export
from glimmer.train.gguf_template import TemplateExportError, go_template, turn_format
from glimmer.train.models import load_tokenizer, prepare_messages, resolve_model
from tests.train.gotemplate import render as render_go
from tests.train.tiny import CHATML, GEMMA, MISTRAL, make_tokenizer

runner = CliRunner()


def _jinja(tokenizer: Any) -> Any:
    def render(messages: list[dict[str, str]], gen: bool) -> str:
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        )

    return render


TOKENIZERS = {
    "chatml": (lambda: make_tokenizer(CHATML), True),
    "mistral": (lambda: make_tokenizer(MISTRAL, eos="</s>", pad="<pad>"), False),
    "gemma": (lambda: make_tokenizer(GEMMA, eos="<end_of_turn>", pad="<pad>"), False),
    "smollm2": (load_tokenizer, True),
}
_CACHE: dict[str, Any] = {}


def _tokenizer(name: str) -> Any:
    if name not in _CACHE:
        _CACHE[name] = TOKENIZERS[name][0]()
    return _CACHE[name]


# contents without surrounding white space (Gemma's template trims it) and without the
# sentinels' control characters
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s == s.strip() and s.strip()
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, str]]:
    turns = draw(st.integers(1, 3))
    messages = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(_text)})
    for k in range(turns):
        messages.append({"role": "user", "content": draw(_text)})
        if k < turns - 1 or draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(_text)})
    return messages


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
@settings(max_examples=40, deadline=None)
@given(chat=conversations())
def test_ollama_template_renders_the_chat_template(name: str, chat: list[dict[str, str]]) -> None:
    """Go's rendering of the Modelfile TEMPLATE equals the Jinja chat template, BOS aside."""
    tok = _tokenizer(name)
    system_role = TOKENIZERS[name][1]
    fmt = turn_format(_jinja(tok), bos=tok.bos_token)
    preset = resolve_model("smollm2-135m" if system_role else "mistral")
    expected = tok.apply_chat_template(
        prepare_messages(chat, preset=preset),
        tokenize=False,
        add_generation_prompt=chat[-1]["role"] == "user",
    )
    assert render_go(go_template(fmt), chat) == expected


def test_two_turn_conversation_in_the_smollm2_modelfile_template() -> None:
    tok = _tokenizer("smollm2")
    chat = [
        {"role": "user", "content": "What is a glimmer?"},
        {"role": "assistant", "content": "A pattern of perception."},
        {"role": "user", "content": "And the weave?"},
    ]
    go = go_template(turn_format(_jinja(tok), bos=tok.bos_token))
    text = render_go(go, chat)
    assert text == tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nAnd the weave?<|im_end|>\n<|im_start|>assistant\n")
    assert "You are a helpful AI assistant named SmolLM" in text  # its default system turn


def test_a_template_that_depends_on_content_is_refused() -> None:
    tok = make_tokenizer(
        "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"
        "{% if add_generation_prompt %}>{% endif %}"
    )
    with pytest.raises(TemplateExportError) as info:
        turn_format(_jinja(tok), bos=None)
    assert info.value.code == "G584"
    assert "--no-modelfile" in (info.value.hint or "")


# --------------------------------------------------------------------------- files


def _save(folder: Path, model: Any, tokenizer: Any) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_mistral(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Mistral-architecture model with an [INST] template, BOS added by the tokenizer."""
    from tokenizers import processors
    from transformers import MistralConfig, MistralForCausalLM

    tok = make_tokenizer(MISTRAL, eos="</s>", pad="<pad>")
    bos = tok.convert_tokens_to_ids("<s>")
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    config = MistralConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=bos,
        eos_token_id=tok.eos_token_id,
    )
    import torch

    torch.manual_seed(0)
    return _save(tmp_path_factory.mktemp("mistral"), MistralForCausalLM(config), tok)


def _logits_of_gguf(gguf: Path, ids: list[int]) -> Any:
    """Logits of a GGUF file read back by transformers' own GGUF loader (de-quantized)."""
    import torch
    from transformers import AutoModelForCausalLM

    net = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with torch.no_grad():
        return net(torch.tensor([ids])).logits[0]


def test_tiny_mistral_exports_and_reads_back(tiny_mistral: Path, tmp_path: Path) -> None:
    import gguf
    import torch
    from transformers import AutoModelForCausalLM

    result = export(tiny_mistral, tmp_path / "out", quant="f16", name="Tiny Mistral")
    assert result.gguf.name == "tiny-mistral.f16.gguf"
    fields = gguf.GGUFReader(result.gguf).fields
    tok = make_tokenizer(MISTRAL, eos="</s>", pad="<pad>")
    assert fields["general.name"].contents() == "Tiny Mistral"
    assert fields["general.architecture"].contents() == "llama"
    assert fields["tokenizer.chat_template"].contents() == MISTRAL
    assert fields["tokenizer.ggml.eos_token_id"].contents() == tok.convert_tokens_to_ids("</s>")
    assert fields["tokenizer.ggml.eot_token_id"].contents() == tok.convert_tokens_to_ids("</s>")
    assert fields["tokenizer.ggml.add_bos_token"].contents() is True
    modelfile = (tmp_path / "out" / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./tiny-mistral.f16.gguf\n")
    assert 'PARAMETER stop "</s>"' in modelfile
    assert '"<s>"' not in modelfile  # the runtime adds BOS; the template must not add another
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "ollama create tiny-mistral -f Modelfile" in readme
    assert "llama-cli -m tiny-mistral.f16.gguf" in readme

    ids = [tok.convert_tokens_to_ids("<s>"), *tok("the weave holds")["input_ids"][1:]]
    net = AutoModelForCausalLM.from_pretrained(tiny_mistral)
    with torch.no_grad():
        want = net(torch.tensor([ids])).logits[0]
    got = _logits_of_gguf(result.gguf, ids)
    assert (got - want).abs().max().item() < 1e-2  # f16 weights, else exact


def test_q8_0_is_about_half_the_size_of_f16(tiny_checkpoint: Path, tmp_path: Path) -> None:
    f16 = export(tiny_checkpoint, tmp_path / "f16", quant="f16")
    q8 = export(tiny_checkpoint, tmp_path / "q8", quant="q8_0", system="Be brief.")
    assert q8.size_bytes < f16.size_bytes
    assert 'SYSTEM """Be brief."""' in (tmp_path / "q8" / "Modelfile").read_text()


# --------------------------------------------------------------------------- bad input


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_unknown_quantisation(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError) as info:
        export(tiny_checkpoint, tmp_path / "out", quant="q4_k")
    assert info.value.code == "G580" and "f16, bf16, q8_0" in (info.value.hint or "")
    result = runner.invoke(
        app, ["export", str(tiny_checkpoint), "-o", str(tmp_path / "o"), "--quant", "q5"]
    )
    assert result.exit_code == 2
    assert "G580" in result.output
    assert _only(tmp_path) == []


def test_folder_without_adapter_config(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ExportError) as info:
        export(folder, tmp_path / "out")
    assert info.value.code == "G582"
    assert "adapter_config.json" in info.value.message
    result = runner.invoke(app, ["export", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "G582" in result.output
    result = runner.invoke(app, ["merge", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "adapter_config.json" in result.output
    assert _only(tmp_path) == ["notes"]


def test_existing_output_is_kept(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(GlimmerFileError) as info:
        export(tiny_checkpoint, out)
    assert info.value.code == "G004" and "--force" in (info.value.hint or "")
    result = runner.invoke(app, ["export", str(tiny_checkpoint), "-o", str(out)])
    assert result.exit_code == 2 and "G004" in result.output
    assert _only(out) == ["mine.txt"]
    assert _only(tmp_path) == ["out"]


def test_gemma_is_refused_by_name(tmp_path: Path) -> None:
    from transformers import GemmaConfig, GemmaForCausalLM

    tok = make_tokenizer(GEMMA, eos="<end_of_turn>", pad="<pad>")
    config = GemmaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
    )
    folder = _save(tmp_path / "gemma", GemmaForCausalLM(config), tok)
    with pytest.raises(UnsupportedArchitectureError) as info:
        export(folder, tmp_path / "out")
    assert info.value.code == "G581"
    assert "Gemma" in info.value.message and "GemmaForCausalLM" in info.value.message
    result = runner.invoke(app, ["export", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "G581" in result.output
    assert _only(tmp_path) == ["gemma"]


def test_merge_on_the_command_line(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from tests.train.test_merge import _adapter

    _adapter(tiny_checkpoint, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_checkpoint)
    result = runner.invoke(app, ["merge", str(tmp_path / "adapter"), "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "model.safetensors").is_file()
    again = runner.invoke(app, ["merge", str(tmp_path / "adapter"), "-o", str(tmp_path / "m")])
    assert again.exit_code == 2
    bad = runner.invoke(
        app, ["merge", str(tmp_path / "adapter"), "-o", str(tmp_path / "x"), "--dtype", "int4"]
    )
    assert bad.exit_code == 2 and "G586" in bad.output


def test_export_of_an_adapter_merges_it_first(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from tests.train.test_merge import _adapter

    tuned = _adapter(tiny_checkpoint, tmp_path / "run" / "adapter")
    result = runner.invoke(
        app, ["export", str(tmp_path / "run" / "adapter"), "-o", str(tmp_path / "gguf")]
    )
    assert result.exit_code == 0, result.output
    gguf_file = tmp_path / "gguf" / "run.f16.gguf"
    import torch

    ids = [5, 17, 40, 99]
    with torch.no_grad():
        want = tuned(torch.tensor([ids])).logits[0]
    assert (_logits_of_gguf(gguf_file, ids) - want).abs().max().item() < 1e-2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gguf", "run"]  # no scratch left
