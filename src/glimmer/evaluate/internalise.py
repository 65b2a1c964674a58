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
from typing import TYPE_CHECKING, Any, Final, Protocol

import torch

from glimmer.evaluate.generate import (
    PREFIX_CACHE_MIN_TOKENS,
    Answer,
    adapter_state,
    prefix_cache,
    quiet_rename,
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


class _Scorer:
    """Each answer's ``[len(answer), V]`` log-probabilities under its prompt, in batches of
    :data:`SCORE_BATCH_POSITIONS` (a single-row forward of a hundred positions uses the
    matrix units poorly on a CPU); where the prompts open alike (the prompted arm's
    pattern), the shared opening is encoded once and its key/value cache repeated for each
    row.

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
        return self.many([prompt], [answer])[0]

    def many(
        self, prompts: Sequence[list[int]], answers: Sequence[list[int]]
    ) -> list[torch.Tensor]:
        """Each answer's ``[len(answer), V]`` log-probabilities, the rows in one forward.

        The rows are padded on the right: a row's own tokens never attend to its padding, so
        no attention mask is needed and each row scores as it would alone.
        """
        device = next(self.model.parameters()).device
        if self.n and self.cache is None:
            self.cache = prefix_cache(self.model, prompts[0][: self.n], device)
            self.n = self.n if self.cache is not None else 0
        n = self.n
        own = [(p + a)[n:] for p, a in zip(prompts, answers, strict=True)]
        width = max(len(o) for o in own)
        ids = torch.tensor([o + [o[-1]] * (width - len(o)) for o in own], device=device)
        if n and self.cache is not None:
            cache = copy.deepcopy(self.cache)
            cache.batch_repeat_interleave(len(own))
            with quiet_rename():
                logits = self.model(input_ids=ids, past_key_values=cache, use_cache=True).logits
        else:
            logits = self.model(input_ids=ids, use_cache=False).logits
        out = []
        for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            first = len(prompt) - 1 - n  # the position that predicts the answer's first token
            out.append(torch.log_softmax(logits[row, first : first + len(answer)].float(), dim=-1))
        return out


#: Positions (rows times the longest row) scored in one forward: the logits of a batch are
#: ``[rows, positions, vocabulary]``, 200 MB for 1,024 positions of a 49k vocabulary in fp32.
SCORE_BATCH_POSITIONS: Final = 1024


def _batches(widths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices in batches of similar width whose rows times longest width stay in *budget*.

    >>> _batches([5, 1, 4, 2], 8)
    [[1, 3], [2], [0]]
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    out: list[list[int]] = []
    for i in order:
        if out and (len(out[-1]) + 1) * widths[i] <= budget:
            out[-1].append(i)
        else:
            out.append([i])
    return out


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
    targets = [_answer_ids(tokenizer, answer, end_id) for answer in answers]
    scored = [i for i, target in enumerate(targets) if target]
    widths = [
        max(len(r[i]) for r in (teacher_rows, *student_rows.values())) + len(targets[i])
        for i in scored
    ]
    with _eval(model):
        for batch in _batches(widths, SCORE_BATCH_POSITIONS):
            chosen = [scored[k] for k in batch]
            wanted = [targets[i] for i in chosen]
            with adapter_state(model, prompted.adapter), _within(prompted):
                teacher = teacher_of.many([teacher_rows[i] for i in chosen], wanted)
            for name, view in students.items():
                with adapter_state(model, view.adapter), _within(view):
                    student = student_of[name].many([student_rows[name][i] for i in chosen], wanted)
                totals[name] += sum(
                    float(per_token_kl(t, s).sum()) for t, s in zip(teacher, student, strict=True)
                )
            count += sum(len(t) for t in wanted)
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
