"""Templates are bounded from outside: time and text per record and per build, and folders."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from glimmer.data import TemplateError, TemplateSet
from glimmer.data.recipe import Recipe, RecipeError
from glimmer.data.templates import build_budget


def render(folder: Path, body: str) -> dict[str, str]:
    path = folder / "general" / "t.jinja2"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "{% block user %}q{% endblock %}{% block assistant %}" + body + "{% endblock %}"
    )
    return TemplateSet([folder]).render("general/t", {}, rng=random.Random(0))


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'a' * 10**9 }}",
        "{{ 'a' * 1000000000 }}",
        "{{ 'x' | center(2000000000) }}",
        "{{ 'x'.center(2000000000) }}",
        "{{ 'x'.ljust(10**7) }}",
        "{{ 2 ** 100000000 }}",
        "{% for i in range(1000) %}{{ 'y' * 5000 }}{% endfor %}",
    ],
)
def test_output_is_bounded_before_it_is_built(tmp_path: Path, body: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(tmp_path, body)
    assert info.value.code == "G410"
    assert "budget" in info.value.message or "too large" in info.value.message


@pytest.mark.parametrize("in_thread", [False, True])
def test_time_is_bounded_even_in_a_loop_that_calls_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_thread: bool
) -> None:
    import glimmer.data.templates as templates

    monkeypatch.setattr(templates, "RECORD_SECONDS", 0.2)
    body = (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' if in_thread }}"
        "{% endfor %}{% endfor %}"
        if in_thread
        else "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    caught: list[BaseException] = []

    def run() -> None:
        try:
            path = tmp_path / "general" / "t.jinja2"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                "{% block user %}q{% endblock %}{% block assistant %}" + body + "{% endblock %}"
            )
            TemplateSet([tmp_path]).render("general/t", {"in_thread": True}, rng=random.Random(0))
        except BaseException as exc:  # handed to the test's thread
            caught.append(exc)

    if in_thread:  # no timer signal off the main thread: the sandbox's checks stop it
        t = threading.Thread(target=run)
        t.start()
        t.join(timeout=60)
        assert not t.is_alive()
    else:
        run()
    assert len(caught) == 1 and isinstance(caught[0], TemplateError), caught
    assert "time budget" in caught[0].message


def test_build_budget_bounds_records_together(tmp_path: Path) -> None:
    path = tmp_path / "general" / "t.jinja2"
    path.parent.mkdir(parents=True)
    path.write_text(
        "{% block user %}q{% endblock %}{% block assistant %}{{ 'z' * 900 }}{% endblock %}"
    )
    ts = TemplateSet([tmp_path])
    with build_budget(chars=5000), pytest.raises(TemplateError):  # noqa: PT012
        for i in range(10):
            ts.render("general/t", {}, rng=random.Random(i))
    assert len(ts.render("general/t", {}, rng=random.Random(0))["assistant"]) == 900


@pytest.mark.parametrize("folder", ["/", "../elsewhere", "/etc"])
def test_template_folders_stay_in_the_recipe_tree(tmp_path: Path, folder: str) -> None:
    text = f'template_dirs = ["{folder}"]\n\n[[builders]]\nkind = "general"\ncount = 2\n'
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(text)
    with pytest.raises(RecipeError) as info:
        Recipe.load(recipe_file)
    assert "outside the recipe's folder" in info.value.message
    assert info.value.line == 1


def test_template_folder_inside_the_recipe_tree_is_used(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(
        'template_dirs = ["templates/"]\n\n[[builders]]\nkind = "general"\ncount = 2\n'
    )
    recipe = Recipe.load(recipe_file)
    assert recipe.template_dirs == (str(tmp_path / "templates/"),)
