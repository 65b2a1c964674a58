"""Rows of both adapter states in one batch: glimmer's per-row scale against peft's routing.

The demo's three arms answer in shared batches: base and prompted rows with the adapter off,
tuned rows with it on. Two ways to run such a batch through a LoRA model:

* ``peft``    peft's ``adapter_names``: each LoRA layer selects each state's rows, computes
              their product and scatters it back
* ``glimmer`` ``glimmer.evaluate.generate.adapter_rows``: each LoRA layer runs once over
              every row, its scale one per row (0 where the adapter is off)

Both answer the same prompts of one category (``--category``, the demo's 4 prompts, each
as the three arms) on an adapter you give, with the demo's decoding; the runs alternate
(``--rounds``) and the answers are checked to be the same.

    .venv/bin/python benchmarks/routing.py demo-output/fit/adapter
    .venv/bin/python benchmarks/routing.py demo-output/fit/adapter --category interpretation
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from _timing import adapter_parser, model_env

model_env()


def main() -> None:
    parser = adapter_parser(__doc__)
    parser.add_argument("--category", default="generation")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import torch
    from peft import PeftModel

    import glimmer.evaluate.generate as g
    from glimmer.demo import PROFILES
    from glimmer.evaluate import metrics as m
    from glimmer.evaluate.compare import pattern_system_prompt
    from glimmer.evaluate.suites import bundled_suites, quick_subset
    from glimmer.evaluate.termlock import TermLock
    from glimmer.train.models import load_model

    base, tok = load_model("smollm2-135m", dtype="fp32")
    model = PeftModel.from_pretrained(base, args.adapter).eval()
    profile = PROFILES["full"]
    chosen = quick_subset(bundled_suites(), per_category=profile.prompts_per_category or 4)
    prompts = [p for p in chosen if p.category == args.category]
    if not prompts:
        raise SystemExit(f"no bundled prompt of category {args.category!r}")
    system = pattern_system_prompt(None)[0]
    n = len(prompts)
    settings: dict[str, Any] = {
        "tokenizer": tok,
        "adapter": [False] * (2 * n) + [True] * n,
        "system_prompt": [None] * n + [system] * n + [None] * n,
        "max_new_tokens": profile.max_new_tokens,
        "batch_size": profile.batch_size,
        "progress": False,
        "no_repeat_ngram": profile.checks.get("no_repeat_ngram", 0),
        "term_lock": TermLock.for_index(tok, m.ConceptIndex.default()),
    }
    print(
        f"SmolLM2-135M + {args.adapter} on {torch.get_num_threads()} threads: {n} "
        f"{args.category} prompts x base, prompted, tuned in one batch, budget "
        f"{g.category_budget(args.category, profile.max_new_tokens)}"
    )
    ours = g.adapter_rows
    seconds: dict[str, list[float]] = {"peft": [], "glimmer": []}
    texts: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name in seconds:
            g.adapter_rows = ours if name == "glimmer" else (lambda *_a, **_k: None)
            start = time.perf_counter()
            answers = g.generate(model, prompts * 3, **settings)
            seconds[name].append(time.perf_counter() - start)
            texts.setdefault(name, [a.text for a in answers])
    g.adapter_rows = ours
    for name, runs in seconds.items():
        print(f"{name:<8} " + "  ".join(f"{s:6.1f} s" for s in runs))
    ratio = statistics.median(seconds["peft"]) / statistics.median(seconds["glimmer"])
    print(
        f"glimmer {ratio:.2f}x peft's routing; the same answers: {texts['peft'] == texts['glimmer']}"
    )


if __name__ == "__main__":
    main()
