"""glimmer fit's flags: explicit flags beat --config, loggers that are absent are not recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import glimmer.train.fit as fit_module
from glimmer.cli import app
from glimmer.train.config import DEFAULT_REPLAY_SAMPLES, FitConfig, resolve
from glimmer.train.device import Hardware, decide
from glimmer.train.models import resolve_model
from glimmer.train.plan import model_shape


class Stop(Exception):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_fit(dataset: Any, /, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(fit_module, "fit", fake_fit)
    return seen


def _run(tmp_path: Path, *args: str) -> Any:
    config = tmp_path / "mistral.toml"
    config.write_text('[fit]\nmodel = "mistral-7b-instruct-v0.2"\nmethod = "qlora"\nlora_r = 8\n')
    return CliRunner().invoke(
        app, ["fit", str(tmp_path), "-o", str(tmp_path / "o"), "--config", str(config), *args]
    )


def test_explicit_flags_beat_the_config(tmp_path: Path, captured: dict[str, Any]) -> None:
    result = _run(
        tmp_path,
        "--model",
        "smollm2-135m",
        "--method",
        "lora",
        "--lr",
        "1e-3",
        "--lora-r",
        "4",
        "--batch-size",
        "2",
        "--max-seq-len",
        "256",
        "--replay",
        "0",
    )
    assert isinstance(result.exception, Stop)
    assert captured["config"].model == "mistral-7b-instruct-v0.2"  # the file was read
    assert (captured["model"], captured["method"]) == ("smollm2-135m", "lora")
    assert {k: captured[k] for k in ("learning_rate", "lora_r", "batch_size", "max_seq_len")} == {
        "learning_rate": 1e-3,
        "lora_r": 4,
        "batch_size": 2,
        "max_seq_len": 256,
    }
    assert captured["replay_samples"] == 0


def test_flags_not_given_leave_the_config_alone(tmp_path: Path, captured: dict[str, Any]) -> None:
    result = _run(tmp_path)
    assert isinstance(result.exception, Stop)
    assert captured["model"] is None and captured["method"] is None
    assert not {"learning_rate", "lora_r", "batch_size", "max_seq_len", "replay_samples"} & set(
        captured
    )


def test_self_replay_is_on_by_default() -> None:
    assert FitConfig().replay_samples == DEFAULT_REPLAY_SAMPLES == 48
    assert FitConfig(replay_samples=0).replay_samples == 0


def test_an_absent_logger_warns_and_is_not_recorded() -> None:
    cpu = decide(Hardware(backend="cpu", ram_bytes=16 * 1024**3))
    cfg = FitConfig(report_to=["tensorboard", "surely-not-a-logger"])
    resolved = resolve(
        cfg,
        choice=cpu,
        preset=resolve_model("smollm2-135m"),
        shape=model_shape("smollm2-135m"),
        n_train=32,
    )
    assert resolved.as_dict()["report_to"] == ["tensorboard"]
    assert any("surely-not-a-logger not installed" in r for r in resolved.reasons)
    quiet = resolve(
        FitConfig(report_to=["none"]),
        choice=cpu,
        preset=resolve_model("smollm2-135m"),
        shape=model_shape("smollm2-135m"),
        n_train=32,
    )
    assert not any("logger" in r for r in quiet.reasons)
