"""JSON Schema for GLIMMER patterns, for editors and other tools."""

from __future__ import annotations

import ast
import inspect
import itertools
from functools import cache
from typing import Any

from glimmer.model import pattern as pattern_module
from glimmer.model.pattern import Pattern

__all__ = ["schema"]

SCHEMA_ID = "https://glimmer.readthedocs.io/schema/pattern.json"


@cache
def _schema() -> dict[str, Any]:
    out = Pattern.model_json_schema(mode="validation")
    docs = _attribute_docs()
    for name, definition in [("Pattern", out), *out.get("$defs", {}).items()]:
        for field, prop in definition.get("properties", {}).items():
            doc = docs.get((name, field))
            if doc and "description" not in prop:
                prop["description"] = doc
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **out,
        "title": "GLIMMER pattern",
    }


def _attribute_docs() -> dict[tuple[str, str], str]:
    """``(class, field) -> docstring`` for the models, read from the source once.

    The models do not ask pydantic for attribute docstrings (that parses the source at
    import time); the schema, built on demand, reads them here instead.
    """
    tree = ast.parse(inspect.getsource(pattern_module))
    docs: dict[tuple[str, str], str] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        body = cls.body
        for stmt, after in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[(cls.name, stmt.target.id)] = inspect.cleandoc(after.value.value)
    return docs


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a GLIMMER pattern in its JSON form.

    Unknown keys are allowed everywhere, as they are when loading; ``glimmer check --strict``
    is where unknown top-level sections are refused.

    Examples:
        >>> schema()["properties"]["metadata"]["anyOf"][0]["$ref"]
        '#/$defs/Metadata'
    """
    import copy

    return copy.deepcopy(_schema())
