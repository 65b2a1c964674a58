"""The command line: exit codes, one clear line per problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glimmer.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.glimmer"
    path.write_text("metadata {\n  author: ada\n}\n")
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.glimmer"
    path.write_text("metadata {\n  color: pink\n}\nconcsiousness {}\n")
    return path


def test_check_ok(good: Path) -> None:
    code, out, _ = run("check", str(good))
    assert code == 0
    assert f"{good}: ok" in out


def test_check_reports_every_problem_with_file_line_col(bad: Path) -> None:
    code, out, err = run("check", "--strict", str(bad))
    assert code == 1
    assert f"{bad}:2:3: 'pink' is not a hex colour" in out
    assert f"{bad}:4:1: unknown section 'concsiousness'" in out
    assert "did you mean 'consciousness'?" in out
    assert "2 problem(s) in 1 file(s)" in err


def test_check_without_strict_accepts_unknown_sections(tmp_path: Path) -> None:
    path = tmp_path / "p.glimmer"
    path.write_text("concsiousness {}\n")
    assert run("check", str(path))[0] == 0
    assert run("check", "--strict", str(path))[0] == 1


def test_check_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "p.glimmer"
    path.write_text('story: "open\n')
    code, out, _ = run("check", str(path))
    assert code == 1
    assert f"{path}:1:8: unterminated string" in out


@pytest.mark.parametrize("kind", ["missing", "directory", "latin1"])
def test_unreadable_inputs_exit_2_with_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.glimmer"
    if kind == "directory":
        path = tmp_path
    elif kind == "latin1":
        path.write_bytes(b'story: "caf\xe9"\n')
    for command in (["check"], ["fmt"], ["convert"]):
        code, out, err = run(*command, str(path))
        assert code == 2, command
        assert "Traceback" not in out + err
        assert str(path) in err


def test_fmt_check_and_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "p.glimmer"
    path.write_text("metadata: { author: ada, } // who\n")
    code, out, _ = run("fmt", "--check", str(path))
    assert code == 1 and "would reformat" in out
    assert path.read_text() == "metadata: { author: ada, } // who\n"
    assert run("fmt", str(path))[0] == 0
    assert path.read_text() == "metadata {\n  author: ada\n} // who\n"
    assert run("fmt", "--check", str(path))[0] == 0


def test_fmt_keeps_json_files_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"story": "x", "metadata": {"author": "ada"}}')
    assert run("fmt", str(path))[0] == 0
    assert json.loads(path.read_text()) == {"story": "x", "metadata": {"author": "ada"}}


def test_convert_both_ways(good: Path, tmp_path: Path) -> None:
    code, out, _ = run("convert", str(good), "--to", "json")
    assert code == 0 and json.loads(out) == {"metadata": {"author": "ada"}}
    target = tmp_path / "out.json"
    assert run("convert", str(good), "--to", "json", "-o", str(target))[0] == 0
    code, _, err = run("convert", str(good), "--to", "json", "-o", str(target))
    assert code == 2 and "--force" in err
    assert run("convert", str(good), "--to", "json", "-o", str(target), "--force")[0] == 0
    code, out, _ = run("convert", str(target), "--to", "glimmer")
    assert code == 0 and out == "metadata {\n  author: ada\n}\n"


def test_convert_unknown_format(good: Path) -> None:
    code, _, err = run("convert", str(good), "--to", "yaml")
    assert code == 2 and "G002 unknown format 'yaml'" in err


def test_schema_prints_json_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "GLIMMER pattern" and "metadata" in schema["properties"]


def test_help_lists_commands() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for command in ("check", "fmt", "convert", "schema"):
        assert command in out
