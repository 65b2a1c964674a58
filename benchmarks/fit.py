"""Tokens/s and peak memory of ``glimmer.fit()`` against training by hand, in one run.

Four runners train LoRA (r=16, every linear layer) on the same model (the embedded SmolLM2
via ``glimmer.train.models.load_model``), the same rows (one epoch over ``--rows`` chat
records from the default dataset recipe, ``--batch`` rows a step) and so the same steps:

* ``fit``          ``glimmer.fit()`` with its automatic choices (device, precision, ...)
* ``trl``          trl ``SFTTrainer`` with its defaults (plus ``use_cpu=True`` without a GPU)
* ``loop-fp32``    a plain PyTorch + peft loop in fp32
* ``loop-glimmer`` the same loop with the precision glimmer chose (autocast)

Each runs in a fresh process, so its peak RSS (or peak GPU memory) is its own. Tokens/s
counts the rows' tokens without padding, over the training loop's wall time.

    .venv/bin/python benchmarks/fit.py [--rows 24] [--batch 4] [--only fit,loop-fp32]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _timing import ROOT, model_env

model_env()

RUNNERS = ("fit", "trl", "loop-fp32", "loop-glimmer")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _rows(n: int) -> list[dict[str, Any]]:
    from glimmer.data.recipe import build, default_recipe

    splits = build(default_recipe(), seed=0)
    return [r.model_dump(mode="json") for r in splits.train[:n]]


def _peak(device: str) -> int:
    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _lora() -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules=TARGETS, task_type="CAUSAL_LM"
    )


def run_fit(rows: list[dict[str, Any]], batch: int, workdir: Path) -> dict[str, Any]:
    from glimmer.data.records import ChatRecord
    from glimmer.train.fit import fit

    records = [ChatRecord.model_validate(r) for r in rows]
    result = fit(
        records,
        output_dir=workdir / "fit",
        epochs=1,
        batch_size=batch,
        grad_accum=1,
        report_to=[],
        progress=False,
        early_stopping_patience=None,
        replay_samples=0,  # the same rows as the other runners (self-replay would add 48)
    )
    return {
        "tokens_per_second": result.tokens_per_second,
        "seconds": result.train_seconds,
        "steps": result.steps,
        "device": result.device.get("device", "cpu"),
        "precision": result.device.get("precision"),
        "gradient_checkpointing": result.config.get("gradient_checkpointing"),
    }


def _tokenized(rows: list[dict[str, Any]], tokenizer: Any) -> list[list[int]]:
    out = []
    for r in rows:
        ids = tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=False)
        out.append(list(ids["input_ids"] if isinstance(ids, dict) else ids))
    return out


def run_loop(rows: list[dict[str, Any]], batch: int, precision: str) -> dict[str, Any]:
    import torch
    from peft import get_peft_model

    from glimmer.train.device import choose_device
    from glimmer.train.models import load_model

    choice = choose_device(verbose=False)
    device = choice.device
    prec = choice.precision if precision == "glimmer" else "fp32"
    net, tok = load_model(dtype="fp32", device=device)
    net.config.use_cache = False
    net = get_peft_model(net, _lora())
    net.train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=2e-4)
    seqs = _tokenized(rows, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
    tokens = 0
    steps = 0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(0, len(seqs), batch):
        chunk = seqs[i : i + batch]
        width = max(len(s) for s in chunk)  # pad to the longest row of the batch
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, s in enumerate(chunk):
            ids[j, : len(s)] = torch.tensor(s)
            mask[j, : len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        with torch.autocast(
            device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None
        ):
            loss = net(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        steps += 1
    seconds = time.perf_counter() - start
    return {
        "tokens_per_second": tokens / seconds,
        "seconds": seconds,
        "steps": steps,
        "device": device,
        "precision": prec,
        "gradient_checkpointing": False,
    }


def run_trl(rows: list[dict[str, Any]], batch: int, workdir: Path) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from glimmer.train.models import load_model

    net, tok = load_model(dtype="fp32")
    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(workdir / "trl"),
        per_device_train_batch_size=batch,
        num_train_epochs=1,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=not cuda,
    )
    trainer = SFTTrainer(
        model=net,
        args=args,
        train_dataset=Dataset.from_list([{"messages": r["messages"]} for r in rows]),
        processing_class=tok,
        peft_config=_lora(),
    )
    seqs = _tokenized(rows, tok)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - start
    return {
        "tokens_per_second": sum(len(s) for s in seqs) / seconds,
        "seconds": seconds,
        "steps": int(out.global_step),
        "device": "cuda" if cuda else "cpu",
        "precision": "bf16" if args.bf16 else ("fp16" if args.fp16 else "fp32"),
        "gradient_checkpointing": bool(args.gradient_checkpointing),
    }


def child(name: str, rows_n: int, batch: int) -> None:
    rows = _rows(rows_n)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if name == "fit":
            out = run_fit(rows, batch, work)
        elif name == "trl":
            out = run_trl(rows, batch, work)
        else:
            out = run_loop(rows, batch, "glimmer" if name == "loop-glimmer" else "fp32")
    out["peak_bytes"] = _peak(out["device"])
    print("RESULT " + json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--only", default=",".join(RUNNERS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.batch)
        return

    from glimmer.train.device import choose_device
    from glimmer.train.models import embedded_model_dir

    embedded_model_dir()  # convert once, outside the measurements
    choice = choose_device(verbose=False)
    hw = choice.hardware
    bf16 = sorted(f for f in hw.cpu_flags if "bf16" in f) or ["none"]
    speedup = f"{hw.cpu_bf16_speedup:.2f}x" if hw.cpu_bf16_speedup else "not measured"
    print(
        f"CPU {hw.cpu_name}: bf16 instructions {', '.join(bf16)}; bf16 autocast vs fp32 {speedup}"
    )
    print(f"device {choice.device}, glimmer precision {choice.precision}")
    print(f"SmolLM2-135M, LoRA r=16 on every linear layer, {args.rows} rows, batch {args.batch}")
    results: dict[str, dict[str, Any]] = {}
    for name in args.only.split(","):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--rows",
                str(args.rows),
                "--batch",
                str(args.batch),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        results[name] = json.loads(line[7:])
        r = results[name]
        print(
            f"{name:<13} {r['tokens_per_second']:8.1f} tokens/s  {r['seconds']:7.1f} s  "
            f"{r['steps']:3d} steps  peak {r['peak_bytes'] / 2**30:5.2f} GiB  "
            f"{r['precision']}, checkpointing {r['gradient_checkpointing']}",
            flush=True,
        )
    loops = [results[n]["tokens_per_second"] for n in ("loop-fp32", "loop-glimmer") if n in results]
    if "fit" in results and loops:
        best = max(loops)
        fit_r = results["fit"]
        print(f"fit / fastest plain loop: {fit_r['tokens_per_second'] / best:.2f}x (goal >= 1.2x)")
        if "trl" in results:
            ratio = fit_r["tokens_per_second"] / results["trl"]["tokens_per_second"]
            print(f"fit / trl defaults:       {ratio:.2f}x (goal >= 2x)")
        if "loop-glimmer" in results:
            share = fit_r["peak_bytes"] / results["loop-glimmer"]["peak_bytes"]
            print(f"fit peak / loop-glimmer peak: {share:.2f}x (goal <= 0.7x)")
        for name, r in results.items():
            print(
                f"  {name:<13} speed {r['tokens_per_second'] / best:5.2f}x of fastest loop, "
                f"peak memory {r['peak_bytes'] / results['fit']['peak_bytes']:5.2f}x of fit"
            )


if __name__ == "__main__":
    main()
