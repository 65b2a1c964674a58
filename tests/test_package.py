"""Package-wide rules: the public API, one-way imports between stages, error codes documented."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import glimmer

SRC = Path(glimmer.__file__).resolve().parent
ROOT = SRC.parent.parent
STAGES = ["syntax", "model", "starweave", "data", "train", "evaluate"]
# what each stage may import from glimmer (besides itself, errors and resources)
ALLOWED = {stage: set(STAGES[: i + 1]) for i, stage in enumerate(STAGES)}


def test_all_is_sorted_and_complete() -> None:
    names = glimmer.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(glimmer, name) is not None, name


def test_lazy_names_are_public() -> None:
    assert set(glimmer._LAZY) <= set(glimmer.__all__)


def _glimmer_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        found |= {m for m in modules if m == "glimmer" or m.startswith("glimmer.")}
    return found


def test_stages_import_only_earlier_stages() -> None:
    problems = []
    for stage in STAGES:
        folder = SRC / stage
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            for module in _glimmer_imports(path):
                parts = module.split(".")
                if len(parts) < 2 or parts[1] in {"errors", "resources"}:
                    if module == "glimmer":
                        problems.append(f"{path.relative_to(SRC)} imports the facade 'glimmer'")
                    continue
                if parts[1] in STAGES and parts[1] not in ALLOWED[stage]:
                    problems.append(f"{path.relative_to(SRC)} imports {module}")
    assert not problems, problems


def test_errors_module_imports_nothing_from_glimmer() -> None:
    assert not _glimmer_imports(SRC / "errors.py")


def test_import_glimmer_stays_light() -> None:
    code = "import sys, glimmer; print(sorted({'torch', 'transformers', 'peft', 'trl', 'datasets'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_code_is_documented() -> None:
    used: set[str] = set()
    for path in SRC.rglob("*.py"):
        used |= set(re.findall(r"""["'](G\d{3})["']""", path.read_text(encoding="utf-8")))
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| (G\d{3}) \|", page, re.M))
    assert used, "no error codes found"
    assert used <= documented, f"undocumented codes: {sorted(used - documented)}"
    assert documented <= used, f"documented but unused codes: {sorted(documented - used)}"


def test_every_extra_the_make_targets_install_imports() -> None:
    """Under `make test` (GLIMMER_EXTRAS names them) a missing extra fails here, loudly,
    instead of only skipping the tests that need it."""
    import os

    from glimmer.extras import EXTRAS, missing_modules

    wanted = [e for e in os.environ.get("GLIMMER_EXTRAS", "").split(",") if e]
    if not wanted:
        pytest.skip("GLIMMER_EXTRAS is not set: run through `make test` to check the extras")
    assert set(wanted) <= set(EXTRAS) | {"dev"}, wanted
    missing = {e: missing_modules(e) for e in wanted if e in EXTRAS and missing_modules(e)}
    assert not missing, f"extras make installs but this environment lacks: {missing}"
