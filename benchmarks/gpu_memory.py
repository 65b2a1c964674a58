"""Does fit()'s automatic batch for a 7B model really fit a 24 GB card? Measured on a GPU.

For each model shape (the presets' Mistral-7B and Gemma-7B by default) this builds a model
of exactly that shape with random weights (the same tensors, so the same memory, as the
real one) in a folder beside a tokenizer, writes a dataset whose every row is as long as
``--seq-len`` tokens, and runs ``glimmer fit`` on it with ``--gpu-memory`` (the run is
planned for, and held to, that much memory: an estimate that is too low fails the run).
It prints, per shape and method, the batch fit chose, the planner's estimate and the peak
memory the run allocated:

    python benchmarks/gpu_memory.py --tokenizer DIR [--gpu-memory 24GB] [--steps 3]

``--tokenizer`` is a folder with a chat tokenizer (the embedded SmolLM2's cache folder
will do: its vocabulary is smaller than the shapes', which changes no tensor's size).
Needs a CUDA or ROCm GPU, the ``train`` extra, and ``bitsandbytes`` for ``qlora``. Writes
one JSON line per run to ``--json`` as it goes, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GiB = 1024**3
WORDS = [
    "thread",
    "light",
    "weave",
    "river",
    "lantern",
    "stone",
    "moss",
    "ember",
    "tide",
    "glass",
    "root",
    "signal",
]


def build_model(preset: str, tokenizer: Path, folder: Path) -> None:
    """Save a random-weight model of the preset's shape, in bf16, with the tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from glimmer.train.plan import model_shape

    shape = model_shape(preset)
    kind = "gemma" if "gemma" in preset else "mistral"
    config = AutoConfig.for_model(
        kind,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        head_dim=shape.head_dim,
        vocab_size=shape.vocab_size,
        tie_word_embeddings=shape.tie_embeddings,
        max_position_embeddings=8192,
    )
    with torch.device("cuda"):
        net = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    net.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer).save_pretrained(folder)
    del net
    torch.cuda.empty_cache()


def build_data(tokenizer: Path, folder: Path, seq_len: int, rows: int) -> int:
    """Write train/validation rows of about ``seq_len`` tokens each; return one row's length."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    # words whose ids every shape's vocabulary holds (Mistral's has 32000 tokens)
    words = [w for w in WORDS if max(tok(" " + w, add_special_tokens=False).input_ids) < 32000]
    answer = " ".join(words[i % len(words)] for i in range(120))
    n = seq_len

    def row(n_words: int) -> list[dict[str, str]]:
        text = " ".join(words[(i * 7) % len(words)] for i in range(n_words))
        return [  # a system turn of its own: the template's default names ids over 32000
            {"role": "system", "content": "You answer in the words you are given."},
            {"role": "user", "content": text},
            {"role": "assistant", "content": answer},
        ]

    def length(n_words: int) -> int:
        text = tok.apply_chat_template(row(n_words), tokenize=False)
        return len(tok(text, add_special_tokens=False).input_ids)

    def top_id(n_words: int) -> int:
        return max(tok(tok.apply_chat_template(row(n_words), tokenize=False)).input_ids)

    if top_id(8) >= 32000:
        raise SystemExit("the tokenizer's chat template uses ids over 32000: choose another")
    while length(n) > seq_len - 4:  # the longest row that is not truncated
        n -= max(1, (length(n) - seq_len) // 2 + 4)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", rows), ("validation", 2)):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for _ in range(count):
                f.write(json.dumps({"messages": row(n)}) + "\n")
    return length(n)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--models", default="mistral-7b-instruct-v0.2,gemma-7b-it")
    parser.add_argument("--methods", default="lora,qlora")
    parser.add_argument("--gpu-memory", default="24GB")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--rows", type=int, default=128, help="training rows (fit's batch cap grows with them)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/glimmer-gpu-memory"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data = args.work / "data"
    tokens = build_data(args.tokenizer, data, args.seq_len, rows=args.rows)
    print(f"rows of {tokens} tokens; planning for {args.gpu_memory}", flush=True)
    print(f"{'model':<26} {'method':<6} {'batch':>5} {'ckpt':>5} {'plan':>9} {'peak':>9}  result")
    for preset in args.models.split(","):
        folder = args.work / preset
        t0 = time.perf_counter()
        build_model(preset, args.tokenizer, folder)
        built = time.perf_counter() - t0
        for method in args.methods.split(","):
            out = args.work / f"fit-{preset}-{method}"
            cmd = [
                sys.executable, "-m", "glimmer", "fit", str(data), "-o", str(out), "--force",
                "--model", str(folder), "--method", method, "--max-seq-len", str(args.seq_len),
                "--max-steps", str(args.steps), "--replay", "0",
                "--gpu-memory", args.gpu_memory,
            ]  # fmt: skip
            t1 = time.perf_counter()
            run = subprocess.run(cmd, capture_output=True, text=True)
            row: dict[str, object] = {
                "model": preset,
                "method": method,
                "gpu_memory": args.gpu_memory,
                "seq_len": tokens,
                "build_s": round(built, 1),
                "fit_s": round(time.perf_counter() - t1, 1),
                "exit": run.returncode,
            }
            result = out / "fit_result.json"
            if run.returncode == 0 and result.exists():
                got = json.loads(result.read_text())
                cfg = got["config"]
                row.update(
                    batch=cfg["batch_size"],
                    checkpointing=cfg["gradient_checkpointing"],
                    plan_gib=round(cfg["memory_plan_bytes"] / GiB, 2),
                    peak_gib=round(got["peak_memory_bytes"] / GiB, 2),
                    loss=[p["loss"] for p in got["train_loss"]],
                    tokens_per_second=got["tokens_per_second"],
                )
                verdict = "ok"
                print(
                    f"{preset:<26} {method:<6} {row['batch']:>5} {row['checkpointing']!s:>5} "
                    f"{row['plan_gib']:>7.2f} G {row['peak_gib']:>7.2f} G  {verdict}",
                    flush=True,
                )
            else:
                row["stderr_tail"] = (run.stderr or run.stdout)[-1500:]
                print(f"{preset:<26} {method:<6} failed (exit {run.returncode}):", flush=True)
                print(row["stderr_tail"], flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
