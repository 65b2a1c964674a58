"""The roomy key/value cache: the same answers as transformers' own cache, in place."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.evaluate.suites import TriggerPrompt

#: A decoder of two layers 16 wide, for the cache's own tests
TINY: dict[str, Any] = {
    "vocab_size": 64,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
}

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
    # with the long system prompt, its opening was kept once (sdpa reads it once a step)
    kept_once = any(layer.shared is not None for c in made for layer in c.layers)
    assert kept_once == (system is not None)
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


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_an_opening_is_kept_once_where_attention_reads_it_once(
    tiny_model: Any, attention: str
) -> None:
    """With sdpa the opening stays one batch-1 copy; any other attention gets it in every row."""
    import copy

    import torch
    from transformers.cache_utils import DynamicCache

    from glimmer.evaluate.kvcache import roomy_cache

    model = copy.deepcopy(tiny_model)
    model.config._attn_implementation = attention
    prefix = DynamicCache()
    blocks = model.config.num_hidden_layers
    for i in range(blocks):
        prefix.update(torch.randn(1, 2, 4, 8), torch.randn(1, 2, 4, 8), i)
    cache = roomy_cache(model, 10, prefix=prefix, rows=3)
    assert cache is not None and len(cache.layers) == blocks
    for mine, theirs in zip(cache.layers, prefix.layers, strict=True):
        assert mine.get_seq_length() == 4
        if attention == "sdpa":
            assert mine.shared[0] is theirs.keys and mine.shared[1] is theirs.values
        else:
            assert mine.shared is None and mine.keys.shape == (3, 2, 4, 8)
            assert torch.equal(mine.keys, theirs.keys.expand(3, -1, -1, -1))
            assert torch.equal(mine.values, theirs.values.expand(3, -1, -1, -1))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 4),
    kv_heads=st.integers(1, 3),
    group=st.integers(1, 3),
    opening=st.integers(1, 9),
    own=st.integers(1, 7),
    data=st.data(),
)
def test_attention_over_a_shared_opening_is_attention_over_the_whole_rows(
    rows: int, kv_heads: int, group: int, opening: int, own: int, data: Any
) -> None:
    """The opening read once and joined in one softmax equals sdpa over [opening | own] with
    the opening copied into every row: decoding (one query) and a prompt's own tokens
    (causal), with padding masked, bool or additive masks, and none (causal)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from glimmer.evaluate.kvcache import _with_opening

    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    q = data.draw(st.sampled_from([1, own]))
    d, heads = 8, kv_heads * group
    query = torch.randn(rows, heads, q, d)
    keys, values = torch.randn(rows, kv_heads, own, d), torch.randn(rows, kv_heads, own, d)
    ok, ov = torch.randn(1, kv_heads, opening, d), torch.randn(1, kv_heads, opening, d)
    total = opening + own
    causal = torch.ones(q, total, dtype=torch.bool).tril(total - q)
    pads = [data.draw(st.integers(0, own - 1)) for _ in range(rows)]  # left padding per row
    opened = [data.draw(st.booleans()) for _ in range(rows)]  # rows without it mask it
    mask = causal.expand(rows, 1, q, total).clone()
    for r, pad in enumerate(pads):
        mask[r, :, :, opening : opening + pad] = False
        mask[r, :, :, :opening] = opened[r]
    kind = data.draw(st.sampled_from(["bool", "additive", "none"]))
    given_mask: Any = {
        "bool": mask,
        "additive": torch.zeros(mask.shape).masked_fill(~mask, float("-inf")),
        "none": None,
    }[kind]
    if kind == "none":  # no padding and every row opened: no mask needed
        mask = causal.expand(rows, 1, q, total)
        opened = [True] * rows
    scale = d**-0.5
    mine = _with_opening(query, keys, values, given_mask, scale, ok, ov)
    full_k = torch.cat([ok.expand(rows, -1, -1, -1), keys], dim=2).repeat_interleave(group, 1)
    full_v = torch.cat([ov.expand(rows, -1, -1, -1), values], dim=2).repeat_interleave(group, 1)
    theirs = F.scaled_dot_product_attention(query, full_k, full_v, attn_mask=mask, scale=scale)
    assert mine.shape == (rows, q, heads, d)
    sees = mask.any(-1).squeeze(1)  # [rows, q]: a query that sees nothing is padding
    assert torch.isfinite(mine).all()  # zeros there, never NaN
    torch.testing.assert_close(mine[sees], theirs.transpose(1, 2)[sees], atol=1e-5, rtol=1e-4)


def test_models_with_other_caches_keep_transformers_own() -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from glimmer.evaluate.kvcache import roomy_cache

    sliding = MistralForCausalLM(MistralConfig(**TINY, sliding_window=4))
    assert roomy_cache(sliding, 16) is None
    assert roomy_cache(object(), 16) is None


def _opening_cache(model: Any, rows: int) -> Any:
    import torch
    from transformers.cache_utils import DynamicCache

    from glimmer.evaluate.kvcache import roomy_cache

    prefix = DynamicCache()
    kv_heads = model.config.num_key_value_heads
    head = model.config.hidden_size // model.config.num_attention_heads
    for i in range(model.config.num_hidden_layers):
        prefix.update(torch.randn(1, kv_heads, 4, head), torch.randn(1, kv_heads, 4, head), i)
    return roomy_cache(model, 8, prefix=prefix, rows=rows)


def test_other_threads_attend_as_usual_while_an_opening_is_read_once(tiny_model: Any) -> None:
    import threading

    import torch

    from glimmer.evaluate.kvcache import attending

    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        want = tiny_model(ids).logits
        got: list[Any] = []
        with attending(_opening_cache(tiny_model, 1)):
            worker = threading.Thread(target=lambda: got.append(tiny_model(ids).logits))
            worker.start()
            worker.join()
            tiny_model(ids, past_key_values=None)  # this context reads the opening
    torch.testing.assert_close(got[0], want)


def test_a_model_that_never_reads_the_opening_is_an_error(tiny_model: Any) -> None:
    """Rows must never silently miss the opening: a model attending outside transformers'
    sdpa slot fails (on the cache's shapes, or on the check after generating)."""
    import copy

    import torch

    from glimmer.evaluate.kvcache import attending

    model = copy.deepcopy(tiny_model)
    cache = _opening_cache(model, 1)
    with pytest.raises(RuntimeError, match="did not attend through transformers' sdpa"):  # noqa: SIM117
        with attending(cache):
            pass  # nothing read the opening
    model.config._attn_implementation = "eager"  # attends without transformers' sdpa slot
    with pytest.raises(RuntimeError), torch.inference_mode(), attending(cache):
        model(torch.tensor([[5, 6]]), past_key_values=cache)


@pytest.mark.parametrize("room", [5, 40])  # 5: the buffers grow while the beams reorder
def test_beam_search_reorders_the_rows_it_keeps(room: int) -> None:
    """Beam search repeats the rows for its beams and reorders them every step: on the roomy
    cache it finds the sequences it finds on transformers' own."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from glimmer.evaluate.kvcache import roomy_cache

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**TINY, initializer_range=0.5)).eval()
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    settings = {"max_new_tokens": 8, "do_sample": False, "num_beams": 3, "pad_token_id": 0}
    plain = model.generate(ids, **settings)
    kv = roomy_cache(model, room, rows=2)
    assert torch.equal(model.generate(ids, past_key_values=kv, **settings), plain)
    kv.batch_select_indices(torch.tensor([0, 2]))  # rows kept as the buffers' own
    assert all(layer.keys.shape[0] == 2 and layer._keys.shape[0] == 2 for layer in kv.layers)
    assert all(layer.keys.data_ptr() == layer._keys.data_ptr() for layer in kv.layers)
