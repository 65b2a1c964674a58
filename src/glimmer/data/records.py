"""Chat records: the one shape every builder yields and every exporter writes.

A record is ``{"messages": [...], "category": ..., "template_id": ..., "source": ..., "seed": ...}``,
one JSON object a line in ``train.jsonl`` / ``validation.jsonl``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from glimmer._jsonl import json_lines
from glimmer.errors import GlimmerError, GlimmerFileError, Location, RecordError

__all__ = [
    "CATEGORIES",
    "ChatRecord",
    "DatasetSplits",
    "Message",
    "chat_messages",
    "fold_system",
    "read_chats",
    "read_jsonl",
    "read_records",
]

CATEGORIES: tuple[str, ...] = (
    "generation",
    "interpretation",
    "application",
    "reflection",
    "matrix",
    "glossary",
    "general",
)
"""Training categories, in the order cards and summaries list them."""

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    """``"system"``, ``"user"`` or ``"assistant"``."""
    content: str
    """The text of the turn."""


class ChatRecord(BaseModel):
    """One training example: chat messages plus provenance.

    Examples:
        >>> r = ChatRecord(messages=[Message(role="user", content="hi"),
        ...                          Message(role="assistant", content="hello")],
        ...                category="general", template_id="general/hello", source=None, seed=0)
        >>> ChatRecord.model_validate_json(r.to_json_line()) == r
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: list[Message]
    """System (optional), user and assistant turns, in order."""
    category: str
    """``"generation"``, ``"interpretation"``, ``"application"``, ``"reflection"``, ``"matrix"``, ``"glossary"`` or ``"general"``."""
    template_id: str
    """The template that produced it, e.g. ``"application/lens"``."""
    source: str | None = None
    """The pattern file (or glossary concept) it was made from, if any."""
    seed: int
    """The seed that makes this exact record again."""

    _fills: tuple[str, ...] = PrivateAttr(default=())

    def to_json_line(self) -> str:
        """The record as one line of JSON (no trailing newline), keys in contract order."""
        return json.dumps(
            {
                "messages": [{"role": m.role, "content": m.content} for m in self.messages],
                "category": self.category,
                "template_id": self.template_id,
                "source": self.source,
                "seed": self.seed,
            },
            ensure_ascii=False,
        )

    def __eq__(self, other: object) -> bool:
        # equal by exported content; the private names filled in are not part of a record
        if not isinstance(other, ChatRecord):
            return NotImplemented
        return self.to_json_line() == other.to_json_line()

    def __hash__(self) -> int:
        return hash(self.to_json_line())

    @property
    def prompt(self) -> str:
        """The (last) user turn."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    @property
    def answer(self) -> str:
        """The (last) assistant turn."""
        return next((m.content for m in reversed(self.messages) if m.role == "assistant"), "")

    @property
    def system(self) -> str | None:
        """The system turn, if there is one."""
        return next((m.content for m in self.messages if m.role == "system"), None)

    @property
    def fills(self) -> tuple[str, ...]:
        """The names filled into the template (topics, concepts, titles); not exported."""
        return self._fills

    def with_fills(self, fills: Iterable[str]) -> ChatRecord:
        """This record, remembering which names were filled in (for diversity figures)."""
        self._fills = tuple(fills)
        return self


class DatasetSplits(BaseModel):
    """A built dataset: train and validation records, plus the figures the card reports."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    train: list[ChatRecord]
    """Training records."""
    validation: list[ChatRecord]
    """Held-out records (stratified by category)."""
    seed: int = 0
    """The seed the dataset was built with."""
    stats: dict[str, Any] = {}
    """Dedup counts and other figures gathered while building."""

    @property
    def all(self) -> list[ChatRecord]:
        """Train then validation records."""
        return [*self.train, *self.validation]


def chat_messages(
    record: Any, /, *, source: str, line: int, error: type[GlimmerError] = RecordError
) -> list[dict[str, str]]:
    """The ``[{"role", "content"}, ...]`` of one chat: a ``ChatRecord``, or any mapping or object
    with a ``messages`` list (a row of a ``datasets.Dataset``, a dict from another tool).

    The tolerant reading of a chat, for training: only the messages are needed. Each turn has
    a role of ``system``, ``user`` or ``assistant`` and text content, and at least one turn is the
    assistant's (otherwise there is nothing to learn).

    Raises:
        GlimmerError: Of class *error*, naming *source* and *line*.

    Examples:
        >>> chat_messages({"messages": [{"role": "user", "content": "Hi"},
        ...                             {"role": "assistant", "content": "Hello"}]},
        ...               source="<records>", line=1)
        [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello'}]
        >>> chat_messages({"text": "Hi"}, source="data.jsonl", line=4)
        Traceback (most recent call last):
        ...
        glimmer.errors.RecordError: data.jsonl:4: a record has no 'messages' list
        hint: records are chat records as written by `glimmer build`
    """
    where = Location(source=source, line=line)
    raw = (
        record.get("messages") if isinstance(record, Mapping) else getattr(record, "messages", None)
    )
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise error(
            "a record has no 'messages' list",
            location=where,
            hint="records are chat records as written by `glimmer build`",
        )
    out: list[dict[str, str]] = []
    for message in raw:
        if isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
        else:
            role, content = getattr(message, "role", None), getattr(message, "content", None)
        if role not in {"system", "user", "assistant"} or not isinstance(content, str):
            raise error(
                f"a message has role {role!r} and content of type {type(content).__name__}",
                location=where,
                hint="each message is {'role': 'system'|'user'|'assistant', 'content': str}",
            )
        out.append({"role": str(role), "content": content})
    if not any(m["role"] == "assistant" for m in out):
        raise error("a record has no assistant message: nothing to learn", location=where)
    return out


def read_jsonl(path: str | os.PathLike[str], /) -> list[ChatRecord]:
    """Read chat records from a JSON-lines file.

    Raises:
        GlimmerFileError: The file cannot be read.
        RecordError: A line is not JSON or not a chat record (code G412, with its line number).
    """
    from pydantic import ValidationError

    source = str(Path(path))
    out: list[ChatRecord] = []
    for n, value in json_lines(_read(path, None), source=source, error=RecordError):
        try:
            out.append(ChatRecord.model_validate(value))
        except ValidationError as exc:
            raise RecordError(
                f"not a chat record: {exc.errors()[0]['msg']}",
                location=Location(source, n, 1),
                hint='each line is {"messages": [...], "category": ..., "template_id": ..., "source": ..., "seed": ...}',
            ) from None
    return out


def read_chats(
    path: str | os.PathLike[str],
    /,
    *,
    error: type[GlimmerError] = RecordError,
    limit: int | None = None,
) -> list[list[dict[str, str]]]:
    """The messages of every chat in a JSON-lines file, read tolerantly (see
    :func:`chat_messages`): the reader ``fit()`` trains from.

    Raises:
        GlimmerFileError: The file cannot be read.
        GlimmerError: Of class *error*: a line that is not JSON or not a chat, with its line.
    """
    source = str(Path(path))
    return [
        chat_messages(value, source=source, line=n, error=error)
        for n, value in json_lines(_read(path, limit), source=source, error=error)
    ]


def _read(path: str | os.PathLike[str], limit: int | None) -> str:
    from glimmer._fs import read_text
    from glimmer.model.io import read_text as read_bounded_text

    return read_bounded_text(path) if limit is None else read_text(path, limit=limit)


def read_records(path: str | os.PathLike[str], /) -> list[ChatRecord]:
    """Read chat records from a ``.jsonl`` file or a dataset folder (its ``train.jsonl``).

    Raises:
        GlimmerFileError: The file cannot be read, or the folder has no ``train.jsonl``.
        RecordError: A line is not a chat record (code G412, with its line number).
    """
    folder = Path(path)
    if not folder.is_dir():
        return read_jsonl(folder)
    train = folder / "train.jsonl"
    if not train.is_file():
        raise GlimmerFileError(
            "no train.jsonl in this directory",
            location=Location(str(folder)),
            hint="pass a dataset directory written by `glimmer build`, or a .jsonl file",
        )
    return read_jsonl(train)


def fold_system(messages: Iterable[Mapping[str, str]], /) -> list[dict[str, str]]:
    r"""The messages for a chat template without a system role: the system text, joined by
    blank lines, leads the first user turn (or becomes one where there is none).

    Examples:
        >>> fold_system([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
        [{'role': 'user', 'content': 'Be brief.\n\nHi'}]
    """
    out = [{"role": m["role"], "content": m["content"]} for m in messages]
    system = [m["content"] for m in out if m["role"] == "system"]
    rest = [m for m in out if m["role"] != "system"]
    if system:
        for m in rest:
            if m["role"] == "user":
                m["content"] = "\n\n".join([*system, m["content"]])
                break
        else:
            rest.insert(0, {"role": "user", "content": "\n\n".join(system)})
    return rest
