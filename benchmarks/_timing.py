"""Shared timing for the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("GLIMMER_CORPUS", ROOT.parent / "shared" / "corpus" / "glimmer"))


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
