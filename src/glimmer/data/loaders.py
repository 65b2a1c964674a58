"""What lets other tools load a built dataset folder as it is.

- ``datasets.load_dataset(folder)``: a YAML ``configs:`` header in the card names the files
  of each split, one configuration per format (``default`` is the chat JSONL, then
  ``sharegpt`` and ``alpaca``), so the formats are never mixed into one split.
- LLaMA-Factory: a ``dataset_info.json`` describing the ShareGPT and Alpaca files.
- axolotl: a ``chat_template`` dataset entry, shown in the card.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

__all__ = ["DATASET_INFO", "axolotl_section", "configs_header", "llamafactory_info"]

#: The LLaMA-Factory description written beside ShareGPT and Alpaca exports.
DATASET_INFO = "dataset_info.json"

_FORMATS = (("default", ""), ("sharegpt", ".sharegpt"), ("alpaca", ".alpaca"))


def _formats(files: Sequence[str]) -> list[tuple[str, str]]:
    return [(name, infix) for name, infix in _FORMATS if f"train{infix}.jsonl" in files]


def configs_header(files: Sequence[str], /) -> str:
    """The card's YAML front matter: one ``datasets`` configuration per format written."""
    lines = ["---", "configs:"]
    for name, infix in _formats(files):
        lines += [f"- config_name: {name}", "  data_files:"]
        for split in ("train", "validation"):
            if f"{split}{infix}.jsonl" in files:
                lines += [f"  - split: {split}", f"    path: {split}{infix}.jsonl"]
    lines += ["---", ""]
    return "\n".join(lines)


def llamafactory_info(name: str, files: Sequence[str], /) -> str | None:
    """LLaMA-Factory's ``dataset_info.json`` for the ShareGPT and Alpaca files, if any."""
    info: dict[str, object] = {}
    if "train.sharegpt.jsonl" in files:
        info[f"{name}_sharegpt"] = {
            "file_name": "train.sharegpt.jsonl",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "system_tag": "system",
            },
        }
    if "train.alpaca.jsonl" in files:
        info[f"{name}_alpaca"] = {
            "file_name": "train.alpaca.jsonl",
            "formatting": "alpaca",
            "columns": {
                "prompt": "instruction",
                "query": "input",
                "response": "output",
                "system": "system",
            },
        }
    return json.dumps(info, indent=2) + "\n" if info else None


def axolotl_section(name: str, /) -> str:
    """A card section with the axolotl dataset entry for the chat JSONL."""
    return "\n".join(
        [
            "## Loading it elsewhere",
            "",
            "With `datasets` (the formats are configurations: `default`, `sharegpt`, `alpaca`):",
            "",
            "```python",
            "from datasets import load_dataset",
            "",
            f'ds = load_dataset("{name}")  # or load_dataset("{name}", "sharegpt")',
            "```",
            "",
            "In an axolotl config:",
            "",
            "```yaml",
            "datasets:",
            f"  - path: {name}",
            "    type: chat_template",
            "    data_files: train.jsonl",
            "    field_messages: messages",
            "    message_property_mappings:",
            "      role: role",
            "      content: content",
            "    roles_to_train: [assistant]",
            "```",
            "",
            "LLaMA-Factory reads `dataset_info.json` beside the ShareGPT and Alpaca files "
            "(when they were exported): point `dataset_dir` at this folder.",
            "",
        ]
    )
