"""fit's automatic memory choices come from plan(): every preset on 24/16/12 GB fits or stops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glimmer.train.config import FitConfig, FitMemoryError, resolve
from glimmer.train.device import Hardware, decide
from glimmer.train.models import PRESETS, resolve_model
from glimmer.train.plan import (
    HEADROOM,
    AutoPlan,
    auto_plan,
    known_shape,
    logits_bytes,
    model_shape,
    plan,
)

GiB = 1024**3


def _rocm(gib: int) -> Any:
    return decide(
        Hardware(backend="rocm", gpu_arch="gfx1100", gpu_memory_bytes=gib * GiB, bitsandbytes=True)
    )


@pytest.mark.parametrize("gib", [24, 16, 12])
@pytest.mark.parametrize("method", ["lora", "qlora"])
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_fits_with_headroom_or_stops_with_advice(
    name: str, method: str, gib: int
) -> None:
    preset = PRESETS[name]
    cfg = FitConfig(model=name, method=method)  # type: ignore[arg-type]
    try:
        resolved = resolve(
            cfg, choice=_rocm(gib), preset=preset, shape=model_shape(name), n_train=1000
        )
    except FitMemoryError as exc:
        assert exc.code == "G530"
        hint = exc.hint or ""
        assert any(word in hint for word in ('method="qlora"', "max_seq_len=", "batch of 1", "GPU"))
        return
    # the choice, planned again from scratch, leaves at least 10% of the GPU free
    again = plan(
        name,
        method=method,  # type: ignore[arg-type]
        seq_len=preset.max_seq_len,
        batch=resolved.batch_size,
        gpu=gib * GiB,
        gradient_checkpointing=resolved.gradient_checkpointing,
    )
    assert resolved.max_seq_len == preset.max_seq_len
    assert again.total == resolved.plan_bytes
    assert again.total <= (1 - HEADROOM) * gib * GiB


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("mistral-7b-instruct-v0.2", "lora"),
        ("mistral-7b-instruct-v0.2", "qlora"),
        ("gemma-7b-it", "qlora"),
    ],
)
def test_the_seed_users_runs_on_a_24gb_rocm_card_fit(name: str, method: str) -> None:
    resolved = resolve(
        FitConfig(model=name, method=method),  # type: ignore[arg-type]
        choice=_rocm(24),
        preset=PRESETS[name],
        shape=model_shape(name),
        n_train=1000,
    )
    assert resolved.plan_bytes is not None and resolved.plan_bytes <= 0.9 * 24 * GiB


def test_a_13b_lora_on_24gb_stops_and_names_what_fits() -> None:
    with pytest.raises(FitMemoryError) as info:  # its 16-bit weights alone exceed the card
        resolve(
            FitConfig(model="llama-2-13b-chat"),
            choice=_rocm(24),
            preset=PRESETS["llama-2-13b-chat"],
            shape=model_shape("llama-2-13b-chat"),
            n_train=1000,
        )
    assert 'QLoRA (method="qlora", a 4-bit base) fits' in (info.value.hint or "")


def test_long_rows_that_do_not_fit_get_a_shorter_length_that_does() -> None:
    choice = auto_plan("smollm2-135m", gpu="2GB", seq_len=8192)
    assert not choice.fits
    tip = next(t for t in choice.advice if t.startswith("shorter rows"))
    n = int(tip.split("max_seq_len=")[1].split()[0])
    assert 128 <= n < 8192 and auto_plan("smollm2-135m", gpu="2GB", seq_len=n).fits


def test_auto_prefers_no_checkpointing_and_the_largest_batch() -> None:
    choice = auto_plan("smollm2-135m", gpu="24GB", seq_len=256)
    assert (choice.batch_size, choice.gradient_checkpointing, choice.fits) == (16, False, True)
    fixed = auto_plan("smollm2-135m", gpu="24GB", seq_len=256, batch=2, gradient_checkpointing=True)
    assert (fixed.batch_size, fixed.gradient_checkpointing) == (2, True)
    assert fixed.plan.total < choice.plan.total


def test_auto_uses_the_presets_row_length_and_targets() -> None:
    assert auto_plan("gemma-2b-it", method="qlora").plan.seq_len == 2048
    assert auto_plan("smollm2-135m").plan.seq_len == resolve_model("smollm2-135m").max_seq_len


def test_auto_to_dict_has_the_documented_keys() -> None:
    data = auto_plan("mistral", method="qlora", gpu="24GB").to_dict()
    assert {
        "batch_size",
        "gradient_checkpointing",
        "seq_len",
        "total_bytes",
        "gpu_bytes",
        "fits",
        "advice",
    } <= set(data)
    assert json.loads(json.dumps(data)) == data
    assert data["total_bytes"] <= 0.9 * data["gpu_bytes"]


def test_the_logits_term_is_one_function(monkeypatch: pytest.MonkeyPatch) -> None:
    import glimmer.train.plan as plan_module

    shape = model_shape("gemma-7b-it")
    kwargs: dict[str, Any] = {"seq_len": 1024, "gpu": None, "gradient_checkpointing": True}
    with_logits = plan(shape, **kwargs)
    monkeypatch.setattr(plan_module, "logits_bytes", lambda *_a, **_k: 0)
    without = plan(shape, **kwargs)
    expected = logits_bytes(shape, tokens=1024, act=4)  # fp32 without a GPU
    assert with_logits.activations - without.activations == expected > 0


def test_cli_plan_auto_json() -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app

    runner = CliRunner()
    args = ["plan", "mistral-7b-instruct-v0.2", "--method", "lora", "--gpu", "24GB", "--auto"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["seq_len"] == 2048 and data["fits"] is True
    assert data["gradient_checkpointing"] is True
    result = runner.invoke(app, ["plan", "gemma-7b-it", "--gpu", "12GB", "--auto"])
    assert result.exit_code == 1
    assert "advice: QLoRA" in result.output


def _write_config(folder: Path, **over: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 512,
        "vocab_size": 1000,
        **over,
    }
    (folder / "config.json").write_text(json.dumps(cfg), "utf-8")
    return folder


def test_a_local_folder_is_planned_from_its_config(tmp_path: Path) -> None:
    folder = _write_config(tmp_path / "my-model")
    choice = auto_plan(str(folder), gpu="12GB")
    assert isinstance(choice, AutoPlan) and choice.fits
    assert choice.plan.seq_len == 1024  # no preset: glimmer's default row length
    assert known_shape(str(folder)) == model_shape(str(folder))


def test_a_cached_hub_config_is_read_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    snapshot = tmp_path / "models--acme--tiny-chat" / "snapshots" / "abc123"
    _write_config(snapshot, hidden_size=512)
    refs = tmp_path / "models--acme--tiny-chat" / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123", "utf-8")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    shape = model_shape("acme/tiny-chat")
    assert (shape.hidden_size, shape.name) == (512, "acme/tiny-chat")
    assert known_shape("acme/not-cached") is None


def test_fit_stops_before_loading_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import glimmer.train.fit as fit_module

    def no_loading(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(fit_module, "choose_device", lambda **_k: _rocm(12))
    monkeypatch.setattr(fit_module, "load_model", no_loading)
    data = tmp_path / "data.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    data.write_text(json.dumps(row) + "\n", "utf-8")
    with pytest.raises(FitMemoryError) as info:
        fit_module.fit(data, model="gemma-7b-it", output_dir=tmp_path / "out", replay_samples=0)
    assert "QLoRA" in (info.value.hint or "")
    assert not (tmp_path / "out").exists()


def test_a_forced_setting_that_does_not_fit_gets_the_one_that_does() -> None:
    forced = auto_plan(
        "mistral", method="qlora", gpu="24GB", batch=16, gradient_checkpointing=False
    )
    assert not forced.fits
    assert any(t.startswith("a batch of 1 with gradient checkpointing") for t in forced.advice)
    assert auto_plan(
        "mistral", method="qlora", gpu="24GB", batch=1, gradient_checkpointing=True
    ).fits
