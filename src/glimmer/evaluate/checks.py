"""The checks a skeptic asks for, run by :func:`glimmer.evaluate.compare.compare`.

:func:`finish_scores` (model-free) adds the speech figures, the retention share and the
bootstrap intervals to a scored comparison. :func:`run_checks` (model in hand) adds the
attacks, the multi-turn drift, perplexity on the neutral texts and of each arm's answers,
the spread across several adapters, and each arm's seconds. :func:`steered_arm` builds the
steering-vector arm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from glimmer.evaluate import stats
from glimmer.evaluate.metrics import ConceptIndex, perplexity
from glimmer.evaluate.robustness import ArmSpec, Attack
from glimmer.evaluate.suites import TriggerPrompt

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.drift import Conversation
    from glimmer.evaluate.results import ArmSummary, Comparison

__all__ = ["attack_set", "finish_scores", "framework_name", "run_checks", "steered_arm"]


def framework_name(glossary: Any | None, /) -> str:
    """The active glossary's framework name (``"STARWEAVE"`` for the default one)."""
    if glossary is None:
        from glimmer.starweave import Glossary

        glossary = Glossary.default()
    return str(getattr(glossary, "name", "") or "STARWEAVE")


def finish_scores(comparison: Comparison, index: ConceptIndex, /) -> None:
    """Speech figures, retention share and intervals on a freshly scored comparison."""
    from glimmer.evaluate.speech import score_speech

    score_speech(comparison, index)
    for arm, summary in comparison.summary.items():
        ret = [
            r.answers[arm] for r in comparison.rows if r.suite == "retention" and arm in r.answers
        ]
        if ret:
            summary.retention_correct_share = sum(bool(a.correct) for a in ret) / len(ret)
    stats.annotate(comparison)


def _answer_perplexity(
    model: Any, tokenizer: Any, texts: Sequence[str], *, adapter: bool | None
) -> float | None:
    from glimmer.evaluate.generate import score_texts

    scored = score_texts(model, tokenizer, [t for t in texts if t.strip()], adapter=adapter)
    total, count = sum(s for s, _ in scored), sum(n for _, n in scored)
    return round(perplexity(total, count), 3) if count else None


def steered_arm(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[TriggerPrompt],
    /,
    *,
    index: ConceptIndex,
    framework: str,
    generate_kwargs: Mapping[str, Any],
    sweep_tokens: int = 48,
) -> tuple[list[Any], ArmSpec, dict[str, Any]]:
    """The steering arm: a vector from the glossary, its strength swept, then every prompt.

    Returns:
        ``(answers, spec, info)``: one answer per prompt, how the arm answers (for the attacks
        and drift), and what the report shows (layer, pairs, the sweep, the chosen strength).
    """
    from glimmer.evaluate.generate import generate
    from glimmer.evaluate.steer import STRENGTHS, steering, train_vector

    t = time.perf_counter()
    vector = train_vector(model, tokenizer, index, framework=framework)
    probe: list[TriggerPrompt] = []
    seen: set[str] = set()
    for p in prompts:
        if p.category != "neutral" and p.category not in seen:
            seen.add(p.category)
            probe.append(p)
    kwargs = dict(generate_kwargs, max_new_tokens=sweep_tokens, progress=False)
    plain = generate(model, probe, adapter=False, label="sweep", **kwargs)
    base_ppl = _answer_perplexity(model, tokenizer, [a.text for a in plain], adapter=False) or 1.0
    sweep: list[dict[str, float | None]] = []
    chosen = STRENGTHS[0]
    for strength in STRENGTHS:
        with steering(model, vector, strength):
            answers = generate(model, probe, adapter=False, label="sweep", **kwargs)
        ppl = _answer_perplexity(model, tokenizer, [a.text for a in answers], adapter=False)
        share = sum(
            bool(index.concepts_in(a.text) - index.concepts_in(p.prompt))
            for a, p in zip(answers, probe, strict=True)
        ) / max(1, len(probe))
        sweep.append(
            {"strength": strength, "concept_share": round(share, 3), "answer_perplexity": ppl}
        )
        if ppl is not None and ppl <= 2 * base_ppl:
            chosen = strength
    spec = ArmSpec(adapter=False, context=lambda: steering(model, vector, chosen))
    with spec.active():
        answers = generate(model, prompts, adapter=False, label="steered", **generate_kwargs)
    info = {
        "layer": vector.layer,
        "pairs": vector.pairs,
        "strength": chosen,
        "sweep": sweep,
        "sweep_base_answer_perplexity": round(base_ppl, 3),
        "seconds": round(time.perf_counter() - t, 1),
    }
    return answers, spec, info


#: Scores one arm's answers to the prompts (``compare`` passes its own scoring).
ArmScorer = Callable[[Sequence[TriggerPrompt], list[Any]], "ArmSummary"]


def _tuned_summaries(
    model: Any,
    extra_adapters: Sequence[str],
    prompts: Sequence[TriggerPrompt],
    *,
    score: ArmScorer,
    generate_kwargs: Mapping[str, Any],
) -> list[ArmSummary]:
    from glimmer.evaluate.generate import generate

    out = []
    first = model.active_adapter
    for k, path in enumerate(extra_adapters, start=1):
        name = f"fit{k}"
        model.load_adapter(str(path), adapter_name=name)
        model.set_adapter(name)
        answers = generate(model, prompts, adapter=True, label=f"tuned ({name})", **generate_kwargs)
        out.append(score(prompts, answers))
    model.set_adapter(first)
    return out


def attack_set(
    prompts: Sequence[TriggerPrompt],
    robustness: bool | Sequence[Attack],
    robust_per_category: int | None = None,
    /,
) -> tuple[list[TriggerPrompt], list[Attack]] | None:
    """The prompts :func:`run_checks` attacks and the attacks (``None`` when it runs none):
    the non-neutral prompts (the first *robust_per_category* of each category when given)
    under the bundled attacks, or the *robustness* ones given.

    >>> from glimmer.evaluate.suites import TriggerPrompt
    >>> ps = [TriggerPrompt("reflection", f"q{i}?", id=f"r{i}") for i in range(3)]
    >>> chosen, attacks = attack_set(ps, True, 2)
    >>> [p.id for p in chosen], len(attacks) > 0
    (['r0', 'r1'], True)
    """
    from glimmer.evaluate.robustness import bundled_attacks
    from glimmer.evaluate.suites import quick_subset

    if not robustness:
        return None
    attacked = [p for p in prompts if p.category != "neutral"]
    if robust_per_category is not None:
        attacked = quick_subset(attacked, per_category=robust_per_category)
    return attacked, bundled_attacks() if robustness is True else list(robustness)


def run_checks(
    comparison: Comparison,
    /,
    *,
    model: Any,
    tokenizer: Any,
    prompts: Sequence[TriggerPrompt],
    index: ConceptIndex,
    arms: Mapping[str, ArmSpec],
    framework: str,
    generate_kwargs: Mapping[str, Any],
    seconds: dict[str, float],
    robustness: bool | Sequence[Attack] = True,
    robust_per_category: int | None = None,
    drift: bool | Sequence[Conversation] = True,
    attack_tokens: int | Mapping[str, int] = 64,
    drift_tokens: int = 48,
    extra_adapters: Sequence[str] = (),
    score_tuned: ArmScorer | None = None,
    answered_attacks: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Add the attacks, drift, perplexities, seed spread and seconds to *comparison*.

    With *extra_adapters* (more fits of the same run), each one answers the prompts and
    *score_tuned* (``compare`` passes its own scoring) turns the answers into an arm summary
    for the spread across seeds. *answered_attacks* holds arms' answers to the attacks
    already decoded (:func:`attack_set`'s prompts and attacks, in the order of
    :func:`~glimmer.evaluate.robustness.plan_attacks`): those arms are not asked again.
    """
    from glimmer.evaluate.drift import bundled_conversations, drift_shares, run_drift
    from glimmer.evaluate.generate import score_text
    from glimmer.evaluate.retention import neutral_texts
    from glimmer.evaluate.robustness import run_attacks, summarise_attacks

    comparison.settings["framework"] = framework
    # what the attacked and the drifting turns share: the index, the decoding every arm's
    # answers had, and the seconds they add to
    shared: dict[str, Any] = {
        "index": index,
        "system_role": bool(generate_kwargs.get("system_role", True)),
        "batch_size": int(generate_kwargs.get("batch_size", 8)),
        "no_repeat_ngram": int(generate_kwargs.get("no_repeat_ngram", 0)),
        "term_lock": generate_kwargs.get("term_lock"),
        "seconds": seconds,
    }
    chosen = attack_set(prompts, robustness, robust_per_category)
    if chosen is not None:
        comparison.robustness = run_attacks(
            model,
            tokenizer,
            *chosen,
            arms,
            framework=framework,
            max_new_tokens=attack_tokens,
            answered=answered_attacks,
            **shared,
        )
        for arm, summary in comparison.summary.items():
            pooled, by = summarise_attacks(comparison.robustness, arm)
            summary.robust_concept_share = pooled
            summary.robust_concept_share_by_attack = by
    if drift:
        comparison.drift = run_drift(
            model,
            tokenizer,
            bundled_conversations() if drift is True else drift,
            arms,
            max_new_tokens=drift_tokens,
            **shared,
        )
        for arm, summary in comparison.summary.items():
            summary.drift_concept_share = drift_shares(comparison.drift, arm)
    texts = neutral_texts()
    for arm, spec in arms.items():
        summary = comparison.summary[arm]
        with spec.active():
            for name, text in texts.items():
                summary.perplexity_by_text[name] = round(
                    perplexity(*score_text(model, tokenizer, text, adapter=spec.adapter)), 3
                )
        trig = [r.answers[arm].text for r in comparison.rows if r.category != "neutral"]
        summary.answer_perplexity = _answer_perplexity(
            model, tokenizer, trig, adapter=False if hasattr(model, "disable_adapter") else None
        )
        summary.seconds = round(seconds.get(arm, 0.0), 3)
    if extra_adapters:
        if score_tuned is None:
            raise ValueError("several adapters need score_tuned, the scoring of one arm")
        others = _tuned_summaries(
            model, extra_adapters, prompts, score=score_tuned, generate_kwargs=generate_kwargs
        )
        comparison.across_seeds["tuned"] = stats.spread_across(
            [comparison.summary["tuned"], *others]
        )
        comparison.notes.append(
            f"{1 + len(extra_adapters)} adapters: the rows, attacks and drift are the first "
            "adapter's; across_seeds holds each figure's mean and sd over all of them"
        )
    comparison.settings["seconds_by_arm"] = {a: round(s, 1) for a, s in seconds.items()}
    stats.annotate(comparison)
