"""The dataset card: a Markdown ``README.md`` written beside every export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glimmer.data.records import DatasetSplits
from glimmer.data.stats import diversity, lengths, summary

__all__ = ["dataset_card"]


def dataset_card(
    splits: DatasetSplits, /, *, name: str = "dataset", files: Sequence[str] = ()
) -> str:
    """Markdown describing a built dataset: counts per category, lengths, dedup, diversity, seed.

    Examples:
        >>> from glimmer.data import build, default_recipe
        >>> r = default_recipe()
        >>> card = dataset_card(build(r.with_options(builders=r.builders[-1:]), seed=3))
        >>> card.splitlines()[0]
        '# dataset'
    """
    train, val = summary(splits.train), summary(splits.validation)
    cats = list(dict.fromkeys([*train, *val]))
    stats: dict[str, Any] = dict(splits.stats)
    div = stats.get("diversity") or diversity(splits.all)
    dd = stats.get("dedup", {})
    lines = [
        f"# {name}",
        "",
        "Chat records built by glimmer: GLIMMER patterns and the "
        f"{stats.get('framework', 'STARWEAVE')} glossary turned into",
        "instruction/answer pairs. One JSON object a line: `messages` (system, user, assistant),",
        "`category`, `template_id`, `source`, `seed`.",
        "",
        f"- seed: {splits.seed}",
        f"- records: {len(splits.train)} train, {len(splits.validation)} validation",
    ]
    if files:
        lines.append(f"- files: {', '.join(f'`{f}`' for f in files)}")
    lines += [
        "",
        "## Records per category",
        "",
        "| category | train | validation | total |",
        "| --- | ---: | ---: | ---: |",
    ]
    for c in cats:
        lines.append(
            f"| {c} | {train.get(c, 0)} | {val.get(c, 0)} | {train.get(c, 0) + val.get(c, 0)} |"
        )
    lines.append(
        f"| **all** | {len(splits.train)} | {len(splits.validation)} | {len(splits.all)} |"
    )
    lines += [
        "",
        "## Answer length (words)",
        "",
        "| category | min | median | p90 | max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for c, d in lengths(splits.all).items():
        lines.append(f"| {c} | {d['min']} | {d['median']} | {d['p90']} | {d['max']} |")
    lines += ["", "## Deduplication", ""]
    if dd:
        lines.append(
            f"- kept {dd.get('kept', 0)}, dropped {dd.get('exact', 0)} exact and {dd.get('near', 0)} near duplicates"
        )
    else:
        lines.append("- not deduplicated")
    lines += [
        "",
        "## Diversity",
        "",
        f"- distinct 4-grams among user prompts: {div['prompt_4gram_share']:.1%}",
        f"- distinct 4-grams among assistant answers: {div['answer_4gram_share']:.1%}",
        f"- largest group of answers differing only in filled-in names: {div['largest_template_group']}"
        + (
            f" (`{div['largest_template_group_id']}`)"
            if div.get("largest_template_group_id")
            else ""
        ),
        "",
    ]
    return "\n".join(lines)
