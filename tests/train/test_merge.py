"""merge(): the merged model gives the logits of base + adapter, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glimmer.errors import GlimmerFileError
from glimmer.train.merge import MergeError, merge


def _adapter(base: Path, folder: Path, *, seed: int = 1) -> Any:
    """A LoRA adapter on the tiny checkpoint with non-zero B, so it changes the logits."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    net = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    tuned = get_peft_model(net, config)
    tuned.save_pretrained(folder)
    return tuned.eval()


@pytest.fixture
def adapter(tiny_checkpoint: Path, tmp_path: Path) -> tuple[Path, Any]:
    folder = tmp_path / "adapter"
    return folder, _adapter(tiny_checkpoint, folder)


def _logits(net: Any, ids: Any) -> Any:
    import torch

    with torch.no_grad():
        return net(input_ids=ids).logits


def test_merged_logits_equal_base_plus_adapter(
    adapter: tuple[Path, Any], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    folder, tuned = adapter
    out = merge(folder, tmp_path / "merged")
    assert out == tmp_path / "merged"
    assert (out / "model.safetensors").is_file()
    assert (out / "tokenizer.json").is_file()
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()
    ids = torch.randint(
        0, base.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0)
    )
    expected = _logits(tuned, ids)
    got = _logits(merged, ids)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(_logits(base, ids), expected, atol=1e-3)  # the adapter mattered
    assert not any(p.name.startswith(".merged-") for p in tmp_path.iterdir())  # no leftovers


def test_merge_with_explicit_base_and_dtype(
    adapter: tuple[Path, Any], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    folder, _ = adapter
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = None
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(MergeError, match="which base model"):
        merge(folder, tmp_path / "m")
    out = merge(folder, tmp_path / "m", base=str(tiny_checkpoint), dtype="bf16")
    merged = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    assert next(merged.parameters()).dtype == torch.bfloat16


def test_merge_refuses_to_overwrite_unless_asked(adapter: tuple[Path, Any], tmp_path: Path) -> None:
    folder, _ = adapter
    out = tmp_path / "merged"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(GlimmerFileError) as info:
        merge(folder, out)
    assert info.value.code == "G004"
    assert (out / "keep.txt").read_text() == "mine"
    merge(folder, out, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "merged"]


def test_merge_needs_an_adapter_folder(tmp_path: Path) -> None:
    with pytest.raises(GlimmerFileError, match="not an adapter folder") as info:
        merge(tmp_path, tmp_path / "out")
    assert info.value.hint
    assert not (tmp_path / "out").exists()
