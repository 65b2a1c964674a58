"""Where compare()'s time goes: the demo's comparison on an adapter, split by stage.

Runs ``compare()`` with the full demo profile's settings (its prompts, budgets, batch size,
decoding and checks; no video) on an adapter you give (the demo's, by default) and prints
the seconds of each stage (the arms' answers, attacks, drift, grammar pass, internalisation,
perplexities) and then one line per decoding call (``generate``, or glimmer's greedy
decoder): the stage, rows, prompt width, new tokens, budget and seconds. Greedy decoding
answers the attacks and the grammar pass in the arms' batches (``answer_lanes``): their
decoding counts under "answers", their own stages keep only the scoring. The headline
figures follow, to check that a change to the decoding kept them.

    .venv/bin/python benchmarks/compare_stages.py demo-output/fit/adapter
"""

from __future__ import annotations

import collections
import functools
import time
from typing import Any

from _timing import adapter_parser, model_env

model_env()


def main() -> None:
    parser = adapter_parser(__doc__)
    args = parser.parse_args()

    import transformers

    import glimmer.evaluate.checks as checks_mod
    import glimmer.evaluate.compare as compare_mod
    import glimmer.evaluate.constrained as constrained_mod
    import glimmer.evaluate.drift as drift_mod
    import glimmer.evaluate.internalise as internalise_mod
    import glimmer.evaluate.robustness as robustness_mod
    from glimmer.demo import PROFILES
    from glimmer.evaluate.suites import bundled_suites, quick_subset

    stage = ["other"]
    totals: dict[str, float] = collections.defaultdict(float)
    calls: list[tuple[Any, ...]] = []

    def timed(module: Any, name: str, label: str) -> None:
        real = getattr(module, name)

        @functools.wraps(real)
        def wrapper(*a: Any, **k: Any) -> Any:
            outer, stage[0] = stage[0], label
            start = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                totals[label] += time.perf_counter() - start
                stage[0] = outer

        setattr(module, name, wrapper)

    timed(compare_mod, "_answer_arms", "answers")
    timed(compare_mod, "_perplexities", "perplexity")
    timed(robustness_mod, "run_attacks", "attacks")
    timed(drift_mod, "run_drift", "drift")
    timed(constrained_mod, "add_constrained", "grammar")
    timed(internalise_mod, "add_internalisation", "internalisation")
    timed(checks_mod, "_answer_perplexity", "answer perplexity")
    plain_generate = transformers.GenerationMixin.generate

    def counted(self: Any, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        out = plain_generate(self, *a, **k)
        ids = k["input_ids"]
        new = out.shape[1] - ids.shape[1]
        calls.append(
            (stage[0], *ids.shape, new, k.get("max_new_tokens"), time.perf_counter() - start)
        )
        return out

    transformers.GenerationMixin.generate = counted  # type: ignore[method-assign]
    import glimmer.evaluate.generate as generate_mod

    plain_greedy = generate_mod.greedy

    def counted_greedy(model: Any, inputs: Any, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        out = plain_greedy(model, inputs, *a, **k)
        ids = inputs["input_ids"]
        new = out.shape[1] - ids.shape[1]
        calls.append(
            (stage[0], *ids.shape, new, k.get("max_new_tokens"), time.perf_counter() - start)
        )
        return out

    generate_mod.greedy = counted_greedy  # type: ignore[assignment]
    prof = PROFILES["full"]
    checks = {k: v for k, v in prof.checks.items() if k != "video"}
    prompts = quick_subset(bundled_suites(), per_category=prof.prompts_per_category)
    start = time.perf_counter()
    result = compare_mod.compare(
        "smollm2-135m",
        args.adapter,
        prompts,
        max_new_tokens=prof.max_new_tokens,
        batch_size=prof.batch_size,
        seed=0,
        progress=False,
        **checks,
    )
    print(f"compare {time.perf_counter() - start:.1f} s")
    for label, seconds in totals.items():
        print(f"  {label:<18} {seconds:6.1f} s")
    print("generate calls: stage, rows, prompt width, new tokens, budget, seconds")
    for row in calls:
        print(f"  {row[0]:<12} {row[1]:3d} {row[2]:5d} {row[3]:4d} {row[4]!s:>4} {row[5]:6.2f}")
    print(result.headline())


if __name__ == "__main__":
    main()
