"""Teacher expansion against a local ``transformers serve``: candidates per minute, rejection shares.

Starts ``transformers serve`` with the embedded SmolLM2 on loopback, expands seed records
drawn from the default recipe (round-robin over categories), prints ``run.summary()`` and the
share of candidates each check rejected, and stops the server by its PID.

    python benchmarks/expand.py --records 25 --n-per-record 2     # 50 candidates

Pass ``--base-url`` and ``--model`` to measure another server instead (nothing is started).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from glimmer.data import build, default_recipe
from glimmer.data.expand import expand
from glimmer.data.records import ChatRecord


def seed_records(n: int) -> list[ChatRecord]:
    by_category: dict[str, list[ChatRecord]] = defaultdict(list)
    for r in build(default_recipe(), seed=0).train:
        by_category[r.category].append(r)
    out: list[ChatRecord] = []
    i = 0
    while len(out) < n and any(i < len(v) for v in by_category.values()):
        out += [v[i] for v in by_category.values() if i < len(v)][: n - len(out)]
        i += 1
    return out


def start_server(port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from glimmer.train.models import embedded_model_dir

    model = str(embedded_model_dir(progress=False))
    exe = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen(
        [str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        # OMP_NUM_THREADS=1 unless set: on a shared CPU, oversubscribed torch threads cost ~10x
        env={"OMP_NUM_THREADS": "1", **os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc, model
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"transformers serve exited; see {log}") from None
            time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    raise SystemExit("transformers serve did not start in time")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=25)
    ap.add_argument("--n-per-record", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--question-max-tokens", type=int, default=48)
    ap.add_argument(
        "--review", type=Path, default=None, help="review file (default: a temporary one)"
    )
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()

    records = seed_records(args.records)
    tmp = Path(tempfile.mkdtemp(prefix="glimmer-expand-bench-"))
    review = args.review or tmp / "REVIEW.jsonl"
    proc = None
    if args.base_url is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc, model = start_server(port, tmp / "serve.log")
        base_url = f"http://127.0.0.1:{port}/v1"
    else:
        base_url, model = args.base_url, args.model
    try:
        run = expand(
            records,
            base_url=base_url,
            model=model,
            n_per_record=args.n_per_record,
            concurrency=args.concurrency,
            review_path=review,
            max_tokens=args.max_tokens,
            question_max_tokens=args.question_max_tokens,
            timeout=600.0,
        )
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    print(
        f"server: {base_url}  model: {model}  seed records: {len(records)}  review file: {review}"
    )
    print(run.summary())
    counts = run.counts
    for name, share in counts.share_failed().items():
        print(
            f"rejected by {name:<13} {100 * share:5.1f}%  ({counts.failed[name]} of {counts.total})"
        )


if __name__ == "__main__":
    main()
