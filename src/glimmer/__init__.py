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
    "Comparison": "glimmer.evaluate.compare",
    "Concept": "glimmer.starweave.glossary",
    "DatasetSplits": "glimmer.data.records",
    "ExportResult": "glimmer.train.export",
    "ExtractedPattern": "glimmer.model.extract",
    "FitConfig": "glimmer.train.config",
    "FitResult": "glimmer.train.result",
    "Flow": "glimmer.model.weave",
    "Glossary": "glimmer.starweave.glossary",
    "GlossaryError": "glimmer.starweave.glossary",
    "MemoryPlan": "glimmer.train.plan",
    "Recipe": "glimmer.data.recipe",
    "Relation": "glimmer.starweave.glossary",
    "SuiteError": "glimmer.evaluate.suites",
    "TriggerPrompt": "glimmer.evaluate.suites",
    "Weave": "glimmer.model.weave",
    "build": "glimmer.data.recipe",
    "bundled_suites": "glimmer.evaluate.suites",
    "compare": "glimmer.evaluate.compare",
    "default_recipe": "glimmer.data.recipe",
    "doctor": "glimmer.train.doctor",
    "export": "glimmer.train.export",
    "extract": "glimmer.model.extract",
    "fit": "glimmer.train.fit",
    "generate": "glimmer.evaluate.generate",
    "generate_pattern": "glimmer.evaluate.constrained",
    "load_suite": "glimmer.evaluate.suites",
    "merge": "glimmer.train.merge",
    "mix": "glimmer.data.builder",
    "plan": "glimmer.train.plan",
    "run_demo": "glimmer.demo",
    "score_comparison": "glimmer.evaluate.compare",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from glimmer.data.builder import Builder, mix
    from glimmer.data.recipe import Recipe, build, default_recipe
    from glimmer.data.records import ChatRecord, DatasetSplits
    from glimmer.demo import run_demo
    from glimmer.evaluate.compare import Comparison, compare, score_comparison
    from glimmer.evaluate.constrained import generate_pattern
    from glimmer.evaluate.generate import generate
    from glimmer.evaluate.suites import SuiteError, TriggerPrompt, bundled_suites, load_suite
    from glimmer.model.extract import ExtractedPattern, extract
    from glimmer.model.weave import Flow, Weave
    from glimmer.starweave.glossary import Concept, Glossary, GlossaryError, Relation
    from glimmer.train.config import FitConfig
    from glimmer.train.doctor import doctor
    from glimmer.train.export import ExportResult, export
    from glimmer.train.fit import fit
    from glimmer.train.merge import merge
    from glimmer.train.plan import MemoryPlan, plan
    from glimmer.train.result import FitResult


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glimmer' has no attribute {name!r}")
    try:
        loaded = import_module(module)
    except ModuleNotFoundError as exc:
        from glimmer.extras import MissingExtraError, extra_for_module, install_hint

        extra = extra_for_module(exc.name)
        if extra is None:
            raise
        raise MissingExtraError(
            extra, (str(exc.name),), feature=f"glimmer.{name}", hint=install_hint(extra)
        ) from None
    value = getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Builder",
    "ChatRecord",
    "Color",
    "Comparison",
    "Concept",
    "Consciousness",
    "Content",
    "ContentSection",
    "DatasetSplits",
    "ExportResult",
    "ExtractedPattern",
    "FitConfig",
    "FitResult",
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
    "SuiteError",
    "Timestamp",
    "TriggerPrompt",
    "Version",
    "Weave",
    "WhenProcessing",
    "WhenSeeing",
    "__version__",
    "build",
    "bundled_suites",
    "compare",
    "default_recipe",
    "doctor",
    "dump",
    "dumps",
    "export",
    "extract",
    "fit",
    "format_text",
    "generate",
    "generate_pattern",
    "load",
    "load_suite",
    "loads",
    "merge",
    "mix",
    "plan",
    "run_demo",
    "schema",
    "score_comparison",
]
