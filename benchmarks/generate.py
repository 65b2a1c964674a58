"""Tokens/s of compare()'s generation against a plain ``model.generate`` loop, in one run.

Both answer the same trigger prompts (the bundled suites, ``--per-category`` prompts each)
with the same model (the embedded SmolLM2), the same greedy decoding and the same new-token
budgets (the demo's); they count the tokens each answer keeps (up to the end of its turn):

* ``plain``            one ``model.generate`` call per prompt, as a user would write it
* ``glimmer``          ``glimmer.evaluate.generate.generate``: batches of one budget and
                       similar prompt length, left-padded, the roomy KV cache of
                       ``glimmer.evaluate.kvcache`` (compare()'s path)
* ``glimmer-hf-cache`` the same with transformers' own cache (``DynamicCache``)

With ``--prompted`` every prompt opens with the bundled pattern as its system prompt (the
prompted arm): glimmer encodes it once and keeps it once for the batch; plain generate
encodes it per prompt.

    .venv/bin/python benchmarks/generate.py [--per-category 2] [--batch 16] [--max-new-tokens 0]
    .venv/bin/python benchmarks/generate.py --per-category 4 --batch 64 --prompted
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _timing import model_env

model_env()


def _plain(
    model: Any, tok: Any, prompts: list[Any], budgets: dict[str, int], system: str | None
) -> int:
    import torch

    from glimmer.evaluate.generate import chat_text, stop_token_ids

    stops = stop_token_ids(tok)
    tokens = 0
    with torch.inference_mode():
        for p in prompts:
            text = chat_text(tok, p.prompt, system=system)
            enc = tok(text, return_tensors="pt", add_special_tokens=False)
            out = model.generate(
                **enc,
                max_new_tokens=budgets.get(p.category, 96),
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=tok.pad_token_id,
            )
            row = out[0, enc["input_ids"].shape[1] :].tolist()
            cut = next((k for k, t in enumerate(row) if t in stops), None)
            tokens += len(row) if cut is None else cut
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-category", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--only", default="plain,glimmer,glimmer-hf-cache")
    parser.add_argument("--prompted", action="store_true", help="the pattern as system prompt")
    parser.add_argument(
        "--max-new-tokens", type=int, default=0, help="one budget for every prompt (0: the demo's)"
    )
    args = parser.parse_args()

    import torch

    import glimmer.evaluate.generate as g
    from glimmer.demo import PROFILES
    from glimmer.evaluate.compare import pattern_system_prompt
    from glimmer.evaluate.suites import bundled_suites, quick_subset
    from glimmer.train.models import load_model

    model, tok = load_model("smollm2-135m")
    model.eval()
    prompts = quick_subset(bundled_suites(), per_category=args.per_category)
    budgets = dict(PROFILES["full"].max_new_tokens)
    if args.max_new_tokens:
        budgets = dict.fromkeys(budgets, args.max_new_tokens)
    system = pattern_system_prompt(None)[0] if args.prompted else None
    print(
        f"SmolLM2-135M on {torch.get_num_threads()} threads, {len(prompts)} prompts, greedy, "
        f"budgets {budgets}, generation batch {args.batch}"
        + (", the bundled pattern as system prompt" if system else "")
    )
    roomy = g.roomy_cache
    results: dict[str, float] = {}
    for name in args.only.split(","):
        g.roomy_cache = (lambda *_a, **_k: None) if name.endswith("hf-cache") else roomy
        start = time.perf_counter()
        if name == "plain":
            tokens = _plain(model, tok, prompts, budgets, system)
        else:
            answers = g.generate(
                model,
                prompts,
                tokenizer=tok,
                system_prompt=system,
                max_new_tokens=budgets,
                batch_size=args.batch,
                progress=False,
            )
            tokens = sum(a.n_tokens for a in answers)
        seconds = time.perf_counter() - start
        results[name] = tokens / seconds
        print(f"{name:<15} {tokens:6d} tokens  {seconds:7.1f} s  {tokens / seconds:7.1f} tokens/s")
    if "plain" in results:
        for name, speed in results.items():
            print(f"  {name:<15} {speed / results['plain']:5.2f}x plain generate per token")


if __name__ == "__main__":
    main()
