"""The shift report: one self-contained HTML file, a Markdown summary, a plain-text headline.

The HTML comes from the Jinja2 template ``templates/report.html.j2`` beside this module, with
autoescaping on. Charts (concept share per category, loss curves) are drawn by matplotlib with
the Agg backend and inlined as SVG, so the file needs no network and no other file to view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from glimmer.evaluate.charts import ARM_COLORS
from glimmer.evaluate.charts import environment as _environment
from glimmer.evaluate.charts import matplotlib_available as _matplotlib_available
from glimmer.evaluate.charts import num as _num
from glimmer.evaluate.charts import pct as _pct
from glimmer.evaluate.charts import plt as _plt
from glimmer.evaluate.charts import signed_pct as _signed_pct
from glimmer.evaluate.charts import svg as _svg
from glimmer.evaluate.metrics import ConceptIndex, ConceptTerms
from glimmer.evaluate.suites import CATEGORIES, TRIGGER_CATEGORIES

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.results import Comparison
    from glimmer.train.result import FitResult

__all__ = ["ARM_COLORS", "headline", "highlight", "render_html", "render_markdown"]

_CATEGORY_TITLES = {
    "generation": "Generation: write a GLIMMER pattern",
    "interpretation": "Interpretation: explain a pattern",
    "application": "Application: answer through STARWEAVE",
    "reflection": "Self-reflection (the framework is not named)",
    "matrix": "Prompt or formative matrix? (the framework is not named)",
    "neutral": "Neutral: everyday questions",
}


def highlight(text: str, index: ConceptIndex, /, *, echoed: Sequence[str] = ()) -> Markup:
    """HTML of *text* with every concept term wrapped in ``<mark>``.

    Concepts the prompt already contained get the class ``echo``, the others ``sw``.
    """
    parts: list[str] = []
    pos = 0
    echo = set(echoed)
    for start, end, name in index.spans(text):
        parts.append(str(escape(text[pos:start])))
        cls = "echo" if name in echo else "sw"
        parts.append(f'<mark class="{cls}" title="{escape(name)}">{escape(text[start:end])}</mark>')
        pos = end
    parts.append(str(escape(text[pos:])))
    return Markup("".join(parts))


def concept_chart(comparison: Comparison, /) -> Markup | None:
    """Grouped bars: share of answers using a STARWEAVE concept, per category and arm (SVG)."""
    if not _matplotlib_available():
        return None
    plt = _plt()
    arms = list(comparison.summary)
    cats = [
        c
        for c in TRIGGER_CATEGORIES
        if any(c in s.concept_share_by_category for s in comparison.summary.values())
    ]
    if not cats:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    width = 0.8 / max(1, len(arms))
    for k, arm in enumerate(arms):
        vals = [100 * comparison.summary[arm].concept_share_by_category.get(c, 0.0) for c in cats]
        xs = [i + (k - (len(arms) - 1) / 2) * width for i in range(len(cats))]
        ax.bar(xs, vals, width=width * 0.92, label=arm, color=ARM_COLORS.get(arm, "#999999"))
    ax.set_xticks(range(len(cats)), cats)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% answers with a concept")
    ax.legend(frameon=False, ncol=len(arms), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    ax.grid(axis="y", alpha=0.25)
    return _svg(fig)


def loss_chart(fit: FitResult | None, /) -> Markup | None:
    """Training and validation loss against step (SVG), or None without a fit."""
    if fit is None or not (fit.train_loss or fit.eval_loss) or not _matplotlib_available():
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    if fit.train_loss:
        ax.plot(
            [p.step for p in fit.train_loss],
            [p.loss for p in fit.train_loss],
            label="training loss",
            color="#7c3aed",
            linewidth=1.6,
        )
    if fit.eval_loss:
        ax.plot(
            [p.step for p in fit.eval_loss],
            [p.loss for p in fit.eval_loss],
            label="validation loss",
            color="#f59e0b",
            marker="o",
            linewidth=1.6,
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    ax.grid(alpha=0.25)
    return _svg(fig)


def _index(comparison: Comparison) -> ConceptIndex:
    if comparison.terms:
        return ConceptIndex(ConceptTerms(n, tuple(ts)) for n, ts in comparison.terms.items())
    names = {
        c for r in comparison.rows for a in r.answers.values() for c in (*a.concepts, *a.echoed)
    }
    return ConceptIndex(ConceptTerms(n, (n,)) for n in sorted(names))


def _metric_rows(comparison: Comparison) -> list[tuple[str, str, list[str]]]:
    s = comparison.summary
    arms = list(s)

    def row(label: str, help_: str, fmt: Any, attr: str) -> tuple[str, str, list[str]]:
        def cell(a: str) -> str:
            iv = s[a].intervals.get(attr)
            value = fmt(getattr(s[a], attr, None))
            return f"{value} [{fmt(iv[0])}, {fmt(iv[1])}]" if iv else value

        return label, help_, [cell(a) for a in arms]

    return [
        row(
            "concept share",
            "non-neutral answers using a STARWEAVE concept the prompt did not contain",
            _pct,
            "concept_share",
        ),
        row(
            "concepts per answer",
            "mean number of new concepts in a non-neutral answer",
            _num,
            "mean_concepts",
        ),
        row(
            "semantic alignment",
            "cosine similarity to the closest glossary definition (all-MiniLM-L6-v2)",
            _num,
            "semantic_alignment",
        ),
        row(
            "framework coherence",
            "share of used concepts that appear with a related concept",
            _num,
            "coherence",
        ),
        row(
            "GLIMMER valid",
            "generation answers holding a pattern that parses and validates",
            _pct,
            "glimmer_valid_share",
        ),
        row(
            "GLIMMER valid, grammar",
            "generation prompts answered under the GLIMMER grammar with a valid pattern",
            _pct,
            "glimmer_valid_constrained_share",
        ),
        row(
            "seed sections",
            "share of the nine seed sections in the valid patterns written under the grammar",
            _pct,
            "section_coverage",
        ),
        row(
            "self-reference",
            "reflection answers speaking of themselves in framework terms",
            _pct,
            "self_reference_share",
        ),
        row(
            "neutral correct", "neutral questions answered correctly", _pct, "neutral_correct_share"
        ),
        row("perplexity", "on the bundled neutral text (lower is better)", _num, "perplexity"),
        row(
            "internalisation",
            "1 - KL(prompted || arm) / KL(prompted || base) per token on the prompted answers: "
            "1 answers as prompted without the prompt, 0 as the base model",
            _num,
            "internalisation",
        ),
        *_skeptic_rows(row),
        row(
            "ended by itself",
            "answers that ended their turn before the token budget",
            _pct,
            "ended_share",
        ),
    ]


def _skeptic_rows(row: Any) -> list[tuple[str, str, list[str]]]:
    # rows nothing was measured for (no retention suite, no attacks) are left out
    return [r for r in _all_skeptic_rows(row) if any(v != "n/a" for v in r[2])]


def _all_skeptic_rows(row: Any) -> list[tuple[str, str, list[str]]]:
    return [
        row(
            "retention correct",
            "the 111 retention questions answered correctly",
            _pct,
            "retention_correct_share",
        ),
        row(
            "invented terms",
            "prose answers using a framework-looking term the glossary lacks",
            _pct,
            "invented_term_share",
        ),
        row("repetition", "non-neutral answers repeating a sentence", _pct, "repetition_share"),
        row(
            "distinct answers",
            "non-neutral answers no other answer duplicates",
            _pct,
            "distinct_answer_share",
        ),
        row(
            "neutral concept share",
            "neutral answers using a concept",
            _pct,
            "neutral_concept_share",
        ),
        row(
            "robust concept share",
            "attacked answers still using a concept (pooled)",
            _pct,
            "robust_concept_share",
        ),
        row(
            "answer perplexity",
            "of the arm's non-neutral answers under the base model",
            _num,
            "answer_perplexity",
        ),
        row("seconds", "generation time of the arm (all suites)", _num, "seconds"),
    ]


def render_html(comparison: Comparison, /) -> str:
    """The self-contained HTML report of *comparison*."""
    index = _index(comparison)
    sections = []
    for cat in CATEGORIES:
        rows = [r for r in comparison.rows if r.category == cat and r.suite != "retention"]
        if not rows:
            continue
        items = []
        for r in rows:
            answers = []
            for arm, a in r.answers.items():
                answers.append(
                    {"arm": arm, "a": a, "html": highlight(a.text, index, echoed=a.echoed)}
                )
            items.append(
                {
                    "row": r,
                    "prompt_html": highlight(r.prompt, index, echoed=list(index.concepts)),
                    "answers": answers,
                }
            )
        sections.append({"category": cat, "title": _CATEGORY_TITLES.get(cat, cat), "items": items})
    retention = [
        r
        for r in comparison.rows
        if r.suite == "retention" and len({a.correct for a in r.answers.values()}) > 1
    ]
    if retention:
        sections.append(
            {
                "category": "retention",
                "title": "Retention: the everyday questions where the arms disagree",
                "items": [
                    {
                        "row": r,
                        "prompt_html": escape(r.prompt),
                        "answers": [
                            {"arm": arm, "a": a, "html": highlight(a.text, index)}
                            for arm, a in r.answers.items()
                        ],
                    }
                    for r in retention
                ],
            }
        )
    from glimmer.evaluate.verdict import render_skeptic_html

    fit_config = sorted((comparison.fit.config if comparison.fit else {}).items())
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            c=comparison,
            arms=list(comparison.summary),
            arm_colors=ARM_COLORS,
            metric_rows=_metric_rows(comparison),
            concept_svg=concept_chart(comparison),
            loss_svg=loss_chart(comparison.fit),
            sections=sections,
            fit_config=fit_config,
            matplotlib_missing=not _matplotlib_available(),
            skeptic_lead=render_skeptic_html(comparison, part="lead"),
            skeptic_details=render_skeptic_html(comparison, part="details"),
        )
    )


def headline(comparison: Comparison, /) -> str:
    """The headline figures in a few plain-text lines."""
    s = comparison.summary
    arms = list(s)

    def line(label: str, values: list[str]) -> str:
        return f"{label:<22}" + "  ".join(f"{a} {v}" for a, v in zip(arms, values, strict=True))

    lines = [
        line("concept share", [_pct(s[a].concept_share) for a in arms]),
        line("GLIMMER valid", [_pct(s[a].glimmer_valid_share) for a in arms]),
        line("valid under grammar", [_pct(s[a].glimmer_valid_constrained_share) for a in arms]),
        line("neutral correct", [_pct(s[a].neutral_correct_share) for a in arms]),
        line("ended by themselves", [_pct(s[a].ended_share) for a in arms]),
        line("perplexity", [_num(s[a].perplexity) for a in arms]),
        line("internalisation", [_num(s[a].internalisation) for a in arms]),
    ]
    if comparison.perplexity_change is not None:
        lines.append(
            f"{'perplexity change':<22}{_signed_pct(comparison.perplexity_change)} (tuned vs base)"
        )
    from glimmer.evaluate.verdict import headline_lines

    lines += headline_lines(comparison)
    return "\n".join(lines)


def _md_cell(text: str, limit: int = 280) -> str:
    t = " ".join(text.split())
    if len(t) > limit:
        t = t[: limit - 1] + "…"
    return t.replace("|", "\\|") or "_(empty)_"


def render_markdown(comparison: Comparison, /) -> str:
    """A Markdown summary: the figures table, per-category shares and one example per category."""
    s = comparison.summary
    arms = list(s)
    out = ["## STARWEAVE shift: base vs prompted vs tuned", ""]
    out.append(
        f"Model `{comparison.model}`"
        + (f", adapter `{comparison.adapter}`" if comparison.adapter else "")
        + "."
    )
    out.append("")
    from glimmer.evaluate.verdict import skeptic_markdown

    out += skeptic_markdown(comparison)
    out.append("| figure | " + " | ".join(arms) + " |")
    out.append("| --- |" + " ---: |" * len(arms))
    for label, _help, values in _metric_rows(comparison):
        out.append(f"| {label} | " + " | ".join(values) + " |")
    if comparison.perplexity_change is not None:
        out.append("")
        out.append(
            f"Perplexity change (tuned vs base): **{_signed_pct(comparison.perplexity_change)}**."
        )
    out += ["", "### Concept share by category", "", "| category | " + " | ".join(arms) + " |"]
    out.append("| --- |" + " ---: |" * len(arms))
    for cat in TRIGGER_CATEGORIES:
        if any(cat in s[a].concept_share_by_category for a in arms):
            out.append(
                f"| {cat} | "
                + " | ".join(_pct(s[a].concept_share_by_category.get(cat)) for a in arms)
                + " |"
            )
    out += ["", "### Examples", ""]
    for cat in CATEGORIES:
        row = next((r for r in comparison.rows if r.category == cat), None)
        if row is None:
            continue
        out.append(f"**{cat}**: {_md_cell(row.prompt, 200)}")
        out.append("")
        out.append("| arm | answer | concepts |")
        out.append("| --- | --- | --- |")
        for arm, a in row.answers.items():
            out.append(f"| {arm} | {_md_cell(a.text)} | {', '.join(a.concepts) or '-'} |")
        out.append("")
    if comparison.notes:
        out.append("Notes: " + "; ".join(comparison.notes) + ".")
    return "\n".join(out).rstrip() + "\n"
