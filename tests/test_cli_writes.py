"""The command line on places it cannot write: one clean line, exit 2, nothing lost."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glimmer.cli import app

runner = CliRunner()


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.glimmer"
    path.write_text("metadata {\n  author: ada\n}\n")
    return path


@pytest.mark.parametrize("where", ["under-a-file", "proc", "device"])
def test_convert_to_an_unwritable_place(good: Path, tmp_path: Path, where: str) -> None:
    target = {
        "under-a-file": str(good / "out.json"),
        "proc": "/proc/glimmer/out.json",
        "device": "/dev/null",
    }[where]
    result = runner.invoke(app, ["convert", str(good), "-o", target, "--force"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert target in result.stderr and "Traceback" not in result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fmt_keeps_mode_and_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.glimmer"
    real.write_text("metadata{author:ada}\n")
    real.chmod(0o664)
    link = tmp_path / "link.glimmer"
    link.symlink_to(real)
    result = runner.invoke(app, ["fmt", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert real.read_text() == "metadata {\n  author: ada\n}\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o664


def test_full_stdout_is_a_clean_error(good: Path) -> None:
    code = "from glimmer.cli import main; main()"
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-c", code, "convert", str(good)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert "<stdout>: cannot write" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["demo", "-o", str(folder)])
    assert result.exit_code == 2, result.output
    assert "not empty" in result.stderr and "--force" in result.stderr
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_standard_output_is_one_line_and_exit_2() -> None:
    pattern = Path(__file__).resolve().parent.parent / "examples/patterns/starweave-seed.glimmer"
    with open("/dev/full", "w") as full:
        run = subprocess.run(
            [sys.executable, "-m", "glimmer", "check", str(pattern)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 2
    assert "cannot write" in run.stderr and "Traceback" not in run.stderr
