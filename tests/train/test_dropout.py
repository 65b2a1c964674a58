"""Cheap LoRA dropout: masks with the asked drop rate, independent elements, nn.Dropout's scaling."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.train.dropout import CheapDropout, keep_mask, use_cheap_lora_dropout


@settings(max_examples=25, deadline=None)
@given(
    p=st.floats(0.0, 0.9),
    shape=st.lists(st.integers(1, 70), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
)
def test_each_element_drops_with_probability_p(p: float, shape: list[int], seed: int) -> None:
    torch.manual_seed(seed)
    mask = keep_mask(tuple(shape), p)
    assert mask.shape == tuple(shape) and mask.dtype == torch.bool
    n = mask.numel()
    dropped = n - int(mask.sum())
    rate = round(p * 65536) / 65536
    # five standard deviations of a binomial count (and at least one element of slack)
    assert abs(dropped - n * rate) <= 5 * math.sqrt(n * rate * (1 - rate)) + 1


def test_zero_drops_nothing_and_seeds_repeat() -> None:
    assert bool(keep_mask((7, 11), 0.0).all())
    torch.manual_seed(3)
    first = keep_mask((50, 50), 0.3)
    torch.manual_seed(3)
    assert torch.equal(first, keep_mask((50, 50), 0.3))
    assert not torch.equal(first, keep_mask((50, 50), 0.3))


def test_neighbours_are_independent() -> None:
    """The three elements cut from one draw, and elements of different draws, drop apart."""
    torch.manual_seed(0)
    p = 0.3
    dropped = ~keep_mask((300_000,), p)
    for lag in (1, 2, 3, 4):
        both = float((dropped[:-lag] & dropped[lag:]).float().mean())
        assert abs(both - p * p) < 0.005, lag


def test_cheap_dropout_scales_and_passes_gradients_like_nn_dropout() -> None:
    drop = CheapDropout(0.2)
    torch.manual_seed(1)
    x = torch.randn(64, 300, requires_grad=True)
    out = drop(x)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.8)
    out.sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, kept.float() / 0.8)
    assert abs(float(kept.float().mean()) - 0.8) < 0.01
    same = drop.eval()(x)
    assert same is x
    with pytest.raises(ValueError, match="probability"):
        CheapDropout(1.0)


def _peft(model: Any, dropout: float) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["q_proj", "v_proj"]
    )
    return get_peft_model(model, config)


def test_every_lora_dropout_of_a_cpu_model_is_replaced(tiny_model: Any) -> None:
    net = _peft(tiny_model, 0.1)
    ids = torch.randint(0, net.config.vocab_size, (2, 9))
    net.eval()
    before = net(input_ids=ids).logits
    layers = net.config.num_hidden_layers
    assert use_cheap_lora_dropout(net) == 2 * layers
    drops = [m for m in net.modules() if isinstance(m, CheapDropout)]
    assert len(drops) == 2 * layers and all(d.p == 0.1 for d in drops)
    assert not any(type(m) is torch.nn.Dropout and m.p > 0 for m in net.modules())
    assert torch.equal(net(input_ids=ids).logits, before)  # nothing changes outside training
    net.train()
    net(input_ids=ids, labels=ids).loss.backward()
    grads = [
        p.grad for n, p in net.named_parameters() if "lora_B" in n
    ]  # B starts at zero, so A gets none yet
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_no_dropout_means_nothing_to_replace(tiny_model: Any) -> None:
    assert use_cheap_lora_dropout(_peft(tiny_model, 0.0)) == 0
    assert use_cheap_lora_dropout(tiny_model) == 0  # no LoRA at all
