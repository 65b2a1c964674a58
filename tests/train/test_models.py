"""Model presets, message quirks and the embedded model's cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glimmer.train import models
from glimmer.train.models import (
    PRESETS,
    GlimmerModelError,
    ModelPreset,
    prepare_messages,
    resolve_model,
)


@pytest.mark.parametrize(
    ("name", "source", "system_role", "eot"),
    [
        ("smollm2-135m", "embedded", True, "<|im_end|>"),
        ("mistral-7b-instruct-v0.2", "mistralai/Mistral-7B-Instruct-v0.2", False, "</s>"),
        ("openhermes-2.5-mistral-7b", "teknium/OpenHermes-2.5-Mistral-7B", True, "<|im_end|>"),
        ("gemma-7b-it", "google/gemma-7b-it", False, "<end_of_turn>"),
    ],
)
def test_presets(name: str, source: str, system_role: bool, eot: str) -> None:
    preset = resolve_model(name)
    assert preset.source == source
    assert preset.system_role is system_role
    assert preset.end_of_turn == eot
    assert "q_proj" in preset.lora_target_modules
    assert resolve_model(source) is preset


def test_unknown_ids_and_paths_resolve_to_generic_presets(tmp_path: Path) -> None:
    assert resolve_model("someone/some-model").source == "someone/some-model"
    assert resolve_model(str(tmp_path)).source == str(tmp_path)
    assert resolve_model("SmolLM2") is PRESETS["smollm2-135m"]
    with pytest.raises(GlimmerModelError):
        resolve_model("  ")


def test_system_text_is_folded_into_the_first_user_turn_without_system_role() -> None:
    messages = [
        {"role": "system", "content": "Speak STARWEAVE."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    gemma = resolve_model("gemma-7b-it")
    assert prepare_messages(messages, preset=gemma) == [
        {"role": "user", "content": "Speak STARWEAVE.\n\nHi"},
        {"role": "assistant", "content": "Hello"},
    ]
    chatml = resolve_model("smollm2-135m")
    assert prepare_messages(messages, preset=chatml) == messages
    assert messages[1]["content"] == "Hi"  # input untouched


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GLIMMER_CACHE", str(tmp_path / "c"))
    assert models.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GLIMMER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if models.sys.platform.startswith("linux"):
        assert models.cache_dir() == tmp_path / "xdg" / "glimmer"


def _fake_checkpoint(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "model.safetensors").write_bytes(b"x" * 1000)
    manifest = {"version": 1, "files": models._file_entries(folder)}
    (folder / models._MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest", "none"])
def test_damaged_cache_is_detected(
    tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ckpt"
    _fake_checkpoint(folder)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    if damage == "flip":  # same size and mtime: small files are hashed anyway
        weights.write_bytes(b"y" + b"x" * 999)
        models.os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert not models._cache_is_valid(folder, full=False)
        assert not models._cache_is_valid(folder, full=True)
        monkeypatch.setattr(models, "_ALWAYS_HASH_BELOW", 0)  # big files: only a full check
        assert models._cache_is_valid(folder, full=False)
        assert not models._cache_is_valid(folder, full=True)
        return
    if damage == "truncate":
        weights.write_bytes(b"x" * 10)
    elif damage == "delete":
        weights.unlink()
    elif damage == "manifest":
        (folder / models._MANIFEST).write_text("{not json")
    assert models._cache_is_valid(folder, full=True) is (damage == "none")
    assert models._cache_is_valid(folder, full=False) is (damage == "none")


def test_partial_cache_is_rebuilt_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Any, tiny_tokenizer: Any
) -> None:
    monkeypatch.setenv("GLIMMER_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "_gguf_path", lambda: Path(__file__))
    calls: list[str] = []

    def fake_tokenizer(_: Path) -> Any:
        calls.append("tok")
        return tiny_tokenizer

    monkeypatch.setattr(models, "_gguf_tokenizer", fake_tokenizer)
    monkeypatch.setattr(models, "_gguf_model", lambda _: tiny_model)
    models._VERIFIED.clear()
    folder = models.embedded_model_dir(progress=False)
    assert (folder / "model.safetensors").is_file()
    assert calls == ["tok"]
    models._VERIFIED.clear()
    assert models.embedded_model_dir(progress=False) == folder
    assert calls == ["tok"]  # valid cache: no second conversion
    (folder / "config.json").write_text("{}")  # damaged: rebuilt
    models._VERIFIED.clear()
    models.embedded_model_dir(progress=False)
    assert calls == ["tok", "tok"]
    assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"
    leftovers = [p.name for p in folder.parent.iterdir() if p.name != folder.name]
    assert leftovers == []
    models._VERIFIED.clear()


def test_missing_model_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GlimmerModelError) as info:
        models.load_model(str(tmp_path / "nowhere"))
    assert info.value.code == "G501"
    assert info.value.hint


def test_embedded_preset_is_a_model_preset() -> None:
    assert isinstance(PRESETS["smollm2-135m"], ModelPreset)
    assert PRESETS["smollm2-135m"].is_embedded
