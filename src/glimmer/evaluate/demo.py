"""The main job end to end: example patterns -> dataset -> LoRA fit -> comparison -> report.

``glimmer demo`` and ``make demo`` run :func:`run_demo`: it loads the bundled example patterns,
builds the dataset with the default recipe, fine-tunes the embedded SmolLM2-135M with LoRA on
whatever device :func:`glimmer.train.device.choose_device` picks (the CPU here), compares base,
prompted and tuned on the bundled suites, writes ``report.html`` (plus ``report.md`` and
``result.json``) and prints the headline figures.

Two profiles: the default fits the whole job in about a quarter of an hour on a 2-core CPU;
``quick`` takes a few minutes (fewer steps, two prompts per category).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glimmer.evaluate.compare import Comparison, compare
from glimmer.evaluate.suites import bundled_suites, quick_subset

__all__ = ["PROFILES", "DemoProfile", "DemoResult", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoProfile:
    """The knobs of one demo profile.

    Attributes:
        name: ``"full"`` or ``"quick"``.
        fit: Overrides passed to :func:`glimmer.fit` (any ``FitConfig`` field).
        prompts_per_category: Trigger prompts per category (``None``: all bundled ones).
        max_new_tokens: New-token budget per category.
        batch_size: Generation batch size.
    """

    name: str
    fit: Mapping[str, Any]
    prompts_per_category: int | None
    max_new_tokens: Mapping[str, int]
    batch_size: int = 16
    train_records: int | None = None


_BUDGETS_FULL = {
    "generation": 320,
    "interpretation": 128,
    "application": 128,
    "reflection": 128,
    "matrix": 128,
    "neutral": 40,
}
_BUDGETS_QUICK = {
    "generation": 256,
    "interpretation": 96,
    "application": 96,
    "reflection": 96,
    "matrix": 96,
    "neutral": 32,
}
_FIT_COMMON: dict[str, Any] = {
    "method": "lora",
    "learning_rate": 1e-3,
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.05,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "batch_size": 8,
    "grad_accum": 1,
    "max_seq_len": 384,
    "early_stopping_patience": None,
    "report_to": [],
}

#: The demo profiles by name.
PROFILES: dict[str, DemoProfile] = {
    "full": DemoProfile(
        "full",
        fit={**_FIT_COMMON, "max_steps": 120, "logging_steps": 5},
        prompts_per_category=None,
        max_new_tokens=_BUDGETS_FULL,
    ),
    "quick": DemoProfile(
        "quick",
        fit={**_FIT_COMMON, "max_steps": 40, "logging_steps": 4},
        prompts_per_category=2,
        max_new_tokens=_BUDGETS_QUICK,
        train_records=600,
    ),
}


@dataclass
class DemoResult:
    """What :func:`run_demo` made.

    Attributes:
        comparison: The comparison of base, prompted and tuned.
        report: Path of ``report.html``.
        output_dir: The demo's folder.
        seconds: Wall time per stage (``build``, ``fit``, ``compare``, ``total``).
    """

    comparison: Comparison
    report: Path
    output_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    output_dir: str | os.PathLike[str] = "demo-output",
    /,
    *,
    quick: bool = False,
    seed: int = 0,
    profile: DemoProfile | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> DemoResult:
    """Run the whole job and write the report; the folder's previous demo files are replaced.

    Args:
        output_dir: Where the dataset, the fit, ``report.html``, ``report.md`` and
            ``result.json`` go.
        quick: Use the quick profile (a few minutes).
        seed: Seed for the dataset and the fit.
        profile: A custom profile (overrides *quick*).
        echo: Where progress lines and the headline go.
        progress: Show progress bars.

    Returns:
        The :class:`DemoResult`.
    """
    from glimmer.data import build, default_recipe, write_jsonl
    from glimmer.model.io import load, write_text
    from glimmer.resources import example_patterns
    from glimmer.train.fit import fit

    prof = profile or PROFILES["quick" if quick else "full"]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    files = example_patterns()
    patterns = [load(p) for p in files]
    echo(f"[1/4] {len(patterns)} example patterns: {', '.join(p.name for p in files)}")

    t = time.perf_counter()
    splits = build(default_recipe(), seed=seed)
    train = splits.train if prof.train_records is None else splits.train[: prof.train_records]
    data_dir = out / "dataset"
    data_dir.mkdir(exist_ok=True)
    write_jsonl(train, data_dir / "train.jsonl", overwrite=True)
    write_jsonl(splits.validation, data_dir / "validation.jsonl", overwrite=True)
    seconds["build"] = time.perf_counter() - t
    echo(
        f"[2/4] dataset (default recipe, seed {seed}): {len(train)} train / "
        f"{len(splits.validation)} validation records -> {data_dir} ({seconds['build']:.0f}s)"
    )

    t = time.perf_counter()
    overrides = dict(prof.fit)
    result = fit(data_dir, output_dir=out / "fit", overwrite=True, seed=seed, **overrides)
    seconds["fit"] = time.perf_counter() - t
    last = result.train_loss[-1].loss if result.train_loss else float("nan")
    echo(f"[3/4] LoRA fit: {result.steps} steps, last training loss {last:.3f} ({seconds['fit']:.0f}s)")

    t = time.perf_counter()
    prompts = bundled_suites()
    if prof.prompts_per_category is not None:
        prompts = quick_subset(prompts, per_category=prof.prompts_per_category)
    comparison = compare(
        "smollm2-135m",
        result.adapter_path,
        prompts,
        fit_result=result,
        max_new_tokens=prof.max_new_tokens,
        batch_size=prof.batch_size,
        seed=seed,
        progress=progress,
    )
    seconds["compare"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    comparison.settings["demo_profile"] = prof.name
    comparison.settings["demo_seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    report = out / "report.html"
    comparison.to_html(report)
    write_text(out / "report.md", comparison.to_markdown())
    write_text(out / "result.json", comparison.to_json())
    echo(f"[4/4] compared {len(prompts)} prompts x 3 arms ({seconds['compare']:.0f}s) -> {report}")
    echo("")
    echo(comparison.headline())
    echo(f"{'wall time':<22}{seconds['total']:.0f}s ({prof.name} profile)")
    return DemoResult(comparison, report, out, seconds)
