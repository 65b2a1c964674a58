"""Where training runs and at what precision, decided from the hardware in one place.

:func:`detect_hardware` gathers facts (CUDA or ROCm GPU and its architecture, Apple MPS,
the CPU's bf16 instructions, memory); :func:`decide` turns facts into a
:class:`DeviceChoice` with the reasons; :func:`choose_device` does both and prints the
choice. Keeping the decision a pure function of :class:`Hardware` lets it be tested on
hardware nobody has at hand.

Precision rules: bf16 on NVIDIA Ampere or later and on AMD RDNA3 / CDNA2+ (ROCm); fp16 on
older GPUs; on a CPU, bf16 autocast only where the processor has bf16 instructions (AMX or
AVX512-BF16) *and* a quick measurement shows bf16 is not slower than fp32 there, else fp32.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DeviceChoice",
    "Hardware",
    "choose_device",
    "decide",
    "detect_hardware",
    "distributed_warning",
]

Backend = Literal["cuda", "rocm", "mps", "cpu"]
Precision = Literal["bf16", "fp16", "fp32"]
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True, slots=True)
class Hardware:
    """Facts about the machine, as :func:`detect_hardware` finds them.

    Attributes:
        backend: ``"cuda"`` (NVIDIA), ``"rocm"`` (AMD via HIP), ``"mps"`` or ``"cpu"``.
        gpu_name: The accelerator's name, if any.
        gpu_arch: CUDA compute capability (``"8.6"``) or the ROCm gfx target (``"gfx1100"``).
        gpu_memory_bytes: Memory of the first accelerator.
        gpu_count: How many accelerators torch sees.
        cpu_name: The processor's model name.
        cpu_flags: The bf16-related instruction flags found (``amx_bf16``, ``avx512_bf16``).
        cpu_bf16_speedup: fp32 time / bf16 time of a quick matmul check (> 1: bf16 faster);
            ``None`` when not measured.
        ram_bytes: System memory.
        bitsandbytes: Whether ``bitsandbytes`` imports.
    """

    backend: Backend = "cpu"
    gpu_name: str | None = None
    gpu_arch: str | None = None
    gpu_memory_bytes: int | None = None
    gpu_count: int = 0
    cpu_name: str = ""
    cpu_flags: frozenset[str] = frozenset()
    cpu_bf16_speedup: float | None = None
    ram_bytes: int | None = None
    bitsandbytes: bool = False


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """The device and precision glimmer trains with, and why.

    Attributes:
        device: torch device string: ``"cuda"`` (also ROCm), ``"mps"`` or ``"cpu"``.
        backend: ``"cuda"``, ``"rocm"``, ``"mps"`` or ``"cpu"``.
        precision: ``"bf16"``, ``"fp16"`` or ``"fp32"`` (mixed precision / autocast).
        memory_bytes: Memory available to training (GPU memory, else system RAM).
        qlora: Whether 4-bit QLoRA can run here.
        hardware: The facts the decision was made from.
        reasons: One line per decision, in the user's terms.
    """

    device: str
    backend: Backend
    precision: Precision
    memory_bytes: int | None
    qlora: bool
    hardware: Hardware
    reasons: tuple[str, ...] = field(default=())

    @property
    def use_cpu(self) -> bool:
        """True when training runs on the CPU (trl needs ``use_cpu=True`` then)."""
        return self.device == "cpu"

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype matching :attr:`precision`."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[
            self.precision
        ]

    def describe(self) -> str:
        """One paragraph: device, precision and the reasons."""
        hw = self.hardware
        name = hw.gpu_name if self.device != "cpu" else (hw.cpu_name or platform.processor())
        head = f"device {self.device} ({self.backend}: {name or 'unknown'}), precision {self.precision}"
        return "\n".join([head, *(f"  - {r}" for r in self.reasons)])


def _cpu_info() -> tuple[str, frozenset[str]]:
    name, flags = platform.processor() or "", frozenset[str]()
    cpuinfo = Path("/proc/cpuinfo")
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return name, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(f for f in value.split() if f in CPU_BF16_FLAGS)
        if name and flags:
            break
    return name, flags


def _ram_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


@cache
def measure_cpu_bf16_speedup(hidden: int = 576, tokens: int = 512, pairs: int = 5) -> float:
    """Time a LoRA-shaped block forward and backward in fp32 and under bf16 autocast.

    The block is what LoRA training runs: frozen linear layers (an MLP and an output
    projection) with a trainable fp32 low-rank path; the frozen weights are held in the
    precision of the run (``fit`` loads the base in bf16 when it trains in bf16, so autocast
    casts no weight). fp32 and bf16 runs alternate and the medians are compared, so a busy
    machine skews both alike.

    Returns:
        fp32 time / bf16 time: above 1 when bf16 autocast is faster on this CPU.
    """
    import statistics

    import torch

    gen = torch.Generator().manual_seed(0)
    up = torch.randn(hidden * 8 // 3, hidden, generator=gen) * 0.02
    down = torch.randn(hidden, hidden * 8 // 3, generator=gen) * 0.02
    head = torch.randn(8192, hidden, generator=gen) * 0.02
    lora_a = torch.nn.Parameter(torch.randn(16, hidden, generator=gen) * 0.01)
    lora_b = torch.nn.Parameter(torch.zeros(up.shape[0], 16))
    x = torch.randn(tokens, hidden, generator=gen)
    linear = torch.nn.functional.linear

    held = {False: (up, down, head), True: tuple(w.bfloat16() for w in (up, down, head))}

    def step(bf16: bool) -> float:
        w_up, w_down, w_head = held[bf16]
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            h = linear(x, w_up) + linear(linear(x, lora_a), lora_b)
            h = linear(torch.nn.functional.silu(h), w_down)
            y = linear(h, w_head).float().logsumexp(-1).mean()
        y.backward()  # type: ignore[no-untyped-call]
        return time.perf_counter() - start

    step(False), step(True)  # warm both paths
    fp32: list[float] = []
    bf16: list[float] = []
    for _ in range(pairs):
        fp32.append(step(False))
        bf16.append(step(True))
    return statistics.median(fp32) / max(statistics.median(bf16), 1e-9)


def _bitsandbytes_imports() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def detect_hardware(*, measure: bool = True) -> Hardware:
    """Gather facts about this machine.

    Args:
        measure: Time bf16 against fp32 on a CPU that claims bf16 instructions.

    Returns:
        The :class:`Hardware` found.
    """
    import torch

    cpu_name, cpu_flags = _cpu_info()
    common = {
        "cpu_name": cpu_name,
        "cpu_flags": cpu_flags,
        "ram_bytes": _ram_bytes(),
        "bitsandbytes": _bitsandbytes_imports(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        hip = getattr(torch.version, "hip", None)
        arch = (
            str(getattr(props, "gcnArchName", "")).split(":")[0]
            if hip
            else f"{props.major}.{props.minor}"
        )
        return Hardware(
            backend="rocm" if hip else "cuda",
            gpu_name=props.name,
            gpu_arch=arch,
            gpu_memory_bytes=int(props.total_memory),
            gpu_count=torch.cuda.device_count(),
            **common,  # type: ignore[arg-type]
        )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Hardware(backend="mps", gpu_name="Apple GPU", gpu_count=1, **common)  # type: ignore[arg-type]
    speedup = measure_cpu_bf16_speedup() if (measure and cpu_flags) else None
    return Hardware(backend="cpu", cpu_bf16_speedup=speedup, **common)  # type: ignore[arg-type]


def _gpu_bf16(hw: Hardware) -> tuple[bool, str]:
    arch = hw.gpu_arch or ""
    if hw.backend == "cuda":
        try:
            major = int(arch.split(".")[0])
        except ValueError:
            major = 0
        if major >= 8:
            return True, f"NVIDIA compute capability {arch} (Ampere or later) has bf16"
        return False, f"NVIDIA compute capability {arch or '?'} predates Ampere: fp16 instead"
    # ROCm: RDNA3 (gfx11xx, e.g. the 7900XTX is gfx1100), RDNA4 (gfx12xx), CDNA2/3 (gfx90a, gfx94x)
    if arch.startswith(("gfx11", "gfx12", "gfx90a", "gfx94", "gfx95")):
        return True, f"AMD {arch} (RDNA3/CDNA2 or later) has bf16"
    return False, f"AMD {arch or '?'} has no fast bf16: fp16 instead"


def decide(hw: Hardware, /, *, precision: Precision | None = None) -> DeviceChoice:
    """Choose device and precision from hardware facts (a pure function).

    Args:
        hw: What :func:`detect_hardware` found (or a made-up machine, in tests).
        precision: Force a precision instead of deciding.

    Returns:
        The :class:`DeviceChoice`, with one reason per decision.
    """
    reasons: list[str] = []
    if hw.backend in ("cuda", "rocm"):
        device, memory = "cuda", hw.gpu_memory_bytes
        bf16, why = _gpu_bf16(hw)
        chosen: Precision = "bf16" if bf16 else "fp16"
        reasons.append(why)
        qlora = hw.bitsandbytes
        reasons.append(
            "bitsandbytes found: QLoRA available"
            if qlora
            else "bitsandbytes not installed: QLoRA unavailable"
        )
    elif hw.backend == "mps":
        device, memory, chosen, qlora = "mps", hw.ram_bytes, "fp32", False
        reasons.append("Apple MPS: fp32 (mixed precision training is unreliable there)")
    else:
        device, memory, qlora = "cpu", hw.ram_bytes, False
        if not hw.cpu_flags:
            chosen = "fp32"
            reasons.append(
                "CPU has no bf16 instructions (AMX / AVX512-BF16): fp32, bf16 would be far slower"
            )
        elif hw.cpu_bf16_speedup is None:
            chosen = "fp32"
            reasons.append(
                f"CPU reports {', '.join(sorted(hw.cpu_flags))} but bf16 was not measured: fp32"
            )
        elif hw.cpu_bf16_speedup > 1.05:
            chosen = "bf16"
            reasons.append(
                f"CPU has {', '.join(sorted(hw.cpu_flags))} and bf16 autocast measured "
                f"{hw.cpu_bf16_speedup:.2f}x the speed of fp32: bf16"
            )
        else:
            chosen = "fp32"
            reasons.append(
                f"CPU reports {', '.join(sorted(hw.cpu_flags))} but bf16 autocast measured "
                f"{hw.cpu_bf16_speedup:.2f}x the speed of fp32: fp32"
            )
        reasons.append("no GPU: training on the CPU (QLoRA needs a CUDA or ROCm GPU)")
    if precision is not None and precision != chosen:
        reasons.append(f"precision {precision} forced instead of {chosen}")
        chosen = precision
    return DeviceChoice(
        device=device,
        backend=hw.backend,
        precision=chosen,
        memory_bytes=memory,
        qlora=qlora,
        hardware=hw,
        reasons=tuple(reasons),
    )


def distributed_warning(env: dict[str, str] | None = None) -> str | None:
    """Say so when a launcher asked for several processes but this one is alone.

    ``accelerate launch --cpu --num_processes 2`` sets ``MASTER_ADDR`` yet starts a single
    process without ``WORLD_SIZE``; training then silently runs on one process.

    Args:
        env: Environment to inspect (default: ``os.environ``).

    Returns:
        The warning text, or ``None`` when all is well.
    """
    env = dict(os.environ) if env is None else env
    launched = "MASTER_ADDR" in env or ("ACCELERATE_USE_CPU" in env and "MASTER_PORT" in env)
    try:
        world = int(env.get("WORLD_SIZE", "1"))
    except ValueError:
        world = 1
    if launched and world <= 1 and "MASTER_ADDR" in env:
        return (
            "launched for several processes (MASTER_ADDR is set) but this process is alone "
            "(WORLD_SIZE is 1 or unset): only one process will train. On CPUs use "
            "`torchrun --nproc_per_node N script.py` or `accelerate launch --multi_gpu "
            "--num_processes N --num_machines 1 --mixed_precision no --dynamo_backend no "
            "script.py`; `accelerate launch --cpu --num_processes N` starts one process"
        )
    return None


def choose_device(
    *, precision: Precision | None = None, measure: bool = True, verbose: bool = True
) -> DeviceChoice:
    """Detect the hardware, choose device and precision, and print the choice.

    Args:
        precision: Force ``"bf16"``, ``"fp16"`` or ``"fp32"`` instead of deciding.
        measure: Time bf16 against fp32 on CPUs that claim bf16 instructions.
        verbose: Print the choice and its reasons.

    Returns:
        The :class:`DeviceChoice`.

    Examples:
        >>> choice = choose_device(verbose=False)  # doctest: +SKIP
        >>> choice.precision  # doctest: +SKIP
        'fp32'
    """
    choice = decide(detect_hardware(measure=measure), precision=precision)
    if verbose:
        from glimmer._log import get_logger

        get_logger(__name__).info(choice.describe())
    return choice
