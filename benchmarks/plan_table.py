"""fit's automatic memory choice for every preset, LoRA and QLoRA, on 24, 16 and 12 GB GPUs.

For each preset at its own row length, prints the batch size and gradient checkpointing
``fit()`` would choose (``glimmer.train.plan.auto_plan``, the function fit calls), the plan's
peak and the share of the GPU left free, or, when nothing leaves 10% free, that fit stops
before loading weights and the advice it gives:

    .venv/bin/python benchmarks/plan_table.py [--gpus 24 16 12] [--markdown]

Exits 1 if any automatic choice that is not a stop leaves less than 10% free.
"""

from __future__ import annotations

import argparse
import sys

from glimmer.train.models import PRESETS
from glimmer.train.plan import HEADROOM, auto_plan

GiB = 1024**3


def rows(gpus: list[int]) -> list[dict[str, str]]:
    """One row per preset x method x GPU size."""
    out = []
    for name, preset in PRESETS.items():
        for method in ("lora", "qlora"):
            for gib in gpus:
                choice = auto_plan(name, method=method, gpu=gib * GiB)  # type: ignore[arg-type]
                p = choice.plan
                free = (p.headroom or 0) / (p.capacity or 1)
                ckpt = "on" if choice.gradient_checkpointing else "off"
                out.append(
                    {
                        "preset": name,
                        "method": method,
                        "gpu": f"{gib} GB",
                        "seq": str(preset.max_seq_len),
                        "choice": f"batch {choice.batch_size}, ckpt {ckpt}"
                        if choice.fits
                        else "stops before loading",
                        "total": f"{p.total / GiB:.2f} GiB",
                        "free": f"{free:.1%}",
                        "advice": "; ".join(choice.advice),
                        "ok": "yes" if (not choice.fits or free >= HEADROOM) else "NO",
                    }
                )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[24, 16, 12])
    parser.add_argument("--markdown", action="store_true", help="Print a Markdown table.")
    args = parser.parse_args()
    table = rows(args.gpus)
    cols = ["preset", "method", "gpu", "seq", "choice", "total", "free", "advice"]
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in table:
            print("| " + " | ".join(r[c] for c in cols) + " |")
    else:
        widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in cols[:-1]}
        print("  ".join(c.ljust(widths[c]) for c in cols[:-1]) + "  advice")
        for r in table:
            print("  ".join(r[c].ljust(widths[c]) for c in cols[:-1]) + "  " + r["advice"])
    bad = [r for r in table if r["ok"] == "NO"]
    stops = sum(r["choice"] == "stops before loading" for r in table)
    print(
        f"\n{len(table)} runs: {len(table) - stops} fit with >= {HEADROOM:.0%} free, {stops} stop"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
