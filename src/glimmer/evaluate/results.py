"""The result schema of a comparison: answers, their scores, per-arm figures, the whole.

:class:`Comparison` is what :func:`~glimmer.evaluate.compare.compare` and
:func:`~glimmer.evaluate.compare.score_comparison` return and what ``result.json`` holds; it
renders itself as JSON, Markdown and HTML. The fit it shows is the train stage's own
:class:`~glimmer.train.result.FitResult`.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from glimmer.evaluate.coverage import PatternCheck
from glimmer.evaluate.drift import DriftConversation
from glimmer.evaluate.robustness import AttackRow
from glimmer.evaluate.stats import Difference, Spread
from glimmer.train.result import FitResult

__all__ = ["ARMS", "AnswerScore", "Arm", "ArmSummary", "Comparison", "PromptRow"]

Arm = Literal["base", "prompted", "tuned"]
#: The three arms, in report order.
ARMS: Final[tuple[Arm, ...]] = ("base", "prompted", "tuned")


class AnswerScore(BaseModel):
    """One arm's answer to one prompt, with its per-answer figures."""

    text: str
    ended: bool = True
    n_tokens: int = 0
    concepts: list[str] = Field(
        default_factory=list, description="concepts used that the prompt did not contain"
    )
    echoed: list[str] = Field(
        default_factory=list, description="concepts the prompt already contained"
    )
    alignment: float | None = None
    coherence: float = 0.0
    glimmer_valid: bool | None = None
    glimmer_error: str | None = None
    self_reference: bool | None = None
    correct: bool | None = None
    invented: list[str] = Field(
        default_factory=list, description="framework-looking terms the glossary does not define"
    )
    repeated: bool | None = Field(None, description="a sentence of the answer appears twice")
    distinct: bool | None = Field(None, description="no other answer of the arm is the same")


class PromptRow(BaseModel):
    """One trigger prompt and the three answers."""

    id: str
    category: str
    prompt: str
    expected: list[str] = Field(default_factory=list)
    suite: str = Field("", description="the suite file's stem (retention rows: 'retention')")
    answers: dict[str, AnswerScore]
    constrained: dict[str, PatternCheck] = Field(
        default_factory=dict, description="arm -> the grammar-constrained pattern (generation)"
    )


class ArmSummary(BaseModel):
    """The aggregated figures of one arm.

    Shares are in [0, 1]; ``None`` where nothing was measured (no prompt of that kind, or no
    embedding model for semantic alignment).
    """

    concept_share: float = Field(
        description="non-neutral answers using a concept the prompt did not contain"
    )
    concept_share_by_category: dict[str, float] = Field(default_factory=dict)
    mean_concepts: float = 0.0
    semantic_alignment: float | None = None
    coherence: float = 0.0
    glimmer_valid_share: float | None = None
    self_reference_share: float | None = None
    neutral_correct_share: float | None = None
    neutral_concept_share: float | None = None
    perplexity: float | None = None
    internalisation: float | None = Field(
        None,
        description="1 - KL(prompted || arm) / KL(prompted || base) per token on the prompted "
        "arm's answers: 1 answers as the prompted model without the prompt, 0 as the base",
    )
    ended_share: float = Field(description="answers that ended their turn by themselves")
    n_answers: int = 0
    retention_correct_share: float | None = None
    invented_term_share: float | None = None
    repetition_share: float | None = None
    distinct_answer_share: float | None = None
    robust_concept_share: float | None = None
    robust_concept_share_by_attack: dict[str, float] = Field(default_factory=dict)
    drift_concept_share: list[float] = Field(
        default_factory=list, description="concept share per conversation turn"
    )
    perplexity_by_text: dict[str, float] = Field(default_factory=dict)
    answer_perplexity: float | None = Field(
        None, description="perplexity of the arm's answers under the base model"
    )
    seconds: float | None = Field(None, description="generation seconds of the arm")
    n: dict[str, int] = Field(default_factory=dict, description="figure -> items behind it")
    intervals: dict[str, list[float]] = Field(
        default_factory=dict, description="figure -> 95% bootstrap interval [low, high]"
    )
    glimmer_valid_constrained_share: float | None = Field(
        None, description="generation prompts answered by a valid pattern under the grammar"
    )
    section_coverage: float | None = Field(
        None, description="share of the nine seed sections in the valid constrained patterns"
    )
    story_share: float | None = Field(
        None, description="valid constrained patterns with a non-empty story"
    )


class Comparison(BaseModel):
    """The outcome of :func:`compare`: every answer, per-arm figures, notes.

    Attributes:
        rows: One row per prompt with the three answers and their scores.
        summary: Arm name -> :class:`ArmSummary`.
        perplexity_change: ``tuned / base - 1`` on the neutral text (0.05 is a 5% rise).
        model: The base model's name or path.
        adapter: The adapter directory.
        prompt_pattern: The pattern given to the prompted arm.
        notes: Things the reader should know (a metric skipped, settings).
        settings: Generation settings.
        fit: The fit the tuned arm came from (loss curves, configuration), when known.
        terms: Concept -> surface forms searched for (the report highlights them).
    """

    rows: list[PromptRow]
    summary: dict[str, ArmSummary]
    perplexity_change: float | None = None
    model: str = ""
    adapter: str | None = None
    prompt_pattern: str | None = None
    notes: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    fit: FitResult | None = None
    terms: dict[str, list[str]] = Field(
        default_factory=dict, description="concept -> surface forms, for highlighting"
    )
    differences: dict[str, dict[str, Difference]] = Field(
        default_factory=dict, description="'tuned-base' -> figure -> paired difference"
    )
    robustness: list[AttackRow] = Field(default_factory=list)
    drift: list[DriftConversation] = Field(default_factory=list)
    across_seeds: dict[str, dict[str, Spread]] = Field(
        default_factory=dict, description="arm -> figure -> mean and sd over several adapters"
    )
    steering: dict[str, Any] = Field(default_factory=dict)
    video: str | None = None
    created: str = Field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    )

    def to_json(self, *, indent: int = 2) -> str:
        """The whole comparison as JSON (``summary.base``, ``summary.prompted``, ``summary.tuned``, ``rows``, ...)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str, /) -> Comparison:
        """Read back what :meth:`to_json` wrote."""
        return cls.model_validate_json(text)

    def headline(self) -> str:
        """The headline figures in a few lines of plain text."""
        from glimmer.evaluate.report import headline

        return headline(self)

    def to_markdown(self) -> str:
        """A Markdown summary (figures and a few answers) for pasting into an issue or post."""
        from glimmer.evaluate.report import render_markdown

        return render_markdown(self)

    def to_html(
        self, path: str | os.PathLike[str] | None = None, /, *, overwrite: bool = True
    ) -> str:
        """The self-contained HTML report; written to *path* when given.

        Returns:
            The HTML text.
        """
        from glimmer.evaluate.report import render_html

        html = render_html(self)
        if path is not None:
            from glimmer.model.io import write_text

            write_text(path, html, overwrite=overwrite)
        return html
