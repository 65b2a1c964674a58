"""Greedy decoding that drops finished rows: the tokens ``generate`` writes, fewer rows a step."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import torch

from glimmer.evaluate.decode import _kept, greedy, plain_greedy
from glimmer.evaluate.generate import adapter_rows, answer_texts, chat_text
from glimmer.evaluate.kvcache import roomy_cache

TINY = {
    "vocab_size": 96,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
STOP, PAD = 2, 0


class EndAt:
    """Ends row *r* at its ``ends[r]``-th new token (a row with ``None`` runs on)."""

    def __init__(self, start: int, ends: list[int | None]) -> None:
        self.start, self.ends = start, ends

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        new = input_ids.shape[1] - self.start
        for r, end in enumerate(self.ends):
            if end is not None and new + 1 == end:
                scores[r, :] = float("-inf")
                scores[r, STOP] = 0.0
        return scores


def _batch(rows: int, seed: int = 1) -> dict[str, torch.Tensor]:
    """Left-padded rows of 3 to 9 random tokens."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 10, (rows,), generator=gen).tolist()
    width = max(lengths)
    ids = torch.full((rows, width), PAD)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, width - n :] = torch.randint(3, TINY["vocab_size"], (n,), generator=gen)
        mask[r, width - n :] = 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def model() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**TINY, initializer_range=0.5)).eval()


def _reference(model: Any, inputs: dict[str, torch.Tensor], budget: int, **kwargs: Any) -> Any:
    with torch.inference_mode():
        return model.generate(
            **inputs,
            max_new_tokens=budget,
            do_sample=False,
            eos_token_id=[STOP],
            pad_token_id=PAD,
            **kwargs,
        )


def _greedy(model: Any, inputs: dict[str, torch.Tensor], budget: int, **kwargs: Any) -> Any:
    """glimmer's decoder on a roomy cache with room for the batch and *budget*."""
    width = inputs["input_ids"].shape[1]
    with torch.inference_mode():
        return greedy(
            model,
            inputs,
            roomy_cache(model, width + budget),
            max_new_tokens=budget,
            stops=[STOP],
            pad_token_id=PAD,
            **kwargs,
        )


def test_rows_that_end_leave_the_product_and_the_tokens_stay_generates(model: Any) -> None:
    inputs = _batch(20)
    ends: list[int | None] = [3, 5, 5, 6, 6, 6, 7, 8, 9, 9, 10, 11, 12, 12, 14, None, 17, 4, 4, 4]
    width, budget = inputs["input_ids"].shape[1], 24
    want = _reference(model, inputs, budget, logits_processor=[EndAt(width, ends)])
    rows_seen: list[int] = []
    hook = model.model.register_forward_pre_hook(
        lambda _m, _a, kw: rows_seen.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        got = _greedy(model, inputs, budget, processors=[EndAt(width, ends)])
    finally:
        hook.remove()
    assert torch.equal(got, want)
    assert rows_seen[0] == 20 and rows_seen[-1] < 20  # fewer rows once they end
    assert rows_seen == sorted(rows_seen, reverse=True)
    assert all(n >= 12 or n % 4 == 0 for n in rows_seen)
    assert len(rows_seen) == budget  # the row that never ends runs the whole budget


def test_every_row_ending_ends_the_decoding(model: Any) -> None:
    inputs = _batch(5, seed=3)
    width = inputs["input_ids"].shape[1]
    ends: list[int | None] = [2, 3, 1, 4, 2]
    want = _reference(model, inputs, 30, logits_processor=[EndAt(width, ends)])
    got = _greedy(model, inputs, 30, processors=[EndAt(width, ends)])
    assert got.shape[1] == width + 4
    assert torch.equal(got, want)


def test_a_stop_test_ends_rows_as_under_generate(model: Any) -> None:
    from transformers import StoppingCriteria

    class After(StoppingCriteria):  # type: ignore[misc]
        """Row r stops after 2 + r new tokens."""

        def __init__(self, start: int) -> None:
            self.start = start

        def __call__(self, input_ids: torch.Tensor, scores: Any, **_: Any) -> torch.Tensor:
            new = input_ids.shape[1] - self.start
            return torch.tensor([new >= 2 + r for r in range(input_ids.shape[0])])

    inputs = _batch(16, seed=5)
    width = inputs["input_ids"].shape[1]
    want = _reference(model, inputs, 20, stopping_criteria=[After(width)])
    got = _greedy(model, inputs, 20, stopping=After(width))
    assert torch.equal(got, want)


def test_rows_in_both_adapter_states_keep_their_states_as_rows_leave(model: Any) -> None:
    import copy

    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    peft = get_peft_model(
        copy.deepcopy(model),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False),
    ).eval()
    inputs = _batch(16, seed=7)
    width = inputs["input_ids"].shape[1]
    flags = [r % 3 != 0 for r in range(16)]
    ends: list[int | None] = [2 + (r * 5) % 13 if r != 4 else None for r in range(16)]
    switch = adapter_rows(peft, flags)
    assert switch is not None
    with switch:
        want = _reference(peft, inputs, 18, logits_processor=[EndAt(width, ends)])
    routes: list[list[bool]] = []

    def route(rows: list[int]) -> tuple[Any, dict[str, Any]]:
        routes.append([flags[r] for r in rows])
        inner = adapter_rows(peft, [flags[r] for r in rows])
        assert inner is not None
        return inner, {}

    got = _greedy(peft, inputs, 18, processors=[EndAt(width, ends)], route=route)
    assert torch.equal(got, want)
    assert len(routes) > 1 and len(routes[-1]) < 16  # routed again for the rows left


@pytest.mark.parametrize(
    ("unfinished", "left", "kept"),
    [
        ([True] * 16, 10, None),  # nothing ended
        ([True] * 13 + [False] * 3, 10, None),  # 3 of 16: not worth a selection
        ([True] * 12 + [False] * 4, 10, list(range(12))),
        ([True] * 12 + [False] * 4, 1, None),  # one step left
        ([False, True] * 8, 10, [1, 3, 5, 7, 9, 11, 13, 15]),
        ([True] * 5 + [False] * 11, 10, [0, 1, 2, 3, 4, 5, 6, 7]),  # 5 -> 8, three ended
        ([False] * 15 + [True], 10, [0, 1, 2, 15]),
    ],
)
def test_kept_rows(unfinished: list[bool], left: int, kept: list[int] | None) -> None:
    assert _kept(list(range(len(unfinished))), unfinished, left) == kept


def test_only_the_rows_still_in_the_product_are_considered() -> None:
    rows = [0, 2, 5, 7, 9, 11, 13, 14]
    unfinished = [True] * 16
    for r in (2, 5, 9, 13):
        unfinished[r] = False
    assert _kept(rows, unfinished, 5) == [0, 7, 11, 14]


def test_a_generation_config_that_adds_processing_goes_through_generate(
    model: Any, tiny_model: Any, tiny_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = roomy_cache(model, 8)
    assert plain_greedy(model, cache)
    assert not plain_greedy(model, None)
    changed = copy_with(model, repetition_penalty=1.3)
    assert not plain_greedy(changed, cache)
    # answer_texts with such a model answers through generate
    texts = [chat_text(tiny_tokenizer, q) for q in ("What is a river?", "Name a tree.")]
    called: list[bool] = []
    monkeypatch.setattr("glimmer.evaluate.generate.greedy", lambda *a, **k: called.append(True))
    penalised = copy_with(tiny_model, repetition_penalty=1.3)
    answers = answer_texts(penalised, tiny_tokenizer, texts, [12, 12])
    assert not called
    assert len(answers) == 2 and all(tokens > 0 for _, _, tokens in answers)


def copy_with(model: Any, **settings: Any) -> Any:
    import copy

    out = copy.copy(model)
    out.generation_config = copy.deepcopy(model.generation_config)
    for key, value in settings.items():
        setattr(out.generation_config, key, value)
    return out


def test_a_model_without_logits_to_keep_goes_through_generate(model: Any) -> None:
    class Wrapped(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.generation_config = inner.generation_config

        def forward(self, input_ids: Any = None, **kwargs: Any) -> Any:
            return self.inner(input_ids=input_ids, **kwargs)

    assert not plain_greedy(Wrapped(model), roomy_cache(model, 8))


def test_peft_routing_by_adapter_names_follows_the_rows_left(model: Any) -> None:
    """Where adapter_rows declines (a mixture-of-experts model), peft routes each row by
    name: the names are cut to the rows still in the product."""
    import copy

    from peft import LoraConfig, get_peft_model

    torch.manual_seed(2)
    peft = get_peft_model(
        copy.deepcopy(model),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    ).eval()
    inputs = _batch(16, seed=11)
    width = inputs["input_ids"].shape[1]
    flags = [r % 2 == 0 for r in range(16)]
    names = ["default" if f else "__base__" for f in flags]
    ends: list[int | None] = [None if r == 3 else 2 + r % 6 for r in range(16)]
    want = _reference(peft, inputs, 12, logits_processor=[EndAt(width, ends)], adapter_names=names)
    sent: list[list[str]] = []

    def route(rows: list[int]) -> tuple[Any, dict[str, Any]]:
        sent.append([names[r] for r in rows])
        return contextlib.nullcontext(), {"adapter_names": sent[-1]}

    got = _greedy(peft, inputs, 12, processors=[EndAt(width, ends)], route=route)
    assert torch.equal(got, want)
    assert len(sent) > 1 and len(sent[-1]) < 16
