"""Weave notation throughput: parse, load (parse + validate), dump, and extract from a file.

Reads the weave corpus file and the bundled .we examples, and a synthetic Zig-like file with
a header every 200 lines. Prints MB/s and documents/s for each step.
Run: `python benchmarks/weave.py [--seconds N]`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from _timing import CORPUS, throughput

import glimmer
from glimmer.resources import example_patterns
from glimmer.syntax.weave import parse_weave


def weave_texts() -> list[str]:
    paths = [p for p in example_patterns() if p.suffix in (".we", ".weave")]
    if CORPUS.is_dir():
        paths += sorted(CORPUS.rglob("*.we"))
    return [p.read_text(encoding="utf-8") for p in paths]


def measure(label: str, texts: list[str], fn: Callable[[str], object], seconds: float) -> None:
    per_s, mb_s = throughput(texts, fn, seconds)
    print(f"{label:<28} {per_s:10.0f} docs/s {mb_s:8.2f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    texts = weave_texts()
    patterns = [glimmer.loads(t, format="weave") for t in texts]
    print(f"{len(texts)} weave files, {sum(len(t) for t in texts):,} characters")
    measure("parse_weave", texts, parse_weave, args.seconds)
    measure(
        "loads(format='weave')", texts, lambda t: glimmer.loads(t, format="weave"), args.seconds
    )
    dumped = [glimmer.dumps(p, format="weave") for p in patterns]
    by_text = dict(zip(dumped, patterns, strict=True))
    measure(
        "dumps(format='weave')",
        dumped,
        lambda t: glimmer.dumps(by_text[t], format="weave"),
        args.seconds,
    )
    header = texts[0].split("@pattern_meta@")[1]
    body = "\n".join(f"const x{i} = {i};" for i in range(200))
    source = "".join(f"@pattern_meta@{header}@pattern_meta@\n{body}\n" for _ in range(20))
    measure("extract (20 headers)", [source], glimmer.extract, args.seconds)


if __name__ == "__main__":
    main()
