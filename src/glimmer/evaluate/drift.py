"""Multi-turn drift: does the framework hold, fade or creep in over a conversation?

A drift file is JSONL, one scripted conversation per line, its user turns only::

    {"id": "garden", "turns": ["Describe a garden at dawn.", "How do I water tomatoes?", ...]}

Each arm answers turn 1, its answer goes into the history, then turn 2, and so on, so every
arm carries its own answers forward. The figure is the concept share per turn (the share of
conversations whose answer at that turn uses a concept the user turn did not contain). The
bundled file ``glimmer/resources/drift/conversations.jsonl`` has four conversations of eight
turns that mix everyday questions with ones about how the model thinks; none names the framework.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from glimmer._jsonl import json_lines
from glimmer.errors import DriftError, Location
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.robustness import ArmSpec, TurnAnswer, answer_arms
from glimmer.model.io import read_text
from glimmer.resources import resource_dir

__all__ = [
    "Conversation",
    "DriftConversation",
    "DriftError",
    "bundled_conversations",
    "drift_shares",
    "load_conversations",
    "loads_conversations",
    "run_drift",
]


@dataclass(frozen=True, slots=True)
class Conversation:
    """A scripted conversation: its id and its user turns."""

    id: str
    turns: tuple[str, ...]


class DriftConversation(BaseModel):
    """One conversation as every arm answered it, turn by turn."""

    id: str
    turns: list[str]
    answers: dict[str, list[TurnAnswer]] = Field(default_factory=dict)


def loads_conversations(text: str, /, *, source: str = "<string>") -> list[Conversation]:
    """Read scripted conversations from JSONL text.

    Raises:
        DriftError: A line is not JSON, or a conversation has fewer than two user turns.

    Examples:
        >>> loads_conversations('{"id": "c", "turns": ["Hi.", "How are you?"]}')[0].turns
        ('Hi.', 'How are you?')
    """
    out: list[Conversation] = []
    for lineno, data in json_lines(text, source=source, error=DriftError):
        loc = Location(source=source, line=lineno)
        turns = data.get("turns") if isinstance(data, dict) else None
        if (
            not isinstance(turns, list)
            or len(turns) < 2
            or not all(isinstance(t, str) and t.strip() for t in turns)
        ):
            raise DriftError(
                "a conversation needs 'turns': a list of at least two non-empty user messages",
                location=loc,
                hint='write {"id": "c1", "turns": ["first question", "second question", ...]}',
            )
        ident = str(data.get("id") or f"{Path(source).stem}-{len(out) + 1}")
        out.append(Conversation(ident, tuple(turns)))
    if not out:
        raise DriftError("no conversations in the file", location=Location(source=source))
    return out


def load_conversations(path: str | os.PathLike[str], /) -> list[Conversation]:
    """Read a drift file (JSONL)."""
    return loads_conversations(read_text(Path(path)), source=str(path))


def bundled_conversations() -> list[Conversation]:
    """The bundled scripted conversations (four, eight turns each)."""
    return load_conversations(resource_dir("drift") / "conversations.jsonl")


def run_drift(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Conversation],
    arms: Mapping[str, ArmSpec],
    /,
    *,
    index: ConceptIndex,
    system_role: bool = True,
    max_new_tokens: int = 48,
    batch_size: int = 8,
    no_repeat_ngram: int = 0,
    term_lock: Any | None = None,
    seconds: dict[str, float] | None = None,
) -> list[DriftConversation]:
    """Every conversation answered turn by turn by every arm (each turn in one batch for
    all conversations, the arms that only switch the adapter in shared batches; each turn
    continues the key/value cache of the one before and encodes only the new tokens)."""
    out = [DriftConversation(id=c.id, turns=list(c.turns)) for c in conversations]
    n_turns = max(len(c.turns) for c in conversations)
    history: dict[str, list[list[dict[str, str]]]] = {
        arm: [[] for _ in conversations] for arm in arms
    }
    for d in out:
        for arm in arms:
            d.answers[arm] = []
    carry: dict[tuple[str, ...], Any] = {}  # each group's batch, kept from turn to turn
    for k in range(n_turns):
        live = [i for i, c in enumerate(conversations) if k < len(c.turns)]
        for arm in arms:
            for i in live:
                history[arm][i].append({"role": "user", "content": conversations[i].turns[k]})
        answers = answer_arms(
            model,
            tokenizer,
            {arm: [history[arm][i] for i in live] for arm in arms},
            arms,
            system_role=system_role,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            no_repeat_ngram=no_repeat_ngram,
            term_lock=term_lock,
            seconds=seconds,
            carry=carry,
        )
        for arm, replies in answers.items():
            for i, ans in zip(live, replies, strict=True):
                history[arm][i].append({"role": "assistant", "content": ans.text})
                used = index.concepts_in(ans.text) - index.concepts_in(conversations[i].turns[k])
                out[i].answers[arm].append(
                    TurnAnswer(text=ans.text, ended=ans.ended, concepts=sorted(used))
                )
    return out


def drift_shares(conversations: Sequence[DriftConversation], arm: str, /) -> list[float]:
    """Concept share per turn for *arm* (over the conversations that reached that turn)."""
    n_turns = max((len(c.turns) for c in conversations), default=0)
    shares: list[float] = []
    for k in range(n_turns):
        flags = [
            bool(c.answers[arm][k].concepts)
            for c in conversations
            if k < len(c.answers.get(arm, []))
        ]
        if flags:
            shares.append(round(sum(flags) / len(flags), 4))
    return shares
