"""Dataset builders: GLIMMER patterns and a framework's glossary (STARWEAVE by default) turned into chat records.

Builders are lazy, immutable and seeded; they combine with ``+`` and :func:`mix` and chain
``take``/``filter``/``map``/``dedup``/``shuffle``, then ``records(seed=...)`` or
``split(validation=...)``. :func:`build` runs a :class:`Recipe`; :func:`write_dataset` writes it.
"""

from __future__ import annotations

from glimmer.data.builder import Builder, mix, split_records
from glimmer.data.export import (
    render_chat,
    to_alpaca,
    to_hf_dataset,
    to_sharegpt,
    write_dataset,
    write_jsonl,
)
from glimmer.data.grounding import FrameworkFigures, framework_figures
from glimmer.data.kinds import application, general, glossary_qa, matrix, reflection
from glimmer.data.patterns import generation, interpretation
from glimmer.data.recipe import Recipe, RecipeError, build, default_recipe
from glimmer.data.records import (
    CATEGORIES,
    ChatRecord,
    DatasetSplits,
    Message,
    chat_messages,
    read_chats,
    read_jsonl,
    read_records,
)
from glimmer.data.shaping import Shape
from glimmer.data.templates import TemplateError, TemplateSet

__all__ = [
    "CATEGORIES",
    "Builder",
    "ChatRecord",
    "DatasetSplits",
    "FrameworkFigures",
    "Message",
    "Recipe",
    "RecipeError",
    "Shape",
    "TemplateError",
    "TemplateSet",
    "application",
    "build",
    "chat_messages",
    "default_recipe",
    "framework_figures",
    "general",
    "generation",
    "glossary_qa",
    "interpretation",
    "matrix",
    "mix",
    "read_chats",
    "read_jsonl",
    "read_records",
    "reflection",
    "render_chat",
    "split_records",
    "to_alpaca",
    "to_hf_dataset",
    "to_sharegpt",
    "write_dataset",
    "write_jsonl",
]
