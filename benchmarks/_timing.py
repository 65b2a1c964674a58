"""Shared timing for the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("GLIMMER_CORPUS", ROOT.parent / "shared" / "corpus" / "glimmer"))


def model_env() -> None:
    """No hub, quiet tokenizers and the repository's own model cache, unless the caller set
    them: call before transformers is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("GLIMMER_CACHE", str(ROOT / ".cache" / "glimmer"))


def adapter_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser showing *doc*, its one positional argument an adapter (the demo's by default)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("adapter", nargs="?", default="demo-output/fit/adapter")
    return parser


def throughput(
    texts: list[str], fn: Callable[[str], object], seconds: float
) -> tuple[float, float]:
    """Run *fn* over *texts* for about *seconds* after one warm-up pass: (items/s, MB/s)."""
    size = sum(len(t.encode("utf-8")) for t in texts)
    for t in texts:  # warm caches (grammars are built on first use)
        fn(t)
    rounds, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for t in texts:
            fn(t)
        rounds += 1
    return rounds * len(texts) / elapsed, rounds * size / elapsed / 1e6
