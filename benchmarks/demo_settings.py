"""The demo's trade-off for one set of fit settings: concept share against perplexity change.

Fits the embedded SmolLM2-135M on the demo's 100-record slice with the demo profile's fit
settings plus the overrides given as JSON, then measures, with the adapter on and the demo's
decoding (no 8-token run twice, the term lock), the perplexity on the bundled neutral text
(against the base), the share of non-neutral trigger prompts whose answer uses a STARWEAVE
concept the prompt did not contain, the same share under the bundled attacks (two prompts a
category, as the demo asks them, or ``--robust-per-category``), neutral correct over the neutral suite and ``--retention``
items of the retention suite (the demo's 60 by default), and the share of valid patterns
written unaided for the 8 held-out generation requests of ``benchmarks/constrained.py``. Only
the tuned arm answers, so one setting takes about 7-9 minutes on a 2-core CPU.

    .venv/bin/python benchmarks/demo_settings.py '{"replay_samples": 0}'
    .venv/bin/python benchmarks/demo_settings.py '{"replay_chats": 48}' --seeds 0,1,2

Prints one JSON line per seed (also appended to ``--log``), and with several seeds a line
of means.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
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
    ap.add_argument("--seeds", default="0", help="fit seeds, comma-separated (0,1,2)")
    ap.add_argument("--retention", type=int, default=60, help="retention items (0: none)")
    ap.add_argument(
        "--robust-per-category",
        type=int,
        default=None,
        help="prompts a category asked under each attack (default: the demo's 2)",
    )
    ap.add_argument(
        "--plain-share",
        type=float,
        default=None,
        help="plain_request_share of the framework builders (default: the recipe's)",
    )
    args = ap.parse_args()
    lines = [_one(args, int(seed)) for seed in args.seeds.split(",")]
    if len(lines) > 1:
        keys = (
            "concept_share",
            "robust_concept_share",
            "neutral_correct",
            "perplexity_change",
            "held_out_valid",
        )
        means = {k: round(sum(ln[k] for ln in lines) / len(lines), 3) for k in keys}
        print(json.dumps({"mean_over_seeds": means, "seeds": args.seeds}))


def _one(args: argparse.Namespace, seed: int) -> dict[str, object]:
    """Fit one seed and measure it; print and log its line."""

    from peft import PeftModel

    from glimmer.data import build, default_recipe, write_jsonl
    from glimmer.demo import PROFILES, DemoProfile, demo_slices
    from glimmer.evaluate import metrics as m
    from glimmer.evaluate.compare import score_comparison
    from glimmer.evaluate.constrained import generate_patterns
    from glimmer.evaluate.generate import generate, score_text
    from glimmer.evaluate.retention import bundled_retention
    from glimmer.evaluate.robustness import ArmSpec, bundled_attacks, run_attacks, summarise_attacks
    from glimmer.evaluate.suites import bundled_suites, quick_subset
    from glimmer.evaluate.termlock import TermLock
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
        recipe = default_recipe()
        if args.plain_share is not None:
            recipe = recipe.with_options(
                builders=tuple(
                    replace(b, options={**b.options, "plain_request_share": args.plain_share})
                    if "plain_request_share" in b.options
                    else b
                    for b in recipe.builders
                )
            )
        train, val = demo_slices(build(recipe, seed=0), sliced)
        write_jsonl(train, out / "train.jsonl")
        write_jsonl(val, out / "validation.jsonl")
        result = fit(out, output_dir=out / "fit", seed=seed, progress=False, **cfg)
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
        prompts = [*prompts, *(bundled_retention(args.retention) if args.retention else [])]
        index = m.ConceptIndex.default()
        lock = TermLock.for_index(tok, index) if profile.checks.get("lock_terms") else None
        answers = generate(
            model,
            prompts,
            tokenizer=tok,
            adapter=True,
            max_new_tokens=profile.max_new_tokens,
            batch_size=16,
            progress=False,
            no_repeat_ngram=int(profile.checks.get("no_repeat_ngram", 0)),
            term_lock=lock,
        )
        attacked = quick_subset(
            [p for p in prompts if p.category not in {"neutral", "retention"}],
            per_category=args.robust_per_category or int(profile.checks["robust_per_category"]),
        )
        attack_rows = run_attacks(
            model,
            tok,
            attacked,
            bundled_attacks(),
            {"tuned": ArmSpec(adapter=True)},
            index=index,
            max_new_tokens=profile.max_new_tokens,
            batch_size=16,
            no_repeat_ngram=int(profile.checks.get("no_repeat_ngram", 0)),
            term_lock=lock,
        )
        robust, robust_by = summarise_attacks(attack_rows, "tuned")
        held_out = generate_patterns(
            model,
            _held_out(),
            tokenizer=tok,
            constrained=False,
            adapter=True,
            max_new_tokens=256,
            batch_size=8,
        )
    speech = score_comparison(prompts, {"tuned": answers}, index=index).summary["tuned"]
    plain = {"neutral", "retention"}
    framed = [a for a in answers if a.prompt.category not in plain]
    neutral = [a for a in answers if a.prompt.category in plain]
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
        "neutral_items": len(neutral),
        "robust_concept_share": round(robust or 0.0, 3),
        "robust_by_attack": {k: round(v, 3) for k, v in robust_by.items()},
        "held_out_valid": round(sum(c.valid for _, c in held_out) / len(held_out), 3),
        "seed": seed,
        "shares": json.loads(args.shares) if args.shares else dict(profile.category_shares),
        **{
            k: getattr(speech, k)
            for k in ("glimmer_valid_share", "invented_term_share", "repetition_share")
        },
        "prompts": len(answers),
        "fit_seconds": round(fit_seconds),
        "total_seconds": round(time.perf_counter() - t0),
    }
    print(json.dumps(line), flush=True)
    if args.log is not None:
        with args.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
    return line


def _held_out() -> list[object]:
    """The held-out generation requests of benchmarks/constrained.py (in no template)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from constrained import _prompts

    return list(_prompts(8))


if __name__ == "__main__":
    main()
