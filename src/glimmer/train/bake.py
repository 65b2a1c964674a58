"""Baking a pattern into the weights: context distillation onto the LoRA adapter.

A pattern in the system prompt shapes how a model answers; baking moves that shaping into
the weights, so the tuned model answers as the prompted one without the prompt (context
distillation: Askell et al. 2021, Snell et al. 2022; "Prompt Baking", Bhargava et al. 2024).

* **Teacher**: the base model (the loaded model before the adapter is attached) with the
  pattern, and a summary of the glossary, as its system prompt (:func:`bake_system_prompt`).
* **Student**: the model with the adapter, and no system prompt.
* **Targets**: the teacher answers prompts of the dataset (:func:`bake_prompts`); at each
  token of its answer it keeps its top-k log-probabilities (:func:`sample_bake`). Teacher
  sampling and scoring happen once, before training, in the same pass.
* **Loss**: the KL divergence from the teacher to the student at each answer token, over the
  teacher's top-k tokens plus one bucket for the rest of the vocabulary (:func:`topk_kl`).
  It is zero exactly when the student gives the top-k tokens the teacher's probabilities;
  the records and self-replay rows in the same batches keep their cross-entropy
  (:class:`BakeTrainer`).

Why not trl's distillation trainers: ``GKDTrainer`` and ``DistillationTrainer`` feed the
teacher the student's own input, and context distillation needs the teacher to see a system
prompt the student does not. trl's ``experimental.sdft`` trainer does give the teacher a
privileged context, but it samples new completions at every step (a generation per step is
what a 2-core CPU cannot afford in a fifteen-minute demo), trains on prompts alone (no chat
records or self-replay in the same run) and lives under ``trl.experimental``. So the loss is
glimmer's, over trl's ``SFTTrainer``: the rest of the run (checkpoints, early stopping,
resume, logging, precision) is the ordinary fit.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from trl.trainer.sft_trainer import SFTTrainer

from glimmer.errors import BakeError, GlimmerError, GlimmerFileError, Location
from glimmer.model.io import dumps, load
from glimmer.model.pattern import Pattern
from glimmer.starweave.glossary import Glossary
from glimmer.train.loss import chunked_log_probs, chunked_topk_kl, head_for_chunks
from glimmer.train.masking import IGNORE_INDEX, prompt_ids

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "PATTERN_LEAD",
    "TEMPERATURE",
    "BakeCollator",
    "BakeError",
    "BakeRows",
    "BakeTrainer",
    "bake_prompts",
    "bake_system_prompt",
    "sample_bake",
    "sample_batch_size",
    "topk_kl",
]

#: The words before the pattern in the teacher's system prompt (the prompted arm's, too).
PATTERN_LEAD: Final = "Let this GLIMMER pattern shape how you perceive, process and answer:\n\n"
#: Sampling temperature of the teacher's answers. It decides *where* the student is taught
#: (answers near the teacher's own greedy ones, where ``compare()`` measures the prompted
#: arm), not *what*: the target at each token is the teacher's untempered distribution.
TEMPERATURE: Final = 0.7

Messages = list[dict[str, str]]


# --------------------------------------------------------------------------- the teacher's prompt


def _load_pattern(path: Path) -> Pattern:
    if not path.is_file():
        raise BakeError(
            f"no pattern file to bake at {path}",
            location=Location(source=str(path)),
            hint="--bake takes a GLIMMER pattern file (.glimmer or .json); "
            "`glimmer check FILE` tells whether a file is one",
        )
    try:
        return load(path)
    except GlimmerFileError as exc:
        raise BakeError(
            f"cannot read the pattern to bake: {exc.message}",
            location=exc.location,
            hint=exc.hint or "check the file's permissions",
        ) from exc
    except GlimmerError as exc:
        raise BakeError(
            f"the file to bake is not a GLIMMER pattern: {exc.message}",
            location=exc.location,
            hint=(exc.hint + "; " if exc.hint else "")
            + "--bake takes a pattern file; `glimmer check FILE` lists every problem",
            context=exc.context,
        ) from exc


def bake_system_prompt(
    pattern: str | os.PathLike[str] | Pattern,
    /,
    *,
    glossary: Glossary | str | os.PathLike[str] | None = None,
) -> str:
    """The teacher's system prompt: the pattern in the GLIMMER DSL, then the glossary's summary.

    The summary (:meth:`~glimmer.starweave.Glossary.summary`) names the framework and defines
    each concept, so the teacher's answers can use the concepts the pattern speaks of.

    Args:
        pattern: A pattern file or a :class:`~glimmer.model.pattern.Pattern`.
        glossary: A glossary or a glossary TOML file; ``None`` for the bundled STARWEAVE one.

    Returns:
        The system prompt.

    Raises:
        BakeError: The pattern file is missing or is not a pattern.
        GlossaryError: The glossary file is not a valid glossary.
        GlimmerFileError: The glossary file cannot be read.
    """
    loaded = pattern if isinstance(pattern, Pattern) else _load_pattern(Path(pattern))
    if glossary is None:
        gloss = Glossary.default()
    elif isinstance(glossary, Glossary):
        gloss = glossary
    else:
        gloss = Glossary.load(Path(glossary))
    return PATTERN_LEAD + dumps(loaded).rstrip() + "\n\n" + gloss.summary(examples=0)


# --------------------------------------------------------------------------- teacher targets


def bake_prompts(rows: Sequence[Messages], n: int, /, *, seed: int = 0) -> list[str]:
    """Up to *n* distinct user prompts from chat records (their first user turn), shuffled by *seed*."""
    seen: dict[str, None] = {}
    for messages in rows:
        user = next((m["content"] for m in messages if m["role"] == "user"), None)
        if user and user.strip():
            seen.setdefault(user, None)
    prompts = list(seen)
    random.Random(seed).shuffle(prompts)
    return prompts[:n]


@dataclass(frozen=True, slots=True)
class BakeRows:
    """Teacher answers as training rows for the student.

    Attributes:
        input_ids: The student's view per row: the prompt without system prompt, then the
            teacher's answer.
        labels: The answer's ids (``-100`` on the prompt), so that the rows count as
            trained tokens.
        start: Index of the first answer token in each row.
        topk_ids: Per row, per answer token: the teacher's top-k token ids.
        topk_logprobs: The matching teacher log-probabilities.
        texts: The teacher's answers as text, for inspection.
    """

    input_ids: list[list[int]]
    labels: list[list[int]]
    start: list[int]
    topk_ids: list[list[list[int]]]
    topk_logprobs: list[list[list[float]]]
    texts: list[str]

    @property
    def tokens(self) -> int:
        """Answer tokens the student learns from."""
        return sum(len(t) for t in self.topk_ids)

    def as_columns(self) -> dict[str, list[Any]]:
        """Columns for a ``datasets.Dataset`` (what :class:`BakeCollator` reads)."""
        return {
            "input_ids": self.input_ids,
            "labels": self.labels,
            "bake_start": self.start,
            "bake_ids": self.topk_ids,
            "bake_logprobs": self.topk_logprobs,
        }


#: Prompt and answer tokens of one sampling batch (the key/value cache grows with them).
SAMPLE_BATCH_TOKENS = 12_288
#: Bytes of one sampling batch's kept logits (fp32, every answer position, whole vocabulary).
SAMPLE_BATCH_LOGIT_BYTES = 2 << 30
#: Most prompts answered together.
SAMPLE_BATCH_MAX = 48


def sample_batch_size(longest_prompt: int, max_new_tokens: int, vocab: int, /) -> int:
    """Prompts a teacher answers together: bounded by cache tokens, kept logits and 48.

    On two CPU cores one batch of 48 short requests took 24 s where six batches of 8 took
    59 s (SmolLM2-135M, 128 new tokens); the bounds keep a 256k vocabulary (Gemma) or a long
    system prompt (a whole pattern) from filling a 24 GB card.

    >>> sample_batch_size(40, 128, 49_152)
    48
    >>> sample_batch_size(40, 128, 256_000)
    16
    >>> sample_batch_size(1_500, 128, 32_000)
    7
    """
    by_tokens = SAMPLE_BATCH_TOKENS // max(1, longest_prompt + max_new_tokens)
    by_logits = SAMPLE_BATCH_LOGIT_BYTES // max(1, max_new_tokens * vocab * 4)
    return max(1, min(SAMPLE_BATCH_MAX, by_tokens, by_logits))


def sample_bake(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    system: str | None,
    prompts: Sequence[str],
    /,
    *,
    stop_ids: Sequence[int],
    system_role: bool = True,
    max_new_tokens: int = 128,
    max_length: int | None = None,
    top_k: int = 20,
    temperature: float = TEMPERATURE,
    seed: int = 0,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> BakeRows:
    """Let the teacher answer *prompts* and keep its top-k log-probabilities at each token.

    Args:
        model: The base model (no adapter attached, or one switched off by the caller).
        tokenizer: Its tokenizer, with a chat template.
        system: The teacher's system prompt (:func:`bake_system_prompt`); ``None``: the
            teacher sees what the student sees (chat replay).
        prompts: User prompts.
        stop_ids: Token ids that end a turn; the first one the teacher writes ends its answer
            and is learned.
        system_role: Whether the chat template knows a system role (else the system prompt
            goes before the user message).
        max_new_tokens: Longest answer.
        max_length: Longest student row in tokens (prompt and answer); longer answers are cut.
        top_k: Teacher tokens kept per position.
        temperature: Sampling temperature of the answers.
        seed: Seed of the sampling.
        batch_size: Prompts answered together; ``None``: as many as
            :func:`sample_batch_size` allows (at most 48).
        on_batch: Called with the number of rows done after each batch (progress).

    Returns:
        The rows.
    """
    import torch

    stops = set(stop_ids)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(stops))
    device = next(model.parameters()).device
    out = BakeRows([], [], [], [], [], [])
    all_teacher = [prompt_ids(tokenizer, p, system, system_role) for p in prompts]
    if batch_size is None:
        longest = max((len(t) for t in all_teacher), default=0)
        vocab = int(model.get_output_embeddings().weight.shape[0])
        batch_size = sample_batch_size(longest, max_new_tokens, vocab)
    was_training = model.training
    model.eval()
    try:
        torch.manual_seed(seed)
        for begin in range(0, len(prompts), batch_size):
            batch = list(prompts[begin : begin + batch_size])
            teacher = all_teacher[begin : begin + batch_size]
            width = max(len(t) for t in teacher)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, t in enumerate(teacher):  # left padding
                ids[i, width - len(t) :] = torch.tensor(t)
                mask[i, width - len(t) :] = 1
            with torch.inference_mode():
                gen = model.generate(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    do_sample=True,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=list(stop_ids),
                    pad_token_id=pad_id,
                    output_logits=True,
                    return_dict_in_generate=True,
                )
                # the raw logits, before the temperature: the teacher's own distribution,
                # reduced to its top k one step at a time (never a second copy of them all)
                steps = [
                    torch.log_softmax(x.float(), dim=-1).topk(top_k, dim=-1) for x in gen.logits
                ]
                top_values = torch.stack([t.values for t in steps], dim=1)
                top_indices = torch.stack([t.indices for t in steps], dim=1)
            for i, p in enumerate(batch):
                answer = gen.sequences[i, width:].tolist()
                cut = next((j for j, t in enumerate(answer) if t in stops), None)
                answer = answer if cut is None else answer[: cut + 1]
                student = prompt_ids(tokenizer, p, None, system_role)
                if max_length is not None:
                    answer = answer[: max(0, max_length - len(student))]
                if not answer:
                    continue
                n = len(answer)
                out.input_ids.append(student + answer)
                out.labels.append([IGNORE_INDEX] * len(student) + answer)
                out.start.append(len(student))
                out.topk_ids.append(top_indices[i, :n].tolist())
                out.topk_logprobs.append(top_values[i, :n].tolist())
                out.texts.append(str(tokenizer.decode(answer, skip_special_tokens=True)))
            if on_batch is not None:
                on_batch(len(out.input_ids))
    finally:
        if was_training:
            model.train()
    return out


# --------------------------------------------------------------------------- the loss


def topk_kl(
    student_logits: torch.Tensor, teacher_ids: torch.Tensor, teacher_logprobs: torch.Tensor, /
) -> torch.Tensor:
    """KL(teacher || student) per position over the teacher's top-k tokens and a tail bucket.

    Both distributions are coarsened to k + 1 outcomes: the teacher's top-k tokens and
    "any other token". The divergence is zero exactly when the student gives each top-k
    token the teacher's probability, never negative, and a lower bound of the full KL.

    Args:
        student_logits: ``[N, V]`` logits of the student at N positions.
        teacher_ids: ``[N, k]`` the teacher's top-k token ids there.
        teacher_logprobs: ``[N, k]`` their teacher log-probabilities.

    Returns:
        ``[N]`` divergences in nats.
    """
    import torch

    acc = torch.promote_types(student_logits.dtype, torch.float32)  # fp32, fp64 stays fp64
    s = torch.log_softmax(student_logits.to(acc), dim=-1).gather(-1, teacher_ids)
    t = teacher_logprobs.to(acc)
    t_p = t.exp()
    eps = torch.finfo(acc).tiny
    t_tail = (1.0 - t_p.sum(-1)).clamp_min(0.0)
    s_tail_log = torch.log((-torch.expm1(torch.logsumexp(s, dim=-1))).clamp_min(eps))
    head = (t_p * (t - s)).sum(-1)
    tail = t_tail * (torch.log(t_tail.clamp_min(eps)) - s_tail_log)
    return head + tail


class BakeCollator:
    """Pads the rows like the wrapped collator and adds dense teacher tensors.

    Adds ``bake_ids`` and ``bake_logprobs`` (``[B, T, k]``, indexed by the position of the
    token they predict) and ``bake_mask`` (``[B, T]``). Rows without teacher targets (chat
    records, self-replay, validation) have an all-false mask.
    """

    def __init__(self, inner: Callable[[list[dict[str, Any]]], dict[str, Any]], top_k: int):
        self.inner = inner
        self.top_k = top_k

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        plain: list[dict[str, Any]] = [
            {k: e[k] for k in ("input_ids", "labels") if k in e} for e in examples
        ]
        batch = self.inner(plain)
        rows, width = batch["input_ids"].shape
        ids = torch.zeros((rows, width, self.top_k), dtype=torch.long)
        logprobs = torch.zeros((rows, width, self.top_k), dtype=torch.float32)
        mask = torch.zeros((rows, width), dtype=torch.bool)
        for b, e in enumerate(examples):
            tids = e.get("bake_ids") or []
            if not tids:
                continue
            start = int(e["bake_start"])
            n = min(len(tids), width - start)
            ids[b, start : start + n] = torch.tensor(tids[:n], dtype=torch.long)
            logprobs[b, start : start + n] = torch.tensor(e["bake_logprobs"][:n])
            mask[b, start : start + n] = True
        batch.update(bake_ids=ids, bake_logprobs=logprobs, bake_mask=mask)
        return batch


class BakeTrainer(SFTTrainer):
    """trl's ``SFTTrainer`` with the baking loss on rows that carry teacher targets.

    Per batch, the loss is the sum of the cross-entropy on the label tokens of ordinary rows
    and of :func:`topk_kl` on the answer tokens of baking rows, divided by the number of
    label tokens (the same normalisation as trl's, so gradient accumulation is unchanged).
    Batches without baking rows, evaluation included, take trl's loss as it is.
    """

    def __init__(self, *args: Any, bake_top_k: int = 20, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_collator = BakeCollator(self.data_collator, bake_top_k)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        import torch

        bake_ids = inputs.pop("bake_ids", None)
        bake_logprobs = inputs.pop("bake_logprobs", None)
        bake_mask = inputs.pop("bake_mask", None)
        if bake_mask is None or not bool(bake_mask.any()):
            return super().compute_loss(  # type: ignore[no-untyped-call]
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        labels = inputs["labels"]
        targets = labels[:, 1:]
        baked = bake_mask[:, 1:]
        plain = (targets != IGNORE_INDEX) & ~baked
        unwrap = getattr(model, "get_base_model", None)
        causal = unwrap() if unwrap is not None else model
        decoder = getattr(causal, "base_model", causal)
        found = None if return_outputs or decoder is causal else head_for_chunks(causal)
        outputs = None
        if found is not None:  # the head a chunk of positions at a time: no full logits
            weight, softcap = found
            hidden = decoder(
                input_ids=inputs["input_ids"],
                attention_mask=inputs.get("attention_mask"),
                use_cache=False,
            ).last_hidden_state[:, :-1]
            ce = -chunked_log_probs(hidden[plain], weight, targets[plain], softcap=softcap)[0].sum()
            kl = chunked_topk_kl(
                hidden[baked],
                weight,
                bake_ids[:, 1:][baked],
                bake_logprobs[:, 1:][baked],
                softcap=softcap,
            )
        else:
            outputs = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs.get("attention_mask"),
                use_cache=False,
            )
            logits = outputs.logits[:, :-1]
            ce = torch.nn.functional.cross_entropy(
                logits[plain].float(), targets[plain], reduction="sum"
            )
            kl = topk_kl(logits[baked], bake_ids[:, 1:][baked], bake_logprobs[:, 1:][baked])
        count = (
            num_items_in_batch
            if num_items_in_batch is not None
            else (targets != IGNORE_INDEX).sum()
        )
        loss = (ce + kl.sum()) / torch.as_tensor(count, device=ce.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        mode = "train" if model.training else "eval"
        self._metrics[mode]["bake_kl"].append(float(kl.detach().mean()))
        return (loss, outputs) if return_outputs else loss


def with_bake(
    train_ds: Any,
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    /,
    *,
    system: str | None,
    config: Any,
    eot: str | None,
    system_role: bool,
    max_len: int,
    progress: bool,
    label: str,
) -> tuple[Any, BakeRows, float]:
    """*train_ds* with the teacher's answers to *prompts* added as KL rows (see :func:`sample_bake`).

    Used for baking (the teacher sees *system*) and for chat replay (``system=None``: the base
    model is its own teacher). Returns the new set, the rows added and the seconds taken.
    """
    import time

    from datasets import Dataset  # type: ignore[import-untyped,unused-ignore]
    from rich.progress import Progress

    stop_ids = [
        i
        for i in (tokenizer.convert_tokens_to_ids(eot) if eot else None, tokenizer.eos_token_id)
        if isinstance(i, int)
    ]
    t = time.perf_counter()
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task(label, total=len(prompts))
        baked = sample_bake(
            model,
            tokenizer,
            system,
            prompts,
            stop_ids=stop_ids,
            system_role=system_role,
            max_new_tokens=min(config.bake_tokens, max_len - 16),
            max_length=max_len,
            top_k=config.bake_top_k,
            seed=config.seed,
            on_batch=lambda done: bar.update(task, completed=done),
        )
    seconds = time.perf_counter() - t
    n = len(train_ds)
    columns = baked.as_columns()
    old = {name: list(train_ds[name]) for name in ("input_ids", "labels")}
    if "bake_ids" in train_ds.column_names:  # rows of an earlier teacher keep their targets
        kept = {name: list(train_ds[name]) for name in ("bake_start", "bake_ids", "bake_logprobs")}
    else:
        kept = {
            "bake_start": [0] * n,
            "bake_ids": [[] for _ in range(n)],
            "bake_logprobs": [[] for _ in range(n)],
        }
    before = {**old, **kept}
    return Dataset.from_dict({k: before[k] + columns[k] for k in columns}), baked, seconds
