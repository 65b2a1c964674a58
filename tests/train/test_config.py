"""FitConfig defaults, TOML, and resolution against hardware and model size."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glimmer.train.config import (
    FitConfig,
    FitConfigError,
    FitMemoryError,
    resolve,
    to_lora_config,
    to_sft_config,
)
from glimmer.train.device import Hardware, decide
from glimmer.train.models import resolve_model
from glimmer.train.plan import model_shape

GiB = 1024**3
SMOL = model_shape("smollm2-135m")
MISTRAL = model_shape("mistral-7b-instruct-v0.2")
CPU = decide(Hardware(backend="cpu", ram_bytes=16 * GiB))
GPU_24 = decide(
    Hardware(backend="rocm", gpu_arch="gfx1100", gpu_memory_bytes=24 * GiB, bitsandbytes=True)
)
GPU_8 = decide(
    Hardware(backend="cuda", gpu_arch="8.6", gpu_memory_bytes=8 * GiB, bitsandbytes=True)
)
GPU_12 = decide(
    Hardware(backend="cuda", gpu_arch="8.6", gpu_memory_bytes=12 * GiB, bitsandbytes=True)
)


def test_seed_defaults() -> None:
    cfg = FitConfig()
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (16, 32, 0.05)
    assert cfg.epochs == 3
    assert cfg.learning_rate == 2e-4
    assert 0 < cfg.warmup_ratio < 1
    assert cfg.report_to == ["tensorboard"]
    assert cfg.trust_remote_code is False


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = FitConfig(model="gemma-7b-it", epochs=2, lora_r=8, lora_target_modules=["q_proj"])
    file = tmp_path / "fit.toml"
    file.write_text(cfg.to_toml())
    assert FitConfig.from_toml(file) == cfg


def test_toml_without_table_and_with_errors(tmp_path: Path) -> None:
    file = tmp_path / "fit.toml"
    file.write_text("epochs = 1\nlora_r = 4\n")
    assert FitConfig.from_toml(file).lora_r == 4
    file.write_text("[fit]\nlora_rank = 4\n")
    with pytest.raises(FitConfigError, match="unknown fit option 'lora_rank'") as info:
        FitConfig.from_toml(file)
    assert info.value.code == "G504"
    assert info.value.location.source == str(file)
    file.write_text("[fit\n")
    with pytest.raises(FitConfigError, match="not valid TOML"):
        FitConfig.from_toml(file)
    with pytest.raises(FitConfigError, match="'epochs'"):
        FitConfig.from_overrides(epochs=-1)


def test_warmup_is_a_ratio_of_the_run() -> None:
    resolved = resolve(
        FitConfig(max_steps=27),
        choice=CPU,
        preset=resolve_model("smollm2-135m"),
        shape=SMOL,
        n_train=200,
    )
    sft = to_sft_config(resolved, output_dir="out")
    assert sft.get_warmup_steps(27) < 27  # a fixed 100 would never reach the learning rate
    assert sft.get_warmup_steps(1000) > sft.get_warmup_steps(27)


def test_cpu_run_resolves_to_use_cpu_and_no_checkpointing() -> None:
    resolved = resolve(
        FitConfig(), choice=CPU, preset=resolve_model("smollm2-135m"), shape=SMOL, n_train=400
    )
    assert resolved.use_cpu
    assert resolved.gradient_checkpointing is False
    assert resolved.precision == "fp32"
    sft = to_sft_config(resolved, output_dir="out")
    assert sft.use_cpu is True
    assert not sft.bf16
    assert sft.eval_strategy == "epoch"
    assert sft.save_strategy == "epoch"
    assert sft.load_best_model_at_end
    assert sft.padding_free is False and sft.packing is False and sft.pad_to_multiple_of is None
    assert sft.ddp_find_unused_parameters is False  # LoRA: every trainable parameter is used
    full = resolve(
        FitConfig(method="full"),
        choice=CPU,
        preset=resolve_model("smollm2-135m"),
        shape=SMOL,
        n_train=400,
    )
    assert to_sft_config(full, output_dir="out").ddp_find_unused_parameters is None


def test_big_model_in_small_memory_turns_checkpointing_on() -> None:
    preset = resolve_model("mistral-7b-instruct-v0.2")
    roomy = resolve(
        FitConfig(method="qlora", max_seq_len=512),
        choice=GPU_24,
        preset=preset,
        shape=MISTRAL,
        n_train=1000,
    )
    tight = resolve(
        FitConfig(method="qlora"), choice=GPU_12, preset=preset, shape=MISTRAL, n_train=1000
    )
    assert not roomy.gradient_checkpointing
    assert tight.gradient_checkpointing
    assert tight.batch_size <= roomy.batch_size
    assert any("checkpointing on" in r for r in tight.reasons)
    assert any("memory plan: peak" in r for r in tight.reasons)
    assert roomy.precision == "bf16"
    # SFTConfig checks the real machine's bf16 support, so map an fp32 variant here
    fp32 = resolve(
        FitConfig(method="qlora", precision="fp32"),
        choice=CPU,
        preset=preset,
        shape=MISTRAL,
        n_train=1000,
    )
    assert to_sft_config(fp32, output_dir="o").optim == "paged_adamw_8bit"


def test_user_choices_win() -> None:
    cfg = FitConfig(batch_size=3, grad_accum=5, gradient_checkpointing=True, precision="fp32")
    resolved = resolve(
        cfg, choice=GPU_24, preset=resolve_model("smollm2-135m"), shape=SMOL, n_train=10
    )
    assert (resolved.batch_size, resolved.grad_accum, resolved.gradient_checkpointing) == (
        3,
        5,
        True,
    )
    assert resolved.precision == "fp32"


def test_lora_config_uses_preset_targets() -> None:
    resolved = resolve(
        FitConfig(), choice=CPU, preset=resolve_model("gemma-7b-it"), shape=SMOL, n_train=10
    )
    lora = to_lora_config(resolved)
    assert lora.r == 16 and lora.lora_alpha == 32
    assert set(lora.target_modules) == set(resolve_model("gemma-7b-it").lora_target_modules)


def test_a_run_that_cannot_fit_stops_with_advice() -> None:
    with pytest.raises(FitMemoryError) as info:
        resolve(
            FitConfig(method="lora"),
            choice=GPU_8,
            preset=resolve_model("mistral-7b-instruct-v0.2"),
            shape=MISTRAL,
            n_train=1000,
        )
    assert info.value.code == "G530"
    assert 'method="qlora"' in (info.value.hint or "")


def test_gpu_memory_plans_for_less_than_the_card() -> None:
    preset = resolve_model("mistral-7b-instruct-v0.2")
    whole = resolve(
        FitConfig(method="qlora"), choice=GPU_24, preset=preset, shape=MISTRAL, n_train=1000
    )
    part = resolve(
        FitConfig(method="qlora", gpu_memory="12GB"),
        choice=GPU_24,
        preset=preset,
        shape=MISTRAL,
        n_train=1000,
    )
    assert part.plan_bytes is not None and part.plan_bytes <= 0.9 * 12 * GiB
    assert whole.plan_bytes is not None and whole.plan_bytes > part.plan_bytes
    assert any("planning for 12.0 GiB" in r for r in part.reasons)
    with pytest.raises(FitMemoryError):
        resolve(
            FitConfig(method="lora", gpu_memory="12GB"),
            choice=GPU_24,
            preset=preset,
            shape=MISTRAL,
            n_train=1000,
        )


def test_a_bad_gpu_memory_is_refused_with_the_config() -> None:
    with pytest.raises(FitConfigError, match="gpu_memory"):
        FitConfig.from_overrides(gpu_memory="a lot")
    on_cpu = resolve(
        FitConfig(gpu_memory="12GB"),
        choice=CPU,
        preset=resolve_model("smollm2-135m"),
        shape=SMOL,
        n_train=10,
    )
    assert "gpu_memory ignored: training on the CPU" in on_cpu.reasons


def test_a_model_without_a_shape_gets_batch_one() -> None:
    resolved = resolve(
        FitConfig(), choice=GPU_24, preset=resolve_model("some/model"), shape=None, n_train=64
    )
    assert (resolved.batch_size, resolved.gradient_checkpointing) == (1, False)
    assert "no memory plan" in resolved.reasons[0]


@given(n_train=st.integers(1, 100_000), memory=st.integers(1, 256))
def test_batches_fit_the_data_and_the_memory_and_are_powers_of_two(
    n_train: int, memory: int
) -> None:
    choice = decide(Hardware(backend="cuda", gpu_arch="8.0", gpu_memory_bytes=memory * GiB))
    try:
        resolved = resolve(
            FitConfig(),
            choice=choice,
            preset=resolve_model("smollm2-135m"),
            shape=SMOL,
            n_train=n_train,
        )
    except FitMemoryError as exc:
        assert exc.hint
        return
    assert resolved.batch_size >= 1 and resolved.batch_size & (resolved.batch_size - 1) == 0
    assert resolved.grad_accum >= 1
    assert resolved.batch_size * resolved.grad_accum <= max(16, resolved.batch_size)
    assert resolved.steps_per_epoch >= 1
    assert resolved.plan_bytes is not None and resolved.plan_bytes <= 0.9 * memory * GiB
