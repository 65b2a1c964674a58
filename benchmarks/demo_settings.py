"""The demo's trade-off for one set of fit settings: concept share against perplexity change.

Fits the embedded SmolLM2-135M on the demo's 100-record slice with the demo profile's fit
settings plus the overrides given as JSON, then measures, with the adapter on, the perplexity
on the bundled neutral text (against the base) and the share of non-neutral trigger prompts
whose answer uses a STARWEAVE concept the prompt did not contain. Only the tuned arm answers,
so one setting takes about 6-8 minutes on a 2-core CPU instead of the demo's 9-10.

    .venv/bin/python benchmarks/demo_settings.py '{"replay_samples": 0}'
    .venv/bin/python benchmarks/demo_settings.py '{"replay_samples": 96, "replay_tokens": 96}' --all

Prints one JSON line (also appended to ``--log``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="?", default="{}", help="FitConfig overrides as JSON")
    ap.add_argument("--records", type=int, default=100, help="training records (slice size)")
    ap.add_argument("--all", action="store_true", help="all bundled prompts, not 4 a category")
    ap.add_argument("--log", type=Path, default=None, help="append the JSON line here")
    ap.add_argument(
        "--shares", default=None, help='category shares of the slice as JSON ({"generation": 0.4})'
    )
    args = ap.parse_args()

    from peft import PeftModel

    from glimmer.data import build, default_recipe, write_jsonl
    from glimmer.demo import PROFILES, DemoProfile, demo_slices
    from glimmer.evaluate import metrics as m
    from glimmer.evaluate.compare import score_comparison
    from glimmer.evaluate.generate import generate, score_text
    from glimmer.evaluate.suites import bundled_suites, quick_subset
    from glimmer.resources import resource_dir
    from glimmer.train.fit import fit
    from glimmer.train.models import load_model
    from glimmer.train.progress import quiet_libraries

    profile = PROFILES["full"]
    overrides = json.loads(args.overrides)
    cfg = dict(profile.fit, **overrides)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        sliced = DemoProfile(
            "bench",
            fit=cfg,
            prompts_per_category=None,
            max_new_tokens=profile.max_new_tokens,
            train_records=args.records,
            validation_records=profile.validation_records,
            category_shares=(
                json.loads(args.shares) if args.shares else dict(profile.category_shares)
            ),
        )
        train, val = demo_slices(build(default_recipe(), seed=0), sliced)
        write_jsonl(train, out / "train.jsonl")
        write_jsonl(val, out / "validation.jsonl")
        result = fit(out, output_dir=out / "fit", seed=0, progress=False, **cfg)
        fit_seconds = time.perf_counter() - t0

        model, tok = load_model("smollm2-135m")
        with quiet_libraries():
            model = PeftModel.from_pretrained(model, result.adapter_path)
        model.eval()
        text = resource_dir("neutral_text.txt").read_text("utf-8")
        base_ppl = m.perplexity(*score_text(model, tok, text, adapter=False))
        tuned_ppl = m.perplexity(*score_text(model, tok, text, adapter=True))
        prompts = bundled_suites()
        if not args.all:
            prompts = quick_subset(prompts, per_category=4)
        answers = generate(
            model,
            prompts,
            tokenizer=tok,
            adapter=True,
            max_new_tokens=profile.max_new_tokens,
            batch_size=16,
            progress=False,
            no_repeat_ngram=int(profile.checks.get("no_repeat_ngram", 0)),
        )
    index = m.ConceptIndex.default()
    speech = score_comparison(prompts, {"tuned": answers}, index=index).summary["tuned"]
    framed = [a for a in answers if a.prompt.category != "neutral"]
    neutral = [a for a in answers if a.prompt.category == "neutral"]
    line = {
        "overrides": overrides,
        "records": args.records,
        "steps": result.steps,
        "precision": result.device["precision"],
        "concept_share": round(
            sum(bool(m.new_concepts(a.text, a.prompt.prompt, index)) for a in framed) / len(framed),
            3,
        ),
        "perplexity_change": round(tuned_ppl / base_ppl - 1, 4),
        "neutral_correct": round(
            sum(m.neutral_correct(a.text, a.prompt.expected) for a in neutral) / len(neutral), 3
        ),
        "shares": json.loads(args.shares) if args.shares else dict(profile.category_shares),
        **{
            k: getattr(speech, k)
            for k in ("glimmer_valid_share", "invented_term_share", "repetition_share")
        },
        "prompts": len(answers),
        "fit_seconds": round(fit_seconds),
        "total_seconds": round(time.perf_counter() - t0),
    }
    print(json.dumps(line))
    if args.log is not None:
        with args.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
