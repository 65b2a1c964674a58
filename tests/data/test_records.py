"""Chat records: the JSON-lines contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glimmer.data import ChatRecord, Message, read_jsonl, write_jsonl
from glimmer.errors import GlimmerError, GlimmerFileError

roles = st.sampled_from(["system", "user", "assistant"])
records = st.builds(
    ChatRecord,
    messages=st.lists(st.builds(Message, role=roles, content=st.text()), min_size=1, max_size=4),
    category=st.sampled_from(["application", "matrix", "general"]),
    template_id=st.text(min_size=1, max_size=20),
    source=st.none() | st.text(max_size=20),
    seed=st.integers(0, 2**32),
)


@given(records)
def test_json_line_round_trip(rec: ChatRecord) -> None:
    line = rec.to_json_line()
    assert "\n" not in line
    assert ChatRecord.model_validate_json(line) == rec
    assert list(json.loads(line)) == ["messages", "category", "template_id", "source", "seed"]


def test_read_jsonl_round_trip_and_errors(tmp_path: Path) -> None:
    rec = ChatRecord(
        messages=[Message(role="user", content="hi"), Message(role="assistant", content="hello")],
        category="general",
        template_id="general/plain",
        source=None,
        seed=1,
    )
    path = write_jsonl([rec, rec], tmp_path / "a.jsonl")
    assert read_jsonl(path) == [rec, rec]
    with pytest.raises(GlimmerFileError) as info:
        write_jsonl([rec], path)
    assert info.value.code == "G004"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(rec.to_json_line() + "\n" + '{"messages": []}\n', encoding="utf-8")
    with pytest.raises(GlimmerError) as err:
        read_jsonl(bad)
    assert err.value.code == "G412"
    assert err.value.line == 2
