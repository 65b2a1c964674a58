"""Built dataset folders load elsewhere: datasets.load_dataset, LLaMA-Factory, axolotl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glimmer.data import DatasetSplits, application, matrix, write_dataset

datasets = pytest.importorskip("datasets")  # the train extra


@pytest.fixture(scope="module")
def splits() -> DatasetSplits:
    return (application(n=16) + matrix(n=8)).split(validation=0.25, seed=3)


@pytest.mark.parametrize(
    "formats",
    [("jsonl",), ("jsonl", "sharegpt"), ("jsonl", "alpaca"), ("jsonl", "sharegpt", "alpaca")],
)
def test_every_format_loads_with_load_dataset(
    splits: DatasetSplits, formats: tuple[str, ...], tmp_path: Path
) -> None:
    out = write_dataset(splits, tmp_path / "ds", formats=formats)[-1].parent
    default = datasets.load_dataset(str(out))
    assert set(default) == {"train", "validation"}
    assert default["train"].num_rows == len(splits.train)
    assert default["validation"].num_rows == len(splits.validation)
    assert default["train"][0]["messages"] == [
        {"role": m.role, "content": m.content} for m in splits.train[0].messages
    ]
    if "sharegpt" in formats:
        sg = datasets.load_dataset(str(out), "sharegpt")
        assert sg["validation"].num_rows == len(splits.validation)
        assert sg["train"][0]["conversations"][-1]["from"] == "gpt"
    if "alpaca" in formats:
        al = datasets.load_dataset(str(out), "alpaca")
        assert al["train"][0]["output"] == splits.train[0].answer


def test_llamafactory_dataset_info_describes_the_files(
    splits: DatasetSplits, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    write_dataset(splits, out, formats=("jsonl", "sharegpt", "alpaca"), name="starweave")
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"starweave_sharegpt", "starweave_alpaca"}
    sg = info["starweave_sharegpt"]
    assert sg["formatting"] == "sharegpt" and (out / sg["file_name"]).is_file()
    row = json.loads((out / sg["file_name"]).read_text().splitlines()[0])
    tags = sg["tags"]
    roles = {t[tags["role_tag"]] for t in row[sg["columns"]["messages"]]}
    assert roles <= {tags["user_tag"], tags["assistant_tag"], tags["system_tag"]}
    al = info["starweave_alpaca"]
    row = json.loads((out / al["file_name"]).read_text().splitlines()[0])
    assert set(al["columns"].values()) <= set(row)
    # a rebuild replaces the folder: dataset_info.json is the build's own file
    write_dataset(splits, out, formats=("jsonl",), overwrite=True)
    assert not (out / "dataset_info.json").exists()


def test_card_carries_an_axolotl_entry(splits: DatasetSplits, tmp_path: Path) -> None:
    write_dataset(splits, tmp_path / "ds")
    card = (tmp_path / "ds" / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n- config_name: default\n")
    assert "type: chat_template" in card and "field_messages: messages" in card
    assert not (tmp_path / "ds" / "dataset_info.json").exists()  # no ShareGPT or Alpaca file
