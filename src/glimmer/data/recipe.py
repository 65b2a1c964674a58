"""Recipes: TOML files naming builders, counts or weights, seed, split and export formats.

```toml
name = "my-dataset"
seed = 0
validation = 0.1
formats = ["jsonl", "sharegpt"]     # jsonl is always written
patterns = ["patterns/"]            # files or folders; empty: the bundled examples
template_dirs = ["my-templates/"]   # searched before the bundled templates
glossary = "my-glossary.toml"       # extends the default glossary ("" for none)
replace_glossary = false
formative_matrix = "patterns/mine.glimmer"  # its behaviour shapes the answers (optional)
suites = ["held-out.jsonl"]         # evaluation prompts for this framework; never built from
# total = 1000                      # if set, builders are mixed by weight to this total

[dedup]
near = true
threshold = 0.85

[[builders]]
kind = "application"
count = 400                         # or: weight = 0.4 (with total)
```

Relative paths are relative to the recipe file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import reduce
from importlib import resources
from pathlib import Path
from typing import Any

from glimmer._toml import loads_toml
from glimmer.data.builder import Builder, mix
from glimmer.data.records import CATEGORIES, ChatRecord, DatasetSplits
from glimmer.data.shaping import Shape
from glimmer.data.templates import build_budget, inside_folder
from glimmer.errors import Location, RecipeError, caret_context
from glimmer.model.pattern import Pattern
from glimmer.starweave.glossary import Glossary

__all__ = ["KINDS", "BuilderSpec", "Recipe", "RecipeError", "build", "default_recipe"]

#: The builder kinds a recipe can name: the training categories.
KINDS = CATEGORIES
FORMATS = ("jsonl", "sharegpt", "alpaca")


@dataclass(frozen=True)
class BuilderSpec:
    """One ``[[builders]]`` entry: a kind, a count or weight, and the kind's options."""

    kind: str
    count: int = 100
    weight: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """A dataset recipe (see the module docs for the TOML form)."""

    builders: tuple[BuilderSpec, ...]
    name: str = "dataset"
    seed: int = 0
    validation: float = 0.1
    formats: tuple[str, ...] = ("jsonl",)
    patterns: tuple[str, ...] = ()
    template_dirs: tuple[str, ...] = ()
    glossary: str = ""
    replace_glossary: bool = False
    formative_matrix: str = ""
    suites: tuple[str, ...] = ()
    total: int | None = None
    dedup_near: bool = True
    dedup_threshold: float = 0.85
    source: str | None = None

    @classmethod
    def loads(cls, text: str, /, *, source: str | None = None, base: Path | None = None) -> Recipe:
        """Read a recipe from TOML text; relative paths resolve against *base*.

        Raises:
            RecipeError: The text is not TOML or not a valid recipe.
        """
        data = loads_toml(
            text,
            source=source,
            error=RecipeError,
            hint="see the recipe format in the 'Building a dataset' guide",
        )

        def fail(msg: str, needle: str, hint: str) -> RecipeError:
            pos = text.find(needle)
            line = text.count("\n", 0, pos) + 1 if pos >= 0 else None
            return RecipeError(
                msg,
                location=Location(source, line, 1 if line else None),
                context=caret_context(text, line, 1) if line else "",
                hint=hint,
            )

        known = {
            "name",
            "seed",
            "validation",
            "formats",
            "patterns",
            "template_dirs",
            "glossary",
            "replace_glossary",
            "formative_matrix",
            "suites",
            "total",
            "dedup",
            "builders",
        }
        for key in data:
            if key not in known:
                raise fail(
                    f"unknown recipe key {key!r}", key, f"known keys: {', '.join(sorted(known))}"
                )
        specs: list[BuilderSpec] = []
        for entry in data.get("builders", []):
            kind = entry.get("kind")
            if kind not in KINDS:
                raise fail(
                    f"unknown builder kind {kind!r}",
                    f'"{kind}"' if kind else "[[builders]]",
                    f"use one of: {', '.join(KINDS)}",
                )
            opts = {k: v for k, v in entry.items() if k not in ("kind", "count", "weight")}
            specs.append(BuilderSpec(kind, int(entry.get("count", 100)), entry.get("weight"), opts))
        if not specs:
            raise fail(
                "a recipe needs at least one [[builders]] entry",
                "",
                'add [[builders]] with kind = "application"',
            )
        formats = tuple(data.get("formats", ["jsonl"]))
        for f in formats:
            if f not in FORMATS:
                raise fail(f"unknown export format {f!r}", f'"{f}"', f"use: {', '.join(FORMATS)}")
        base = base or Path.cwd()

        def resolve(p: str) -> str:
            return str(p if Path(p).is_absolute() else base / p)

        for folder in data.get("template_dirs", []):
            if not inside_folder(resolve(str(folder)), base):
                raise fail(
                    f"template folder {folder!r} is outside the recipe's folder {str(base)!r}",
                    f'"{folder}"',
                    'keep templates beside the recipe (template_dirs = ["templates/"]); the '
                    "bundled templates are always searched",
                )
        dedup = data.get("dedup", {})
        return cls(
            builders=tuple(specs),
            name=str(data.get("name", "dataset")),
            seed=int(data.get("seed", 0)),
            validation=float(data.get("validation", 0.1)),
            formats=formats,
            patterns=tuple(resolve(p) for p in data.get("patterns", [])),
            template_dirs=tuple(resolve(p) for p in data.get("template_dirs", [])),
            suites=tuple(resolve(p) for p in data.get("suites", [])),
            glossary=resolve(data["glossary"]) if data.get("glossary") else "",
            replace_glossary=bool(data.get("replace_glossary", False)),
            formative_matrix=resolve(data["formative_matrix"])
            if data.get("formative_matrix")
            else "",
            total=int(data["total"]) if "total" in data else None,
            dedup_near=bool(dedup.get("near", True)),
            dedup_threshold=float(dedup.get("threshold", 0.85)),
            source=source,
        )

    @classmethod
    def load(cls, path: str | Path, /) -> Recipe:
        """Read a recipe file (see :meth:`loads`)."""
        from glimmer.model.io import read_text

        p = Path(path)
        return cls.loads(read_text(p), source=str(p), base=p.resolve().parent)

    def with_options(self, **changes: Any) -> Recipe:
        """A copy with fields replaced (``patterns=(...)``, ``seed=...``)."""
        return replace(self, **changes)

    def builder(self) -> Builder:
        """The composed builder this recipe describes (kinds, mixed or concatenated, deduplicated, shuffled)."""
        from glimmer.data.kinds import application, general, glossary_qa, matrix, reflection
        from glimmer.data.patterns import generation, interpretation

        factories: dict[str, Callable[..., Builder]] = {
            "generation": generation,
            "interpretation": interpretation,
            "application": application,
            "reflection": reflection,
            "matrix": matrix,
            "glossary": glossary_qa,
            "general": general,
        }
        gloss = self.active_glossary() if self.glossary else None
        shape = self._shape()
        patterns = self.patterns or ((self.formative_matrix,) if self.formative_matrix else ())
        parts: list[Builder] = []
        for spec in self.builders:
            opts: dict[str, Any] = dict(spec.options)
            if gloss is not None:
                opts["glossary"] = gloss
            if self.template_dirs:
                opts["template_dirs"] = self.template_dirs
            if shape is not None:
                opts["shape"] = shape
            if spec.kind == "interpretation" and patterns:
                opts["patterns"] = patterns
            try:
                parts.append(factories[spec.kind](spec.count, **opts))
            except TypeError as exc:
                raise RecipeError(
                    f"builder {spec.kind!r}: {exc}",
                    location=Location(self.source),
                    hint="remove options the builder does not take",
                ) from None
        if self.total is not None:
            weights = {
                b: (s.weight if s.weight is not None else float(s.count))
                for b, s in zip(parts, self.builders, strict=True)
            }
            combined = mix(weights, n=self.total)
        else:
            combined = reduce(lambda a, b: a + b, parts)
        return combined.dedup(near=self.dedup_near, threshold=self.dedup_threshold).shuffle()

    def active_glossary(self) -> Glossary:
        """The glossary the records speak: the bundled one, extended or replaced by ``glossary``.

        Raises:
            GlossaryError: The recipe's glossary file is not a valid glossary.
            GlimmerFileError: It cannot be read.
        """
        if not self.glossary:
            return Glossary.default()
        return Glossary.default().extend(self.glossary, replace=self.replace_glossary)

    def formative_pattern(self) -> Pattern | None:
        """The pattern named by ``formative_matrix``, loaded, or ``None`` when there is none.

        Raises:
            RecipeError: The file does not exist (``G423``).
            GlimmerError: It does not parse or validate as a pattern.
        """
        if not self.formative_matrix:
            return None
        from glimmer.model.io import load

        path = Path(self.formative_matrix)
        if not path.is_file():
            line = None
            if self.source and Path(self.source).is_file():
                text = Path(self.source).read_text(encoding="utf-8")
                pos = text.find("formative_matrix")
                line = text.count("\n", 0, pos) + 1 if pos >= 0 else None
            raise RecipeError(
                f"formative_matrix {str(path)!r} is not a file",
                location=Location(self.source, line, 1 if line else None),
                hint="name a .glimmer or .json pattern file, relative to the recipe",
                code="G423",
            )
        return load(path)

    def _shape(self) -> Shape | None:
        pattern = self.formative_pattern()
        return Shape.from_pattern(pattern) if pattern is not None else None


def default_recipe() -> Recipe:
    """The bundled default recipe: all six categories plus a little everyday Q&A.

    Examples:
        >>> [b.kind for b in default_recipe().builders][:3]
        ['generation', 'interpretation', 'application']
    """
    res = resources.files("glimmer.resources").joinpath("recipes/default.toml")
    return Recipe.loads(res.read_text(encoding="utf-8"), source="default.toml")


def build(
    recipe: Recipe | str | Path | None = None,
    /,
    *,
    seed: int | None = None,
    patterns: tuple[str, ...] | list[str] | None = None,
    progress: Callable[[ChatRecord], None] | None = None,
) -> DatasetSplits:
    """Build a dataset from a recipe: records, deduplicated, shuffled and split.

    Args:
        recipe: A :class:`Recipe`, a recipe file, or ``None`` for :func:`default_recipe`.
        seed: Overrides the recipe's seed. Same seed, byte-identical records.
        patterns: Overrides the recipe's pattern sources (files or folders).
        progress: Called with each record as it is made.

    Returns:
        Train and validation splits; ``stats`` holds dedup counts and diversity figures.

    Examples:
        >>> splits = build(default_recipe().with_options(builders=default_recipe().builders[:1]), seed=1)
        >>> {r.category for r in splits.train}
        {'generation'}
    """
    from glimmer.data.builder import split_records
    from glimmer.data.stats import diversity

    if recipe is None:
        recipe = default_recipe()
    elif not isinstance(recipe, Recipe):
        recipe = Recipe.load(recipe)
    if patterns is not None:
        recipe = recipe.with_options(patterns=tuple(str(p) for p in patterns))
    s = recipe.seed if seed is None else seed
    stats: dict[str, Any] = {}
    with build_budget():  # the templates of the whole build, bounded together
        records = recipe.builder().records(seed=s, progress=progress, stats=stats)
    train, val = split_records(records, validation=recipe.validation, seed=s)
    stats["diversity"] = diversity(records)
    stats["recipe"] = recipe.name
    stats["framework"] = recipe.active_glossary().name
    return DatasetSplits(train=train, validation=val, seed=s, stats=stats)
