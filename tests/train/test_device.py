"""Device and precision decisions, on made-up hardware."""

from __future__ import annotations

import pytest

from glimmer.train.device import Hardware, decide, detect_hardware, distributed_warning

GiB = 1024**3


@pytest.mark.parametrize(
    ("hw", "device", "precision"),
    [
        (
            Hardware(backend="cuda", gpu_name="A100", gpu_arch="8.0", gpu_memory_bytes=80 * GiB),
            "cuda",
            "bf16",
        ),
        (
            Hardware(
                backend="cuda", gpu_name="RTX 4090", gpu_arch="8.9", gpu_memory_bytes=24 * GiB
            ),
            "cuda",
            "bf16",
        ),
        (
            Hardware(backend="cuda", gpu_name="T4", gpu_arch="7.5", gpu_memory_bytes=16 * GiB),
            "cuda",
            "fp16",
        ),
        (
            Hardware(
                backend="rocm",
                gpu_name="Radeon RX 7900 XTX",
                gpu_arch="gfx1100",
                gpu_memory_bytes=24 * GiB,
            ),
            "cuda",
            "bf16",
        ),
        (
            Hardware(
                backend="rocm",
                gpu_name="Radeon RX 6800",
                gpu_arch="gfx1030",
                gpu_memory_bytes=16 * GiB,
            ),
            "cuda",
            "fp16",
        ),
        (Hardware(backend="mps", gpu_name="Apple GPU", ram_bytes=16 * GiB), "mps", "fp32"),
        (Hardware(backend="cpu", cpu_flags=frozenset()), "cpu", "fp32"),
        (
            Hardware(
                backend="cpu",
                cpu_flags=frozenset({"amx_bf16", "avx512_bf16"}),
                cpu_bf16_speedup=1.6,
            ),
            "cpu",
            "bf16",
        ),
        (
            Hardware(backend="cpu", cpu_flags=frozenset({"avx512_bf16"}), cpu_bf16_speedup=0.4),
            "cpu",
            "fp32",
        ),
        (
            Hardware(backend="cpu", cpu_flags=frozenset({"avx512_bf16"}), cpu_bf16_speedup=None),
            "cpu",
            "fp32",
        ),
    ],
)
def test_precision_follows_the_hardware(hw: Hardware, device: str, precision: str) -> None:
    choice = decide(hw)
    assert choice.device == device
    assert choice.precision == precision
    assert choice.use_cpu is (device == "cpu")
    assert choice.reasons  # every decision is explained
    assert precision in choice.describe()


def test_cpu_without_bf16_instructions_never_gets_bf16_even_if_measured_fast() -> None:
    # the flag is required; a measurement alone does not make bf16 safe
    assert decide(Hardware(backend="cpu", cpu_bf16_speedup=3.0)).precision == "fp32"


def test_forced_precision_is_kept_and_explained() -> None:
    choice = decide(Hardware(backend="cpu"), precision="bf16")
    assert choice.precision == "bf16"
    assert any("forced" in r for r in choice.reasons)


@pytest.mark.parametrize(
    ("hw", "qlora"),
    [
        (Hardware(backend="cuda", gpu_arch="8.6", bitsandbytes=True), True),
        (Hardware(backend="cuda", gpu_arch="8.6", bitsandbytes=False), False),
        (Hardware(backend="rocm", gpu_arch="gfx1100", bitsandbytes=True), True),
        (Hardware(backend="cpu", bitsandbytes=True), False),
        (Hardware(backend="mps", bitsandbytes=True), False),
    ],
)
def test_qlora_only_where_bitsandbytes_runs(hw: Hardware, qlora: bool) -> None:
    assert decide(hw).qlora is qlora


def test_memory_comes_from_the_device() -> None:
    assert (
        decide(Hardware(backend="cuda", gpu_arch="9.0", gpu_memory_bytes=80 * GiB)).memory_bytes
        == 80 * GiB
    )
    assert decide(Hardware(backend="cpu", ram_bytes=32 * GiB)).memory_bytes == 32 * GiB


def test_this_machine_is_detected() -> None:
    hw = detect_hardware(measure=False)
    assert hw.backend in {"cuda", "rocm", "mps", "cpu"}
    assert hw.cpu_flags <= {"amx_bf16", "avx512_bf16"}


@pytest.mark.parametrize(
    ("env", "warns"),
    [
        ({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}, True),  # accelerate --cpu, alone
        ({"MASTER_ADDR": "127.0.0.1", "WORLD_SIZE": "1"}, True),
        ({"MASTER_ADDR": "127.0.0.1", "WORLD_SIZE": "2", "RANK": "0"}, False),
        ({}, False),
    ],
)
def test_launched_for_several_processes_but_alone_warns(env: dict[str, str], warns: bool) -> None:
    message = distributed_warning(env)
    assert (message is not None) is warns
    if message:
        assert "torchrun" in message
