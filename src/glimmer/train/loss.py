"""Cross-entropy over the LM head in chunks of tokens: full-vocabulary logits never fill memory.

A causal LM's head turns each position's hidden state into one logit per vocabulary entry;
for a 256k vocabulary (Gemma) the fp32 logits of one 2048-token row and their gradient take
4 GB. :func:`chunked_log_probs` scores only the positions whose label is learned (the
assistant tokens of :mod:`glimmer.train.masking`; ``-100`` elsewhere) and projects them
through the head a chunk of rows at a time, so at most ``chunk_rows x vocab`` logits exist at
once. The gradient with respect to each hidden state is computed in the same pass (the
log-probability of a position depends on its hidden state alone), so the backward pass never
runs the head's matrix product again: two products over the learned positions instead of the
three over every position that a plain (or recomputing) loss costs.

:func:`add_chunked_lm_head` installs it on a model that trl's ``SFTTrainer`` has given its
fused LM head (``model(..., fused_lm_head=True)``, trl >= 1.0): where trl's Triton kernel runs
(CUDA, ROCm, XPU) trl's head is kept, the same fused linear cross-entropy as Liger's
kernels; elsewhere (CPU, MPS) glimmer's chunked head replaces trl's torch fallback, which
scores every position and recomputes each tile in the backward pass.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch

from glimmer.train.masking import IGNORE_INDEX

__all__ = [
    "CHUNK_BYTES",
    "add_chunked_lm_head",
    "chunk_rows",
    "chunked_cross_entropy",
    "chunked_log_probs",
    "chunked_topk_kl",
    "head_for_chunks",
]

#: Bytes of fp32 logits one chunk may hold (rows x vocabulary x 4); 64 MiB was the fastest
#: on a 2-core CPU for SmolLM2's 49k vocabulary (benchmarks/loss.py) and keeps a 256k
#: vocabulary at 64 rows a chunk.
CHUNK_BYTES = 64 * 1024**2


def chunk_rows(vocab_size: int, /, *, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Rows scored together so that their fp32 logits take about *chunk_bytes*."""
    return max(1, chunk_bytes // (4 * max(vocab_size, 1)))


class _Chunks:
    """The head's product and softmax a chunk of rows at a time, over buffers made once.

    Both chunked heads below use it: one set of ``[rows, vocab]`` buffers for every chunk,
    each pass in place (a fresh 64 MiB tensor per operation cost more in page faults than
    the arithmetic: benchmarks/loss.py, 2x faster on a 2-core CPU than a new tensor a step).
    """

    def __init__(
        self, hidden: torch.Tensor, weight: torch.Tensor, rows: int, softcap: float | None
    ) -> None:
        device = hidden.device
        autocast = torch.is_autocast_enabled(device.type)
        self.dtype = torch.get_autocast_dtype(device.type) if autocast else hidden.dtype
        self.acc = torch.promote_types(self.dtype, torch.float32)  # softmax in fp32 (or fp64)
        self.w = weight.to(self.dtype)
        self.hidden = hidden
        self.softcap = softcap
        k = min(rows, hidden.shape[0])
        self.logits = torch.empty(k, self.w.shape[0], device=device, dtype=self.dtype)
        same = self.dtype == self.acc
        self.z = self.logits if same else torch.empty_like(self.logits, dtype=self.acc)
        self.p = torch.empty_like(self.z)
        self.cap = torch.empty_like(self.z) if softcap is not None else None

    def softmax(
        self, start: int, end: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, e, top, total)`` of rows ``start:end``: the (soft-capped) logits, ``exp(z -
        top)`` with ``top`` the row maximum, and its row sum (so ``e / total`` is the softmax
        and ``top + log(total)`` the log-sum-exp). ``z`` and ``e`` are the buffers."""
        m = end - start
        z, e = self.z[:m], self.p[:m]
        torch.mm(self.hidden[start:end].to(self.dtype), self.w.t(), out=self.logits[:m])
        if z.data_ptr() != self.logits.data_ptr():
            z.copy_(self.logits[:m])
        if self.cap is not None and self.softcap is not None:
            torch.div(z, self.softcap, out=self.cap[:m]).tanh_()
            torch.mul(self.cap[:m], self.softcap, out=z)
        top = z.amax(dim=-1, keepdim=True)
        torch.sub(z, top, out=e).exp_()
        return z, e, top, e.sum(dim=-1, keepdim=True)

    def hidden_grad(self, g: torch.Tensor) -> torch.Tensor:
        """The hidden states' gradient from *g*, the gradient with respect to the chunk's
        (soft-capped) logits: through the softcap (times ``1 - tanh^2``), then the head."""
        m = g.shape[0]
        if self.cap is not None:
            slope = self.cap[:m]
            g.mul_(slope.mul_(slope).neg_().add_(1))
        if g.dtype != self.dtype:
            g = self.logits[:m].copy_(g)
        return (g @ self.w).to(self.hidden.dtype)


class _ChunkedLogProbs(torch.autograd.Function):
    """Log-probability of each target under ``softcap(hidden @ weight.T)``, chunk by chunk.

    The head's weight gets no gradient here (LoRA and QLoRA freeze it); each hidden state's
    gradient is found in the forward pass and scaled by the incoming gradient in backward.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,  # [N, H]
        weight: torch.Tensor,  # [V, H]
        targets: torch.Tensor,  # [N]
        rows: int,
        softcap: float | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        chunks = _Chunks(hidden, weight, rows, softcap)
        acc = chunks.acc
        n = hidden.shape[0]
        log_probs = torch.empty(n, device=hidden.device, dtype=acc)
        entropy = torch.empty(n, device=hidden.device, dtype=acc)
        top1 = torch.empty(n, device=hidden.device, dtype=torch.bool)
        grad = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        for start in range(0, n, rows):
            end = min(start + rows, n)
            z, p, top, total = chunks.softmax(start, end)
            lse = top + total.log()
            p.div_(total)
            t = targets[start:end].unsqueeze(1)
            picked = z.gather(1, t)
            log_probs[start:end] = (picked - lse).squeeze(1)
            top1[start:end] = (picked >= top).squeeze(1)
            # -sum p log p = lse - sum p z (the logits are not needed after this)
            entropy[start:end] = lse.squeeze(1) - z.mul_(p).sum(dim=-1)
            if grad is None:
                continue
            if softcap is None:
                # d log p_t / dz = onehot(t) - p, so the hidden state's gradient is
                # w[t] - p @ w: the one-hot part is a row of the head
                grad[start:end] = chunks.w[targets[start:end]].to(
                    hidden.dtype
                ) - chunks.hidden_grad(p)
            else:
                p.neg_().scatter_add_(1, t, torch.ones_like(picked))  # onehot(t) - p
                grad[start:end] = chunks.hidden_grad(p)
        del chunks
        if grad is not None:
            ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(entropy, top1)
        return log_probs, entropy, top1

    @staticmethod
    def backward(
        ctx: Any, grad_log_probs: torch.Tensor | None, *_: Any
    ) -> tuple[torch.Tensor | None, None, None, None, None]:
        if grad_log_probs is None or not ctx.saved_tensors:
            return None, None, None, None, None
        (grad,) = ctx.saved_tensors
        return grad * grad_log_probs.to(grad.dtype).unsqueeze(1), None, None, None, None


def chunked_log_probs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    /,
    *,
    rows: int | None = None,
    softcap: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probability, entropy and top-1 hit of each target, without full-vocabulary logits.

    Args:
        hidden: ``[N, H]`` hidden states of the scored positions.
        weight: ``[V, H]`` LM head weight (frozen: it gets no gradient).
        targets: ``[N]`` token ids to score (no ignored positions: select them first).
        rows: Positions per chunk (default :func:`chunk_rows` for the vocabulary).
        softcap: Final logit soft-capping (Gemma 2's ``final_logit_softcapping``), if any.

    Returns:
        ``(log_probs, entropy, is_top1)``, each ``[N]`` (a target tied with the largest
        logit counts as top-1); only ``log_probs`` has a gradient
        (with respect to *hidden*).
    """
    if weight.requires_grad and torch.is_grad_enabled():
        raise ValueError("chunked_log_probs leaves the head's weight without a gradient; freeze it")
    out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = _ChunkedLogProbs.apply(  # type: ignore[no-untyped-call]
        hidden, weight, targets, rows or chunk_rows(weight.shape[0]), softcap
    )
    return out


def chunked_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    /,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    rows: int | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """The causal LM loss of ``hidden @ weight.T`` against *labels*, a chunk of rows at a time.

    Equal (to rounding) to ``cross_entropy(logits[:, :-1], labels[:, 1:], ignore_index=-100)``
    of the model's own forward, but the full ``[batch, seq, vocab]`` logits are never built.

    Args:
        hidden: ``[B, T, H]`` last hidden states (after the final norm).
        weight: ``[V, H]`` LM head weight (frozen).
        labels: ``[B, T]`` labels, ``-100`` where nothing is learned (not shifted).
        num_items_in_batch: Divide the summed loss by this (gradient accumulation) instead of
            the number of learned tokens.
        rows: Positions per chunk.
        softcap: Final logit soft-capping, if the model has it.

    Returns:
        The scalar loss.
    """
    h = hidden[:, :-1]
    y = labels[:, 1:].to(h.device)
    mask = y != IGNORE_INDEX
    log_probs, _, _ = chunked_log_probs(h[mask], weight, y[mask], rows=rows, softcap=softcap)
    denom = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    return -log_probs.sum() / torch.as_tensor(denom, device=log_probs.device)


class _ChunkedTopkKL(torch.autograd.Function):
    """:func:`~glimmer.train.bake.topk_kl` of ``softcap(hidden @ weight.T)``, chunk by chunk.

    As :class:`_ChunkedLogProbs`: the head's weight is frozen, and each hidden state's
    gradient is found in the forward pass. With ``s_i`` the student's log-probabilities of
    the teacher's k tokens and ``S = sum(exp(s_i))``, ``d KL / d s_i = -t_i + t_tail *
    exp(s_i) / (1 - S)`` and ``d s_i / d z = onehot(i) - softmax(z)``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,  # [N, H]
        weight: torch.Tensor,  # [V, H]
        ids: torch.Tensor,  # [N, k]
        teacher: torch.Tensor,  # [N, k]
        rows: int,
        softcap: float | None,
    ) -> torch.Tensor:
        chunks = _Chunks(hidden, weight, rows, softcap)
        acc = chunks.acc
        eps = torch.finfo(acc).tiny
        n = hidden.shape[0]
        kl = torch.empty(n, device=hidden.device, dtype=acc)
        grad = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        for start in range(0, n, rows):
            end = min(start + rows, n)
            z, e, top, total = chunks.softmax(start, end)
            idx = ids[start:end]
            s = z.gather(1, idx) - (top + total.log())  # the student's log-probs of the k tokens
            t = teacher[start:end].to(acc)
            t_p = t.exp()
            t_tail = (1.0 - t_p.sum(-1)).clamp_min(0.0)
            rest = -torch.expm1(torch.logsumexp(s, dim=-1))  # 1 - S, the student's tail
            kl[start:end] = (t_p * (t - s)).sum(-1) + t_tail * (
                torch.log(t_tail.clamp_min(eps)) - torch.log(rest.clamp_min(eps))
            )
            if grad is None:
                continue
            # the tail term has no gradient where 1 - S was clamped (as in topk_kl)
            live = (rest > eps).to(acc)
            g = -t_p + (t_tail * live / rest.clamp_min(eps)).unsqueeze(1) * s.exp()
            # softmax times -sum(g), plus g at the k tokens (in place of the softmax)
            e.mul_((-g.sum(-1, keepdim=True)) / total).scatter_add_(1, idx, g)
            grad[start:end] = chunks.hidden_grad(e)
        del chunks
        if grad is not None:
            ctx.save_for_backward(grad)
        return kl

    @staticmethod
    def backward(
        ctx: Any, grad_kl: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, None, None, None, None, None]:
        if grad_kl is None or not ctx.saved_tensors:
            return None, None, None, None, None, None
        (grad,) = ctx.saved_tensors
        return grad * grad_kl.to(grad.dtype).unsqueeze(1), None, None, None, None, None


def chunked_topk_kl(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    teacher_ids: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    /,
    *,
    rows: int | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Top-k KL(teacher || student) per position, without full-vocabulary logits.

    Equal (to rounding) to :func:`glimmer.train.bake.topk_kl` of the logits
    ``softcap(hidden @ weight.T)``, in value and in gradient with respect to *hidden*; at most
    ``rows x vocab`` logits exist at once. Baking and chat replay learn by it.

    Args:
        hidden: ``[N, H]`` hidden states of the positions the teacher scored.
        weight: ``[V, H]`` LM head weight (frozen).
        teacher_ids: ``[N, k]`` the teacher's top-k token ids.
        teacher_logprobs: ``[N, k]`` their teacher log-probabilities.
        rows: Positions per chunk (default :func:`chunk_rows` for the vocabulary).
        softcap: Final logit soft-capping, if the model has it.

    Returns:
        ``[N]`` divergences in nats.
    """
    if weight.requires_grad and torch.is_grad_enabled():
        raise ValueError("chunked_topk_kl leaves the head's weight without a gradient; freeze it")
    out: torch.Tensor = _ChunkedTopkKL.apply(  # type: ignore[no-untyped-call]
        hidden,
        weight,
        teacher_ids,
        teacher_logprobs,
        rows or chunk_rows(weight.shape[0]),
        softcap,
    )
    return out


def head_for_chunks(model: Any, /) -> tuple[torch.Tensor, float | None] | None:
    """``(head weight, softcap)`` when *model*'s LM head can be scored in chunks, else ``None``.

    It can where the head is a frozen linear map without bias and the model scales its
    logits in no other way (no logit scale or multiplier, no router logits).
    """
    getter = getattr(model, "get_output_embeddings", None)
    head = getter() if getter is not None else None
    weight = getattr(head, "weight", None)
    if weight is None or weight.requires_grad or getattr(head, "bias", None) is not None:
        return None
    config = model.config.get_text_config()
    scaled = any(
        getattr(config, name, None) not in (None, 1.0)
        for name in ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")
    )
    if scaled or getattr(config, "output_router_logits", False):
        return None
    return weight, getattr(config, "final_logit_softcapping", None)


def _use_trl_kernel(device: torch.device) -> bool:
    try:
        from trl.kernels.chunked_logprob import _use_triton
    except ImportError:  # pragma: no cover - a trl without the Triton kernel
        return False
    return bool(_use_triton(device))


def add_chunked_lm_head(model: Any, /) -> bool:
    """Give *model* glimmer's chunked LM head for ``model(..., fused_lm_head=True)`` calls.

    *model* is the causal LM that trl's ``SFTTrainer`` patched (under peft: the base model).
    Nothing changes where trl's fused head is not installed (an older trl), where its Triton
    kernel runs, where the head is trained (full fine-tuning) or where the model scales its
    logits in ways this head does not know.

    Returns:
        Whether the chunked head was installed.
    """
    trl_forward = model.__dict__.get("forward")
    if trl_forward is None:  # trl did not patch this model: it builds full logits anyway
        return False
    found = head_for_chunks(model)
    if found is None or _use_trl_kernel(found[0].device):
        return False
    weight, softcap = found
    rows = chunk_rows(int(weight.shape[0]))
    from trl.trainer.utils import FusedCausalLMOutput

    @functools.wraps(type(model).forward)
    def forward(
        self: Any,
        *args: Any,
        fused_lm_head: bool = False,
        labels: torch.Tensor | None = None,
        shift_labels: torch.Tensor | None = None,
        num_items_in_batch: Any = None,
        **kwargs: Any,
    ) -> Any:
        if not fused_lm_head or labels is None or shift_labels is not None:
            return trl_forward(
                *args,
                fused_lm_head=fused_lm_head,
                labels=labels,
                shift_labels=shift_labels,
                num_items_in_batch=num_items_in_batch,
                **kwargs,
            )
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        lm_head = self.get_output_embeddings()
        y = labels[:, 1:].to(hidden.device)
        mask = y != IGNORE_INDEX
        log_probs, entropy, top1 = chunked_log_probs(
            hidden[mask], lm_head.weight, y[mask], rows=rows, softcap=softcap
        )
        # masked_scatter keeps a batch without learned tokens connected to the graph
        zeros = torch.zeros(mask.shape, device=hidden.device)
        log_probs = zeros.masked_scatter(mask, log_probs)
        denom = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / denom,
            log_probs=log_probs,
            entropy=zeros.masked_scatter(mask, entropy),
            is_top1=torch.zeros(mask.shape, dtype=torch.bool, device=hidden.device).masked_scatter(
                mask, top1
            ),
            label_mask=mask,
        )

    model.forward = types.MethodType(forward, model)
    return True
