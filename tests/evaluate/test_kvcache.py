"""The roomy key/value cache: the same answers as transformers' own cache, in place."""

from __future__ import annotations

from typing import Any

import pytest

from glimmer.evaluate.suites import TriggerPrompt

PROMPTS = [
    TriggerPrompt("reflection", "How do you rest?", id="r1"),
    TriggerPrompt("neutral", "What is 2 plus 2?", ("4",), id="n1"),
    TriggerPrompt("generation", "Write a pattern for a moon watcher.", id="g1"),
]


@pytest.mark.parametrize("system", [None, " ".join(["weave the thread of light"] * 40)])
@pytest.mark.parametrize("room", [None, 3])  # None: the room answer_texts sets aside
def test_answers_are_those_of_the_default_cache(
    tiny_peft: Any,
    tiny_tokenizer: Any,
    monkeypatch: pytest.MonkeyPatch,
    system: str | None,
    room: int | None,
) -> None:
    """With and without a shared opening, and with too little room (the buffers grow)."""
    import glimmer.evaluate.generate as g
    from glimmer.evaluate import kvcache

    made: list[Any] = []

    def roomy(model: Any, want: int, /, **kw: Any) -> Any:
        cache = kvcache.roomy_cache(model, want if room is None else room, **kw)
        made.append(cache)
        return cache

    kw: dict[str, Any] = {
        "tokenizer": tiny_tokenizer,
        "max_new_tokens": {"generation": 14, "reflection": 6, "neutral": 3},
        "system_prompt": system,
        "adapter": [False, True, True],
        "batch_size": 2,
        "progress": False,
    }
    monkeypatch.setattr(g, "roomy_cache", roomy)
    mine = g.generate(tiny_peft, PROMPTS, **kw)
    assert made and all(c is not None for c in made)
    monkeypatch.setattr(g, "roomy_cache", lambda *_a, **_k: None)  # transformers' own cache
    theirs = g.generate(tiny_peft, PROMPTS, **kw)
    assert [(a.text, a.ended, a.n_tokens) for a in mine] == [
        (a.text, a.ended, a.n_tokens) for a in theirs
    ]
    if room is not None:  # the buffers grew past the room they started with
        assert any(layer._keys.shape[-2] > room for c in made for layer in c.layers)


def test_the_cache_writes_in_place_and_hands_out_the_filled_part(tiny_model: Any) -> None:
    import torch

    from glimmer.evaluate.kvcache import roomy_cache

    cache = roomy_cache(tiny_model, 8)
    assert cache is not None
    layer = cache.layers[0]
    k = torch.randn(2, 2, 5, 8)
    keys, _ = layer.update(k, k.clone())
    buffer = layer._keys
    assert keys.shape[-2] == 5 and torch.equal(keys, k)
    step = torch.randn(2, 2, 1, 8)
    keys, _ = layer.update(step, step.clone())
    assert layer._keys is buffer  # no new buffer for a token within the room
    assert torch.equal(keys, torch.cat([k, step], dim=-2))
    assert cache.get_seq_length() == 0 or cache.layers[0].get_seq_length() == 6


def test_an_opening_is_copied_into_every_row(tiny_model: Any) -> None:
    import torch
    from transformers.cache_utils import DynamicCache

    from glimmer.evaluate.kvcache import roomy_cache

    prefix = DynamicCache()
    blocks = tiny_model.config.num_hidden_layers
    for i in range(blocks):
        prefix.update(torch.randn(1, 2, 4, 8), torch.randn(1, 2, 4, 8), i)
    cache = roomy_cache(tiny_model, 10, prefix=prefix, rows=3)
    assert cache is not None and len(cache.layers) == blocks
    for mine, theirs in zip(cache.layers, prefix.layers, strict=True):
        assert mine.keys.shape == (3, 2, 4, 8)
        assert torch.equal(mine.keys, theirs.keys.expand(3, -1, -1, -1))
        assert torch.equal(mine.values, theirs.values.expand(3, -1, -1, -1))


def test_models_with_other_caches_keep_transformers_own() -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from glimmer.evaluate.kvcache import roomy_cache

    sliding = MistralForCausalLM(
        MistralConfig(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            sliding_window=4,
        )
    )
    assert roomy_cache(sliding, 16) is None
    assert roomy_cache(object(), 16) is None
