"""Every docstring example of every glimmer module runs and prints what it shows.

The same check as ``pytest --doctest-modules src/glimmer``, kept in the suite so that an
example that drifts from the code fails here (one test per module, named after it).
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
from pathlib import Path

import pytest

import glimmer

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(glimmer.__path__, prefix="glimmer.")
    if info.name != "glimmer.__main__"
)


def test_modules_are_found() -> None:
    assert {"glimmer.errors", "glimmer.model.io", "glimmer.syntax.parser"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    out = io.StringIO()
    runner = doctest.DocTestRunner(verbose=False)
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
