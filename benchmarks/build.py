"""Dataset build throughput: records per second for the default recipe, on one core.

Prints, for several seeds: records made per second by the builders alone, and by the whole
``glimmer.data.build`` (builders + dedup + shuffle + split + diversity figures). The first
build of a process also compiles templates and loads the example patterns; it is reported
apart as the cold figure. Also prints the dataset's counts and diversity figures.
Run: ``python benchmarks/build.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import time

from glimmer.data import build, default_recipe
from glimmer.data.stats import summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="warm builds to time")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    recipe = default_recipe()
    t = time.perf_counter()
    splits = build(recipe, seed=0)
    cold = time.perf_counter() - t
    n = len(splits.all)
    print(
        f"default recipe: {n} records after dedup (cold build {cold:.2f} s, {n / cold:,.0f} records/s)"
    )
    print("per category: " + ", ".join(f"{k} {v}" for k, v in summary(splits.all).items()))
    dd, div = splits.stats["dedup"], splits.stats["diversity"]
    print(f"dedup: dropped {dd['exact']} exact, {dd['near']} near duplicates")
    print(
        f"distinct 4-grams: prompts {div['prompt_4gram_share']:.1%}, answers {div['answer_4gram_share']:.1%}; "
        f"largest template-only group: {div['largest_template_group']} ({div['largest_template_group_id']})"
    )

    raw = recipe.builder()
    best_builders = best_total = best_cpu = 0.0
    for seed in range(1, args.repeat + 1):
        t, c = time.perf_counter(), time.process_time()
        made = len(raw.records(seed=seed))
        best_builders = max(best_builders, made / (time.perf_counter() - t))
        best_cpu = max(best_cpu, made / (time.process_time() - c))
        t = time.perf_counter()
        total = len(build(recipe, seed=seed).all)
        best_total = max(best_total, total / (time.perf_counter() - t))
    print(
        f"builders + dedup + shuffle: {best_builders:,.0f} records/s wall (best of {args.repeat})"
    )
    # CPU time is what one core spends; on a busy machine wall-clock figures fall with the load
    print(
        f"builders + dedup + shuffle: {best_cpu:,.0f} records per CPU-second (best of {args.repeat})"
    )
    print(f"build() end to end:         {best_total:,.0f} records/s wall (best of {args.repeat})")


if __name__ == "__main__":
    main()
