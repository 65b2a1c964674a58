"""GGUF export of the embedded SmolLM2-135M: time and size per weight format, and parity.

Parity compares llama.cpp (llama-cpp-python, the ``export`` extra) on the exported file with
transformers on the same weights: greedy tokens matched of the first 16 over three chat
prompts, and the largest |logit difference| over the vocabulary at the first generated
position of the first prompt. Where a path parts from transformers', the benchmark prints
the step and transformers' margin between its two best tokens there: under 0.05 logits it
is a tie that any rounding (fp32 against f16 included) may break either way.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/export.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

N = 16
CHATS = [
    [{"role": "user", "content": "What is a glimmer?"}],
    [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Describe the weave."},
    ],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Pink."},
        {"role": "user", "content": "And another one?"},
    ],
]


def main() -> int:
    import numpy as np
    import torch
    from llama_cpp import Llama

    from glimmer.train.export import QUANTS, export
    from glimmer.train.models import embedded_model_dir, load_model

    torch.set_num_threads(os.cpu_count() or 1)
    source = embedded_model_dir()
    net, tok = load_model()
    net.eval()
    print(
        f"model: embedded SmolLM2-135M-Instruct ({source}); torch threads {torch.get_num_threads()}"
    )
    reference = []
    with torch.no_grad():
        for chat in CHATS:
            ids = list(tok.apply_chat_template(chat, add_generation_prompt=True)["input_ids"])
            seq, first, margins = list(ids), None, []
            for _ in range(N):
                logits = net(torch.tensor([seq])).logits[0, -1]
                first = logits.numpy() if first is None else first
                top = torch.topk(logits, 2).values
                margins.append(float(top[0] - top[1]))
                seq.append(int(logits.argmax()))
            reference.append((ids, seq[len(ids) :], first, margins))

    print(
        f"{'quant':>6} {'export s':>9} {'size MiB':>9} {'tokens matched':>15} {'max |dlogit|':>13}"
        "  parted at (transformers' top-2 margin there)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for quant in QUANTS:
            t = time.perf_counter()
            result = export(source, Path(tmp) / quant, quant=quant, name="smollm2")
            seconds = time.perf_counter() - t
            llm = Llama(
                model_path=str(result.gguf),
                n_ctx=256,
                n_threads=os.cpu_count() or 1,
                logits_all=True,
                verbose=False,
            )
            matched = total = 0
            delta = 0.0
            parted = []
            for k, (ids, want, first, margins) in enumerate(reference):
                llm.reset()
                llm.eval(ids)
                if k == 0:
                    delta = float(np.abs(np.array(llm.scores[llm.n_tokens - 1]) - first).max())
                got = []
                for _ in range(N):
                    nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
                    got.append(nxt)
                    llm.eval([nxt])
                same = next(
                    (i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b), N
                )
                matched += same
                total += N
                if same < N:
                    parted.append(f"#{k + 1} token {same} ({margins[same]:.3f})")
            print(
                f"{quant:>6} {seconds:9.1f} {result.size_bytes / 2**20:9.1f} "
                f"{f'{matched}/{total}':>15} {delta:13.4f}  {', '.join(parted) or '-'}"
            )
            del llm
    print("tokens matched: greedy tokens equal to transformers' before the first difference;")
    print("a margin under 0.05 logits is a tie any rounding may break either way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
