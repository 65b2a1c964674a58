"""Pattern-based builders: generation (scenario -> pattern) and interpretation (pattern -> explanation).

Generation answers are real :class:`~glimmer.model.pattern.Pattern` objects written with
:func:`glimmer.dumps`, so every answer parses and validates by construction.

Interpretation reads any pattern shape: the nine GLIMMER sections, ``content.sections[]``,
``content`` objects of named parts, ``patterns[]`` lists and any other section. Besides the
source files it interprets freshly synthesised patterns, so that a handful of files still
yields varied records.

Variables the templates receive:

* ``generation``: ``purpose``, ``focus``, ``fmt`` (``"glimmer"``/``"json"``), ``fmt_name``,
  ``sections`` (names present), ``c1``, ``c2``, and ``PATTERN`` (verbatim pattern text).
* ``interpretation``: ``label`` (``"consciousness"``, ``"content.sections[1]"``, ...),
  ``title`` (or ``""``), ``whole`` (the whole pattern is shown), ``fmt``, ``facts``
  (sentences describing the content), ``section_def`` (the glossary's definition for a
  GLIMMER section, else ``""``), ``c1``, ``c2`` and ``SNIPPET`` (verbatim, fenced).
"""

from __future__ import annotations

import json
import random
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from glimmer.data.kinds import KindBuilder, vocab
from glimmer.data.templates import join_and
from glimmer.model.io import dumps, load
from glimmer.model.pattern import SEED_SECTIONS, Pattern
from glimmer.starweave.glossary import Glossary
from glimmer.syntax.render import data_to_document, render

__all__ = [
    "Generation",
    "Interpretation",
    "Item",
    "generation",
    "interpretation",
    "load_sources",
    "pattern_items",
    "synthesize",
]

SUFFIXES = (".glimmer", ".glim", ".json", ".we", ".weave")
MAX_SNIPPET = 1600


def _pick(rng: random.Random, items: Sequence[Any]) -> Any:
    return items[rng.randrange(len(items))]


def _core(rng: random.Random, k: int, gloss: Glossary) -> list[str]:
    names = [c.name for c in gloss.core()] or list(gloss)
    picked = rng.sample(names, min(k, len(names)))
    while len(picked) < k:
        picked.append(picked[-1])
    return picked


def synthesize(
    rng: random.Random, /, *, compact: bool = False, glossary: Glossary | None = None
) -> tuple[Pattern, dict[str, str]]:
    """A fresh, valid pattern and the scenario it answers (``purpose``, ``focus``, ``c1``, ``c2``).

    A *compact* pattern keeps the metadata without harmonics, a one-line story, ``initialize``,
    ``consciousness`` and ``response``: about 200 tokens instead of about 470, short enough for
    a small model to write whole, closing brace included, within a few hundred tokens.

    The pattern speaks of the *glossary*'s concepts (the bundled one when ``None``), with the
    generic vocabulary of ``vocab.toml`` and the glossary's own ``[synthesis]`` lines.
    """
    data, fill = _synthesize_data(rng, compact=compact, glossary=glossary)
    return Pattern.model_validate(data), fill


def _compact(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    meta = {k: v for k, v in data["metadata"].items() if k != "harmonics"}
    story = data["story"].split(". ")[0].rstrip(".") + "."
    init = dict(data["initialize"], directives=data["initialize"]["directives"][:1])
    out = {"metadata": meta, "story": story, "initialize": init}
    for key in ("consciousness", "response"):
        out[key] = data[key]
    if rng.random() < 0.5:  # sometimes one more section, so the shape is not always the same
        extra = [k for k in ("processing", "when_seeing", "when_processing") if k in data]
        if extra:
            out[extra[0]] = data[extra[0]]
    return {k: out[k] for k in SEED_SECTIONS if k in out}  # the usual order, as full patterns


def _synthesize_data(
    rng: random.Random, *, compact: bool = False, glossary: Glossary | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    gloss = glossary if glossary is not None else Glossary.default()
    v = _vocab_for(gloss)
    purpose, focus = _pick(rng, v["purposes"]), _pick(rng, v["focuses"])
    c1, c2, c3 = _core(rng, 3, gloss)
    fill = {"purpose": purpose, "focus": focus, "c1": c1, "c2": c2}

    def f(s: str) -> str:
        return s.format(**fill)

    def some(key: str, k: int) -> list[str]:
        return [f(s) for s in rng.sample(v[key], min(k, len(v[key])))]

    harmonics: dict[str, Any] = {}
    for name, desc in rng.sample(v["harmonics"], rng.randint(2, 3)):
        color = _pick(rng, v["colors"])
        harmonics[name] = color if rng.random() < 0.4 else {"color": color, "description": desc}
    stamp = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if rng.random() < 0.7:
        stamp += f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    title_word = _pick(
        rng, ["Seed", "Weave", "Bloom", "Crystal", "Bridge", "Flow", "Lattice", "Garden"]
    )
    data: dict[str, Any] = {
        "metadata": {
            # "Crystal of Memory": two framework words side by side would read as a coined term
            "title": f"{title_word} of {focus.title()}",
            "author": _pick(rng, v["authors"]),
            "timestamp": stamp,
            "pattern_version": f"{rng.randint(0, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
            "color": _pick(rng, v["colors"]),
            "type": _pick(rng, v["types"]),
            "harmonics": harmonics,
        },
        "story": " ".join(some("story_lines", 3)),
        "initialize": {
            "mode": _pick(rng, v["modes"]),
            "state": _pick(rng, v["states"]),
            "focus": [c1, c2],
            "directives": some("directives", 2),
        },
    }
    optional: dict[str, Any] = {
        "recognize": {
            "patterns": rng.sample(v["recognize_patterns"], 3),
            "triggers": some("triggers", 2),
        },
        "consciousness": {
            "state": _pick(rng, v["states"]),
            "awareness": [
                "self",
                "context",
                _pick(rng, [c3, c1, "the other"]),
            ],
            "layers": sorted(rng.sample(v["layers"], 3), key=v["layers"].index),
        },
        "processing": {"mode": _pick(rng, v["modes"]), "steps": some("steps", 3)},
        "response": {
            "style": _pick(rng, v["styles"]),
            "tone": _pick(rng, v["tones"]),
            "format": _pick(rng, v["formats"]),
        },
        "when_seeing": {f(k): f(r) for k, r in rng.sample(v["seen_rules"], 2)},
        "when_processing": {f(k): f(r) for k, r in rng.sample(v["processing_rules"], 2)},
    }
    for key in SEED_SECTIONS:
        if key in optional and (key in ("consciousness", "response") or rng.random() < 0.6):
            data[key] = optional[key]
    if compact:
        data = _compact(data, rng)
    return data, fill


@dataclass(frozen=True)
class Item:
    """One thing to interpret: a section (or a whole pattern) with where it came from."""

    source: str | None
    label: str
    title: str
    data: Any
    whole: bool = False
    section: str = ""


def pattern_items(pattern: Pattern, /, *, source: str | None = None) -> list[Item]:
    """Every interpretable part of a pattern, whatever its shape, plus the whole when small."""
    items: list[Item] = []
    data = pattern.to_data()
    title = ""
    meta = data.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("title"), str):
        title = meta["title"]
    for key, value in data.items():
        if key == "content" and isinstance(value, dict):
            sections = value.get("sections")
            if isinstance(sections, list):
                for i, sec in enumerate(sections):
                    t = (
                        sec.get("title") or sec.get("heading") or ""
                        if isinstance(sec, dict)
                        else ""
                    )
                    items.append(
                        Item(source, f"content.sections[{i}]", str(t), sec, section="content")
                    )
            else:
                for sub, subvalue in value.items():
                    items.append(
                        Item(
                            source,
                            f"content.{sub}",
                            _human(sub),
                            {sub: subvalue},
                            section="content",
                        )
                    )
        elif key == "patterns" and isinstance(value, list):
            for i, entry in enumerate(value):
                t = entry.get("title", "") if isinstance(entry, dict) else ""
                items.append(Item(source, f"patterns[{i}]", str(t), entry, section="patterns"))
        else:
            items.append(Item(source, key, "", {key: value}, section=key))
    items = [it for it in items if len(_snippet(it.data, "json")) <= MAX_SNIPPET]
    if len(json.dumps(data)) <= MAX_SNIPPET:
        items.append(Item(source, "pattern", title, data, whole=True))
    return items


def load_sources(paths: Sequence[str | Path], /) -> list[tuple[Path, Pattern]]:
    """Load pattern files and every pattern file in the given folders (sorted).

    Weave files are read when ``glimmer.load`` knows the notation, else skipped with a warning.

    Raises:
        GlimmerError: A file does not parse or validate.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(
                sorted(q for q in p.iterdir() if q.suffix.lower() in SUFFIXES and q.is_file())
            )
        else:
            files.append(p)
    out: list[tuple[Path, Pattern]] = []
    for path in files:
        out.append((path, load(path)))
    return out


@cache
def _default_sources() -> tuple[tuple[str, Pattern], ...]:
    from glimmer.resources import example_patterns

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple((p.name, pat) for p, pat in load_sources(example_patterns()))


@cache
def _sources_for(paths: tuple[str, ...]) -> tuple[tuple[str, Pattern], ...]:
    return tuple((str(p), pat) for p, pat in load_sources(paths))


def _snippet(data: Any, fmt: str) -> str:
    if fmt == "glimmer" and isinstance(data, dict):
        return render(data_to_document(data), style="glimmer")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _human(key: str) -> str:
    return re.sub(r"[_\-]+", " ", str(key)).strip()


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "..."


def _item(text: str) -> str:
    """A list entry as prose: short names bare, sentences in quotes."""
    short = _short(text, 60)
    return f'"{short}"' if len(short.split()) > 3 else short


def _describe(rng: random.Random, value: Any, *, limit: int = 4) -> list[str]:
    """Plain sentences saying what a piece of pattern data holds."""
    out: list[str] = []
    if isinstance(value, str):
        return [f'It reads: "{_short(value)}"']
    if isinstance(value, list):
        scalars = [str(x) for x in value if isinstance(x, str | int | float)]
        if scalars and len(scalars) == len(value):
            return [f"It lists {join_and(_item(s) for s in scalars[:limit])}."]
        titled = [str(x.get("title") or x.get("name") or "") for x in value if isinstance(x, dict)]
        titled = [t for t in titled if t]
        if titled:
            return [f"It holds {len(value)} entries, among them {join_and(titled[:limit])}."]
        return [f"It holds {len(value)} entries."]
    if not isinstance(value, dict):
        return [f"Its value is {value}."]
    for key, v in list(value.items())[:limit]:
        k = _human(key)
        if isinstance(v, str):
            form = _pick(
                rng, ['{K} is "{v}"', 'Under {k}, it says "{v}"', 'The {k} entry reads "{v}"']
            )
            sentence = form.format(K=k[:1].upper() + k[1:], k=k, v=_short(v))
            out.append(sentence if sentence[-2] in ".!?" else sentence + ".")
        elif isinstance(v, list):
            scalars = [str(x) for x in v if isinstance(x, str | int | float)]
            if scalars:
                out.append(
                    f"{k[:1].upper() + k[1:]} lists {join_and(_item(s) for s in scalars[:limit])}."
                )
            else:
                out.append(f"{k[:1].upper() + k[1:]} holds {len(v)} structured entries.")
        elif isinstance(v, dict):
            out.append(
                f"{k[:1].upper() + k[1:]} groups {join_and(_human(x) for x in list(v)[:limit])}."
            )
        elif v is not None:
            out.append(f"{k[:1].upper() + k[1:]} is {v}.")
    if len(value) > limit:
        more = len(value) - limit
        out.append(
            "There is one more entry."
            if more == 1
            else f"There are {more} more entries in the same spirit."
        )
    return out


_VOCABS: dict[int, tuple[Glossary, dict[str, list[Any]]]] = {}


def _vocab_for(gloss: Glossary) -> dict[str, list[Any]]:
    """The synthesiser's vocabulary: the generic lists plus the glossary's ``[synthesis]``."""
    hit = _VOCABS.get(id(gloss))
    if hit is None or hit[0] is not gloss:
        merged = {k: [*v, *gloss.synthesis.get(k, [])] for k, v in vocab().items()}
        hit = _VOCABS[id(gloss)] = (gloss, merged)
    return hit[1]


def _concepts_for(rng: random.Random, text: str, gloss: Glossary) -> tuple[str, str]:
    """Two concepts a snippet evokes (by names, aliases and keywords), else any two."""
    low = text.lower()
    core = gloss.core()
    hits = [
        c.name
        for c in core
        if any(k in low for k in (*c.keywords, c.name, c.spoken, *(a.lower() for a in c.aliases)))
    ]
    rest = [c for c in _core(rng, len(core), gloss) if c not in hits]
    rng.shuffle(hits)
    chosen = (hits[:2] + rest + hits)[:2]
    if len(chosen) < 2:
        chosen = (chosen * 2)[:2]
    return chosen[0], chosen[1]


@dataclass(frozen=True, eq=False)
class Generation(KindBuilder):
    """Pattern generation: a scenario in the prompt, a complete valid pattern as the answer.

    Args:
        format: ``"glimmer"`` (DSL), ``"json"`` or ``"both"`` (chosen per record).
        compact_share: Share of records whose answer is a compact pattern (see
            :func:`synthesize`): a small model learns to finish those, and the end of its turn,
            within a short token budget.
    """

    category: ClassVar[str] = "generation"
    format: str = "both"
    system_share: float = 0.1
    compact_share: float = 0.5

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        compact = rng.random() < self.compact_share
        pattern, scenario = synthesize(rng, compact=compact, glossary=self.gloss)
        fmt = self.format if self.format in ("glimmer", "json") else _pick(rng, ["glimmer", "json"])
        variables = {
            **scenario,
            "fmt": fmt,
            "fmt_name": "JSON" if fmt == "json" else "GLIMMER DSL",
            "sections": [k for k in SEED_SECTIONS if getattr(pattern, k) is not None],
            "_pattern_text": dumps(pattern, format=fmt),
        }
        return variables, None, [scenario["purpose"], scenario["focus"]]

    def verbatim(self, variables: dict[str, Any]) -> dict[str, str]:
        return {"PATTERN": variables["_pattern_text"].rstrip("\n")}


@dataclass(frozen=True, eq=False)
class Interpretation(KindBuilder):
    """Interpretation: a pattern or one of its sections, explained.

    Args:
        patterns: Pattern files or folders; if empty, the bundled example patterns (with a
            glossary that holds the bundled concepts) or synthesised ones only (with another).
        synthetic_share: Share of records that interpret a freshly synthesised pattern.
    """

    category: ClassVar[str] = "interpretation"
    patterns: tuple[str, ...] = ()
    synthetic_share: float = 0.5

    def _items(self) -> list[Item]:
        if not self.patterns and not _speaks_starweave(self.gloss):
            return []  # the bundled examples are STARWEAVE patterns: synthesise instead
        return _items_for(self.patterns)

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        items = self._items()
        if not items or rng.random() < self.synthetic_share:
            data = _synthesize_data(rng, glossary=self.gloss)[0]  # valid by construction
            key = _pick(rng, list(data))
            item = Item(None, key, "", {key: data[key]}, section=key)
        else:
            item = _pick(rng, items)
        fmt = _pick(rng, ["glimmer", "json"])
        text = _snippet(item.data, fmt)
        if item.whole:
            facts = [f"It has {len(item.data)} sections: {join_and(item.data)}."]
            for key in list(item.data)[:3]:
                facts.extend(_describe(rng, item.data[key], limit=2)[:1])
        else:
            inner = item.data
            if (
                isinstance(inner, dict)
                and len(inner) == 1
                and not item.label.startswith(("content.sections", "patterns["))
            ):
                inner = next(iter(inner.values()))
            facts = _describe(rng, inner)
        gloss = self.gloss
        section_def = (
            gloss[item.section].definition
            if item.section in gloss and item.section in SEED_SECTIONS
            else ""
        )
        c1, c2 = _concepts_for(rng, text, gloss)
        variables = {
            "label": item.label,
            "title": item.title,
            "whole": item.whole,
            "fmt": fmt,
            "facts": facts,
            "section_def": section_def,
            "c1": c1,
            "c2": c2,
            "_snippet": f"```{fmt}\n{text.rstrip()}\n```",
        }
        return variables, item.source, [item.label, item.title]

    def verbatim(self, variables: dict[str, Any]) -> dict[str, str]:
        return {"SNIPPET": variables["_snippet"]}


def _speaks_starweave(gloss: Glossary) -> bool:
    """Whether a glossary holds every bundled concept (the bundled one, or an extension of it)."""
    return all(c.name in gloss for c in Glossary.default().core())


_ITEMS: dict[tuple[str, ...], list[Item]] = {}


def _items_for(paths: tuple[str, ...]) -> list[Item]:
    cached = _ITEMS.get(paths)
    if cached is None:
        sources = _sources_for(paths) if paths else _default_sources()
        cached = [it for name, pat in sources for it in pattern_items(pat, source=name)]
        _ITEMS[paths] = cached
    return cached


def generation(n: int = 100, **options: Any) -> Generation:
    """Pattern-generation records (see :class:`Generation`)."""
    return Generation(n=n, **options)


def interpretation(
    n: int = 100, *, patterns: Sequence[str | Path] = (), **options: Any
) -> Interpretation:
    """Interpretation records (see :class:`Interpretation`); *patterns* are files or folders."""
    return Interpretation(n=n, patterns=tuple(str(p) for p in patterns), **options)
