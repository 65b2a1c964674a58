"""Fuzz every reader for a long while and print what went wrong, per format.

Inputs are real files (the examples and the corpus) mangled by random edits and special
pieces (see ``tests/syntax/fuzz.py``, which the test suite runs on a small budget). For each
format (``glimmer``, ``json``, ``weave``, and ``extract`` for patterns embedded in other
files) it prints the inputs tried, how many loaded, exceptions that are not GlimmerErrors,
calls over 2 s, and round-trip failures (``dumps`` then ``loads`` in every format must give
back an equal pattern with keys in order; ``fmt`` must agree with ``check``), with a few
failing inputs to reproduce.

    python benchmarks/fuzz.py                      # 100,000 inputs per format
    python benchmarks/fuzz.py --inputs 2000 --workers 2 --seed 7
    python benchmarks/fuzz.py --seconds 300            # at most 5 minutes a format
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.syntax.fuzz import FORMATS, check, mutate, seeds  # noqa: E402


def _run(job: tuple[str, int, int]) -> dict[str, object]:
    fmt, seed, count = job
    rng = random.Random(seed)
    texts = seeds()[fmt]
    tally: Counter[str] = Counter()
    examples: dict[str, str] = {}
    slowest = 0.0
    for _ in range(count):
        text = mutate(rng.choice(texts), rng, rng.choice((1, 1, 2, 3, 5, 8)))
        out = check(fmt, text)
        tally["inputs"] += 1
        tally["valid"] += out.valid
        for kind, what in (("raw", out.raw), ("round_trip", out.round_trip)):
            if what:
                tally[kind] += 1
                examples.setdefault(f"{kind}: {what[:80]}", text[:300])
        if out.slow:
            tally["slow"] += 1
            slowest = max(slowest, out.slow)
            examples.setdefault(f"slow: {out.slow:.1f}s", text[:300])
    return {"tally": tally, "examples": examples, "slowest": slowest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=int, default=100_000, help="inputs per format")
    ap.add_argument("--workers", type=int, default=1, help="processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", nargs="*", default=list(FORMATS), choices=FORMATS)
    ap.add_argument(
        "--seconds", type=float, default=None, help="stop a format after this long (per format)"
    )
    args = ap.parse_args()
    texts = seeds()
    print(f"seeds: {', '.join(f'{f} {len(texts[f])}' for f in FORMATS)}; workers {args.workers}")
    print(
        f"{'format':<9}{'inputs':>9}{'loaded':>9}{'non-Glimmer':>13}{'over 2 s':>10}"
        f"{'round trip':>12}{'inputs/s':>10}"
    )
    chunk = 250
    for fmt in args.formats:
        with multiprocessing.Pool(args.workers) as pool:
            jobs = [
                (fmt, args.seed * 1_000_003 + i, min(chunk, args.inputs - i * chunk))
                for i in range((args.inputs + chunk - 1) // chunk)
            ]
            start = time.perf_counter()
            tally: Counter[str] = Counter()
            examples: dict[str, str] = {}
            for res in pool.imap_unordered(_run, jobs):
                tally.update(res["tally"])  # type: ignore[arg-type]
                for k, v in res["examples"].items():  # type: ignore[attr-defined]
                    examples.setdefault(k, v)
                if args.seconds is not None and time.perf_counter() - start > args.seconds:
                    pool.terminate()  # the chunks still running are not counted
                    break
            took = time.perf_counter() - start
            print(
                f"{fmt:<9}{tally['inputs']:>9,}{tally['valid']:>9,}{tally['raw']:>13}"
                f"{tally['slow']:>10}{tally['round_trip']:>12}{tally['inputs'] / took:>10.0f}",
                flush=True,
            )
            for what, text in list(examples.items())[:5]:
                print(f"    {what}\n      input: {text!r}")


if __name__ == "__main__":
    main()
