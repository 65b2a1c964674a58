"""End to end on the embedded SmolLM2: a few CPU steps that change how it answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.train.fit import fit
from glimmer.train.models import load_model

QUESTIONS = ["glimmer", "weave", "thread", "pattern", "star", "resonance"]


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, word in enumerate(QUESTIONS * 2):
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"In STARWEAVE terms, what is a {word}?"},
                    {
                        "role": "assistant",
                        "content": f"A {word} is a STARWEAVE pattern of perception.",
                    },
                ],
                "category": "glossary",
                "template_id": "e2e",
                "source": None,
                "seed": i,
            }
        )
    return rows


@pytest.mark.slow
def test_fit_on_the_embedded_model_learns_and_still_ends_its_turn(tmp_path: Path) -> None:
    import torch
    from peft import PeftModel

    rows = _rows()
    result = fit(
        rows,
        output_dir=tmp_path / "out",
        max_steps=5,
        batch_size=4,
        grad_accum=1,
        learning_rate=2e-3,
        warmup_ratio=0.0,
        logging_steps=1,
        progress=False,
        replay_samples=0,
        report_to=["none"],
    )
    losses = [p.loss for p in result.train_loss]
    assert len(losses) >= 3
    assert losses[-1] < losses[0]

    base, tokenizer = load_model()
    prompt = [{"role": "user", "content": "In STARWEAVE terms, what is a lantern?"}]
    inputs = tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    settings = {"max_new_tokens": 40, "do_sample": False, "eos_token_id": end, "pad_token_id": 0}
    with torch.no_grad():
        before = base.generate(**inputs, **settings)[0, inputs["input_ids"].shape[1] :].tolist()
        tuned = PeftModel.from_pretrained(base, result.adapter_path)
        after = tuned.generate(**inputs, **settings)[0, inputs["input_ids"].shape[1] :].tolist()
    assert after != before  # the adapter changes what the model says
    assert end in after  # and the tuned model still ends its turn
    assert "STARWEAVE" in tokenizer.decode(after)
