"""Hub-ready adapters: the base model by hub id (loaded offline), the model card, push settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from glimmer.train.config import FitConfig, resolve, to_sft_config
from glimmer.train.fit import fit, load_chat_splits
from glimmer.train.hub import base_model_id, finish_adapter, record_shift
from glimmer.train.models import load_tokenizer, resolve_model
from tests.train.tiny import chat_rows

FAST = {
    "batch_size": 2,
    "grad_accum": 1,
    "learning_rate": 5e-3,
    "progress": False,
    "report_to": ["none"],
    "replay_samples": 0,
}
SMOL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_embedded_model_is_named_by_its_upstream_id_and_maps_back_offline() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert base_model_id(resolve_model("smollm2-135m")) == SMOL_ID
    assert resolve_model(SMOL_ID).is_embedded
    assert base_model_id(resolve_model("mistral")) == "mistralai/Mistral-7B-Instruct-v0.2"
    tok = load_tokenizer(SMOL_ID)  # no network: the local copy of the embedded model
    assert tok.eos_token == "<|im_end|>"


def _adapter_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run" / "adapter"
    folder.mkdir(parents=True)
    config = {"base_model_name_or_path": "/home/me/.cache/glimmer/models/x", "peft_type": "LORA"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "README.md").write_text(
        "---\nbase_model: /home/me/.cache\n---\nhuggingface.co/None\n"
    )
    return folder


def test_card_names_base_links_dataset_and_lists_settings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("# data\n")
    folder = _adapter_folder(tmp_path)
    settings = {"model": "smollm2-135m", "method": "lora", "lora_r": 16, "learning_rate": 2e-4}
    card_path = finish_adapter(
        folder, preset=resolve_model("smollm2-135m"), settings=settings, dataset=data
    )
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == SMOL_ID
    assert config["peft_type"] == "LORA"
    card = card_path.read_text()
    assert card.startswith(f"---\nbase_model: {SMOL_ID}\nlibrary_name: peft\n")
    assert f"(https://huggingface.co/{SMOL_ID})" in card
    assert "huggingface.co/None" not in card
    link = card.split("[dataset card](")[1].split(")")[0]
    assert (folder / link).resolve() == (data / "README.md").resolve()
    assert "| lora_r | 16 |" in card and "| learning_rate | 0.0002 |" in card
    assert "## Shift" not in card


def test_shift_figures_go_into_the_card_and_replace_earlier_ones(tmp_path: Path) -> None:
    folder = _adapter_folder(tmp_path)
    finish_adapter(folder, preset=resolve_model("smollm2-135m"), settings={}, dataset=None)
    assert "no dataset card" in (folder / "README.md").read_text()
    record_shift(folder, "concept rate: base 3%, tuned 41%")
    record_shift(folder, "concept rate: base 3%, tuned 52%")
    card = (folder / "README.md").read_text()
    assert card.count("## Shift") == 1
    assert "tuned 52%" in card and "tuned 41%" not in card
    assert record_shift(tmp_path, "x") is None  # no glimmer card there: nothing written
    assert not (tmp_path / "README.md").exists()


def test_push_to_hub_passes_through_to_the_trainer_without_network() -> None:
    from tests.train.test_config import CPU, SMOL

    cfg = FitConfig(push_to_hub=True, hub_model_id="me/glimmer-smollm2")
    resolved = resolve(cfg, choice=CPU, preset=resolve_model("smollm2-135m"), shape=SMOL, n_train=8)
    sft = to_sft_config(resolved, output_dir="out")
    assert sft.push_to_hub is True
    assert sft.hub_model_id == "me/glimmer-smollm2"
    assert (
        to_sft_config(
            resolve(
                FitConfig(), choice=CPU, preset=resolve_model("smollm2-135m"), shape=SMOL, n_train=8
            ),
            output_dir="out",
        ).push_to_hub
        is False
    )


def test_fit_writes_a_hub_ready_adapter(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    (data_dir / "README.md").write_text("# data\n")
    result = fit(
        data_dir, model=str(tiny_checkpoint), output_dir=tmp_path / "o", max_steps=2, **FAST
    )
    adapter = Path(result.adapter_path)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_checkpoint)  # a local model stays a path
    card = (adapter / "README.md").read_text()
    assert "| max_steps | 2 |" in card
    assert (adapter / card.split("[dataset card](")[1].split(")")[0]).resolve() == (
        data_dir / "README.md"
    ).resolve()


def test_fit_takes_a_dataset_dict() -> None:
    from datasets import Dataset, DatasetDict

    rows = chat_rows(12)
    dd = DatasetDict(
        {"train": Dataset.from_list(rows[:10]), "validation": Dataset.from_list(rows[10:])}
    )
    train, val = load_chat_splits(dd)
    assert (len(train), len(val)) == (10, 2)
    assert train == load_chat_splits(rows[:10])[0]
