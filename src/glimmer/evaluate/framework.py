"""A user's framework for the demo: the recipe, its glossary, its pattern and its prompts.

``glimmer demo --recipe RECIPE.toml`` (``run_demo(recipe=...)``) builds that recipe's dataset,
fits on it and compares with its glossary (concepts, highlighting, alignment), its pattern
(the prompted arm's system prompt) and its prompts. :func:`demo_framework` reads and checks all
of it before the demo writes anything, so a bad file stops the run with its location.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from glimmer.data.recipe import Recipe
from glimmer.evaluate.suites import TriggerPrompt, bundled_suites, load_suite
from glimmer.model.io import load
from glimmer.starweave.glossary import Glossary

__all__ = ["DemoFramework", "demo_framework"]


@dataclass(frozen=True)
class DemoFramework:
    """What the demo needs of a recipe.

    Attributes:
        recipe: The recipe.
        glossary: Its active glossary (the bundled one extended or replaced by its own).
        pattern: The prompted arm's pattern file: the recipe's ``formative_matrix``, else its
            first pattern file; ``None`` for the bundled example.
        prompts: The recipe's suites (with the bundled neutral prompts when they have none),
            or the bundled suites speaking the glossary's framework name.
    """

    recipe: Recipe
    glossary: Glossary
    pattern: Path | None
    prompts: list[TriggerPrompt]


def _pattern_file(recipe: Recipe) -> Path | None:
    if recipe.formative_matrix:
        return Path(recipe.formative_matrix)
    for entry in recipe.patterns:
        path = Path(entry)
        if path.is_file():
            return path
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in {".glimmer", ".json"})
            if found:
                return found[0]
    return None


def demo_framework(recipe: str | os.PathLike[str], /) -> DemoFramework:
    """Read a recipe and everything it names that the demo uses, checking each file.

    Raises:
        RecipeError: The recipe is not valid, or its ``formative_matrix`` is missing.
        GlossaryError: Its glossary is not valid (no concepts, a relation to a missing
            concept, ...).
        GlimmerError: Its pattern does not parse, or a suite file is not valid.
    """
    loaded = Recipe.load(Path(recipe))
    glossary = loaded.active_glossary()
    loaded.formative_pattern()  # a missing formative_matrix: G423 at its line in the recipe
    pattern = _pattern_file(loaded)
    if pattern is not None:
        load(pattern)
    prompts = [p for s in loaded.suites for p in load_suite(s)]
    if not prompts:
        prompts = bundled_suites(framework=glossary.name)
    elif not any(p.category == "neutral" for p in prompts):
        prompts += bundled_suites(["neutral"])
    return DemoFramework(loaded, glossary, pattern, prompts)
