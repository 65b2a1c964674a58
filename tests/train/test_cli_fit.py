"""`glimmer fit DATA_DIR -o OUT`: adapter plus fit_result.json."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glimmer.cli import app

runner = CliRunner()


def test_cli_fit_writes_adapter_and_result(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "fit.toml"
    config.write_text(
        '[fit]\nbatch_size = 2\nlearning_rate = 0.005\nprogress = false\nreport_to = ["none"]\nreplay_samples = 0\n'
    )
    out = tmp_path / "out"
    args = [
        "fit",
        str(data_dir),
        "-o",
        str(out),
        "--model",
        str(tiny_checkpoint),
        "--max-steps",
        "2",
    ]
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "fit_result.json").read_text())
    assert saved["steps"] == 2
    assert saved["config"]["batch_size"] == 2
    assert saved["train_loss"] and "tokens_per_second" in saved and "peak_memory_bytes" in saved
    assert (Path(saved["adapter_path"]) / "adapter_model.safetensors").is_file()

    again = runner.invoke(app, [*args, "--config", str(config)])
    assert again.exit_code == 2
    assert "G505" in again.output

    replayed = runner.invoke(app, [*args, "--config", str(config), "--force", "--replay", "3"])
    assert replayed.exit_code == 0, replayed.output
    assert json.loads((out / "fit_result.json").read_text())["config"]["replay_samples"] == 3


def test_cli_fit_refuses_bad_input(data_dir: Path, tmp_path: Path) -> None:
    both = runner.invoke(
        app, ["fit", str(data_dir), "-o", str(tmp_path / "o"), "--epochs", "1", "--max-steps", "2"]
    )
    assert both.exit_code == 2
    missing = runner.invoke(app, ["fit", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert missing.exit_code == 2
    assert "G506" in missing.output
