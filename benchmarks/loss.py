"""Time and peak memory of the LM-head loss: plain logits, trl's fused head, glimmer's chunked head.

One forward and backward of the loss alone (hidden states in, gradient of the hidden states
out) for a batch shaped like the demo's (SmolLM2: width 576, vocabulary 49,152), with the
share of learned positions of completion-only labels. Each runner goes in a fresh process so
its peak RSS is its own.

    .venv/bin/python benchmarks/loss.py [--tokens 1200] [--learned 0.6] [--vocab 49152]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

RUNNERS = ("plain", "trl", "glimmer")


def _case(args: argparse.Namespace) -> Any:
    import torch

    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, args.tokens, args.width, generator=g)
    weight = torch.randn(args.vocab, args.width, generator=g) * 0.02
    labels = torch.randint(0, args.vocab, (1, args.tokens), generator=g)
    labels[torch.rand(1, args.tokens, generator=g) > args.learned] = -100
    return hidden, weight, labels


def child(name: str, args: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(0)
    hidden, weight, labels = _case(args)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[args.precision]

    def step() -> None:
        h = hidden.clone().requires_grad_()
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            if name == "plain":
                logits = (h @ weight.t()).float()
                loss = torch.nn.functional.cross_entropy(
                    logits[0, :-1], labels[0, 1:], ignore_index=-100
                )
            elif name == "trl":
                from trl.kernels.chunked_logprob import ChunkedLogProbFunction

                mask = labels[:, 1:] != -100
                lp = ChunkedLogProbFunction.apply(
                    h[:, :-1].reshape(-1, h.shape[-1]),
                    weight,
                    None,
                    labels[:, 1:].clamp(min=0).reshape(-1),
                    1.0,
                    32768,
                    None,
                    1.0,
                    ("log_probs", "entropy", "is_top1"),
                )[0]
                loss = -(lp.view(mask.shape) * mask).sum() / mask.sum()
            else:
                from glimmer.train.loss import chunked_cross_entropy

                loss = chunked_cross_entropy(h, weight, labels, rows=args.rows or None)
        loss.backward()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(args.repeat):
        step()
    seconds = (time.perf_counter() - start) / args.repeat
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({"seconds": seconds, "peak_bytes": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=1200)
    parser.add_argument("--learned", type=float, default=0.6)
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--rows", type=int, default=0, help="glimmer's rows a chunk (0: auto)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    print(
        f"LM-head loss, {args.tokens} tokens ({args.learned:.0%} learned), width {args.width}, "
        f"vocabulary {args.vocab}, {args.precision}, forward + backward"
    )
    results: dict[str, dict[str, float]] = {}
    for name in RUNNERS:
        cmd = [sys.executable, __file__, "--child", name, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name}: failed\n{proc.stderr[-1500:]}")
            continue
        results[name] = r = json.loads(line[7:])
        print(
            f"{name:<8} {r['seconds'] * 1000:8.1f} ms  peak RSS {r['peak_bytes'] / 2**20:7.0f} MiB"
        )
    if "plain" in results:
        base = results["plain"]
        for name, r in results.items():
            print(
                f"  {name:<8} {base['seconds'] / r['seconds']:5.2f}x the speed of plain, "
                f"{r['peak_bytes'] / base['peak_bytes']:5.2f}x its peak"
            )


if __name__ == "__main__":
    main()
