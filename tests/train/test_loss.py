"""The chunked LM-head loss equals the plain cross-entropy, in value and in gradient."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.train.loss import (
    CHUNK_BYTES,
    add_chunked_lm_head,
    chunk_rows,
    chunked_cross_entropy,
    chunked_log_probs,
)
from glimmer.train.masking import IGNORE_INDEX


def _plain(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, **kw: Any) -> Any:
    logits = hidden @ weight.t()
    cap = kw.get("softcap")
    if cap is not None:
        logits = cap * torch.tanh(logits / cap)
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
    )


def _case(seed: int, batch: int = 3, seq: int = 11, width: int = 16, vocab: int = 97) -> Any:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, seq, width, generator=g, dtype=torch.float64)
    weight = torch.randn(vocab, width, generator=g, dtype=torch.float64)
    labels = torch.randint(0, vocab, (batch, seq), generator=g)
    labels[torch.rand(batch, seq, generator=g) < 0.4] = IGNORE_INDEX  # prompts are not learned
    return hidden, weight, labels


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 40), softcap=st.sampled_from([None, 5.0]))
def test_loss_and_gradient_equal_plain_cross_entropy(
    seed: int, rows: int, softcap: float | None
) -> None:
    hidden, weight, labels = _case(seed)
    a = hidden.clone().requires_grad_()
    b = hidden.clone().requires_grad_()
    loss = chunked_cross_entropy(a, weight, labels, rows=rows, softcap=softcap)
    ref = _plain(b, weight, labels, softcap=softcap)
    loss.backward()
    ref.backward()
    assert torch.allclose(loss, ref, rtol=1e-9)
    assert a.grad is not None and b.grad is not None
    assert torch.allclose(a.grad, b.grad, rtol=1e-7, atol=1e-12)


def test_ignored_positions_get_no_gradient() -> None:
    hidden, weight, labels = _case(1)
    labels[0] = IGNORE_INDEX  # the whole first row is a prompt
    h = hidden.clone().requires_grad_()
    chunked_cross_entropy(h, weight, labels, rows=4).backward()
    assert h.grad is not None
    assert torch.count_nonzero(h.grad[0]) == 0
    # position t learns label t+1: a position before an ignored label gets nothing either
    ignored_next = labels[:, 1:] == IGNORE_INDEX
    assert torch.count_nonzero(h.grad[:, :-1][ignored_next]) == 0
    assert torch.count_nonzero(h.grad[:, -1]) == 0


def test_num_items_in_batch_divides_the_sum() -> None:
    hidden, weight, labels = _case(2)
    learned = int((labels[:, 1:] != IGNORE_INDEX).sum())
    mean = chunked_cross_entropy(hidden, weight, labels)
    summed = chunked_cross_entropy(hidden, weight, labels, num_items_in_batch=1)
    assert torch.allclose(summed, mean * learned)


def test_bf16_autocast_stays_close_to_fp32() -> None:
    hidden, weight, labels = (t.float() if t.is_floating_point() else t for t in _case(3))
    h16 = hidden.clone().requires_grad_()
    h32 = hidden.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss16 = chunked_cross_entropy(h16, weight, labels, rows=5)
    loss32 = chunked_cross_entropy(h32, weight, labels, rows=5)
    loss16.backward()
    loss32.backward()
    assert loss16.dtype == torch.float32
    assert abs(loss16.item() - loss32.item()) < 0.05 * loss32.item()
    assert h16.grad is not None and h32.grad is not None
    cos = torch.nn.functional.cosine_similarity(h16.grad.flatten(), h32.grad.flatten(), dim=0)
    assert cos > 0.99


def test_entropy_and_top1_match_the_softmax() -> None:
    hidden, weight, labels = _case(4)
    flat, targets = hidden.reshape(-1, hidden.shape[-1]), labels.reshape(-1).clamp(min=0)
    _, entropy, top1 = chunked_log_probs(flat, weight, targets, rows=7)
    logits = flat @ weight.t()
    probs = logits.softmax(-1)
    assert torch.allclose(entropy.double(), -(probs * probs.log()).sum(-1), atol=1e-5)
    assert torch.equal(top1, logits.argmax(-1) == targets)


def test_a_trained_head_is_refused() -> None:
    hidden, weight, labels = _case(5)
    with pytest.raises(ValueError, match="freeze"):
        chunked_cross_entropy(hidden, weight.requires_grad_(), labels)


def test_chunk_rows_bounds_the_logits() -> None:
    assert chunk_rows(256_000) * 256_000 * 4 <= 64 * 1024**2
    assert chunk_rows(10**12) == 1


def test_model_head_matches_the_models_own_loss(tiny_model: Any) -> None:
    """Installed on a model trl patched: same loss and LoRA-style gradients as its own forward."""
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    vocab = tiny_model.config.vocab_size
    ids = torch.randint(0, vocab, (2, 9))
    labels = ids.clone()
    labels[:, :4] = IGNORE_INDEX
    labels[1, -2:] = IGNORE_INDEX
    tiny_model.get_output_embeddings().weight.requires_grad_(False)
    tiny_model.get_input_embeddings().weight.requires_grad_(False)
    ref = tiny_model(input_ids=ids, labels=labels).loss
    ref.backward()
    want = {n: p.grad.clone() for n, p in tiny_model.named_parameters() if p.grad is not None}
    tiny_model.zero_grad(set_to_none=True)

    add_fused_lm_head(tiny_model, outputs=("log_probs", "entropy", "is_top1"))
    assert add_chunked_lm_head(tiny_model)
    out = tiny_model(input_ids=ids, labels=labels, fused_lm_head=True)
    out.loss.backward()
    assert torch.allclose(out.loss, ref, atol=1e-6)
    assert out.label_mask.shape == (2, 8) and int(out.label_mask.sum()) == 8
    for name, grad in want.items():
        got = dict(tiny_model.named_parameters())[name].grad
        assert got is not None and torch.allclose(got, grad, atol=1e-6), name
    # without fused_lm_head the model's forward is its own: full logits for generation
    assert tiny_model(input_ids=ids).logits.shape == (2, 9, vocab)


def test_model_without_trl_head_is_left_alone(tiny_model: Any) -> None:
    assert not add_chunked_lm_head(tiny_model)
    assert "forward" not in tiny_model.__dict__


def test_planner_loss_term_bounds_the_cpu_head() -> None:
    """The planner's loss term is at least what glimmer's chunked head holds on a CPU."""
    from glimmer.train import plan

    assert plan._HEAD_CHUNK_BYTES == CHUNK_BYTES
    for name in ("smollm2-135m", "mistral-7b-instruct-v0.2", "gemma-7b-it"):
        shape = plan.model_shape(name)
        for tokens in (1, 100, 2048):
            rows = min(tokens, chunk_rows(shape.vocab_size))
            held = rows * shape.vocab_size * 4 * 3  # logits, softmax, entropy product (fp32)
            held += tokens * shape.hidden_size * 4  # the input's gradient
            assert plan.logits_bytes(shape, tokens=tokens, act=4) >= held


def _teacher(seed: int, n: int, vocab: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 1)
    top = torch.log_softmax(2 * torch.randn(n, vocab, generator=g, dtype=torch.float64), -1)
    values, ids = top.topk(k, dim=-1)
    return ids, values


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(1, 40),
    k=st.integers(1, 12),
    softcap=st.sampled_from([None, 5.0]),
)
def test_chunked_topk_kl_equals_the_kl_of_the_full_logits(
    seed: int, rows: int, k: int, softcap: float | None
) -> None:
    from glimmer.train.bake import topk_kl
    from glimmer.train.loss import chunked_topk_kl

    hidden, weight, _ = _case(seed)
    flat = hidden.reshape(-1, hidden.shape[-1])
    ids, values = _teacher(seed, flat.shape[0], weight.shape[0], k)
    a = flat.clone().requires_grad_()
    b = flat.clone().requires_grad_()
    got = chunked_topk_kl(a, weight, ids, values, rows=rows, softcap=softcap)
    logits = b @ weight.t()
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    want = topk_kl(logits, ids, values)
    # a weighted sum, so that every position's gradient is scaled differently
    scale = torch.linspace(0.5, 2.0, flat.shape[0], dtype=torch.float64)
    (got * scale).sum().backward()
    (want * scale).sum().backward()
    assert torch.allclose(got, want.to(got.dtype), rtol=1e-6, atol=1e-9)
    assert a.grad is not None and b.grad is not None
    assert torch.allclose(a.grad, b.grad, rtol=1e-6, atol=1e-9)


def test_the_bake_loss_without_full_logits_equals_the_plain_one(tiny_model: Any) -> None:
    """BakeTrainer's chunked loss: the same value and LoRA gradients as from full logits."""
    from collections import defaultdict
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model

    from glimmer.train.bake import BakeTrainer

    torch.manual_seed(0)
    model = get_peft_model(tiny_model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    vocab = tiny_model.config.vocab_size
    ids = torch.randint(0, vocab, (2, 10))
    labels = ids.clone()
    labels[:, :3] = IGNORE_INDEX
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[1, 5:] = True  # the second row's answer is a teacher's: learned by KL
    t_ids, t_values = _teacher(0, 20, vocab, 6)
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "bake_ids": t_ids.reshape(2, 10, 6),
        "bake_logprobs": t_values.reshape(2, 10, 6).float(),
        "bake_mask": mask,
    }
    trainer = SimpleNamespace(
        args=SimpleNamespace(average_tokens_across_devices=False),
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )

    def loss_and_grads(full: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        out = BakeTrainer.compute_loss(trainer, model, dict(inputs), return_outputs=full)  # type: ignore[arg-type]
        loss = out[0] if full else out
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return loss.detach(), grads

    chunked, chunked_grads = loss_and_grads(full=False)
    plain, plain_grads = loss_and_grads(full=True)
    assert torch.allclose(chunked, plain, atol=1e-6)
    assert set(chunked_grads) == set(plain_grads) and chunked_grads
    for name, grad in plain_grads.items():
        assert torch.allclose(chunked_grads[name], grad, atol=1e-6), name
    assert len(trainer._metrics["train"]["bake_kl"]) == 2
