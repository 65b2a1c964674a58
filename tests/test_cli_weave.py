"""The command line on weave files (.we) and on files that embed patterns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import glimmer
from glimmer.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def seed(corpus_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "seed.we"
    path.write_text((corpus_dir / "weave" / "001-STARWEAVE-INIT.we").read_text(encoding="utf-8"))
    return path


def test_check_weave(seed: Path) -> None:
    code, out, _ = run("check", str(seed))
    assert code == 0
    assert f"{seed}: ok" in out


def test_check_weave_error_has_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "bad.we"
    path.write_text("@story@\n    a >define> [ b |\n@story@\n")
    code, out, _ = run("check", str(path))
    assert code == 1
    assert f"{path}:3:1: unexpected '@story@'" in out


def test_convert_weave_to_every_form_and_back(seed: Path, tmp_path: Path) -> None:
    original = glimmer.load(seed)
    code, out, _ = run("convert", str(seed), "--to", "json")
    assert code == 0
    assert json.loads(out) == original.to_data()
    for fmt, suffix in (("glimmer", ".glimmer"), ("json", ".json")):
        target = tmp_path / f"seed{suffix}"
        assert run("convert", str(seed), "--to", fmt, "-o", str(target))[0] == 0
        back = tmp_path / f"back-{fmt}.we"
        assert run("convert", str(target), "--to", "weave", "-o", str(back))[0] == 0
        assert glimmer.load(back) == original


def test_fmt_weave(seed: Path) -> None:
    code, out, _ = run("fmt", "--check", str(seed))
    assert code == 1  # the corpus file aligns its comments by hand
    assert "would reformat" in out
    assert run("fmt", str(seed))[0] == 0
    assert run("fmt", "--check", str(seed))[0] == 0
    assert "// Birth of concepts" in seed.read_text()


def test_check_embedded_patterns(tmp_path: Path) -> None:
    header = '@pattern_meta@\nGLIMMER Pattern:\n{\n  "metadata": {"author": "isdood"}\n}\n@pattern_meta@\n'
    zig = tmp_path / "mod.zig"
    zig.write_text(header + '\nconst std = @import("std");\n')
    md = tmp_path / "README.md"
    md.write_text("# Title\n\n```glimmer\nmetadata {\n  color: pink\n}\n```\n")
    plain = tmp_path / "notes.txt"
    plain.write_text("nothing here\n")
    code, out, err = run("check", str(zig), str(plain))
    assert code == 0
    assert f"{zig}: ok (1 embedded pattern(s))" in out
    assert f"{plain}: ok (0 embedded pattern(s))" in out
    code, out, err = run("check", str(zig), str(md))
    assert code == 1
    assert f"{md}:5:3: 'pink' is not a hex colour" in out
    assert "1 problem(s) in 1 file(s)" in err


def test_fmt_weave_error_has_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "bad.we"
    text = '~story~ = "x"\n@story@\n    a >v> [b\n@story@\n'
    path.write_text(text)
    code, _, err = run("fmt", str(path))
    assert code == 1
    assert f"{path}:4:1: unexpected '@story@'" in err
    assert path.read_text() == text  # nothing written


def test_check_weave_validation_error_points_into_the_meta_block(tmp_path: Path) -> None:
    path = tmp_path / "meta.we"
    path.write_text(
        '@pattern_meta@\nGLIMMER Pattern:\n{\n  "metadata": {\n    "color": "pink"\n  }\n}\n@pattern_meta@\n'
    )
    code, out, _ = run("check", str(path))
    assert code == 1
    assert f"{path}:5:5: 'pink' is not a hex colour" in out
