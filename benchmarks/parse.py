"""Parse + validate throughput: the GLIMMER DSL next to json.loads + Pattern.model_validate.

Both paths read the same patterns (the corpus and the bundled examples): once as JSON text,
once as the DSL text `glimmer.dumps` writes for them. Prints MB/s and patterns/s for each and
the ratio. Run: `python benchmarks/parse.py [--seconds N]`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from _timing import CORPUS, throughput

import glimmer
from glimmer.resources import example_patterns


def load_patterns() -> list[glimmer.Pattern]:
    paths = [p for p in example_patterns() if p.suffix in (".json", ".glimmer")]
    if CORPUS.is_dir():
        paths += [p for p in sorted(CORPUS.rglob("*.json")) if p.name != "pluto-schema.json"]
    return [glimmer.load(p) for p in paths]


def measure(label: str, texts: list[str], fn: Callable[[str], object], seconds: float) -> float:
    per_s, mb_s = throughput(texts, fn, seconds)
    size = sum(len(t.encode("utf-8")) for t in texts)
    print(
        f"{label:<34} {mb_s:8.2f} MB/s {per_s:10.0f} patterns/s  ({len(texts)} patterns, {size / 1024:.0f} KiB)"
    )
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    patterns = load_patterns()
    as_json = [glimmer.dumps(p, format="json") for p in patterns]
    as_dsl = [glimmer.dumps(p, format="glimmer") for p in patterns]

    def json_path(text: str) -> object:
        return glimmer.Pattern.model_validate(json.loads(text))

    base = measure("json.loads + Pattern.model_validate", as_json, json_path, args.seconds)
    dsl = measure("glimmer.loads (DSL text)", as_dsl, glimmer.loads, args.seconds)
    js = measure("glimmer.loads (JSON text)", as_json, glimmer.loads, args.seconds)
    print(f"ratio DSL / JSON path: {base / dsl:.2f}x slower   (goal: within 3x)")
    print(f"ratio glimmer.loads on JSON / JSON path: {base / js:.2f}x slower")


if __name__ == "__main__":
    main()
