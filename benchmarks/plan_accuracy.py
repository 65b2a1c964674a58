"""How close is ``glimmer.plan()`` to the memory a LoRA run really takes?

Trains a SmolLM2-135M-shaped model (built from its config with random weights: the same
tensors, so the same memory, as the real one) with LoRA for a few steps on the CPU, each
configuration in a fresh process, and compares the process's peak RSS above its baseline
(after importing torch, transformers and peft) with ``plan(..., gpu=None)``. The loss is
fit()'s own chunked LM-head loss, as the plan assumes:

    .venv/bin/python benchmarks/plan_accuracy.py [--steps 3]

On a machine with a CUDA or ROCm GPU, ``--device cuda`` measures
``torch.cuda.max_memory_allocated`` instead (``--dtype bf16`` there), optionally for a
Mistral-7B-shaped model (``--model mistral-7b-instruct-v0.2``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GiB = 1024**3


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(
    model: str, seq_len: int, batch: int, steps: int, device: str, dtype: str
) -> dict[str, float]:
    """Train a few LoRA steps in this process and return the measured peak (bytes)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig

    from glimmer.train.plan import DEFAULT_TARGETS, model_shape

    shape = model_shape(model)
    cls = MistralConfig if "mistral" in shape.name.lower() else LlamaConfig
    config = cls(
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        vocab_size=shape.vocab_size,
        head_dim=shape.head_dim,
        tie_word_embeddings=shape.tie_embeddings,
        max_position_embeddings=max(2048, seq_len),
    )
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    cuda = device != "cpu"
    torch.manual_seed(0)
    baseline = _rss()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        with torch.device(device):
            net = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    else:
        net = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    net.config.use_cache = False
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=list(DEFAULT_TARGETS),
        task_type="CAUSAL_LM",
    )
    net = get_peft_model(net, lora)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, shape.vocab_size, (batch, seq_len), device=device)
    from glimmer.train.loss import chunked_cross_entropy

    base = net.get_base_model()
    head = base.get_output_embeddings().weight
    for _ in range(steps):
        # the loss fit() trains with: the LM head a chunk of rows at a time (glimmer.train.loss),
        # never the full logits, which is what plan() counts
        hidden = base.model(input_ids=ids).last_hidden_state
        loss = chunked_cross_entropy(hidden, head, ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if cuda:
        peak = float(torch.cuda.max_memory_allocated())
    else:
        peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline)
    return {"measured": peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="fp32 on CPU, bf16 on a GPU by default")
    parser.add_argument("--configs", default="512x1,256x1,512x2,1024x1", help="SEQxBATCH,...")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    dtype = args.dtype or ("fp32" if args.device == "cpu" else "bf16")

    if args.one:
        seq, batch = (int(x) for x in args.one.split("x"))
        print(json.dumps(measure(args.model, seq, batch, args.steps, args.device, dtype)))
        return

    from glimmer.train.plan import plan

    print(
        f"model {args.model}, LoRA r=16 on every linear layer, {dtype}, {args.steps} steps, device {args.device}"
    )
    where = "peak RSS above baseline" if args.device == "cpu" else "max_memory_allocated"
    print(f"{'seq x batch':>12} {'estimate':>12} {'measured':>12} {'error':>8}   ({where})")
    errors = []
    for item in args.configs.split(","):
        seq, batch = (int(x) for x in item.split("x"))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                item,
                "--model",
                args.model,
                "--steps",
                str(args.steps),
                "--device",
                args.device,
                "--dtype",
                dtype,
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        measured = json.loads(out.stdout.strip().splitlines()[-1])["measured"]
        # On a GPU max_memory_allocated leaves out the runtime context, so compare without it.
        estimate = plan(args.model, method="lora", seq_len=seq, batch=batch, gpu=None, dtype=dtype)
        est = estimate.total
        err = (est - measured) / measured
        errors.append(abs(err))
        print(f"{item:>12} {est / GiB:>10.2f} G {measured / GiB:>10.2f} G {err:>+8.1%}")
    print(f"mean absolute relative error {sum(errors) / len(errors):.1%}, worst {max(errors):.1%}")


if __name__ == "__main__":
    main()
