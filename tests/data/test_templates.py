"""Sandboxed templates: user folders, strict variables, errors with file and line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from glimmer.data import TemplateError, TemplateSet, application


def write(folder: Path, template_id: str, text: str) -> Path:
    path = folder / f"{template_id}.jinja2"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_bundled_category_has_templates() -> None:
    ts = TemplateSet()
    for cat in (
        "generation",
        "interpretation",
        "application",
        "reflection",
        "matrix",
        "glossary",
        "general",
    ):
        assert ts.ids(cat), cat
    assert not any(i.split("/")[1].startswith("_") for i in ts.ids("application"))


def test_user_template_is_added_and_used(tmp_path: Path) -> None:
    write(
        tmp_path,
        "application/mine",
        "{% block user %}Tell me of {{ topic }}.{% endblock %}"
        "{% block assistant %}{{ topic|cap }} and {{ c1 }}.{% endblock %}",
    )
    b = application(n=60, template_dirs=(str(tmp_path),))
    recs = [r for r in b.records(seed=1) if r.template_id == "application/mine"]
    assert recs
    assert all(r.prompt.startswith("Tell me of ") for r in recs)


def test_missing_variable_names_template_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "application/broken",
        "{% block user %}\nHello\n{{ nowhere }}\n{% endblock %}"
        "{% block assistant %}x{% endblock %}",
    )
    ts = TemplateSet([tmp_path])
    with pytest.raises(TemplateError) as info:
        ts.render("application/broken", {"topic": "time"}, rng=random.Random(0))
    err = info.value
    assert err.code == "G411"
    assert err.path == str(path)
    assert err.line == 3
    assert "nowhere" in err.message


def test_syntax_error_names_template_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "matrix/bad", "{% block user %}\nfine\n{% if %}\n{% endblock %}")
    with pytest.raises(TemplateError) as info:
        TemplateSet([tmp_path]).render("matrix/bad", {}, rng=random.Random(0))
    assert info.value.code == "G410"
    assert info.value.path == str(path)
    assert info.value.line == 3


def test_sandbox_blocks_unsafe_attributes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "general/escape",
        "{% block user %}{{ ''.__class__.__mro__ }}{% endblock %}"
        "{% block assistant %}x{% endblock %}",
    )
    with pytest.raises(TemplateError):
        TemplateSet([tmp_path]).render("general/escape", {}, rng=random.Random(0))


def test_missing_template_and_missing_blocks(tmp_path: Path) -> None:
    ts = TemplateSet([tmp_path])
    with pytest.raises(TemplateError) as info:
        ts.render("general/none", {}, rng=random.Random(0))
    assert info.value.code == "G411"
    write(tmp_path, "general/half", "{% block user %}only a question{% endblock %}")
    with pytest.raises(TemplateError):
        ts.render("general/half", {}, rng=random.Random(0))


def test_pick_is_seeded_and_keyed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "general/pick",
        "{% block user %}{% set p %}\na | one\nb | two\nb | three\n{% endset %}"
        "{{ pick(p, key='b') }}{% endblock %}{% block assistant %}{{ pick(['x', 'y', 'z']) }}{% endblock %}",
    )
    ts = TemplateSet([tmp_path])
    outs = {ts.render("general/pick", {}, rng=random.Random(s))["user"] for s in range(30)}
    assert outs == {"two", "three"}
    assert ts.render("general/pick", {}, rng=random.Random(5)) == ts.render(
        "general/pick", {}, rng=random.Random(5)
    )
