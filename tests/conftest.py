"""Shared test setup: no network, no telemetry, paths to the corpus and examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "patterns"


def _corpus_dir() -> Path:
    env = os.environ.get("GLIMMER_CORPUS")
    if env:
        return Path(env)
    # the checkout sits beside shared/ (main/ and shared/ are siblings)
    return ROOT.parent / "shared" / "corpus" / "glimmer"


CORPUS = _corpus_dir()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once on a llama.cpp built with its AMX int8 path, which crashes on q8_0 files.

    A crash would take the whole run down mid-way with a bare segfault; this says why and how
    to get the build `make venv` makes (pip's wheel cache ignores CMAKE_ARGS).
    """
    try:
        import llama_cpp
    except (ImportError, OSError):  # not installed, or its library does not load: the
        return  # extras test and the export tests say so
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    if "AMX_INT8 = 1" in info:
        raise pytest.UsageError(
            "llama-cpp-python was built with llama.cpp's AMX int8 path, which segfaults on "
            "q8_0 files; rebuild it as make does: rm -rf .venv && make venv"
        )


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        message = f"corpus not found at {CORPUS}; set GLIMMER_CORPUS to a copy of it"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)  # CI always has the corpus: a missing one is a broken checkout
        pytest.skip(message)
    return CORPUS


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
