"""Optional extras: which packages each needs, and a clear error when one is missing.

glimmer's core (the notation, the object model, datasets, the memory planner, the CLI) needs
only small pure-Python packages. Training, evaluation and teacher expansion need *extras*,
installed as ``pip install "glimmer-dsl[train]"``. Code that needs an extra calls
:func:`require` first, so a missing package ends in a :class:`MissingExtraError` naming the
extra and the exact install line, before anything is written; never in a raw
``ModuleNotFoundError`` from deep inside a library.

This module imports nothing heavy and nothing from glimmer's stages.
"""

from __future__ import annotations

import importlib.util

from glimmer.errors import MissingExtraError, OptionError

__all__ = [
    "DISTRIBUTION",
    "EXTRAS",
    "MissingExtraError",
    "extra_for_module",
    "install_hint",
    "install_line",
    "missing_modules",
    "require",
]

#: The name glimmer is published under on PyPI (the import name is ``glimmer``).
DISTRIBUTION = "glimmer-dsl"

#: Top-level modules each extra provides, in the order they are checked.
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": (
        "torch",
        "transformers",
        "peft",
        "trl",
        "accelerate",
        "datasets",
        "safetensors",
    ),
    "eval": ("matplotlib", "scipy", "imageio_ffmpeg"),
    "expand": ("openai",),
    "export": ("llama_cpp",),
    "generate": ("llguidance",),
    "qlora": ("bitsandbytes",),
}

# Extras whose install line needs a word more than `pip install "glimmer-dsl[x]"`.
_NOTES: dict[str, str] = {
    "train": (
        "; for a CPU-only machine install torch first without the CUDA wheels: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    ),
    "qlora": "; on ROCm use bitsandbytes >= 0.50 (its wheels include gfx1100)",
}


def install_line(extra: str, /) -> str:
    """The exact command that installs *extra*, e.g. ``pip install "glimmer-dsl[train]"``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def install_hint(extra: str, /) -> str:
    """The install line for *extra* with any word more it needs (a CPU-only torch, ROCm)."""
    return f"{install_line(extra)}{_NOTES.get(extra, '')}"


def missing_modules(extra: str, /) -> tuple[str, ...]:
    """The modules of *extra* that are not installed (none when it is complete)."""
    if extra not in EXTRAS:
        raise OptionError(f"unknown extra {extra!r}", hint=f"one of {', '.join(EXTRAS)}")
    return tuple(m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None)


def require(extra: str, /, *, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every package of *extra* is installed.

    Only looks the packages up (``importlib.util.find_spec``); imports nothing.

    Args:
        extra: ``"train"``, ``"eval"``, ``"expand"`` or ``"qlora"``.
        feature: What needs it, in the user's words (``"glimmer fit"``, ``"fit()"``).

    Raises:
        MissingExtraError: A package of the extra is missing (code G005).

    Examples:
        >>> require("train", feature="fit()")  # silent when torch & co. are installed
    """
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(extra, missing, feature=feature, hint=install_hint(extra))


def extra_for_module(module: str | None, /) -> str | None:
    """The extra that provides top-level *module* (``"torch"`` -> ``"train"``), if any."""
    if not module:
        return None
    top = module.split(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return extra
    return None
