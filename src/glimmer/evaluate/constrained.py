"""Grammar-constrained generation of GLIMMER patterns, valid by construction.

A :class:`GrammarLogitsProcessor` runs inside ``transformers``' ``generate``: before each
token it asks `llguidance`_ which tokens keep the text inside the generation grammar
(:mod:`glimmer.evaluate.grammar`) and masks the others, one matcher per row of the batch,
the masks computed in parallel. A finished pattern parses and validates with
``glimmer.loads(strict=True)``; one that runs out of tokens is reported as cut, never
counted valid.

:func:`generate_pattern` writes one pattern for a scenario; :func:`generate_patterns` answers
many prompts in batches, constrained or free, with a peft adapter on or off.

.. _llguidance: https://github.com/guidance-ai/llguidance
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import torch

from glimmer.errors import AdapterError
from glimmer.evaluate.coverage import PatternCheck, check_pattern, pattern_figures
from glimmer.evaluate.generate import Answer, generate, stop_token_ids
from glimmer.evaluate.grammar import (
    GenerationError,
    GenerationGrammar,
    check_format,
    check_scenario,
    generation_grammar,
)
from glimmer.evaluate.suites import TriggerPrompt
from glimmer.extras import require

__all__ = [
    "DEFAULT_PATTERN_TOKENS",
    "GeneratedPattern",
    "GenerationError",
    "GrammarLogitsProcessor",
    "add_constrained",
    "check_answer",
    "constrained_budget",
    "generate_pattern",
    "generate_patterns",
    "generation_prompt",
    "grammar_processors",
]

#: New-token budget of one pattern: a compact one needs about 200, a full one about 470.
DEFAULT_PATTERN_TOKENS: Final = 512


def generation_prompt(scenario: str, /, *, format: str = "glimmer") -> str:
    """The user turn that asks for a pattern for *scenario*, as the training data asks.

    Examples:
        >>> generation_prompt("a night gardener", format="json")
        'Design a GLIMMER pattern for a night gardener. Use JSON.'
    """
    text = check_scenario(scenario)
    fmt = check_format(format)
    ask = text if "glimmer" in text.lower() else f"Design a GLIMMER pattern for {text}"
    if not ask.endswith((".", "!", "?")):
        ask += "."
    return ask + (" Use JSON." if fmt == "json" else "")


@cache
def _lltokenizer(tokenizer: Any, stops: tuple[int, ...]) -> Any:
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, eos_token=list(stops))


class GrammarLogitsProcessor:
    """A ``transformers`` logits processor that keeps each row of a batch inside a grammar.

    Build one per ``generate`` call (it remembers where the prompt ends). Rows whose matcher
    has accepted may only end their turn; rows that ended are left alone.

    Args:
        grammar: The generation grammar.
        tokenizer: The model's (fast) tokenizer.
        batch_size: Rows in the batch.
    """

    def __init__(self, grammar: GenerationGrammar, tokenizer: Any, batch_size: int) -> None:
        from llguidance import LLExecutor, LLMatcher

        stops = tuple(stop_token_ids(tokenizer))
        self._lltok = _lltokenizer(tokenizer, stops)
        self._stops = stops
        self.matchers = [LLMatcher(self._lltok, grammar.text) for _ in range(batch_size)]
        self._executor = LLExecutor()
        self._vocab = int(self._lltok.vocab_size)
        words = (self._vocab + 31) // 32
        self._bitmask = torch.zeros((batch_size, words), dtype=torch.int32)
        self._shifts = torch.arange(32, dtype=torch.int32)
        self._prompt_len: int | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._prompt_len is None:
            self._prompt_len = int(input_ids.shape[1])
        else:
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist(), strict=True):
                if not matcher.is_stopped() and not matcher.is_error():
                    matcher.consume_token(int(token))
        rows = [(m, i) for i, m in enumerate(self.matchers) if not m.is_error()]
        self._bitmask.fill_(0)
        if rows:
            words = self._bitmask.shape[1]
            self._executor.unsafe_compute_mask_ptr(
                rows, self._bitmask.data_ptr(), words * 4, len(self.matchers)
            )
        for i, m in enumerate(self.matchers):
            if m.is_error():  # never expected: end the turn rather than write past the grammar
                for stop in self._stops:
                    self._bitmask[i, stop // 32] |= 1 << (stop % 32)
        bits = (self._bitmask.unsqueeze(-1) >> self._shifts) & 1
        allowed = bits.reshape(bits.shape[0], -1)[:, : self._vocab].bool()
        vocab = min(self._vocab, scores.shape[1])
        scores[:, :vocab] = scores[:, :vocab].masked_fill(
            ~allowed[:, :vocab].to(scores.device), float("-inf")
        )
        if scores.shape[1] > vocab:
            scores[:, vocab:] = float("-inf")
        return scores

    @property
    def errors(self) -> list[str | None]:
        """Per row, the matcher's error (``None`` when it followed the grammar)."""
        return [m.get_error() if m.is_error() else None for m in self.matchers]


def generate_patterns(
    model: Any,
    prompts: Sequence[TriggerPrompt],
    /,
    *,
    tokenizer: Any,
    format: str = "glimmer",
    constrained: bool = True,
    adapter: bool | Sequence[bool] | None = None,
    max_new_tokens: int = DEFAULT_PATTERN_TOKENS,
    batch_size: int = 8,
    system_prompt: str | Sequence[str | None] | None = None,
    system_role: bool = True,
    progress: Any = False,
    label: str = "patterns",
) -> list[tuple[Answer, PatternCheck]]:
    """Answer generation prompts with patterns, constrained by the grammar or free.

    Args:
        model: A causal LM (a ``peft.PeftModel`` when *adapter* is not None).
        prompts: The prompts (each asks for a pattern).
        tokenizer: The model's fast tokenizer.
        format: ``"glimmer"`` (the DSL) or ``"json"``.
        constrained: Mask every token the grammar does not allow; ``False`` decodes freely.
        adapter: The peft adapter on (``True``), off (``False``) or as it is (``None``);
            or one switch per prompt, answered in shared batches.
        max_new_tokens: Token budget per pattern; a pattern cut by it is counted invalid.
        batch_size: Prompts per batch.
        system_prompt: A system prompt for every prompt, or one per prompt.
        system_role: Whether the chat template has a system role.
        progress: As for :func:`glimmer.evaluate.generate.generate`.
        label: The progress bar's label.

    Returns:
        Per prompt, the answer and its strict check. A free answer is checked as the whole
        text; :func:`glimmer.evaluate.metrics.check_glimmer` is the lenient, fenced-or-bare
        reading :func:`glimmer.compare` reports for free answers.

    Raises:
        GrammarError: An unknown format or a grammar that does not compile.
    """
    fmt = check_format(format)
    answers = generate(
        model,
        prompts,
        tokenizer=tokenizer,
        adapter=adapter,
        system_prompt=system_prompt,
        system_role=system_role,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        progress=progress,
        label=label,
        logits_processors=grammar_processors(tokenizer, fmt) if constrained else None,
    )
    return [(a, check_answer(a, fmt)) for a in answers]


def grammar_processors(tokenizer: Any, format: str = "glimmer", /) -> Callable[[int], list[Any]]:
    """Fresh grammar processors for a batch of *n* rows: ``logits_processors`` of
    :func:`~glimmer.evaluate.generate.generate` (or a :class:`~glimmer.evaluate.generate.Lane`).

    Raises:
        GrammarError: An unknown format or a grammar that does not compile.
    """
    grammar = generation_grammar(check_format(format))

    def processors(n: int) -> list[Any]:
        return [GrammarLogitsProcessor(grammar, tokenizer, n)]

    return processors


def check_answer(answer: Answer, format: str = "glimmer", /) -> PatternCheck:
    """The strict check of a generated *answer* as a whole pattern."""
    return check_pattern(answer.text, format=format, ended=answer.ended, n_tokens=answer.n_tokens)


@dataclass(frozen=True)
class GeneratedPattern:
    """One generated pattern.

    Attributes:
        text: The pattern as the model wrote it.
        format: ``"glimmer"`` or ``"json"``.
        constrained: Whether the grammar constrained the decoding.
        n_tokens: Tokens generated.
        check: Its strict check (validity, sections, story).
        prompt: The user turn it answered.
    """

    text: str
    format: str
    constrained: bool
    n_tokens: int
    check: PatternCheck
    prompt: str

    @property
    def valid(self) -> bool:
        """Whether it finished and validates with ``glimmer.loads(strict=True)``."""
        return self.check.valid


def _load(base: str, adapter: str | os.PathLike[str] | None) -> tuple[Any, Any]:
    from glimmer.train.models import load_model

    if adapter is not None:
        folder = Path(adapter)
        if not (folder / "adapter_config.json").is_file():
            raise AdapterError(
                f"{folder} is not an adapter directory (no adapter_config.json)",
                hint="pass the adapter folder written by `glimmer fit` (OUT/adapter)",
            )
    model: Any
    tok: Any
    model, tok = load_model(base)
    if adapter is not None:
        from peft import PeftModel

        from glimmer.train.progress import quiet_libraries

        with quiet_libraries():
            model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tok


def generate_pattern(
    scenario: str,
    /,
    *,
    adapter: str | os.PathLike[str] | None = None,
    base: str = "smollm2-135m",
    format: str = "glimmer",
    constrained: bool = True,
    max_new_tokens: int = DEFAULT_PATTERN_TOKENS,
    model: Any = None,
    tokenizer: Any = None,
) -> GeneratedPattern:
    """Write a GLIMMER pattern for *scenario*, valid by construction unless ``constrained=False``.

    Args:
        scenario: What the pattern is for, e.g. ``"a gardener who tends a night garden"``.
        adapter: A LoRA adapter folder (from ``glimmer fit``); ``None`` for the base model.
        base: Base model: preset name, hub id or folder.
        format: ``"glimmer"`` (the DSL) or ``"json"``.
        constrained: Constrain decoding by the grammar (default); ``False`` decodes freely.
        max_new_tokens: Token budget.
        model: An already loaded model (then *tokenizer* too); *base* and *adapter* are unused.
        tokenizer: Its tokenizer.

    Returns:
        The :class:`GeneratedPattern`; check ``.valid`` (a free answer may not be a pattern,
        a constrained one may run out of tokens).

    Raises:
        GenerationError: An empty scenario (G640).
        AdapterError: A folder that is not an adapter (G603).
        GrammarError: An unknown format (G641) or a grammar that does not compile (G642).
        MissingExtraError: The ``train`` or ``generate`` extra is missing.

    Examples:
        >>> p = generate_pattern("a night gardener", max_new_tokens=64)  # doctest: +SKIP
    """
    prompt = generation_prompt(scenario, format=format)
    fmt = check_format(format)
    require("train", feature="generate_pattern()")
    if constrained:
        require("generate", feature="constrained generation")
    if model is None:
        model, tokenizer = _load(base, adapter)
    elif tokenizer is None:
        raise ValueError("pass tokenizer= with a loaded model")
    from glimmer.evaluate.generate import supports_system_role

    trigger = TriggerPrompt(id="scenario", category="generation", prompt=prompt)
    [(answer, check)] = generate_patterns(
        model,
        [trigger],
        tokenizer=tokenizer,
        format=fmt,
        constrained=constrained,
        adapter=None,
        max_new_tokens=max_new_tokens,
        batch_size=1,
        system_role=supports_system_role(tokenizer),
    )
    return GeneratedPattern(answer.text, fmt, constrained, answer.n_tokens, check, prompt)


def add_constrained(
    result: Any,
    model: Any,
    tokenizer: Any,
    prompts: Sequence[TriggerPrompt],
    /,
    *,
    arms: Mapping[str, Any],
    generate_kwargs: Mapping[str, Any],
    format: str = "glimmer",
    answered: Mapping[str, Sequence[Answer]] | None = None,
) -> None:
    """Answer *result*'s generation prompts under the grammar, per arm, and add the figures.

    Each generation row gets ``constrained[arm]`` (a :class:`PatternCheck`), each arm's
    summary ``glimmer_valid_constrained_share``, ``section_coverage`` and ``story_share``.
    Arms other than base, prompted and tuned (whose decoding the grammar would not see) and
    a missing ``generate`` extra are skipped with a note.

    Args:
        result: The :class:`~glimmer.evaluate.compare.Comparison` to complete.
        model: The peft model the arms were answered with.
        tokenizer: Its tokenizer.
        prompts: The prompts, in the order of ``result.rows``.
        arms: Arm -> its spec (``adapter`` on or off, ``system`` prompt).
        generate_kwargs: The settings the free answers were generated with.
        format: ``"glimmer"`` or ``"json"``.
        answered: Arms' answers already decoded under the grammar (the generation prompts in
            order, at :func:`constrained_budget`; :func:`~glimmer.compare` decodes them beside
            its other answers): those arms are not asked again.
    """
    from glimmer.extras import missing_modules

    rows = [r for r in result.rows if r.category == "generation"]
    asked = [p for p in prompts if p.category == "generation"]
    if not rows or len(rows) != len(asked):
        return
    if missing_modules("generate"):
        result.notes.append(
            "constrained generation skipped: install the generate extra "
            "(pip install 'glimmer-dsl[generate]')"
        )
        return
    budget = constrained_budget(generate_kwargs.get("max_new_tokens", DEFAULT_PATTERN_TOKENS))
    from glimmer.evaluate.robustness import arm_rows, shared_batches, split_arms

    chosen = {a: s for a, s in arms.items() if a in ("base", "prompted", "tuned")}
    chosen = {a: s for a, s in chosen.items() if a in result.summary}
    for arm, given in (answered or {}).items():
        if arm in chosen:
            if len(given) != len(rows):
                raise ValueError(f"{len(given)} answers of {arm} for {len(rows)} prompts")
            checks = [check_answer(a, format) for a in given]
            for row, check in zip(rows, checks, strict=True):
                row.constrained[arm] = check
            _add_figures(result.summary[arm], checks)
            del chosen[arm]
    for group in shared_batches(chosen):  # the arms share batches
        adapter, system = arm_rows(chosen, group, len(asked))
        pairs = generate_patterns(
            model,
            [p for _ in group for p in asked],
            tokenizer=tokenizer,
            format=format,
            constrained=True,
            adapter=adapter,
            system_prompt=system,
            system_role=bool(generate_kwargs.get("system_role", True)),
            max_new_tokens=budget,
            batch_size=int(generate_kwargs.get("batch_size", 8)),
            progress=generate_kwargs.get("progress", False),
            label=f"{' + '.join(group)} (grammar)",
        )
        for arm, both in split_arms(pairs, group).items():
            checks = [check for _, check in both]
            for row, check in zip(rows, checks, strict=True):
                row.constrained[arm] = check
            _add_figures(result.summary[arm], checks)
    result.settings["constrained"] = f"{format} grammar (llguidance), {budget} new tokens"


def constrained_budget(max_new_tokens: int | Mapping[str, int], /) -> int:
    """The token budget of a pattern under the grammar: the generation prompts' own.

    >>> constrained_budget({"generation": 256, "neutral": 32}), constrained_budget(128)
    (256, 128)
    """
    if isinstance(max_new_tokens, int):
        return max_new_tokens
    return int(max_new_tokens.get("generation", 384))


def _add_figures(summary: Any, checks: Sequence[PatternCheck]) -> None:
    figures = pattern_figures(checks)
    summary.glimmer_valid_constrained_share = figures.valid_share
    summary.section_coverage = figures.section_coverage
    summary.story_share = figures.story_share
