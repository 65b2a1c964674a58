"""Multi-turn drift with each turn continuing the last turn's key/value cache, against
encoding every conversation's whole history afresh each turn.

Runs the demo's drift check (the bundled four 8-turn conversations, base, prompted and
tuned in one batch, 32 new tokens a turn, no 8-token run twice, compound terms locked) on an
adapter (the demo's, by default) twice, fresh then continued, and prints each run's seconds
and drift shares, whether every answer is the same, and the tokens reused and encoded.

    .venv/bin/python benchmarks/drift_carry.py demo-output/fit/adapter
"""

from __future__ import annotations

import time
from typing import Any

from _timing import adapter_parser, model_env

model_env()


def main() -> None:
    parser = adapter_parser(__doc__)
    args = parser.parse_args()

    from peft import PeftModel

    import glimmer.evaluate.generate as g
    from glimmer.evaluate import metrics as m
    from glimmer.evaluate.compare import pattern_system_prompt
    from glimmer.evaluate.drift import bundled_conversations, drift_shares, run_drift
    from glimmer.evaluate.robustness import ArmSpec
    from glimmer.evaluate.termlock import TermLock
    from glimmer.train.models import load_model

    base, tok = load_model("smollm2-135m", dtype="fp32")
    model = PeftModel.from_pretrained(base, args.adapter).eval()
    system, _ = pattern_system_prompt(None)
    index = m.ConceptIndex.default()
    arms = {
        "base": ArmSpec(adapter=False),
        "prompted": ArmSpec(adapter=False, system=system),
        "tuned": ArmSpec(adapter=True),
    }
    settings: dict[str, Any] = {
        "index": index,
        "max_new_tokens": 32,
        "batch_size": 64,
        "no_repeat_ngram": 8,
        "term_lock": TermLock.for_index(tok, index),
    }
    real = g.Carry
    made: list[Any] = []

    class Forget(real):  # type: ignore[misc,valid-type]
        def keep(self, *_: Any, **__: Any) -> None:
            self.clear()

    class Kept(real):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    runs = {}
    for label, carry in (("fresh", Forget), ("continued", Kept)):
        g.Carry = carry  # type: ignore[misc]
        try:
            start = time.perf_counter()
            runs[label] = run_drift(model, tok, bundled_conversations(), arms, **settings)
            seconds = time.perf_counter() - start
        finally:
            g.Carry = real  # type: ignore[misc]
        shares = {arm: drift_shares(runs[label], arm) for arm in arms}
        print(f"{label:10s} {seconds:6.1f} s  {shares}")
    fresh, kept = runs["fresh"], runs["continued"]
    print("the same answers:", [c.answers for c in fresh] == [c.answers for c in kept])
    print(f"tokens reused {made[0].reused}, encoded {made[0].encoded}")


if __name__ == "__main__":
    main()
