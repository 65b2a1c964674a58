"""The examples in the docstrings of the weave modules run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "glimmer.syntax.weave",
    "glimmer.syntax.weave_nodes",
    "glimmer.model.weave",
    "glimmer.model.extract",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
