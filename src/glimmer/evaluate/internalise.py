"""Internalisation: how much of the prompted model's behaviour an arm shows without the prompt.

For an arm A, on the tokens of the prompted arm's own answers to the suite::

    internalisation(A) = 1 - KL(prompted || A) / KL(prompted || base)

where each KL is the divergence between the next-token distributions, summed over every
answer token and divided by their number (per token). The prompted arm sees the pattern in
its system prompt; every other arm answers the same prompts without it. An arm that has
taken the pattern into its weights predicts the prompted answers as the prompted model does
(1); the base model is where the scale starts (0, by construction). A negative value is an
arm further from the prompted model than the base model is. The divergences are exact (the
whole vocabulary), measured with teacher forcing on the prompted answers, so the figure
needs no generation of its own.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from glimmer.evaluate.generate import (
    PREFIX_CACHE_MIN_TOKENS,
    Answer,
    _prefix_cache,
    _quiet_rename,
    adapter_state,
    shared_prefix,
)
from glimmer.train.masking import prompt_ids

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.results import Comparison

__all__ = ["ArmView", "add_internalisation", "internalisation", "per_token_kl"]


class _Arm(Protocol):
    @property
    def adapter(self) -> bool | None: ...

    @property
    def system(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ArmView:
    """How an arm sees a prompt: its adapter state and its system prompt.

    Attributes:
        adapter: ``False`` the base weights, ``True`` the adapter on, ``None`` the model as is.
        system: The system prompt, or ``None``.
    """

    adapter: bool | None
    system: str | None = None

    def active(self) -> AbstractContextManager[Any]:
        """The context the arm answers in (none: the adapter and prompt say it all)."""
        return nullcontext()


def _same(a: _Arm, b: _Arm) -> bool:
    plain = getattr(a, "context", None) is None and getattr(b, "context", None) is None
    return plain and a.adapter == b.adapter and a.system == b.system


def _within(view: _Arm) -> AbstractContextManager[Any]:
    active = getattr(view, "active", None)
    return active() if callable(active) else nullcontext()


def _answer_ids(tokenizer: Any, answer: Answer, end_id: int | None) -> list[int]:
    ids = list(tokenizer(answer.text, add_special_tokens=False)["input_ids"])
    if answer.ended and end_id is not None:
        ids.append(end_id)  # ending the turn is part of the behaviour
    return ids


def _answer_logprobs(model: Any, prompt: list[int], answer: list[int]) -> torch.Tensor:
    """``[len(answer), V]`` log-probabilities the model gives each answer position."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt + answer], device=device)
    logits = model(input_ids=ids, use_cache=False).logits[0, len(prompt) - 1 : -1]
    return torch.log_softmax(logits.float(), dim=-1)


class _Scorer:
    """:func:`_answer_logprobs` for prompts that open alike (the prompted arm's pattern):
    the shared opening is encoded once, its key/value cache copied for each answer.

    Call it inside the adapter state and context of the arm it scores for: the opening's
    cache is made on the first call.
    """

    def __init__(self, model: Any, prompts: Sequence[list[int]]) -> None:
        n = shared_prefix(prompts) if len(prompts) > 1 else 0
        n = min(n, min(len(p) for p in prompts) - 1) if prompts else 0  # one token left to run
        self.model = model
        self.n = n if n >= PREFIX_CACHE_MIN_TOKENS else 0
        self.cache: Any | None = None

    def __call__(self, prompt: list[int], answer: list[int]) -> torch.Tensor:
        if self.n and self.cache is None:
            device = next(self.model.parameters()).device
            self.cache = _prefix_cache(self.model, prompt[: self.n], device)
            self.n = self.n if self.cache is not None else 0
        if not self.n:
            return _answer_logprobs(self.model, prompt, answer)
        device = next(self.model.parameters()).device
        ids = torch.tensor([(prompt + answer)[self.n :]], device=device)
        with _quiet_rename():
            out = self.model(
                input_ids=ids, past_key_values=copy.deepcopy(self.cache), use_cache=True
            )
        logits = out.logits[0, len(prompt) - 1 - self.n : -1]
        return torch.log_softmax(logits.float(), dim=-1)


def per_token_kl(p_logprobs: torch.Tensor, q_logprobs: torch.Tensor, /) -> torch.Tensor:
    """KL(P || Q) at each position, in nats, from ``[N, V]`` log-probabilities."""
    return (p_logprobs.exp() * (p_logprobs - q_logprobs)).sum(-1).clamp_min(0.0)


@contextlib.contextmanager
def _eval(model: Any) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        if was_training:
            model.train()


def internalisation(
    model: Any,
    tokenizer: Any,
    answers: Sequence[Answer],
    /,
    *,
    prompted: _Arm,
    arms: Mapping[str, _Arm],
    reference: str = "base",
    system_role: bool = True,
    end_token: str | None = None,
) -> dict[str, float | None]:
    """Internalisation of each arm on the prompted arm's *answers*.

    Args:
        model: The model (a ``peft.PeftModel`` when an arm switches the adapter).
        tokenizer: Its tokenizer, with a chat template.
        answers: The prompted arm's answers (each with its prompt).
        prompted: How the prompted arm sees a prompt (adapter off, the pattern as system prompt).
        arms: Arm name -> how it sees a prompt (an :class:`ArmView`, or anything with
            ``adapter``, ``system`` and optionally ``active()``, the context it answers in);
            the prompted arm may be among them (its figure is 1).
        reference: The arm that sets the scale's zero (``"base"``).
        system_role: Whether the chat template has a system role.
        end_token: The token that ends an assistant turn (learned with the answer when the
            answer ended by itself); ``None``: the tokenizer's EOS.

    Returns:
        Arm -> internalisation; ``None`` for every arm when there is no answer token or the
        reference arm already predicts the prompted answers exactly.

    Examples:
        >>> internalisation(model, tok, prompted_answers,  # doctest: +SKIP
        ...     prompted=ArmView(False, system), arms={"base": ArmView(False),
        ...     "prompted": ArmView(False, system), "tuned": ArmView(True)})
        {'base': 0.0, 'prompted': 1.0, 'tuned': 0.41}
    """
    if reference not in arms:
        raise ValueError(f"the reference arm {reference!r} is not among the arms")
    end = tokenizer.convert_tokens_to_ids(end_token) if end_token else tokenizer.eos_token_id
    end_id = end if isinstance(end, int) else None
    totals = dict.fromkeys(arms, 0.0)
    count = 0
    students = {n: v for n, v in arms.items() if not _same(v, prompted)}  # prompted: 0 KL

    def rows(view: _Arm) -> list[list[int]]:
        return [prompt_ids(tokenizer, a.prompt.prompt, view.system, system_role) for a in answers]

    teacher_rows = rows(prompted)
    student_rows = {name: rows(view) for name, view in students.items()}
    teacher_of = _Scorer(model, teacher_rows)
    student_of = {name: _Scorer(model, r) for name, r in student_rows.items()}
    with _eval(model):
        for i, answer in enumerate(answers):
            target = _answer_ids(tokenizer, answer, end_id)
            if not target:
                continue
            with adapter_state(model, prompted.adapter), _within(prompted):
                teacher = teacher_of(teacher_rows[i], target)
            for name, view in students.items():
                with adapter_state(model, view.adapter), _within(view):
                    student = student_of[name](student_rows[name][i], target)
                totals[name] += float(per_token_kl(teacher, student).sum())
            count += len(target)
    if not count or totals[reference] <= 0.0:
        return dict.fromkeys(arms)
    ref = totals[reference] / count
    return {name: round(1.0 - (total / count) / ref, 4) for name, total in totals.items()}


def add_internalisation(
    comparison: Comparison,
    model: Any,
    tokenizer: Any,
    answers: Sequence[Answer],
    /,
    *,
    arms: Mapping[str, _Arm],
    system_role: bool = True,
) -> None:
    """Set ``summary[arm].internalisation`` of *comparison* for every arm in *arms*.

    *answers* are the ``"prompted"`` arm's; ``arms["prompted"]`` says how it saw them.
    """
    values = internalisation(
        model,
        tokenizer,
        answers,
        prompted=arms["prompted"],
        arms=arms,
        system_role=system_role,
    )
    for arm, value in values.items():
        if arm in comparison.summary:
            comparison.summary[arm].internalisation = value
