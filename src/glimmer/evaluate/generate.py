"""Batched generation for the base, prompted and tuned arms, and perplexity.

The base and tuned answers come from one loaded model: a peft model answers as the base model
inside ``model.disable_adapter()`` and as the tuned model outside it. Generation is batched
and left-padded, uses the KV cache, is deterministic (greedy, or sampling from a seed), and
stops at the end of the assistant's turn; whatever a model writes after its turn ends is cut
before any metric sees it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from glimmer.data.records import fold_system
from glimmer.evaluate.decode import greedy, plain_greedy
from glimmer.evaluate.kvcache import attending, roomy_cache
from glimmer.evaluate.suites import TriggerPrompt
from glimmer.evaluate.termlock import TermLock, TermLockProcessor
from glimmer.train.masking import END_OF_TURN_TOKENS

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "Answer",
    "AnswerNoRepeat",
    "Carry",
    "Lane",
    "StopWhen",
    "adapter_rows",
    "adapter_state",
    "answer_lanes",
    "answer_texts",
    "category_budget",
    "chat_text",
    "generate",
    "plan_batches",
    "prefix_cache",
    "progress_bar",
    "quiet_rename",
    "score_text",
    "score_texts",
    "shared_prefix",
    "stop_token_ids",
    "supports_system_role",
]

#: New-token budget per category: a whole GLIMMER pattern needs several hundred tokens.
DEFAULT_MAX_NEW_TOKENS: Final[Mapping[str, int]] = {
    "generation": 384,
    "interpretation": 160,
    "application": 160,
    "reflection": 160,
    "matrix": 160,
    "neutral": 48,
}
_FALLBACK_MAX_NEW_TOKENS = 160
# generation also stops where a new turn opens or the sequence ends
_TURN_END_TOKENS = (*END_OF_TURN_TOKENS, "<|im_start|>", "</s>")
_LAST_WORD = re.compile(r"\S+\Z")


@dataclass(frozen=True, slots=True)
class Answer:
    """One model answer.

    Attributes:
        prompt: The trigger prompt answered.
        text: The answer, cut at the end of the turn, without special tokens.
        ended: Whether the model ended its turn by itself (not cut by the token budget).
        n_tokens: Tokens generated, up to the end of the turn.
    """

    prompt: TriggerPrompt
    text: str
    ended: bool
    n_tokens: int


class AnswerNoRepeat:
    """A logits processor: no *n* tokens in a row of the answer occur twice in it.

    Unlike ``transformers``' ``no_repeat_ngram_size``, the prompt is not looked at: a term the
    system prompt or the question contains may still be said, only the answer's own loops
    ("I keep a flow open. I keep a flow open.") are cut.

    Examples:
        >>> import torch
        >>> ban = AnswerNoRepeat(3, start=1)
        >>> ids = torch.tensor([[9, 1, 2, 3, 1, 2]])  # the answer so far: 1 2 3 1 2
        >>> scores = ban(ids, torch.zeros(1, 5))
        >>> scores[0].tolist()  # 3 would make "1 2 3" twice
        [0.0, 0.0, 0.0, -inf, 0.0]
    """

    def __init__(self, n: int, /, *, start: int) -> None:
        if n < 2:
            raise ValueError(f"n must be 2 or more, not {n}")
        self.n = n
        self.start = start

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        k = self.n - 1
        for row, ids in enumerate(input_ids[:, self.start :].tolist()):
            if len(ids) < self.n:
                continue
            tail = ids[-k:]
            banned = {ids[i + k] for i in range(len(ids) - k) if ids[i : i + k] == tail}
            if banned:
                scores[row, sorted(banned)] = float("-inf")
        return scores


class StopWhen:
    """Stops a row of a batch once *test* holds for its answer so far (a ``StoppingCriteria``).

    *test* gets the row's index among the texts :func:`answer_texts` was given and the answer's
    whole words so far (the last word, which the next token may still extend, is left out);
    it is asked every *every* new tokens. A row that stops keeps the tokens it has. With
    *watch* (one flag per row), only the flagged rows are asked; the others decode on.

    >>> import torch
    >>> class Tok:
    ...     def batch_decode(self, rows, **_):
    ...         return [" ".join(map(str, r)) for r in rows]
    >>> stop = StopWhen(Tok(), [7, 8], lambda i, text: "5" in text.split(), start=1, every=1)
    >>> stop(torch.tensor([[0, 5, 6], [0, 4, 6]]), None).tolist()
    [True, False]
    """

    def __init__(
        self,
        tokenizer: Any,
        rows: Sequence[int],
        test: Callable[[int, str], bool],
        /,
        *,
        start: int,
        every: int = 4,
        watch: Sequence[bool] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.rows = list(rows)
        self.test = test
        self.start = start
        self.every = max(1, every)
        self.done = [False] * len(self.rows)
        self.watch = [True] * len(self.rows) if watch is None else [bool(w) for w in watch]
        if len(self.watch) != len(self.rows):
            raise ValueError(f"{len(self.watch)} watch flags for {len(self.rows)} rows")
        #: New tokens each row had when it stopped (``None``: it did not); generation pads
        #: a stopped row to the batch's end, and those pads are not part of its answer
        self.stopped_at: list[int | None] = [None] * len(self.rows)

    def __call__(self, input_ids: torch.Tensor, scores: Any, **_: Any) -> torch.Tensor:
        new = input_ids.shape[1] - self.start
        if new > 0 and new % self.every == 0:
            open_rows = [k for k, d in enumerate(self.done) if not d and self.watch[k]]
            texts = self.tokenizer.batch_decode(
                input_ids[open_rows, self.start :].tolist(), skip_special_tokens=True
            )
            for k, text in zip(open_rows, texts, strict=True):
                words = _LAST_WORD.sub("", text).rstrip()  # the next token may extend it
                if words and self.test(self.rows[k], words):
                    self.done[k] = True
                    self.stopped_at[k] = new
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


@contextlib.contextmanager
def adapter_state(model: Any, adapter: bool | None, /) -> Iterator[None]:
    """Run the block with the model's peft adapter off (``False``), on (``True``) or as is."""
    if adapter is None:
        yield
        return
    has_adapter = hasattr(model, "disable_adapter")
    if adapter and not has_adapter:
        raise ValueError(
            "adapter=True needs a peft model (peft.PeftModel.from_pretrained(base, dir))"
        )
    if not adapter and has_adapter:
        with model.disable_adapter():
            yield
        return
    yield


def adapter_rows(
    model: Any, on: Sequence[bool], /
) -> contextlib.AbstractContextManager[Any] | None:
    """The block run with a peft model's LoRA adapter on for the rows of a batch where *on*
    holds and off for the others; ``None`` where this model cannot (then pass peft's
    ``adapter_names``).

    Each LoRA layer's scale becomes one per row, its own where the adapter is on and 0 where
    it is off: every row gets the same sums as a batch in one state (``base + B(A(x)) * s``, or
    ``+ 0``), in one product over the whole batch. peft's own mixed batches
    (``adapter_names``) select each state's rows, compute, and scatter them back, a few
    tensor operations more per layer and step (``benchmarks/routing.py``: the demo's 12-row
    batch of 256 tokens 1.13x as fast on a 2-core CPU, the same answers). Plain LoRA linear
    layers of the active adapter only, inputs ``[rows, positions, features]`` (a causal
    LM's; a mixture-of-experts model, whose experts see their tokens flattened, is ``None``,
    and a layer that gets another shape raises ``ValueError``); anything else is ``None``.

    >>> import torch
    >>> from peft import LoraConfig, get_peft_model
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> _ = torch.manual_seed(0)
    >>> base = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16,
    ...     intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...     num_key_value_heads=1))
    >>> model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
    ...     init_lora_weights=False)).eval()
    >>> ids = torch.tensor([[1, 2, 3], [1, 2, 3]])
    >>> with torch.no_grad():
    ...     on = model(ids).logits
    ...     with model.disable_adapter():
    ...         off = model(ids).logits
    ...     with adapter_rows(model, [True, False]):
    ...         mixed = model(ids).logits
    >>> torch.equal(mixed[0], on[0]), torch.equal(mixed[1], off[1])
    (True, True)
    """
    try:
        from peft.tuners.lora.layer import Linear as LoraLinear
    except ImportError:  # pragma: no cover - peft is a dependency of the train extra
        return None
    config = getattr(model, "config", None)
    if any(getattr(config, key, None) for key in _EXPERTS):  # experts see tokens, not rows
        return None
    active = getattr(model, "active_adapter", None)
    name = active if isinstance(active, str) else (active[0] if active else None)
    layers = [mod for mod in model.modules() if hasattr(mod, "lora_A") and hasattr(mod, "scaling")]
    if name is None or not layers:
        return None
    for layer in layers:
        if (
            type(layer) is not LoraLinear
            or getattr(layer, "merged", False)
            or getattr(layer, "disable_adapters", False)
            or name in getattr(layer, "lora_variant", {})
            or name not in layer.lora_A
            or layer.active_adapters != [name]
        ):
            return None
    return _scaled_rows(layers, name, list(on))


#: Config keys of mixture-of-experts models, whose expert layers get their tokens flattened
_EXPERTS: Final = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


@contextlib.contextmanager
def _scaled_rows(layers: list[Any], name: str, on: list[bool]) -> Iterator[None]:
    """Each layer's scale of adapter *name* one per row (0 where *on* is false) in the block;
    a layer given anything but ``[rows, positions, features]`` raises rather than broadcast
    the scale over the wrong axis (a mixture-of-experts layer sees its tokens flattened)."""

    def rows_first(layer: Any, args: tuple[Any, ...]) -> None:
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and (x.dim() != 3 or x.shape[0] != len(on)):
            raise ValueError(
                f"adapter_rows scales {len(on)} rows, but a LoRA layer got input of shape "
                f"{tuple(x.shape)}: answer these rows in one adapter state a batch, or pass "
                "peft's adapter_names"
            )

    saved = [layer.scaling[name] for layer in layers]
    hooks = []
    try:
        for layer, scale in zip(layers, saved, strict=True):
            weight = layer.lora_B[name].weight
            rows = torch.tensor(on, dtype=weight.dtype, device=weight.device).view(-1, 1, 1)
            layer.scaling[name] = rows * scale
            hooks.append(layer.register_forward_pre_hook(rows_first))
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for layer, scale in zip(layers, saved, strict=True):
            layer.scaling[name] = scale


def stop_token_ids(tokenizer: Any, /) -> list[int]:
    """Token ids that end an assistant turn for this tokenizer."""
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for tok in _TURN_END_TOKENS:
        if tok in vocab and int(vocab[tok]) not in ids:
            ids.append(int(vocab[tok]))
    return ids


def chat_text(
    tokenizer: Any, user: str, /, *, system: str | None = None, system_role: bool = True
) -> str:
    """The model's chat template applied to one user turn, ready for the assistant to answer.

    Args:
        tokenizer: A tokenizer with a chat template.
        user: The user message.
        system: An optional system prompt.
        system_role: Whether the template knows a system role; when not, the system prompt
            is put before the user message.
    """
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    if not system_role:
        messages = fold_system(messages)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return str(text)


#: Shortest shared prompt opening (in tokens) worth encoding once for a whole call.
PREFIX_CACHE_MIN_TOKENS: Final = 64


def shared_prefix(rows: Sequence[Sequence[int]], /) -> int:
    """How many leading tokens every row shares, leaving each row at least one of its own.

    >>> shared_prefix([[1, 2, 3, 4], [1, 2, 3, 9], [1, 2, 5]])
    2
    >>> shared_prefix([[1, 2], [1, 2]])
    1
    """
    if not rows:
        return 0
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


def prefix_cache(model: Any, prefix: list[int], device: Any, /) -> Any | None:
    """The key/value cache of *prefix* (batch 1), or None where it cannot be shared (a
    cache without ``batch_repeat_interleave``); run it in the adapter state it is for."""
    out = model(input_ids=torch.tensor([prefix], device=device), use_cache=True)
    with quiet_rename():  # transformers 5 calls it `cache`, and says so on the old name
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is None or not hasattr(cache, "batch_repeat_interleave"):
        return None
    return cache


def supports_system_role(tokenizer: Any, /) -> bool:
    """Whether the tokenizer's chat template accepts a system turn (Gemma's does not)."""
    try:
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], tokenize=False
        )
    except Exception:  # templates raise anything from TemplateError to ValueError
        return False
    return True


def category_budget(category: str, max_new_tokens: int | Mapping[str, int], /) -> int:
    """The new-token budget of a *category*'s answers: one budget for all, or its own.

    >>> category_budget("matrix", {"generation": 384}), category_budget("matrix", 32)
    (160, 32)
    """
    if isinstance(max_new_tokens, int):
        return max_new_tokens
    return int(max_new_tokens.get(category, _FALLBACK_MAX_NEW_TOKENS))


def generate(
    model: Any,
    prompts: Sequence[TriggerPrompt],
    /,
    *,
    tokenizer: Any,
    adapter: bool | Sequence[bool] | None = None,
    system_prompt: str | Sequence[str | None] | None = None,
    system_role: bool = True,
    max_new_tokens: int | Mapping[str, int] = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 8,
    do_sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.95,
    seed: int = 0,
    progress: Progress | bool = True,
    label: str = "generating",
    logits_processors: Callable[[int], list[Any]] | None = None,
    no_repeat_ngram: int = 0,
    term_lock: TermLock | None = None,
) -> list[Answer]:
    """Answer every prompt with *model*, in the order given.

    Args:
        model: A causal LM (a ``peft.PeftModel`` when *adapter* is not None).
        prompts: The trigger prompts.
        tokenizer: The model's tokenizer (with a chat template).
        adapter: ``False`` answers with the adapter off (the base model), ``True`` with it
            on, ``None`` uses the model as it is; or one switch per prompt, answered in
            shared batches (see :func:`answer_texts`).
        system_prompt: A system prompt for every prompt (the ``prompted`` arm), or one per
            prompt (``None``: none); prompts opening with the same one share its cache.
        system_role: Whether the chat template has a system role.
        max_new_tokens: One budget, or one per category (see :data:`DEFAULT_MAX_NEW_TOKENS`).
        batch_size: Prompts per batch (left-padded).
        do_sample: Sample instead of greedy decoding.
        temperature: Sampling temperature.
        top_p: Nucleus sampling threshold.
        seed: Seed for sampling; the same seed gives the same answers.
        progress: A rich ``Progress`` to add a task to, ``True`` for a fresh bar, ``False`` for none.
        label: The progress bar's label.
        logits_processors: Called with each batch's size, returns fresh ``transformers``
            logits processors for that batch (grammar-constrained decoding uses this).
        no_repeat_ngram: When 2 or more, no run of this many tokens occurs twice in one
            answer (:class:`AnswerNoRepeat`; the prompt is not counted); 0 leaves decoding as is.
        term_lock: A :class:`~glimmer.evaluate.termlock.TermLock`: a compound word may only
            become a term it accepts or one the prompt contains; ``None``: no lock.

    Returns:
        One :class:`Answer` per prompt.
    """
    systems = (
        [system_prompt] * len(prompts)
        if system_prompt is None or isinstance(system_prompt, str)
        else list(system_prompt)
    )
    texts = [
        chat_text(tokenizer, p.prompt, system=s, system_role=system_role)
        for p, s in zip(prompts, systems, strict=True)
    ]
    with progress_bar(progress, label, len(prompts)) as advance:
        replies = answer_texts(
            model,
            tokenizer,
            texts,
            [category_budget(p.category, max_new_tokens) for p in prompts],
            adapter=adapter,
            batch_size=batch_size,
            do_sample=do_sample,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            logits_processors=logits_processors,
            no_repeat_ngram=no_repeat_ngram,
            term_lock=term_lock,
            on_batch=advance,
        )
    return [Answer(p, *reply) for p, reply in zip(prompts, replies, strict=True)]


@dataclass(frozen=True, slots=True, eq=False)
class Lane:
    """Texts to continue and how, decoded in the same batches as other lanes (:func:`answer_lanes`).

    Attributes:
        texts: Rendered chat texts, each ready for the assistant's turn.
        budgets: New-token budget per text.
        adapter: One switch for every text (``None``: the model as it is), or one per text
            (see :func:`answer_texts`).
        logits_processors: Called with the number of this lane's rows in a batch, returns
            fresh ``transformers`` logits processors for them (a grammar); the term lock is
            then off for these rows.
        no_repeat_ngram: :class:`AnswerNoRepeat` for these rows when 2 or more.
        term_lock: A :class:`~glimmer.evaluate.termlock.TermLock` for these rows.
        stop_when: Stops a row once it holds (its index among *texts*, the answer's whole
            words so far; :class:`StopWhen`).
        on_batch: Called with the number of this lane's rows each batch finished.
    """

    texts: Sequence[str]
    budgets: Sequence[int]
    adapter: bool | Sequence[bool] | None = None
    logits_processors: Callable[[int], list[Any]] | None = None
    no_repeat_ngram: int = 0
    term_lock: TermLock | None = None
    stop_when: Callable[[int, str], bool] | None = None
    on_batch: Callable[[int], None] | None = None


@contextlib.contextmanager
def progress_bar(
    progress: Progress | bool, label: str, total: int, /
) -> Iterator[Callable[[int], None]]:
    """A task of *total* rows on a rich ``Progress`` (given, ``True`` for a fresh bar shown
    for the block, ``False`` for none); yields the function that advances it."""
    bar: Progress | None
    if isinstance(progress, Progress):
        bar = progress
    elif progress is True:
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=False,
        )
    else:
        bar = None
    task = bar.add_task(label, total=total) if bar is not None else None

    def advance(n: int) -> None:
        if bar is not None and task is not None:
            bar.advance(task, n)

    own = bar is not None and progress is True
    if own and bar is not None:
        bar.start()
    try:
        yield advance
    finally:
        if own and bar is not None:
            bar.stop()


class Carry:
    """One batch of conversations kept from one turn to the next (``answer_lanes(carry=...)``).

    After a call it holds each row's tokens, which of them count (what a row wrote after its
    turn ended does not) and the key/value cache. The next call's texts, the same
    conversations one turn on, keep each row's cache as far as its tokens and its new text
    agree, mask the rest, and encode only the new part: a multi-turn conversation no longer
    encodes its whole history again every turn. A row whose answer tokens differ from its
    text as rendered again (a space the answer was stripped of) agrees up to there and
    encodes the rest anew, so every row sees exactly its text.

    Attributes:
        reused: Tokens taken from the cache over all calls.
        encoded: Tokens of the texts encoded over all calls.
    """

    def __init__(self) -> None:
        self.ids: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self.cache: Any | None = None
        self.reused = 0
        self.encoded = 0

    @property
    def rows(self) -> int:
        """Rows kept (0: none)."""
        return 0 if self.ids is None else int(self.ids.shape[0])

    def clear(self) -> None:
        """Drop what is kept: the next call starts afresh."""
        self.ids = self.mask = self.cache = None

    def extend(
        self, rows: Sequence[Sequence[int]], pad_id: int
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """The inputs of the next turn (kept tokens, then each row's new ones left-padded)
        and the cache they continue."""
        if self.ids is None or self.mask is None:
            raise ValueError("nothing is kept to continue")
        mask = self.mask.clone()
        new: list[list[int]] = []
        for r, want in enumerate(rows):
            real = mask[r].nonzero().flatten()
            have = self.ids[r, real].tolist()
            n, limit = 0, min(len(have), len(want) - 1)  # at least one token to run
            while n < limit and have[n] == want[n]:
                n += 1
            mask[r, real[n:]] = 0
            new.append(list(want[n:]))
            self.reused += n
            self.encoded += len(want) - n
        width = max(len(x) for x in new)
        device = self.ids.device
        block = torch.tensor([[pad_id] * (width - len(x)) + x for x in new], device=device)
        seen = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in new], device=device)
        inputs = {
            "input_ids": torch.cat([self.ids, block], dim=1),
            "attention_mask": torch.cat([mask, seen.to(mask.dtype)], dim=1),
        }
        return inputs, self.cache

    def keep(
        self,
        out: torch.Tensor,
        mask: torch.Tensor,
        cache: Any,
        stops: Sequence[int],
        stopper: StopWhen | None = None,
    ) -> None:
        """Keep a call's output, its attention mask and cache; each row's tokens after its
        turn ended (or after a stop test held) do not count."""
        start = mask.shape[1]
        full = torch.cat([mask, torch.ones_like(out[:, start:], dtype=mask.dtype)], dim=1)
        ends = set(stops)
        for r, row in enumerate(out[:, start:].tolist()):
            cut = next((k + 1 for k, t in enumerate(row) if t in ends), None)
            stopped = None if stopper is None else stopper.stopped_at[r]
            if stopped is not None:
                cut = stopped if cut is None else min(cut, stopped)
            if cut is not None:
                full[r, start + cut :] = 0
        self.ids, self.mask, self.cache = out, full, cache


def answer_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    budgets: Sequence[int],
    /,
    *,
    adapter: bool | Sequence[bool] | None = None,
    batch_size: int = 8,
    do_sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.95,
    seed: int = 0,
    logits_processors: Callable[[int], list[Any]] | None = None,
    no_repeat_ngram: int = 0,
    term_lock: TermLock | None = None,
    on_batch: Callable[[int], None] | None = None,
    stop_when: Callable[[int, str], bool] | None = None,
    carry: Carry | None = None,
) -> list[tuple[str, bool, int]]:
    """Continue every rendered chat text; ``(text, ended, tokens)`` per text, in order.

    The one decoding loop of :func:`generate` and
    :func:`~glimmer.evaluate.chat.answer_chats` (one :class:`Lane` of
    :func:`answer_lanes`): batches of one budget with texts of similar
    length together (a batch is left-padded to its longest text), an opening many texts
    share encoded once and kept once (:mod:`glimmer.evaluate.kvcache`), answers cut where
    the turn ends. *stop_when* (text index, the
    answer's whole words so far) stops an answer early once it holds (:class:`StopWhen`):
    for a check that needs only to know whether something appears within the budget.

    *adapter* is one switch for every text (see :func:`adapter_state`) or one per text: a
    peft model then answers texts with its adapter off and on in the same batches (each row
    scaled by :func:`adapter_rows`, else peft's mixed-adapter batches; :func:`plan_batches`
    says which), so the arms share their decoding steps.
    """
    lane = Lane(
        texts,
        budgets,
        adapter,
        logits_processors=logits_processors,
        no_repeat_ngram=no_repeat_ngram,
        term_lock=term_lock,
        stop_when=stop_when,
        on_batch=on_batch,
    )
    return answer_lanes(
        model,
        tokenizer,
        [lane],
        batch_size=batch_size,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        carry=carry,
    )[0]


def answer_lanes(
    model: Any,
    tokenizer: Any,
    lanes: Sequence[Lane],
    /,
    *,
    batch_size: int = 8,
    do_sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.95,
    seed: int = 0,
    carry: Carry | None = None,
) -> list[list[tuple[str, bool, int]]]:
    """Continue the texts of every lane in shared batches; per lane, ``(text, ended,
    tokens)`` per text, in order.

    Independent checks decode together: the free answers to the generation prompts, the
    same prompts under the grammar and their attacked versions are three sets of a dozen
    rows of one budget, and one step of three dozen rows costs far less than three steps of
    a dozen on a CPU (the weights are read once a step whatever the rows) or a GPU (a step
    is bound by its kernel launches). Each lane keeps its own settings on its own rows (a
    grammar, the repetition ban, the term lock, a stop test); the batches are planned over
    every lane's texts as :func:`answer_texts` plans one lane's. With sampling, a text's
    answer depends on the batch it fell in (each batch draws from ``seed`` plus its number).

    With *carry* (a :class:`Carry`), texts that continue the texts of its last call (the
    same conversations one turn on, in the same order) reuse that call's key/value cache
    and encode only what is new; the texts then decode in one batch, in their order.

    Raises:
        ValueError: A lane's switches do not match its texts, or lanes mix ``adapter=None``
            (the model as it is) with adapter switches.
    """
    for lane in lanes:
        if len(lane.budgets) != len(lane.texts):
            raise ValueError(f"{len(lane.budgets)} budgets for {len(lane.texts)} texts")
    owner = [(k, j) for k, lane in enumerate(lanes) for j in range(len(lane.texts))]
    texts = [lane.texts[j] for lane in lanes for j in range(len(lane.texts))]
    budgets = [int(lane.budgets[j]) for lane in lanes for j in range(len(lane.texts))]
    flags = _lane_flags(model, lanes)
    state = flags if isinstance(flags, list) else [flags] * len(texts)
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    all_ids: list[list[int]] = (
        tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    )
    # An opening many texts share (the prompted arm's system prompt: a whole pattern) is
    # encoded once per adapter state and kept once in each batch's cache; its rows are laid
    # out as [opening | padding | own tokens], the others' opening masked out, which gives
    # the same answers as left padding.
    n_prefix, members = _opening(all_ids)
    opened = [i in members for i in range(len(texts))]
    # rows that stop early would keep a batch of the other state's rows decoding: with a
    # stop test on every text, each adapter state decodes apart (where lanes share batches,
    # the other lanes' rows decode to the budget anyway); an opening's rows share one state
    stopping = [lanes[k].stop_when is not None for k, _ in owner]
    stop_apart = all(stopping)
    kinds = [(state[i], opened[i]) for i in range(len(texts))]
    lengths = [len(ids) - (n_prefix if opened[i] else 0) for i, ids in enumerate(all_ids)]
    carrying = (
        carry is not None
        and 0 < len(texts) <= batch_size
        and len(set(budgets)) == 1
        and len({state[i] for i in members}) <= 1  # an opening's rows share one state
        and roomy_cache(model, 1) is not None  # a cache the rows can continue in
    )
    if carry is not None and (not carrying or carry.rows != len(texts)):
        carry.clear()
    batches = (
        [list(range(len(texts)))]
        if carrying
        else plan_batches(
            budgets,
            lengths,
            batch_size,
            kinds,
            apart=lambda a, b: a[0] != b[0] and (stop_apart or (a[1] and b[1])),
        )
    )

    replies: dict[int, tuple[str, bool, int]] = {}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            openings: dict[Any, Any] = {}  # adapter state -> the opening's cache
            for b, batch in enumerate(batches):
                opening = None
                continued = carrying and carry is not None and carry.ids is not None
                if any(opened[i] for i in batch) and not continued:
                    first = next(i for i in batch if opened[i])
                    on = state[first]  # plan_batches keeps an opening's rows to one state
                    if on not in openings:
                        with adapter_state(model, on):
                            openings[on] = prefix_cache(model, all_ids[first][:n_prefix], device)
                    opening = openings[on]
                if continued and carry is not None:
                    enc, cache = carry.extend([all_ids[i] for i in batch], pad_id)
                else:
                    p = n_prefix if opening is not None else 0
                    enc = _layout(
                        [all_ids[i] for i in batch], [opened[i] for i in batch], p, pad_id, device
                    )
                    # room for the rows' own tokens and the whole budget: each step writes in
                    # place; a shared opening is kept once (glimmer.evaluate.kvcache)
                    room = enc["input_ids"].shape[1] - p + budgets[batch[0]]
                    cache = roomy_cache(model, room, prefix=opening, rows=len(batch))
                    if cache is None and opening is not None:
                        cache = copy.deepcopy(opening)
                        cache.batch_repeat_interleave(len(batch))
                budget = budgets[batch[0]]
                start = enc["input_ids"].shape[1]  # where the answers begin
                processors = _lane_processors(
                    lanes, [owner[i] for i in batch], [texts[i] for i in batch], start
                )
                flags = [state[i] for i in batch]
                stopper = None
                if any(stopping[i] for i in batch):
                    stopper = StopWhen(
                        tokenizer,
                        list(range(len(batch))),
                        _lane_test(lanes, [owner[i] for i in batch]),
                        start=start,
                        watch=[stopping[i] for i in batch],
                    )
                if not do_sample and not carrying and plain_greedy(model, cache):
                    # rows that have ended leave the product (glimmer.evaluate.decode)
                    with quiet_rename(), attending(cache):
                        out = greedy(
                            model,
                            enc,
                            cache,
                            max_new_tokens=budget,
                            stops=stops,
                            pad_token_id=pad_id,
                            processors=processors,
                            stopping=stopper,
                            route=functools.partial(_route_rows, model, flags),
                        )
                else:
                    if do_sample:
                        torch.manual_seed(seed + b)
                    sampling = {"temperature": temperature, "top_p": top_p, "top_k": 0}
                    switch, extra = _route(model, flags)
                    with quiet_rename(), attending(cache), switch:  # `cache` in transformers 5
                        out = model.generate(
                            **enc,
                            max_new_tokens=budget,
                            do_sample=do_sample,
                            eos_token_id=stops,
                            pad_token_id=pad_id,
                            use_cache=True,
                            logits_processor=processors or None,
                            stopping_criteria=None if stopper is None else [stopper],
                            past_key_values=cache,
                            **(sampling if do_sample else dict.fromkeys(sampling)),
                            **extra,
                        )
                if carrying and carry is not None:
                    carry.keep(out, enc["attention_mask"], cache, stops, stopper)
                new = out[:, enc["input_ids"].shape[1] :].tolist()
                if stopper is not None:  # a row stopped early: what came after is padding
                    new = [r[:n] if n else r for r, n in zip(new, stopper.stopped_at, strict=True)]
                for row, i in zip(new, batch, strict=True):
                    cut = next((k for k, t in enumerate(row) if t in stops), None)
                    kept = row if cut is None else row[:cut]
                    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
                    replies[i] = (text, cut is not None, len(kept))
                for k, lane in enumerate(lanes):
                    done = sum(1 for i in batch if owner[i][0] == k)
                    if lane.on_batch is not None and done:
                        lane.on_batch(done)
    finally:
        if was_training:
            model.train()
    out_lanes: list[list[tuple[str, bool, int]]] = [[] for _ in lanes]
    for i, (k, _) in enumerate(owner):
        out_lanes[k].append(replies[i])
    return out_lanes


def _route_rows(
    model: Any, flags: list[Any], rows: list[int]
) -> tuple[contextlib.AbstractContextManager[Any], dict[str, Any]]:
    """:func:`_route` for some *rows* of a batch whose rows have *flags*."""
    return _route(model, [flags[r] for r in rows])


def _route(
    model: Any, flags: list[Any]
) -> tuple[contextlib.AbstractContextManager[Any], dict[str, Any]]:
    """The context that runs a batch's rows in their adapter states, and extra forward
    arguments: one state for all, each row scaled (:func:`adapter_rows`), or peft's own
    routing (``adapter_names``) where that declines."""
    if len(set(flags)) == 1:
        return adapter_state(model, flags[0]), {}
    switch = adapter_rows(model, flags)
    if switch is None:
        return contextlib.nullcontext(), {"adapter_names": _row_adapters(model, flags)}
    return switch, {}


def _lane_test(lanes: Sequence[Lane], owners: list[tuple[int, int]]) -> Callable[[int, str], bool]:
    """The stop test of a batch's row *r*: its lane's, asked with the text's index in the lane."""

    def test(r: int, words: str) -> bool:
        lane, j = owners[r]
        stop_when = lanes[lane].stop_when
        return stop_when is not None and stop_when(j, words)

    return test


def _lane_flags(model: Any, lanes: Sequence[Lane]) -> Any:
    """The adapter switch of every lane's texts: one for all, or one per text."""
    per_lane = [
        _adapter_flags(model, lane.adapter, len(lane.texts)) for lane in lanes if lane.texts
    ]
    if not per_lane:
        return None
    if all(not isinstance(f, list) and f == per_lane[0] for f in per_lane):
        return per_lane[0]
    if any(f is None for f in per_lane):
        raise ValueError(
            "lanes mix adapter=None (the model as it is) with adapter switches: give every "
            "lane True or False"
        )
    out = [
        flag
        for lane, f in zip([lane for lane in lanes if lane.texts], per_lane, strict=True)
        for flag in (f if isinstance(f, list) else [f] * len(lane.texts))
    ]
    return _adapter_flags(model, out, len(out))


class _OnRows:
    """A logits processor applied to some rows of a batch (one lane's)."""

    def __init__(self, rows: list[int], inner: list[Any]) -> None:
        self.rows = torch.tensor(rows)
        self.inner = inner

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows = self.rows.to(scores.device)
        ids, sub = input_ids[rows], scores[rows]
        for proc in self.inner:
            sub = proc(ids, sub)
        scores[rows] = sub
        return scores


def _lane_processors(
    lanes: Sequence[Lane], owners: list[tuple[int, int]], texts: list[str], start: int
) -> list[Any]:
    """Each lane's logits processors on its rows of a batch (unwrapped when it holds them all)."""
    out: list[Any] = []
    for k in dict.fromkeys(lane for lane, _ in owners):
        lane = lanes[k]
        rows = [r for r, (owner, _) in enumerate(owners) if owner == k]
        procs = [] if lane.logits_processors is None else lane.logits_processors(len(rows))
        if lane.no_repeat_ngram >= 2:
            procs.append(AnswerNoRepeat(lane.no_repeat_ngram, start=start))
        if lane.term_lock is not None and lane.logits_processors is None:  # a grammar decides
            accepted = lane.term_lock.rows([texts[r] for r in rows])
            procs.append(TermLockProcessor(lane.term_lock, accepted, start=start))
        if procs:
            out += procs if len(rows) == len(owners) else [_OnRows(rows, procs)]
    return out


def plan_batches(
    budgets: Sequence[int],
    lengths: Sequence[int],
    batch_size: int,
    kinds: Sequence[Hashable] | None = None,
    /,
    *,
    apart: Callable[[Any, Any], bool] | None = None,
) -> list[list[int]]:
    """Text indices in decoding batches: one budget a batch, similar lengths together.

    With a *kind* per text (the arm's adapter state and whether the text opens with a
    shared system prompt), each kind fills batches of its own, and only the kinds' last,
    part-filled batches of a budget share one where they fit, unless ``apart(kind_a,
    kind_b)``: mixing adapter states costs the per-row routing (peft's: a fifth more a row on
    a CPU, 64 rows), so sharing pays only for rows that would otherwise decode in small
    batches, where a step costs about the same for few rows as for many.

    >>> plan_batches([32] * 5, [9, 8, 7, 6, 5], 2)
    [[4, 3], [2, 1], [0]]
    >>> plan_batches([32] * 6, [5] * 6, 4, [False, True, False, True, False, False])
    [[0, 2, 4, 5], [1, 3]]
    >>> plan_batches([32] * 4, [5] * 4, 4, ["base", "tuned", "prompted", "base"])
    [[0, 3, 1, 2]]
    >>> plan_batches([32] * 3, [5] * 3, 4, ["a", "b", "c"], apart=lambda x, y: "c" in x + y)
    [[0, 1], [2]]
    """
    kind: list[Hashable] = [None] * len(budgets) if kinds is None else list(kinds)
    order = list(dict.fromkeys(kind))  # kinds in the order they first appear
    batches: list[list[int]] = []
    for budget in sorted(set(budgets)):
        per_kind = [
            _chunks(
                sorted(
                    (i for i in range(len(budgets)) if budgets[i] == budget and kind[i] == k),
                    key=lambda i: lengths[i],
                ),
                batch_size,
            )
            for k in order
        ]
        full = [c for chunks in per_kind for c in chunks if len(c) == batch_size]
        shared: list[list[int]] = []
        for part in (c for chunks in per_kind for c in chunks if len(c) < batch_size):
            home = next(
                (
                    s
                    for s in shared
                    if len(s) + len(part) <= batch_size
                    and not (apart and any(apart(kind[j], kind[part[0]]) for j in s))
                ),
                None,
            )
            if home is None:
                shared.append(list(part))
            else:
                home.extend(part)
        batches += full + shared
    return batches


def _chunks(rows: list[int], size: int) -> list[list[int]]:
    return [rows[k : k + size] for k in range(0, len(rows), size)]


def _adapter_flags(model: Any, adapter: bool | Sequence[bool] | None, n: int) -> Any:
    """One switch (``None``/``bool``) or a per-text list of them, checked; a list whose
    switches are all the same becomes that one switch."""
    if adapter is None or isinstance(adapter, bool):
        return adapter
    flags = [bool(f) for f in adapter]
    if len(flags) != n:
        raise ValueError(f"adapter has {len(flags)} switches for {n} texts")
    if len(set(flags)) <= 1:
        return flags[0] if flags else None
    if not hasattr(model, "disable_adapter"):
        raise ValueError(
            "adapter switches per text need a peft model (peft.PeftModel.from_pretrained(base, dir))"
        )
    return flags


def _row_adapters(model: Any, flags: Sequence[bool]) -> list[str]:
    """peft's adapter name per row: ``__base__`` (its name for the adapter off) or the active one."""
    active = model.active_adapter
    on = active if isinstance(active, str) else active[0]
    return [on if f else "__base__" for f in flags]


@contextlib.contextmanager
def quiet_rename() -> Iterator[None]:
    """The block without transformers' notice that ``past_key_values`` is called ``cache``
    now (glimmer passes the name both versions accept)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(level)


def _opening(rows: Sequence[Sequence[int]], /) -> tuple[int, set[int]]:
    """The longest opening of at least :data:`PREFIX_CACHE_MIN_TOKENS` tokens that two or more
    *rows* share (the most rows, then the longest), and which rows: ``(0, set())`` if none."""
    n = PREFIX_CACHE_MIN_TOKENS
    heads: dict[tuple[int, ...], list[int]] = {}
    for i, row in enumerate(rows):
        if len(row) > n:
            heads.setdefault(tuple(row[:n]), []).append(i)
    groups = [g for g in heads.values() if len(g) >= 2]
    if not groups:
        return 0, set()
    best = max(groups, key=len)
    return shared_prefix([rows[i] for i in best]), set(best)


def _layout(
    rows: list[list[int]], opened: list[bool], n_prefix: int, pad_id: int, device: Any
) -> dict[str, torch.Tensor]:
    """Inputs ``[opening | padding | own tokens]``: the opening's rows attend to it (its cache
    is copied in), the others have it masked and their whole text as own tokens."""
    own = [r[n_prefix:] if o else r for r, o in zip(rows, opened, strict=True)]
    width = max(len(x) for x in own)
    opening = next((r[:n_prefix] for r, o in zip(rows, opened, strict=True) if o), [])
    ids = [opening + [pad_id] * (width - len(x)) + x for x in own]
    mask = [
        [int(o)] * n_prefix + [0] * (width - len(x)) + [1] * len(x)
        for x, o in zip(own, opened, strict=True)
    ]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def score_text(
    model: Any, tokenizer: Any, text: str, /, *, adapter: bool | None = None, window: int = 512
) -> tuple[float, int]:
    """Summed negative log-likelihood of *text* and the number of tokens scored.

    ``glimmer.evaluate.metrics.perplexity(*score_text(...))`` is the perplexity. Long texts
    are scored in non-overlapping windows of *window* tokens.
    """
    return score_texts(model, tokenizer, [text], adapter=adapter, window=window)[0]


def score_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    /,
    *,
    adapter: bool | None = None,
    window: int = 512,
    batch_tokens: int = 2048,
) -> list[tuple[float, int]]:
    """:func:`score_text` of every text, windows of similar length scored together.

    A batch holds at most *batch_tokens* positions (rows x its longest window), so its
    logits stay under ``batch_tokens x vocabulary`` floats; rows are right-padded and the
    padding is neither attended to nor scored.
    """
    pieces: list[tuple[int, list[int]]] = []
    for i, text in enumerate(texts):
        tokens = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        pieces += [(i, tokens[s : s + window]) for s in range(0, len(tokens), window)]
    pieces = sorted((p for p in pieces if len(p[1]) >= 2), key=lambda p: len(p[1]))
    batches: list[list[tuple[int, list[int]]]] = []
    for item in pieces:  # ascending length: the newest piece is the batch's longest
        if batches and (len(batches[-1]) + 1) * len(item[1]) <= batch_tokens:
            batches[-1].append(item)
        else:
            batches.append([item])
    totals = [0.0] * len(texts)
    counts = [0] * len(texts)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with adapter_state(model, adapter), torch.inference_mode():
            for batch in batches:
                width = max(len(piece) for _, piece in batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, (_, piece) in enumerate(batch):
                    ids[row, : len(piece)] = torch.tensor(piece)
                    mask[row, : len(piece)] = 1
                ids, mask = ids.to(device), mask.to(device)
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
                nll = torch.nn.functional.cross_entropy(
                    logits[:, :-1].float().transpose(1, 2), target, reduction="none"
                ).sum(dim=1)
                for row, (i, piece) in enumerate(batch):
                    totals[i] += float(nll[row])
                    counts[i] += len(piece) - 1
    finally:
        if was_training:
            model.train()
    return list(zip(totals, counts, strict=True))
