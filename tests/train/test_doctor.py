"""glimmer doctor: each check's verdict and fix, GPU-only branches on a fake probe."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import glimmer.train.doctor as doctor_module
from glimmer.train.device import Hardware
from glimmer.train.doctor import Check, DoctorReport, Probe, doctor

GiB = 1024**3
XTX = Hardware(
    backend="rocm",
    gpu_name="Radeon RX 7900 XTX",
    gpu_arch="gfx1100",
    gpu_memory_bytes=24 * GiB,
    gpu_count=1,
    ram_bytes=64 * GiB,
    bitsandbytes=True,
)


class FakeProbe(Probe):
    """A GPU that is not there: each probe returns the error it is given."""

    def __init__(
        self,
        hw: Hardware = XTX,
        *,
        matmul: float = 1e-3,
        attention: float = 1e-3,
        linear: float | Exception = 1e-3,
    ) -> None:
        self.hw, self.matmul, self.attention, self.linear = hw, matmul, attention, linear
        self.devices: list[str] = []

    def torch_build(self) -> tuple[str, str | None, str | None]:
        return (
            ("2.5.1+rocm6.2", None, "6.2") if self.hw.backend == "rocm" else ("2.5.1", "12.4", None)
        )

    def hardware(self) -> Hardware:
        return self.hw

    def matmul_error(self, device: str) -> float:
        self.devices.append(device)
        return self.matmul

    def attention_error(self, device: str) -> float:
        return self.attention

    def linear4bit_error(self, device: str) -> float:
        if isinstance(self.linear, Exception):
            raise self.linear
        return self.linear


def _by_name(report: DoctorReport) -> dict[str, Check]:
    return {c.name: c for c in report.checks}


@pytest.fixture
def bnb(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(version: str | None) -> None:
        monkeypatch.setattr(doctor_module, "_bnb_version", lambda: version)

    return use


def test_a_healthy_rocm_card_passes(tiny_checkpoint: Path, bnb: Any) -> None:
    bnb("0.50.0")
    probe = FakeProbe()
    report = doctor(model=str(tiny_checkpoint), method="qlora", probe=probe)
    checks = _by_name(report)
    assert report.exit_code == 0, str(report)
    assert probe.devices == ["cuda"]  # the probes run on the GPU, not the CPU
    assert "ROCm 6.2" in checks["torch build"].detail
    assert "gfx1100" in checks["device"].detail and "24.0 GiB" in checks["device"].detail
    assert checks["4-bit linear"].status == "pass"
    assert checks["chat template"].status == "pass"
    assert checks["memory plan"].status == "pass"


def test_nan_in_bf16_attention_fails_with_the_fix(tiny_checkpoint: Path, bnb: Any) -> None:
    bnb(None)
    report = doctor(model=str(tiny_checkpoint), probe=FakeProbe(attention=math.nan))
    check = _by_name(report)["bf16 attention"]
    assert (check.status, report.exit_code) == ("fail", 1)
    assert "NaN" in check.detail and "fp16" in (check.fix or "")
    assert "FAIL  bf16 attention" in str(report)


def test_a_wrong_bf16_matmul_fails(tiny_checkpoint: Path, bnb: Any) -> None:
    bnb(None)
    report = doctor(model=str(tiny_checkpoint), probe=FakeProbe(matmul=0.4))
    assert _by_name(report)["bf16 matmul"].status == "fail"


@pytest.mark.parametrize(("method", "status"), [("qlora", "fail"), ("lora", "warn")])
def test_old_bitsandbytes_on_rocm(
    tiny_checkpoint: Path, bnb: Any, method: str, status: str
) -> None:
    bnb("0.49.0")
    check = _by_name(doctor(model=str(tiny_checkpoint), method=method, probe=FakeProbe()))[
        "bitsandbytes"
    ]
    assert check.status == status
    assert "bitsandbytes>=0.50" in (check.fix or "")


def test_old_bitsandbytes_is_fine_on_cuda(tiny_checkpoint: Path, bnb: Any) -> None:
    bnb("0.45.0")
    cuda = Hardware(backend="cuda", gpu_name="RTX 4090", gpu_arch="8.9", gpu_memory_bytes=24 * GiB)
    report = doctor(model=str(tiny_checkpoint), method="qlora", probe=FakeProbe(cuda))
    assert _by_name(report)["bitsandbytes"].status == "pass"
    assert "CUDA 12.4" in _by_name(report)["torch build"].detail


@pytest.mark.parametrize("linear", [0.9, math.nan, RuntimeError("no kernel image for gfx1100")])
def test_a_wrong_4bit_layer_fails(tiny_checkpoint: Path, bnb: Any, linear: Any) -> None:
    bnb("0.50.0")
    report = doctor(model=str(tiny_checkpoint), method="qlora", probe=FakeProbe(linear=linear))
    check = _by_name(report)["4-bit linear"]
    assert (check.status, report.exit_code) == ("fail", 1)
    assert check.fix


def test_qlora_on_a_cpu_fails_and_names_the_alternative(tiny_checkpoint: Path, bnb: Any) -> None:
    bnb("0.50.0")
    cpu = Hardware(backend="cpu", cpu_name="EPYC", ram_bytes=16 * GiB)
    report = doctor(model=str(tiny_checkpoint), method="qlora", probe=FakeProbe(cpu))
    check = _by_name(report)["4-bit linear"]
    assert check.status == "fail" and 'method="lora"' in (check.fix or "")
    assert _by_name(report)["memory plan"].status == "skip"
    bnb(None)
    report = doctor(model=str(tiny_checkpoint), method="qlora", probe=FakeProbe(cpu))
    assert _by_name(report)["4-bit linear"].status == "fail"
    assert _by_name(report)["bitsandbytes"].fix == 'pip install "glimmer-dsl[qlora]"'


def test_missing_bitsandbytes_for_qlora_gives_the_install_line(
    tiny_checkpoint: Path, bnb: Any
) -> None:
    bnb(None)
    check = _by_name(doctor(model=str(tiny_checkpoint), method="qlora", probe=FakeProbe()))[
        "bitsandbytes"
    ]
    assert check.status == "fail" and check.fix == 'pip install "glimmer-dsl[qlora]"'


def test_a_model_too_big_for_the_card_fails_the_memory_plan(bnb: Any) -> None:
    bnb(None)
    small = Hardware(backend="cuda", gpu_name="RTX 4070", gpu_arch="8.9", gpu_memory_bytes=12 * GiB)
    check = doctor_module._memory_check("gemma-7b-it", "lora", small)
    assert check.status == "fail" and "QLoRA" in (check.fix or "")
    assert doctor_module._memory_check("gemma-7b-it", "qlora", XTX).status == "pass"


def test_a_tokenizer_without_template_fails(tmp_path: Path, bnb: Any) -> None:
    from tests.train.tiny import make_tokenizer

    tokenizer = make_tokenizer()
    tokenizer.chat_template = None
    tokenizer.save_pretrained(tmp_path)
    check = doctor_module._template_check(str(tmp_path))
    assert check.status == "fail" and "chat template" in check.detail


def test_without_the_train_extra_everything_else_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(doctor_module, "missing_modules", lambda extra: ("torch",))
    report = doctor(probe=FakeProbe())
    assert report.exit_code == 1
    assert report.checks[0].fix == 'pip install "glimmer-dsl[train]"'
    assert all(c.status == "skip" for c in report.checks[1:])


def test_the_real_probes_run_on_the_cpu(tiny_checkpoint: Path) -> None:
    probe = Probe()
    assert probe.matmul_error("cpu") < doctor_module.BF16_TOLERANCE
    assert probe.attention_error("cpu") < doctor_module.BF16_TOLERANCE
    report = doctor(model=str(tiny_checkpoint))
    assert _by_name(report)["device"].status == "pass"


def test_cli_doctor_prints_one_line_per_check(
    tiny_checkpoint: Path, bnb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app

    bnb(None)
    monkeypatch.setattr(doctor_module, "Probe", lambda: FakeProbe(attention=math.nan))
    result = CliRunner().invoke(app, ["doctor", "--model", str(tiny_checkpoint)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("PASS  train extra")
    assert any(line.startswith("FAIL  bf16 attention") for line in lines)
    assert lines[-1].endswith("1 fail")


def test_an_unknown_method_is_refused(tiny_checkpoint: Path) -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app
    from glimmer.errors import GlimmerError

    with pytest.raises(GlimmerError, match="unknown method"):
        doctor(model=str(tiny_checkpoint), method="dora")
    result = CliRunner().invoke(app, ["doctor", "--method", "dora"])
    assert result.exit_code == 2 and "G531" in result.output
