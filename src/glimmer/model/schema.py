"""JSON Schema for GLIMMER patterns, for editors and other tools."""

from __future__ import annotations

from functools import cache
from typing import Any

from glimmer.model.pattern import Pattern

__all__ = ["schema"]

SCHEMA_ID = "https://glimmer.readthedocs.io/schema/pattern.json"


@cache
def _schema() -> dict[str, Any]:
    out = Pattern.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **out,
        "title": "GLIMMER pattern",
    }


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a GLIMMER pattern in its JSON form.

    Unknown keys are allowed everywhere, as they are when loading; ``glimmer check --strict``
    is where unknown top-level sections are refused.

    Example:
        >>> schema()["properties"]["metadata"]["anyOf"][0]["$ref"]
        '#/$defs/Metadata'
    """
    import copy

    return copy.deepcopy(_schema())
