"""read_records: one reader for a .jsonl file or a dataset folder, used by expand and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.data.records import ChatRecord, Message, read_records
from glimmer.errors import GlimmerFileError, RecordError


def _record() -> ChatRecord:
    return ChatRecord(
        messages=[Message(role="user", content="hi"), Message(role="assistant", content="hello")],
        category="reflection",
        template_id="t",
        seed=0,
    )


def test_a_file_and_its_folder_read_the_same(tmp_path: Path) -> None:
    rec = _record()
    (tmp_path / "train.jsonl").write_text(rec.model_dump_json() + "\n\n", encoding="utf-8")
    assert read_records(tmp_path) == read_records(tmp_path / "train.jsonl") == [rec]


def test_a_folder_without_train_jsonl_says_so(tmp_path: Path) -> None:
    with pytest.raises(GlimmerFileError, match=r"no train\.jsonl") as info:
        read_records(tmp_path)
    assert info.value.location.source == str(tmp_path) and info.value.hint


def test_a_line_that_is_not_a_record_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_record().model_dump_json() + '\n{"messages": 3}\n', encoding="utf-8")
    with pytest.raises(RecordError) as info:
        read_records(path)
    assert (info.value.code, info.value.line) == ("G412", 2)
