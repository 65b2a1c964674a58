"""Grammar-constrained vs free generation of GLIMMER patterns, in one run.

Three parts:

* ``libraries``  the constraint libraries alone, no model: compile time and the cost of one
                 token mask, replaying the tokens of valid patterns through llguidance (the
                 DSL and the JSON form) and xgrammar (the JSON form: xgrammar reads EBNF and
                 JSON Schema, not glimmer's Lark grammar), when xgrammar is installed
* ``speed``      tokens/s of the embedded model answering the same prompts free and
                 constrained, at batch 1 and batch 8 (all prompts), and the ratio of time
                 per token
* ``validity``   on generation prompts written for this benchmark (in no training
                 template): the share of valid patterns free (the whole answer, strict, as
                 ``glimmer generate --free`` reads it; and found inside the answer, as
                 ``compare()`` reads it) and constrained, seed-section coverage, stories

    .venv/bin/python benchmarks/constrained.py [--max-new-tokens 256] [--adapter DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: Scenarios in no training template (the builders draw theirs from data/vocab.toml).
HELD_OUT = [
    "a ferry pilot crossing a foggy strait at dawn",
    "a beekeeper who keeps a diary of the hive's moods",
    "a night-shift nurse on a quiet ward",
    "a cartographer mapping a city that keeps changing",
    "a choir director preparing a first rehearsal",
    "a glassblower teaching an apprentice",
    "an astronomer waiting for clouds to clear",
    "a translator of old letters between two sisters",
]
ASKS = [
    "Could you put together a GLIMMER pattern for {s}?",
    "I'd like a GLIMMER pattern describing {s}.",
]


def _prompts(n: int) -> list[Any]:
    from glimmer.evaluate.suites import TriggerPrompt

    return [
        TriggerPrompt("generation", ASKS[i % len(ASKS)].format(s=s), id=f"held{i}")
        for i, s in enumerate(HELD_OUT[:n])
    ]


def _patterns(n: int, fmt: str) -> list[str]:
    from glimmer import dumps
    from glimmer.data.patterns import synthesize

    rng = random.Random(0)
    out = []
    for _ in range(n):  # the grammar writes no free-form rules (their keys could repeat)
        pattern = synthesize(rng, compact=True)[0].replace(when_seeing=None, when_processing=None)
        data = {k: v for k, v in pattern.to_data().items() if v is not None}
        out.append(dumps(type(pattern).model_validate(data), format=fmt))
    return out


def libraries(tok: Any) -> None:
    import llguidance
    import llguidance.hf

    from glimmer.evaluate.generate import stop_token_ids
    from glimmer.evaluate.grammar import generation_grammar, json_grammar_schema

    stops = stop_token_ids(tok)
    lltok = llguidance.hf.from_tokenizer(tok, eos_token=stops)
    print("libraries (mask per token, replaying 20 valid compact patterns)")
    for fmt in ("glimmer", "json"):
        start = time.perf_counter()
        grammar = generation_grammar(fmt).text
        matcher = llguidance.LLMatcher(lltok, grammar)
        compiled = time.perf_counter() - start
        n = 0
        spent = 0.0
        for text in _patterns(20, fmt):
            matcher = llguidance.LLMatcher(lltok, grammar)
            for token in tok.encode(text.strip(), add_special_tokens=False):
                t = time.perf_counter()
                matcher.compute_bitmask()
                spent += time.perf_counter() - t
                assert matcher.consume_token(token), (fmt, matcher.get_error())
                n += 1
            assert matcher.is_accepting()
        print(
            f"  llguidance {__import__('llguidance').__version__:<8} {fmt:<8} "
            f"compile {compiled * 1e3:7.1f} ms   mask {spent / n * 1e6:7.1f} us/token"
        )
    try:
        import json

        import xgrammar as xgr
    except ImportError:
        print("  xgrammar: not installed (pip install --no-deps xgrammar apache-tvm-ffi)")
        return
    info = xgr.TokenizerInfo.from_huggingface(tok, stop_token_ids=stops)
    start = time.perf_counter()
    compiled_grammar = xgr.GrammarCompiler(info).compile_json_schema(
        json.dumps(json_grammar_schema()), any_whitespace=True
    )
    compiled = time.perf_counter() - start
    import torch

    bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
    n = 0
    spent = 0.0
    for text in _patterns(20, "json"):
        matcher = xgr.GrammarMatcher(compiled_grammar)
        for token in tok.encode(text.strip(), add_special_tokens=False):
            t = time.perf_counter()
            matcher.fill_next_token_bitmask(bitmask)
            spent += time.perf_counter() - t
            assert matcher.accept_token(token), "xgrammar refused a valid pattern"
            n += 1
    del torch
    print(
        f"  xgrammar   0.2.8    json     compile {compiled * 1e3:7.1f} ms   "
        f"mask {spent / n * 1e6:7.1f} us/token"
    )
    print("  xgrammar   0.2.8    glimmer  n/a: reads EBNF, not glimmer's Lark grammar")


def speed_and_validity(
    model: Any, tok: Any, budget: int, adapter: bool | None, n_prompts: int
) -> None:
    from glimmer.evaluate.constrained import generate_patterns
    from glimmer.evaluate.coverage import pattern_figures
    from glimmer.evaluate.metrics import check_glimmer

    prompts = _prompts(n_prompts)
    print(f"\nembedded model, {len(prompts)} held-out prompts, {budget} new tokens, greedy")
    runs: dict[tuple[str, int], tuple[float, list[Any]]] = {}
    for batch in (1, len(prompts)):
        for constrained in (False, True):
            start = time.perf_counter()
            pairs = generate_patterns(
                model,
                prompts,
                tokenizer=tok,
                constrained=constrained,
                adapter=adapter,
                max_new_tokens=budget,
                batch_size=batch,
            )
            seconds = time.perf_counter() - start
            runs[("constrained" if constrained else "free", batch)] = (seconds, pairs)
    print(f"  {'mode':<12}{'batch':>6}{'tokens':>8}{'s':>8}{'tok/s':>8}{'ms/token':>10}")
    for (mode, batch), (seconds, pairs) in runs.items():
        tokens = sum(a.n_tokens for a, _ in pairs)
        print(
            f"  {mode:<12}{batch:>6}{tokens:>8}{seconds:>8.1f}{tokens / seconds:>8.1f}"
            f"{1e3 * seconds / max(tokens, 1):>10.1f}"
        )
    for batch in (1, len(prompts)):
        (fs, fp), (cs, cp) = runs[("free", batch)], runs[("constrained", batch)]
        free_ms = fs / max(sum(a.n_tokens for a, _ in fp), 1)
        cons_ms = cs / max(sum(a.n_tokens for a, _ in cp), 1)
        print(f"  batch {batch}: constrained / free time per token = {cons_ms / free_ms:.2f}x")
    _, free = runs[("free", len(prompts))]
    _, cons = runs[("constrained", len(prompts))]
    fig = pattern_figures([c for _, c in cons])
    strict = pattern_figures([c for _, c in free]).valid_share or 0.0
    lenient = statistics.mean(check_glimmer(a.text).valid for a, _ in free)
    print(
        f"  validity: free {strict:.0%} (whole answer, strict) / {lenient:.0%} (found in the "
        f"answer); constrained {fig.valid_share:.0%} ({fig.cut_share:.0%} cut by the budget)"
    )
    cov = f"{fig.section_coverage:.0%}" if fig.section_coverage is not None else "n/a"
    story = f"{fig.story_share:.0%}" if fig.story_share is not None else "n/a"
    print(f"  constrained: seed-section coverage {cov}, non-empty story {story}")
    for (a, c), p in zip(cons[:2], prompts[:2], strict=True):
        print(f"\n  {p.prompt}\n  -> {'valid' if c.valid else c.error}\n{a.text[:600]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--adapter", default=None, help="LoRA adapter folder (tuned model)")
    parser.add_argument("--prompts", type=int, default=8, help="held-out prompts (batch = all)")
    parser.add_argument("--skip-model", action="store_true", help="only the libraries part")
    args = parser.parse_args()

    import torch

    from glimmer.train.models import load_model, load_tokenizer

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    tok = load_tokenizer()
    libraries(tok)
    if args.skip_model:
        return
    model, tok = load_model()
    adapter: bool | None = None
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter)
        adapter = True
    model.eval()
    speed_and_validity(model, tok, args.max_new_tokens, adapter, args.prompts)


if __name__ == "__main__":
    main()
