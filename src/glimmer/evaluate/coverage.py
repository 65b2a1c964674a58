"""How complete generated patterns are: strict validity, seed-section coverage, a story.

Pure functions over texts; no model needed. :mod:`glimmer.evaluate.constrained` produces the
texts, :func:`glimmer.compare` reports these figures per arm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from glimmer.errors import GlimmerError
from glimmer.model.io import loads
from glimmer.model.pattern import SEED_SECTIONS, Pattern

__all__ = [
    "PatternCheck",
    "PatternFigures",
    "check_pattern",
    "pattern_figures",
    "section_coverage",
    "story_present",
]


class PatternCheck(BaseModel):
    """One generated pattern, checked.

    Attributes:
        text: What the model wrote (the whole answer).
        format: ``"glimmer"`` or ``"json"``.
        ended: Whether the model finished it (``False``: it ran out of tokens).
        n_tokens: Tokens generated.
        valid: Whether it finished, parses and validates with ``glimmer.loads(strict=True)``.
        error: Why it is not valid (``ran out of tokens`` or the first line of the error).
        sections: The seed sections it holds, when valid.
        story: Whether it holds a non-empty story, when valid.
    """

    text: str
    format: str = "glimmer"
    ended: bool = True
    n_tokens: int = 0
    valid: bool = False
    error: str | None = None
    sections: list[str] = []
    story: bool = False


def story_present(pattern: Pattern, /) -> bool:
    """Whether *pattern* has a story with some text in it."""
    story = pattern.story
    if isinstance(story, str):
        return bool(story.strip())
    if isinstance(story, list):
        return any(str(s).strip() for s in story)
    return bool(story)


def section_coverage(pattern: Pattern, /) -> float:
    """Share of the nine seed sections present in *pattern*.

    Examples:
        >>> section_coverage(loads('metadata { title: "x" } story: "y"'))
        0.2222222222222222
    """
    return sum(getattr(pattern, s) is not None for s in SEED_SECTIONS) / len(SEED_SECTIONS)


def check_pattern(
    text: str, /, *, format: str = "glimmer", ended: bool = True, n_tokens: int = 0
) -> PatternCheck:
    """Check one generated pattern: a pattern cut by the token budget is never valid.

    Examples:
        >>> check_pattern('story: "A seed."').valid
        True
        >>> check_pattern('story: "A se', ended=False).error
        'ran out of tokens after 0 tokens'
    """
    out = PatternCheck(text=text, format=format, ended=ended, n_tokens=n_tokens)
    if not ended:
        out.error = f"ran out of tokens after {n_tokens} tokens"
        return out
    try:
        pattern = loads(text, format=format, strict=True, source="answer")
    except GlimmerError as exc:
        out.error = str(exc).splitlines()[0]
        return out
    out.valid = True
    out.sections = [s for s in SEED_SECTIONS if getattr(pattern, s) is not None]
    out.story = story_present(pattern)
    return out


@dataclass(frozen=True)
class PatternFigures:
    """Aggregates over checked patterns.

    Attributes:
        valid_share: Share valid (cut-off patterns count as invalid).
        section_coverage: Mean share of the nine seed sections in the valid ones.
        story_share: Share of the valid ones with a non-empty story.
        cut_share: Share that ran out of tokens.
    """

    valid_share: float | None
    section_coverage: float | None
    story_share: float | None
    cut_share: float | None


def pattern_figures(checks: Sequence[PatternCheck], /) -> PatternFigures:
    """The figures of *checks*; ``None`` where there is nothing to measure."""
    if not checks:
        return PatternFigures(None, None, None, None)
    valid = [c for c in checks if c.valid]
    n_seed = len(SEED_SECTIONS)
    return PatternFigures(
        valid_share=len(valid) / len(checks),
        section_coverage=(
            sum(len(c.sections) for c in valid) / (n_seed * len(valid)) if valid else None
        ),
        story_share=sum(c.story for c in valid) / len(valid) if valid else None,
        cut_share=sum(not c.ended for c in checks) / len(checks),
    )
