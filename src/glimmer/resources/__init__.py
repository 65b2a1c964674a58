"""Data files shipped with glimmer: example patterns, recipes, suites, templates.

Nothing here is code that other stages depend on; functions only locate files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_EXAMPLE", "default_example", "example_patterns", "resource_dir"]

_PATTERN_SUFFIXES = (".glimmer", ".json", ".we", ".weave")

DEFAULT_EXAMPLE = "starweave-seed.glimmer"
"""The example that stands for GLIMMER where one pattern is needed (the prompted arm)."""


def resource_dir(name: str, /) -> Path:
    """The directory of bundled resources called *name* (``"patterns"``, ``"suites"``, ...)."""
    return Path(str(resources.files("glimmer.resources").joinpath(name)))


def _examples_dir() -> Path:
    bundled = resource_dir("patterns")
    if bundled.is_dir():
        return bundled
    # an editable install reads the examples straight from the source tree
    return Path(__file__).resolve().parents[3] / "examples" / "patterns"


def example_patterns() -> list[Path]:
    """The bundled example patterns (GLIMMER DSL, JSON and weave), sorted by name.

    Together they cover all nine GLIMMER sections.
    """
    folder = _examples_dir()
    return sorted(p for p in folder.iterdir() if p.suffix in _PATTERN_SUFFIXES)


def default_example() -> Path:
    """The bundled example pattern used where one pattern is needed: all nine sections."""
    return _examples_dir() / DEFAULT_EXAMPLE
