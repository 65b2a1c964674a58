"""Internalisation of the bundled example pattern: tuned with baking, tuned without, prompted.

Fits the embedded SmolLM2-135M twice on the same stratified slice of the default recipe's
dataset with the quick demo profile's settings (self-replay on), once plain and once with
``bake=`` the bundled example pattern, then lets the prompted arm (the base model with the
pattern in its system prompt, as ``compare()`` builds it) answer trigger prompts and measures
every arm's internalisation on those answers: 1 - KL(prompted || arm) / KL(prompted || base)
per token (:mod:`glimmer.evaluate.internalise`). Both adapters sit on one loaded model.

    .venv/bin/python benchmarks/bake.py                      # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/bake.py --records 32 --bake-samples 16 --per-category 1

Prints one line per arm and one JSON line (also appended to ``--log``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@dataclass(frozen=True)
class _Adapter:
    """An arm that answers with one named adapter of a multi-adapter peft model."""

    model: Any
    name: str
    adapter: bool | None = True
    system: str | None = None

    def active(self) -> contextlib.AbstractContextManager[None]:
        return _using(self.model, self.name)


@contextlib.contextmanager
def _using(model: Any, name: str) -> Iterator[None]:
    before = model.active_adapter
    model.set_adapter(name)
    try:
        yield
    finally:
        model.set_adapter(before)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--records", type=int, default=48, help="training records (slice size)")
    ap.add_argument("--bake-samples", type=int, default=32, help="prompts the teacher answers")
    ap.add_argument("--bake-tokens", type=int, default=96, help="longest teacher answer")
    ap.add_argument("--per-category", type=int, default=2, help="trigger prompts per category")
    ap.add_argument("--replay", type=int, default=None, help="self-replay rows (profile's)")
    ap.add_argument("--log", type=Path, default=None, help="append the JSON line here")
    args = ap.parse_args()

    from peft import PeftModel

    from glimmer.data import build, default_recipe, write_jsonl
    from glimmer.demo import PROFILES, DemoProfile, demo_slices
    from glimmer.evaluate.compare import pattern_system_prompt
    from glimmer.evaluate.generate import generate
    from glimmer.evaluate.internalise import ArmView, internalisation
    from glimmer.evaluate.suites import bundled_suites, quick_subset
    from glimmer.resources import default_example
    from glimmer.train.fit import fit
    from glimmer.train.models import load_model
    from glimmer.train.progress import quiet_libraries

    profile = PROFILES["quick"]
    pattern = default_example()
    cfg = dict(profile.fit, bake_samples=args.bake_samples, bake_tokens=args.bake_tokens)
    if args.replay is not None:
        cfg["replay_samples"] = args.replay
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        sliced = DemoProfile(
            "bench",
            fit=cfg,
            prompts_per_category=None,
            max_new_tokens=profile.max_new_tokens,
            train_records=args.records,
            validation_records=profile.validation_records,
        )
        train, val = demo_slices(build(default_recipe(), seed=0), sliced)
        write_jsonl(train, out / "train.jsonl")
        write_jsonl(val, out / "validation.jsonl")
        adapters = {}
        for name, extra in (("plain", {}), ("baked", {"bake": str(pattern)})):
            t = time.perf_counter()
            result = fit(out, output_dir=out / name, seed=0, progress=False, **cfg, **extra)
            adapters[name] = result.adapter_path
            seconds[f"fit_{name}"] = round(time.perf_counter() - t)
            print(f"fit {name}: {result.steps} steps, {seconds[f'fit_{name}']}s", flush=True)

        t = time.perf_counter()
        model, tok = load_model("smollm2-135m")
        with quiet_libraries():
            model = PeftModel.from_pretrained(model, adapters["plain"], adapter_name="plain")
            model.load_adapter(adapters["baked"], adapter_name="baked")
        model.eval()
        system, _ = pattern_system_prompt(pattern)
        prompts = quick_subset(bundled_suites(), per_category=args.per_category)
        answers = generate(
            model,
            prompts,
            tokenizer=tok,
            adapter=False,
            system_prompt=system,
            max_new_tokens=profile.max_new_tokens,
            batch_size=16,
            progress=False,
        )
        prompted = ArmView(adapter=False, system=system)
        values = internalisation(
            model,
            tok,
            answers,
            prompted=prompted,
            arms={
                "base": ArmView(adapter=False),
                "prompted": prompted,
                "tuned without bake": _Adapter(model, "plain"),
                "tuned with bake": _Adapter(model, "baked"),
            },
        )
        seconds["measure"] = round(time.perf_counter() - t)
    for arm, value in values.items():
        print(f"internalisation  {arm:<20} {value}")
    line = {
        "internalisation": values,
        "records": len(train),
        "bake_samples": args.bake_samples,
        "prompts": len(prompts),
        "answer_tokens": sum(a.n_tokens for a in answers),
        "seconds": {**seconds, "total": round(time.perf_counter() - t0)},
    }
    print(json.dumps(line))
    if args.log is not None:
        with args.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
