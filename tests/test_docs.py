"""Every ```python block in docs/ runs, in order per page, and its printed output matches
the ``#>`` lines written under the statement that prints it."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
PAGES = sorted(p for p in DOCS.rglob("*.md") if FENCE.search(p.read_text(encoding="utf-8")))


def split_expected(block: str) -> tuple[str, list[str]]:
    """The code without ``#>`` lines, and the output those lines expect."""
    code, expected = [], []
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("#>"):
            expected.append(stripped[3:] if stripped.startswith("#> ") else stripped[2:])
        else:
            code.append(line)
    return "\n".join(code), expected


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_docs_examples_run(page: Path, tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    old = Path.cwd()
    os.chdir(tmp_path)  # examples may write files; keep them out of the checkout
    try:
        for i, match in enumerate(FENCE.finditer(page.read_text(encoding="utf-8"))):
            code, expected = split_expected(match.group(1))
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
            if expected:
                got = [line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines()]
                assert got == [line.rstrip() for line in expected], f"{page.name} block {i}"
    finally:
        os.chdir(old)


def test_docs_have_examples() -> None:
    assert PAGES, "no executable examples found in docs/"
