"""plan(): parameter counts match real models, parts add up, and the laws of memory hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.errors import GlimmerFileError
from glimmer.train.models import KNOWN_SHAPES
from glimmer.train.plan import (
    GPUS,
    MemoryPlan,
    ModelShape,
    PlanError,
    model_shape,
    plan,
)

PRESETS = ["smollm2-135m", "mistral-7b-instruct-v0.2", "openhermes-2.5-mistral-7b", "gemma-7b-it"]


def _meta_model(shape: ModelShape) -> Any:
    """The model with this shape on the meta device (no memory, no download)."""
    import torch
    from transformers import AutoModelForCausalLM, GemmaConfig, LlamaConfig

    cls = GemmaConfig if "gemma" in shape.name.lower() else LlamaConfig
    config = cls(
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        vocab_size=shape.vocab_size,
        head_dim=shape.head_dim,
        tie_word_embeddings=shape.tie_embeddings,
    )
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("name", PRESETS)
def test_parameter_count_matches_the_model_built_from_its_shape(name: str) -> None:
    shape = model_shape(name)
    net = _meta_model(shape)
    assert shape.num_params == sum(p.numel() for p in net.parameters())


def test_preset_counts_agree_with_the_model_presets() -> None:
    from glimmer.train.models import PRESETS as MODEL_PRESETS

    for name, preset in MODEL_PRESETS.items():
        assert preset.shape is model_shape(name)  # one table: the preset holds the shape
        assert model_shape(preset.source) == KNOWN_SHAPES[name]  # hub ids resolve too


def test_lora_parameters_match_peft(tiny_checkpoint: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    targets = ["q_proj", "k_proj", "o_proj", "down_proj"]
    p = plan(tiny_checkpoint, method="lora", lora_r=4, target_modules=targets, gpu=None)
    net = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_checkpoint),
        LoraConfig(r=4, target_modules=targets, task_type="CAUSAL_LM"),
    )
    trainable = sum(t.numel() for t in net.parameters() if t.requires_grad)
    assert p.trainable_params == trainable
    assert p.lora == 4 * trainable
    assert p.num_params == sum(t.numel() for t in net.base_model.model.parameters()) - trainable


def test_config_json_path_and_mapping(tmp_path: Path) -> None:
    config = {
        "hidden_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 500,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    from_dir = model_shape(tmp_path)
    assert from_dir.num_params == model_shape(tmp_path / "config.json").num_params
    assert from_dir.head_dim == 16
    assert from_dir.kv_dim == 32
    assert model_shape(config).num_params == from_dir.num_params
    assert model_shape({"text_config": config}).hidden_size == 64


def test_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        plan("no-such-model-anywhere")
    assert info.value.code == "G572"
    assert "never downloads" in (info.value.hint or "")
    with pytest.raises(PlanError) as info:
        plan("smollm2-135m", gpu="toaster")
    assert info.value.code == "G573"
    with pytest.raises(PlanError, match="positive"):
        plan("smollm2-135m", seq_len=0)
    with pytest.raises(PlanError, match="method"):
        plan("smollm2-135m", method="prefix")  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="target"):
        plan("smollm2-135m", target_modules=["qkv"])
    with pytest.raises(PlanError, match="dtype"):
        plan("smollm2-135m", dtype="int3")
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(PlanError) as info:
        plan(tmp_path)
    assert info.value.code == "G571"
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(GlimmerFileError):
        plan(tmp_path)


def test_gpu_names_sizes_and_bytes() -> None:
    assert plan("smollm2-135m", gpu="7900xtx").capacity == 24 * 1024**3
    assert plan("smollm2-135m", gpu="RTX4090").capacity == GPUS["4090"]
    assert plan("smollm2-135m", gpu="12GB").capacity == 12 * 1024**3
    assert plan("smollm2-135m", gpu=123_456_789).capacity == 123_456_789
    none = plan("smollm2-135m", gpu=None)
    assert none.fits is None
    assert none.headroom is None
    assert none.dtype == "fp32"
    assert "no GPU given" in str(none)


def test_the_seed_models_on_a_7900xtx() -> None:
    # 16-bit LoRA of a 7B model only just fits 24 GiB at 512 tokens; QLoRA leaves room; full does not.
    assert plan("mistral-7b-instruct-v0.2", method="qlora").fits
    assert plan("mistral-7b-instruct-v0.2", method="lora").fits
    full = plan("mistral-7b-instruct-v0.2", method="full")
    assert full.fits is False
    assert full.gradient_checkpointing  # chosen because nothing else would fit
    assert any("qlora" in tip for tip in full.advice())
    assert "does NOT fit" in str(full)
    gemma = plan("gemma-7b-it", method="qlora", seq_len=2048, batch=4)
    assert gemma.activations > gemma.weights  # a 256k vocabulary makes the logits huge


def test_rich_table_renders() -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(plan("gemma-7b-it", method="qlora"))
    text = console.export_text()
    assert "activations" in text
    assert "fits 7900xtx" in text


def test_to_dict_is_json_ready() -> None:
    data = plan("smollm2-135m").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["total"] == sum(
        data[k] for k in ("weights", "lora", "gradients", "optimizer", "activations", "overhead")
    )


def test_importing_plan_does_not_import_torch() -> None:
    code = (
        "import sys, glimmer.train.plan as p; p.plan('gemma-7b-it'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_glimmer_plan_is_served_lazily() -> None:
    import glimmer

    assert glimmer.plan is plan
    assert glimmer.MemoryPlan is MemoryPlan


def test_cli_plan() -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["plan", "mistral-7b-instruct-v0.2", "--method", "qlora", "--gpu", "4090"]
    )
    assert result.exit_code == 0, result.output
    assert "fits 4090" in result.output
    assert "optimizer" in result.output
    result = runner.invoke(app, ["plan", "mistral-7b-instruct-v0.2", "--method", "full", "--json"])
    assert result.exit_code == 1  # does not fit
    assert json.loads(result.output)["fits"] is False
    result = runner.invoke(app, ["plan", "nope-model"])
    assert result.exit_code == 2
    assert "G572" in result.output


# --------------------------------------------------------------------------- laws

models = st.sampled_from([*PRESETS, "gemma-2b-it", "llama-3-8b-instruct"])
methods = st.sampled_from(["lora", "qlora", "full"])
seqs = st.integers(1, 8192)
batches = st.integers(1, 16)


@settings(max_examples=60, deadline=None)
@given(models, methods, seqs, batches, st.sampled_from(["7900xtx", "3090", "a100-80", None]))
def test_parts_add_up_and_verdict_is_consistent(
    model: str, method: Any, seq: int, batch: int, gpu: str | None
) -> None:
    p = plan(model, method=method, seq_len=seq, batch=batch, gpu=gpu)
    assert p.total == sum(p.parts().values())
    assert all(v >= 0 for v in p.parts().values())
    if p.capacity is not None:
        assert p.fits == (p.total <= p.capacity)
        assert p.headroom == p.capacity - p.total
        assert (not p.advice()) == bool(p.fits)
    assert (p.lora == 0) == (method == "full")


@settings(max_examples=60, deadline=None)
@given(models, methods, seqs, batches, st.booleans())
def test_more_tokens_never_need_less_memory(
    model: str, method: Any, seq: int, batch: int, ckpt: bool
) -> None:
    kw: dict[str, Any] = {"method": method, "gpu": "a100-80", "gradient_checkpointing": ckpt}
    p = plan(model, seq_len=seq, batch=batch, **kw)
    assert plan(model, seq_len=seq + 1, batch=batch, **kw).total > p.total
    assert plan(model, seq_len=seq, batch=batch + 1, **kw).total > p.total
    assert plan(model, seq_len=seq, batch=batch, lora_r=32, **kw).total >= p.total


@settings(max_examples=40, deadline=None)
@given(models, seqs, batches)
def test_memory_order_of_methods_and_checkpointing(model: str, seq: int, batch: int) -> None:
    kw: dict[str, Any] = {"seq_len": seq, "batch": batch, "gpu": None, "dtype": "bf16"}
    q, lo, full = (plan(model, method=m, **kw) for m in ("qlora", "lora", "full"))
    assert q.weights < lo.weights == full.weights
    assert lo.trainable_params < full.trainable_params
    assert lo.optimizer + lo.gradients < full.optimizer + full.gradients
    on = plan(model, method="lora", gradient_checkpointing=True, **kw)
    off = plan(model, method="lora", gradient_checkpointing=False, **kw)
    assert on.activations < off.activations
    assert (
        plan(model, method="lora", seq_len=seq, batch=batch, gpu=None, dtype="fp32").total
        > lo.total
    )
