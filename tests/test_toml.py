"""A TOML file that does not parse: each reader raises its own error at the fault's line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.data.recipe import Recipe
from glimmer.errors import FitConfigError, GlossaryError, RecipeError, SuiteError
from glimmer.evaluate.suites import loads_suite
from glimmer.starweave.glossary import Glossary
from glimmer.train.config import FitConfig

BAD = 'name = "x"\nseed = \n'


def test_each_reader_points_at_the_fault(tmp_path: Path) -> None:
    fit_toml = tmp_path / "fit.toml"
    fit_toml.write_text(BAD, encoding="utf-8")
    cases = [
        (lambda: Recipe.loads(BAD, source="r.toml"), RecipeError, "G414", "r.toml"),
        (lambda: Glossary.loads(BAD, source="g.toml"), GlossaryError, "G401", "g.toml"),
        (lambda: loads_suite(BAD, format="toml", source="s.toml"), SuiteError, "G601", "s.toml"),
        (lambda: FitConfig.from_toml(fit_toml), FitConfigError, "G504", str(fit_toml)),
    ]
    for read, error, code, source in cases:
        with pytest.raises(error) as info:
            read()
        exc = info.value
        assert (exc.code, exc.location.source, exc.line, exc.column) == (code, source, 2, 8)
        assert exc.message == "not valid TOML: Invalid value"
        assert exc.context.splitlines()[-1].strip() == "^"
