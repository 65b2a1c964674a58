"""read_records and read_chats: the one reader of chat records (strict for records, tolerant
for the chats fit() trains on), for a .jsonl file or a dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glimmer.data.records import ChatRecord, Message, read_chats, read_records
from glimmer.errors import FitDataError, GlimmerFileError, RecordError


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


def test_a_line_that_is_not_json_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_record().model_dump_json() + "\n\n{oops\n", encoding="utf-8")
    with pytest.raises(RecordError, match="invalid JSON") as info:
        read_records(path)
    assert (info.value.line, info.value.column) == (3, 2)


def test_read_chats_takes_the_messages_of_strict_and_loose_records(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    loose = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path.write_text(_record().to_json_line() + "\n" + json.dumps(loose) + "\n", encoding="utf-8")
    assert read_chats(path) == [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        loose["messages"],
    ]
    # the strict reader refuses what is only a chat
    with pytest.raises(RecordError) as info:
        read_records(path)
    assert info.value.line == 2


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "hi"}, "no 'messages' list"),
        ({"messages": "hi"}, "no 'messages' list"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "role 'tool'"),
        ({"messages": [{"role": "user", "content": 3}]}, "content of type int"),
        ({"messages": [{"role": "user", "content": "q"}]}, "no assistant message"),
    ],
)
def test_read_chats_names_the_line_of_a_bad_chat_in_the_callers_error(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_record().to_json_line() + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(FitDataError, match=message) as info:
        read_chats(path, error=FitDataError)
    assert (info.value.location.source, info.value.line) == (str(path), 2)
