"""The report's answer to "Is this just a prompt, or is it changing the model?".

:func:`lead` writes the figures a skeptic asks for first, in sentences: the shift with its
interval and the paired differences, robustness to attacks per arm, the drift over a
conversation, retention, the steering arm. :func:`render_skeptic_html` and
:func:`skeptic_markdown` lay out the tables behind them (differences, attacks, drift curve,
retention, steering sweep, spread across seeds, seconds per arm, the video) for
:mod:`glimmer.evaluate.report`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.results import Comparison

__all__ = [
    "drift_chart",
    "headline_lines",
    "lead",
    "render_skeptic_html",
    "skeptic_markdown",
    "with_interval",
]


def _p(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.0f}%"


def _pts(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:+.0f}"


def with_interval(c: Comparison, arm: str, figure: str, /) -> str:
    """``"90% [75%, 100%]"``: a share with its 95% interval (``"n/a"`` when not measured)."""
    value = getattr(c.summary[arm], figure, None)
    if value is None:
        return "n/a"
    iv = c.summary[arm].intervals.get(figure)
    return f"{_p(value)} [{_p(iv[0])}, {_p(iv[1])}]" if iv else _p(value)


def _diff(c: Comparison, pair: str, figure: str) -> str:
    """A difference in points for a share, as a signed number for other figures."""
    d = c.differences.get(pair, {}).get(figure)
    if d is None:
        return "n/a"
    share = figure.endswith("_share")

    def f(x: float | None) -> str:
        return _pts(x) if share else ("n/a" if x is None else f"{x:+.2f}")

    iv = f" [{f(d.low)}, {f(d.high)}]" if d.low is not None and d.high is not None else ""
    return f"{f(d.value)}{' points' if share else ''}{iv}"


def _framework(c: Comparison) -> str:
    return str(c.settings.get("framework") or "STARWEAVE")


def lead(comparison: Comparison, /) -> list[str]:
    """The answer in a few sentences, each with its figures and intervals."""
    c = comparison
    s = c.summary
    fw = _framework(c)
    arms = [a for a in ("base", "prompted", "tuned", "steered") if a in s]
    out: list[str] = []
    if "tuned" in s and "base" in s:
        n = s["tuned"].n.get("concept_share", 0)
        out.append(
            f"Shift: on {n} non-neutral prompts the tuned model uses a {fw} concept in "
            f"{with_interval(c, 'tuned', 'concept_share')} of its answers, the base model in "
            f"{with_interval(c, 'base', 'concept_share')}"
            + (
                f" and the prompted one in {with_interval(c, 'prompted', 'concept_share')}"
                if "prompted" in s
                else ""
            )
            + f". Paired, tuned - base is {_diff(c, 'tuned-base', 'concept_share')}"
            + (
                f", tuned - prompted {_diff(c, 'tuned-prompted', 'concept_share')}."
                if "tuned-prompted" in c.differences
                else "."
            )
        )
    if any(s[a].robust_concept_share is not None for a in arms):
        per = ", ".join(f"{a} {with_interval(c, a, 'robust_concept_share')}" for a in arms)
        out.append(
            f"Asked to drop the framework ({len(c.robustness)} attacked prompts: a plain-answer "
            f"suffix, a role-break, an earlier plain exchange), answers still in {fw} terms: {per}."
        )
    if any(s[a].drift_concept_share for a in arms):
        per = "; ".join(
            f"{a} {_p(s[a].drift_concept_share[0])} at turn 1, "
            f"{_p(s[a].drift_concept_share[-1])} at turn {len(s[a].drift_concept_share)}"
            for a in arms
            if s[a].drift_concept_share
        )
        out.append(f"Over {len(c.drift)} scripted conversations: {per}.")
    if all(s[a].retention_correct_share is not None for a in arms) and arms:
        n = s[arms[0]].n.get("retention_correct_share", 0)
        per = ", ".join(f"{a} {with_interval(c, a, 'retention_correct_share')}" for a in arms)
        out.append(
            f"Retention: {n} everyday questions answered correctly by {per}"
            + (
                f" (tuned - base {_diff(c, 'tuned-base', 'retention_correct_share')})."
                if "tuned-base" in c.differences
                else "."
            )
        )
    if "steered" in s and c.steering:
        out.append(
            f"A steering vector (layer {c.steering.get('layer')}, strength "
            f"{c.steering.get('strength')}, from {c.steering.get('pairs')} contrast pairs) reaches "
            f"{with_interval(c, 'steered', 'concept_share')}, its answers' perplexity under "
            f"the base model {_num(s['steered'].answer_perplexity)} "
            f"(base answers {_num(s['base'].answer_perplexity)})."
        )
    d = c.differences.get("tuned-prompted", {}).get("concept_share")
    if d is not None and d.low is not None:
        if d.low > 0:
            out.insert(
                0,
                "Changing the model: the tuned weights shift answers further than the pattern "
                "in a prompt does, and the interval of the difference excludes zero.",
            )
        else:
            out.insert(
                0,
                "Not shown to go beyond a prompt: the interval of tuned - prompted includes zero.",
            )
    return out


def headline_lines(comparison: Comparison, /) -> list[str]:
    """Plain-text headline lines: intervals, differences, robustness, retention, seeds, seconds."""
    c = comparison
    arms = list(c.summary)

    def line(label: str, values: list[str]) -> str:
        return f"{label:<22}" + "  ".join(f"{a} {v}" for a, v in zip(arms, values, strict=True))

    out = [line("concept share 95% CI", [with_interval(c, a, "concept_share") for a in arms])]
    for pair in ("tuned-base", "tuned-prompted", "steered-base"):
        if "concept_share" in c.differences.get(pair, {}):
            out.append(f"{pair:<22}{_diff(c, pair, 'concept_share')} (concept share, paired)")
    for label, figure in (
        ("robust concept share", "robust_concept_share"),
        ("retention correct", "retention_correct_share"),
        ("invented terms", "invented_term_share"),
        ("repetition", "repetition_share"),
    ):
        if any(getattr(c.summary[a], figure) is not None for a in arms):
            out.append(line(label, [with_interval(c, a, figure) for a in arms]))
    for a in arms:
        if c.summary[a].drift_concept_share:
            out.append(
                f"{'drift ' + a:<22}"
                + " ".join(_p(v) for v in c.summary[a].drift_concept_share)
                + " (concept share by turn)"
            )
    for figure, sp in c.across_seeds.get("tuned", {}).items():
        if figure in ("concept_share", "neutral_correct_share", "robust_concept_share"):
            sd = f" ± {sp.sd:.3f}" if sp.sd is not None else ""
            out.append(f"{'tuned ' + figure:<22} {sp.mean:.3f}{sd} over {len(sp.values)} adapters")
    secs = [(a, c.summary[a].seconds) for a in arms if c.summary[a].seconds is not None]
    if secs:
        out.append(f"{'seconds':<22}" + "  ".join(f"{a} {s:.0f}" for a, s in secs))
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.2f}"


def drift_chart(comparison: Comparison, /) -> Markup | None:
    """Concept share per conversation turn, one line per arm (SVG)."""
    from glimmer.evaluate.charts import ARM_COLORS
    from glimmer.evaluate.charts import matplotlib_available as _matplotlib_available
    from glimmer.evaluate.charts import plt as _plt
    from glimmer.evaluate.charts import svg as _svg

    arms = [a for a, s in comparison.summary.items() if s.drift_concept_share]
    if not arms or not _matplotlib_available():
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    for arm in arms:
        ys = [100 * v for v in comparison.summary[arm].drift_concept_share]
        ax.plot(
            range(1, len(ys) + 1),
            ys,
            marker="o",
            label=arm,
            color=ARM_COLORS.get(arm, "#999999"),
            linewidth=1.6,
        )
    ax.set_xlabel("turn")
    ax.set_ylabel("% answers with a concept")
    ax.set_ylim(-5, 105)
    ax.legend(frameon=False, ncol=len(arms), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    ax.grid(alpha=0.25)
    return Markup(_svg(fig))


def _diff_rows(c: Comparison) -> list[tuple[str, list[str]]]:
    pairs = list(c.differences)
    figures: list[str] = []
    for diffs in c.differences.values():
        figures += [f for f in diffs if f not in figures]
    return [(f, [_diff(c, p, f) for p in pairs]) for f in figures]


def _attack_rows(c: Comparison, arms: Sequence[str]) -> list[tuple[str, list[str]]]:
    attacks: list[str] = []
    for r in c.robustness:
        if r.attack not in attacks:
            attacks.append(r.attack)
    rows = [
        (a, [_p(c.summary[arm].robust_concept_share_by_attack.get(a)) for arm in arms])
        for a in attacks
    ]
    if rows:
        rows.append(("pooled", [with_interval(c, arm, "robust_concept_share") for arm in arms]))
    return rows


def _seed_rows(c: Comparison) -> list[tuple[str, str]]:
    out = []
    for figure, sp in c.across_seeds.get("tuned", {}).items():
        sd = f" ± {sp.sd:.3f}" if sp.sd is not None else ""
        out.append((figure, f"{sp.mean:.3f}{sd} (n={len(sp.values)})"))
    return out


def _context(c: Comparison) -> dict[str, Any]:
    arms = list(c.summary)
    return {
        "c": c,
        "arms": arms,
        "lead": lead(c),
        "diff_pairs": list(c.differences),
        "diff_rows": _diff_rows(c),
        "attack_rows": _attack_rows(c, arms),
        "drift_svg": drift_chart(c),
        "seed_rows": _seed_rows(c),
        "seconds": [(a, c.summary[a].seconds) for a in arms if c.summary[a].seconds is not None],
    }


def render_skeptic_html(comparison: Comparison, /, *, part: str) -> Markup:
    """The lead (``part="lead"``) or the detail sections (``part="details"``) as HTML."""
    from glimmer.evaluate.charts import environment as _environment

    template = _environment().get_template("skeptic.html.j2")
    return Markup(template.render(part=part, **_context(comparison)))


def skeptic_markdown(comparison: Comparison, /) -> list[str]:
    """The lead and the detail tables as Markdown lines."""
    c = comparison
    ctx = _context(c)
    arms = ctx["arms"]
    out = ["### Is this just a prompt, or is it changing the model?", ""]
    out += [f"- {line}" for line in ctx["lead"]] + [""]
    if ctx["diff_rows"]:
        out += ["| paired difference | " + " | ".join(ctx["diff_pairs"]) + " |"]
        out += ["| --- |" + " ---: |" * len(ctx["diff_pairs"])]
        out += [f"| {f} | " + " | ".join(v) + " |" for f, v in ctx["diff_rows"]] + [""]
    if ctx["attack_rows"]:
        out += ["| attack: still in framework terms | " + " | ".join(arms) + " |"]
        out += ["| --- |" + " ---: |" * len(arms)]
        out += [f"| {a} | " + " | ".join(v) + " |" for a, v in ctx["attack_rows"]] + [""]
    drift_arms = [a for a in arms if c.summary[a].drift_concept_share]
    if drift_arms:
        n = max(len(c.summary[a].drift_concept_share) for a in drift_arms)
        out += ["| concept share by turn | " + " | ".join(str(k) for k in range(1, n + 1)) + " |"]
        out += ["| --- |" + " ---: |" * n]
        out += [
            f"| {a} | " + " | ".join(_p(v) for v in c.summary[a].drift_concept_share) + " |"
            for a in drift_arms
        ] + [""]
    if ctx["seed_rows"]:
        out += ["| tuned, across adapters | mean ± sd |", "| --- | --- |"]
        out += [f"| {f} | {v} |" for f, v in ctx["seed_rows"]] + [""]
    if ctx["seconds"]:
        out += ["Seconds per arm: " + ", ".join(f"{a} {s:.0f} s" for a, s in ctx["seconds"]) + "."]
        out += [""]
    if c.video:
        out += [f"Video: [{c.video}]({c.video})", ""]
    return out
