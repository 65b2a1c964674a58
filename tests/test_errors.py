"""The one error tree: drawn in errors.py and on the docs page, every class defined once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import glimmer.errors as errors
from glimmer.errors import GlimmerError

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "glimmer"

# Error classes of evaluate's newer checks, still defined beside their code.
NOT_YET_IN_ERRORS = {"AttackError", "DriftError", "RetentionError", "SteerError", "VideoError"}


def tree_classes() -> list[type[GlimmerError]]:
    return [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, GlimmerError)
    ]


def drawn_tree(text: str) -> dict[str, str]:
    """Class name -> code column of a drawn tree."""
    return dict(re.findall(r"^\s*(?:[│├└─ ]*)(\w+Error)\s+(G\w{3})\b", text, re.M))


def test_docstring_draws_every_class_with_its_code() -> None:
    drawn = drawn_tree(errors.__doc__ or "")
    for cls in tree_classes():
        assert cls.__name__ in drawn, f"{cls.__name__} is not drawn in errors.py"
        code = drawn[cls.__name__]
        assert code == cls.code or (code.endswith("xx") and cls.code[:2] == code[:2])


def test_docs_page_draws_the_same_tree() -> None:
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert drawn_tree(page) == drawn_tree(errors.__doc__ or "")


def test_each_class_default_code_is_its_row_on_the_page() -> None:
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (G\d{3}) \| `(\w+)` \|", page, re.M))
    for cls in tree_classes():
        assert rows.get(cls.code) == cls.__name__, f"{cls.code} row should name {cls.__name__}"


def _error_classes_outside_errors() -> list[str]:
    names = {cls.__name__ for cls in tree_classes()}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in names for b in node.bases
            ):
                found.append(node.name)
    return found


def test_error_classes_are_defined_in_errors() -> None:
    stray = set(_error_classes_outside_errors()) - NOT_YET_IN_ERRORS
    assert not stray, f"define these in glimmer/errors.py: {sorted(stray)}"


def test_the_root_is_never_raised_bare() -> None:
    bare = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "GlimmerError"
            ):
                bare.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not bare, f"raise the class of the error's kind, not GlimmerError: {bare}"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("glimmer.train.fit", "FitOutputError"),
        ("glimmer.train.plan", "PlanError"),
        ("glimmer.extras", "MissingExtraError"),
        ("glimmer.starweave.glossary", "GlossaryError"),
        ("glimmer.data.recipe", "RecipeError"),
    ],
)
def test_old_import_paths_name_the_same_class(module: str, name: str) -> None:
    import importlib

    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_missing_adapter_is_one_class_everywhere(tmp_path: Path) -> None:
    pytest.importorskip("torch")  # merge() needs the train extra
    from glimmer.train.merge import merge

    with pytest.raises(errors.AdapterError) as info:
        merge(tmp_path, tmp_path / "out")
    assert info.value.code == "G603"
    assert isinstance(info.value, errors.GlimmerFileError)
