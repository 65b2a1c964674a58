"""``glimmer doctor``: the preflight to run before a long fine-tune.

A two-hour fit that dies at step 1, or trains for two hours on NaNs, is the costly failure.
:func:`doctor` checks what decides it, one line per check with ``pass``, ``warn``, ``fail``
or ``skip`` and the fix:

* the ``train`` extra and the torch build (CPU, CUDA or ROCm, and the version);
* the devices and their architecture (``gfx1100`` for a 7900 XTX);
* bf16: whether the device has it, and a bf16 matmul and attention probe on the device,
  compared with fp32 (HIP's flash attention has produced NaNs in bf16);
* bitsandbytes: its version (4-bit on RDNA3 needs >= 0.50) and one 4-bit linear layer
  computed on the device against a plain matmul of its dequantized weights;
* the model's chat template: on a sample record the assistant mask is not empty and the
  end-of-turn token is learned;
* the memory plan of fit's automatic choice (:func:`~glimmer.train.plan.auto_plan`).

The torch work sits behind :class:`Probe`, so the GPU-only branches are tested with a fake.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from glimmer.errors import GlimmerError, OptionError
from glimmer.extras import install_line, missing_modules

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.train.device import Hardware

__all__ = ["Check", "DoctorReport", "Probe", "doctor"]

Status = Literal["pass", "warn", "fail", "skip"]

#: Relative error above which a bf16 probe counts as wrong (bf16 keeps ~3 significant digits).
BF16_TOLERANCE = 0.02
#: Relative error of a 4-bit layer against the matmul of its own dequantized weights.
NF4_TOLERANCE = 0.02
#: First bitsandbytes release whose ROCm wheels include gfx1100 and fix 4-bit NaNs on RDNA3.
BNB_ROCM_MIN = (0, 50)

_SAMPLE = [
    {"role": "system", "content": "You answer in one sentence."},
    {"role": "user", "content": "What colour is the sky?"},
    {"role": "assistant", "content": "Blue, on a clear day."},
]


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report.

    Attributes:
        name: What was checked.
        status: ``"pass"``, ``"warn"``, ``"fail"`` or ``"skip"``.
        detail: What was found (or why the check was skipped).
        fix: How to fix a warning or failure.
    """

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def __str__(self) -> str:
        line = f"{self.status.upper():<5} {self.name:<16} {self.detail}"
        return line + (f"\n      fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check, in order."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 1."""
        return 0 if self.ok else 1

    def __str__(self) -> str:
        counts = {s: sum(c.status == s for c in self.checks) for s in ("pass", "warn", "fail")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        return "\n".join([*(str(c) for c in self.checks), summary])


class Probe:
    """The torch work of the doctor; tests replace it with a fake.

    Each ``*_error`` method returns the relative error of a computation against its fp32
    reference (``nan`` when the result holds NaN or inf).
    """

    def torch_build(self) -> tuple[str, str | None, str | None]:
        """``(torch version, CUDA version or None, HIP version or None)``."""
        import torch

        return (
            str(torch.__version__),
            getattr(torch.version, "cuda", None),
            getattr(torch.version, "hip", None),
        )

    def hardware(self) -> Hardware:
        """The machine's facts (no bf16 timing)."""
        from glimmer.train.device import detect_hardware

        return detect_hardware(measure=False)

    def matmul_error(self, device: str) -> float:
        """A 512 x 512 bf16 matmul on *device* against fp32 on the CPU."""
        import torch

        gen = torch.Generator().manual_seed(0)
        a, b = torch.randn(512, 512, generator=gen), torch.randn(512, 512, generator=gen)
        out = (a.to(device, torch.bfloat16) @ b.to(device, torch.bfloat16)).float().cpu()
        return _relative_error(out, a @ b)

    def attention_error(self, device: str) -> float:
        """bf16 scaled-dot-product attention (the fused kernel the device picks) vs fp32."""
        import torch
        from torch.nn.functional import scaled_dot_product_attention as sdpa

        gen = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(2, 8, 256, 64, generator=gen) * 3 for _ in range(3))
        qb, kb, vb = (t.to(device, torch.bfloat16) for t in (q, k, v))
        out = sdpa(qb, kb, vb, is_causal=True).float().cpu()
        return _relative_error(out, sdpa(q, k, v, is_causal=True))

    def linear4bit_error(self, device: str) -> float:
        """One bitsandbytes NF4 linear layer on *device* vs a matmul of its dequantized weight."""
        import bitsandbytes as bnb  # type: ignore[import-not-found,unused-ignore]
        import torch

        gen = torch.Generator().manual_seed(0)
        weight = torch.randn(256, 512, generator=gen) / 16
        x = torch.randn(8, 512, generator=gen)
        layer = bnb.nn.Linear4bit(
            512, 256, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4"
        )
        layer.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type="nf4")
        layer = layer.to(device)
        out = layer(x.to(device, torch.bfloat16)).float().cpu()
        dequant = bnb.functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state)
        return _relative_error(out, x @ dequant.float().cpu().T)


def _relative_error(out: object, ref: object) -> float:
    import torch

    assert isinstance(out, torch.Tensor) and isinstance(ref, torch.Tensor)
    if not bool(torch.isfinite(out).all()):
        return math.nan
    return float((out - ref).norm() / ref.norm().clamp_min(1e-12))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _bnb_version() -> str | None:
    try:
        return importlib.metadata.version("bitsandbytes")
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpu_present_without_torch_support() -> str | None:
    if os.path.exists("/dev/kfd"):
        return "an AMD GPU (/dev/kfd)"
    if os.path.exists("/dev/nvidia0"):
        return "an NVIDIA GPU (/dev/nvidia0)"
    return None


def _error_check(name: str, error: float, what: str, fix: str) -> Check:
    if math.isnan(error):
        return Check(name, "fail", f"{what}: NaN or inf in the result", fix)
    if error > BF16_TOLERANCE:
        return Check(name, "fail", f"{what}: relative error {error:.3g} against fp32", fix)
    return Check(name, "pass", f"{what}: relative error {error:.1e} against fp32")


def _torch_checks(probe: Probe) -> tuple[list[Check], Hardware | None]:
    checks: list[Check] = []
    version, cuda, hip = probe.torch_build()
    build = f"ROCm {hip}" if hip else f"CUDA {cuda}" if cuda else "CPU build"
    hw = probe.hardware()
    gpu_seen = _gpu_present_without_torch_support()
    if hw.backend == "cpu" and not (cuda or hip) and gpu_seen:
        checks.append(
            Check(
                "torch build",
                "warn",
                f"torch {version} ({build}) but this machine has {gpu_seen}",
                "install the torch build for your GPU, e.g. pip install torch --index-url "
                "https://download.pytorch.org/whl/rocm6.2 (AMD) or the default wheel (NVIDIA)",
            )
        )
    else:
        checks.append(Check("torch build", "pass", f"torch {version} ({build})"))
    if hw.backend in ("cuda", "rocm"):
        mem = f"{(hw.gpu_memory_bytes or 0) / 2**30:.1f} GiB"
        checks.append(
            Check(
                "device",
                "pass",
                f"{hw.gpu_count} x {hw.gpu_name} ({hw.backend}, arch {hw.gpu_arch}, {mem})",
            )
        )
    else:
        ram = f"{(hw.ram_bytes or 0) / 2**30:.1f} GiB RAM" if hw.ram_bytes else "RAM unknown"
        name = "Apple MPS" if hw.backend == "mps" else f"CPU {hw.cpu_name or '?'}"
        checks.append(Check("device", "pass", f"no CUDA/ROCm GPU: {name}, {ram}"))
    return checks, hw


def _bf16_checks(probe: Probe, hw: Hardware) -> list[Check]:
    from glimmer.train.device import decide

    choice = decide(hw)
    device = choice.device if choice.device != "mps" else "cpu"
    where = f"on {hw.gpu_arch or hw.backend}" if device == "cuda" else "on the CPU"
    checks = [
        Check(
            "bf16",
            "pass" if choice.precision == "bf16" or device == "cpu" else "warn",
            f"fit trains in {choice.precision}: {choice.reasons[0]}",
            None if choice.precision == "bf16" or device == "cpu" else "fit uses fp16 here",
        )
    ]
    nan_fix = (
        'train in fp16 or fp32 (precision="fp16"); on ROCm update torch, or set '
        "TORCH_ROCM_AOTRITON_ENABLE_EXPERIMENTAL=0 to avoid the flash-attention kernel"
    )
    for name, run, what in (
        ("bf16 matmul", probe.matmul_error, f"512x512 matmul {where}"),
        ("bf16 attention", probe.attention_error, f"causal attention {where}"),
    ):
        try:
            checks.append(_error_check(name, run(device), what, nan_fix))
        except Exception as exc:  # a kernel that does not run is the finding
            checks.append(
                Check(name, "fail", f"{what} raised {type(exc).__name__}: {exc}", nan_fix)
            )
    return checks


def _bnb_checks(probe: Probe, hw: Hardware | None, method: str) -> list[Check]:
    needed = method == "qlora"
    version = _bnb_version()
    on_gpu = hw is not None and hw.backend in ("cuda", "rocm")
    if version is None:
        status: Status = "fail" if needed else "skip"
        absent = [
            Check(
                "bitsandbytes",
                status,
                "not installed" + ("" if needed else " (only QLoRA needs it)"),
                install_line("qlora") if needed else None,
            )
        ]
        if needed and not on_gpu:
            fix = 'use method="lora" here, or run on a CUDA or ROCm GPU'
            absent.append(Check("4-bit linear", "fail", "QLoRA needs a CUDA or ROCm GPU", fix))
        return absent
    checks: list[Check] = []
    rocm = hw is not None and hw.backend == "rocm"
    if rocm and _version_tuple(version) < BNB_ROCM_MIN:
        checks.append(
            Check(
                "bitsandbytes",
                "fail" if needed else "warn",
                f"{version} on ROCm: 4-bit layers gave NaNs or wrong results on RDNA3 before 0.50",
                'pip install "bitsandbytes>=0.50" (its ROCm wheels include gfx1100)',
            )
        )
    else:
        checks.append(Check("bitsandbytes", "pass", version))
    if hw is None or hw.backend not in ("cuda", "rocm"):
        if needed:
            fix = 'use method="lora" here, or run on a CUDA or ROCm GPU'
            checks.append(Check("4-bit linear", "fail", "QLoRA needs a CUDA or ROCm GPU", fix))
        else:
            checks.append(Check("4-bit linear", "skip", "needs a CUDA or ROCm GPU"))
        return checks
    try:
        error = probe.linear4bit_error("cuda")
    except Exception as exc:
        return [
            *checks,
            Check(
                "4-bit linear",
                "fail",
                f"an NF4 layer raised {type(exc).__name__}: {exc}",
                "reinstall bitsandbytes for your GPU (ROCm: >= 0.50)",
            ),
        ]
    fix = 'the 4-bit kernels are wrong here: use method="lora", or reinstall bitsandbytes >= 0.50'
    if math.isnan(error) or error > NF4_TOLERANCE:
        found = "NaN or inf" if math.isnan(error) else f"relative error {error:.3g}"
        checks.append(Check("4-bit linear", "fail", f"NF4 layer vs plain matmul: {found}", fix))
    else:
        checks.append(
            Check("4-bit linear", "pass", f"NF4 layer vs plain matmul: relative error {error:.1e}")
        )
    return checks


def _template_check(model: str) -> Check:
    from glimmer.train.masking import end_of_turn_token, tokenize_chat
    from glimmer.train.models import load_tokenizer, prepare_messages, resolve_model

    preset = resolve_model(model)
    try:
        tokenizer = load_tokenizer(model)
    except GlimmerError as exc:  # the first line says it; the library's advice follows
        return Check("chat template", "fail", exc.message.splitlines()[0], exc.hint)
    if not getattr(tokenizer, "chat_template", None):
        return Check(
            "chat template",
            "fail",
            f"{model} has no chat template (a base model?)",
            "use an instruction-tuned model, or add a chat_template to its tokenizer",
        )
    eot = end_of_turn_token(tokenizer, preset.end_of_turn)
    try:
        chat = tokenize_chat(prepare_messages(_SAMPLE, preset=preset), tokenizer, end_of_turn=eot)
    except GlimmerError as exc:
        return Check("chat template", "fail", exc.message, exc.hint)
    learned = [t for t in chat.labels if t != -100]
    if not learned:
        return Check(
            "chat template",
            "fail",
            "the assistant mask of a sample record is empty: nothing would be learned",
            "check the template renders assistant replies; pass a tokenizer whose template does",
        )
    eot_id = tokenizer.convert_tokens_to_ids(eot) if eot else None
    if eot_id is None or eot_id not in learned:
        return Check(
            "chat template",
            "warn",
            f"{len(learned)} assistant tokens learned, but not the end-of-turn token {eot!r}",
            "the tuned model may not stop: set the preset's end_of_turn for this model",
        )
    return Check(
        "chat template",
        "pass",
        f"{len(learned)} of {len(chat.labels)} tokens learned on a sample, end of turn {eot!r} "
        "included",
    )


def _memory_check(model: str, method: str, hw: Hardware | None) -> Check:
    from glimmer.train.plan import auto_plan, known_shape

    shape = known_shape(model)
    if shape is None:
        return Check("memory plan", "skip", f"no shape known for {model} without loading it")
    on_gpu = hw is not None and hw.backend in ("cuda", "rocm") and hw.gpu_memory_bytes
    if method == "qlora" and not on_gpu:
        return Check("memory plan", "skip", "QLoRA runs on a CUDA or ROCm GPU only")
    capacity = (hw.gpu_memory_bytes if on_gpu else hw.ram_bytes) if hw is not None else None
    choice = auto_plan(
        model,
        method=method,  # type: ignore[arg-type]
        gpu=capacity,
        max_batch=16 if on_gpu else 4,  # as fit: a CPU gains nothing from wider batches
        device="gpu" if on_gpu else "cpu",
        dtype=None if on_gpu else "fp32",
    )
    ckpt = "on" if choice.gradient_checkpointing else "off"
    where = "GPU" if on_gpu else "RAM"
    detail = (
        f"{method}, {choice.plan.seq_len} tokens: batch {choice.batch_size}, checkpointing "
        f"{ckpt}, peak {choice.plan.total / 2**30:.1f} GiB"
        + (f" of {capacity / 2**30:.1f} GiB {where}" if capacity else "")
    )
    if choice.fits:
        return Check("memory plan", "pass", detail)
    return Check(
        "memory plan", "fail" if on_gpu else "warn", detail, "; ".join(choice.advice) or None
    )


def doctor(
    *,
    model: str | None = None,
    method: str = "lora",
    probe: Probe | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> DoctorReport:
    """Check this machine (and a model) before a long fine-tune.

    Args:
        model: Preset name, hub id or local folder; default: the embedded SmolLM2.
        method: ``"lora"``, ``"qlora"`` or ``"full"`` (``"qlora"`` makes bitsandbytes a
            requirement, and plans for it).
        probe: The torch work (a fake in tests).
        on_check: Called with each check as soon as it is done (the CLI prints it).

    Returns:
        The :class:`DoctorReport`; its ``exit_code`` is 0 without failures, else 1.

    Raises:
        GlimmerError: An unknown method (code G531).

    Examples:
        >>> report = doctor()  # doctest: +SKIP
        >>> print(report)  # doctest: +SKIP
        PASS  torch build      torch 2.13.0+cpu (CPU build)
    """
    from glimmer.train.models import EMBEDDED

    if method not in ("lora", "qlora", "full"):
        raise OptionError(
            f"unknown method {method!r}", hint='use "lora", "qlora" or "full"', code="G531"
        )
    probe = probe or Probe()
    name = model or EMBEDDED
    checks: list[Check] = []

    def add(*found: Check) -> None:
        for check in found:
            checks.append(check)
            if on_check is not None:
                on_check(check)

    missing = missing_modules("train")
    if missing:
        add(
            Check(
                "train extra",
                "fail",
                f"{', '.join(missing)} not installed",
                install_line("train"),
            )
        )
        add(Check("memory plan", "skip", "checked once the train extra is installed"))
        return DoctorReport(tuple(checks))
    add(Check("train extra", "pass", "torch, transformers, peft, trl, datasets installed"))
    found, hw = _torch_checks(probe)
    add(*found)
    if hw is not None:
        add(*_bf16_checks(probe, hw))
    add(*_bnb_checks(probe, hw, method))
    add(_template_check(name))
    add(_memory_check(name, method, hw))
    return DoctorReport(tuple(checks))
