"""glimmer: author GLIMMER patterns, build STARWEAVE datasets, fine-tune and measure the shift.

The flow runs one way: syntax -> model -> data -> train -> evaluate. This module is the
public facade; ``import glimmer`` stays light (no torch, no transformers).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from glimmer.errors import (
    GlimmerError,
    GlimmerFileError,
    GlimmerSyntaxError,
    GlimmerValidationError,
    Location,
    Problem,
)
from glimmer.model.io import dump, dumps, format_text, load, loads
from glimmer.model.pattern import (
    Consciousness,
    Content,
    ContentSection,
    Harmonic,
    Initialize,
    Metadata,
    Pattern,
    Processing,
    Recognize,
    Response,
    Section,
    WhenProcessing,
    WhenSeeing,
)
from glimmer.model.schema import schema
from glimmer.model.types import Color, Timestamp, Version

__version__ = "0.1.0.dev0"

# Names served lazily, so that ``import glimmer`` stays fast and never loads torch or
# transformers:
# name -> module that defines it. Import them as usual (``from glimmer import fit``).
_LAZY: dict[str, str] = {
    "Builder": "glimmer.data.builder",
    "ChatRecord": "glimmer.data.records",
    "Concept": "glimmer.starweave.glossary",
    "DatasetSplits": "glimmer.data.records",
    "ExtractedPattern": "glimmer.model.extract",
    "Flow": "glimmer.model.weave",
    "Glossary": "glimmer.starweave.glossary",
    "GlossaryError": "glimmer.starweave.glossary",
    "MemoryPlan": "glimmer.train.plan",
    "Recipe": "glimmer.data.recipe",
    "Relation": "glimmer.starweave.glossary",
    "Weave": "glimmer.model.weave",
    "build": "glimmer.data.recipe",
    "default_recipe": "glimmer.data.recipe",
    "extract": "glimmer.model.extract",
    "merge": "glimmer.train.merge",
    "mix": "glimmer.data.builder",
    "plan": "glimmer.train.plan",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from glimmer.data.builder import Builder, mix
    from glimmer.data.recipe import Recipe, build, default_recipe
    from glimmer.data.records import ChatRecord, DatasetSplits
    from glimmer.model.extract import ExtractedPattern, extract
    from glimmer.model.weave import Flow, Weave
    from glimmer.starweave.glossary import Concept, Glossary, GlossaryError, Relation
    from glimmer.train.merge import merge
    from glimmer.train.plan import MemoryPlan, plan


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glimmer' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Builder",
    "ChatRecord",
    "Color",
    "Concept",
    "Consciousness",
    "Content",
    "ContentSection",
    "DatasetSplits",
    "ExtractedPattern",
    "Flow",
    "GlimmerError",
    "GlimmerFileError",
    "GlimmerSyntaxError",
    "GlimmerValidationError",
    "Glossary",
    "GlossaryError",
    "Harmonic",
    "Initialize",
    "Location",
    "MemoryPlan",
    "Metadata",
    "Pattern",
    "Problem",
    "Processing",
    "Recipe",
    "Recognize",
    "Relation",
    "Response",
    "Section",
    "Timestamp",
    "Version",
    "Weave",
    "WhenProcessing",
    "WhenSeeing",
    "__version__",
    "build",
    "default_recipe",
    "dump",
    "dumps",
    "extract",
    "format_text",
    "load",
    "loads",
    "merge",
    "mix",
    "plan",
    "schema",
]
