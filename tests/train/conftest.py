"""Fixtures for the train stage: a shared model cache and tiny models built from a config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The embedded model is converted once per machine; tests reuse it from the ignored .cache/.
os.environ.setdefault("GLIMMER_CACHE", str(ROOT / ".cache" / "glimmer"))

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.train.tiny import chat_rows, make_model, make_tokenizer  # noqa: E402


@pytest.fixture
def tiny_tokenizer() -> Any:
    return make_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer: Any) -> Any:
    return make_model(len(tiny_tokenizer))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama and its tokenizer saved as a local checkpoint folder."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer))
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A dataset folder as `glimmer build` writes it."""
    import json

    folder = tmp_path / "data"
    folder.mkdir()
    rows = chat_rows(12)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:10]))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[10:]))
    return folder


@pytest.fixture(scope="session")
def sharp_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with large random weights: unlike a near-uniform one, its answers
    depend on the system prompt, so there is something to bake."""
    folder = tmp_path_factory.mktemp("sharp-llama")
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), initializer_range=0.5)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
