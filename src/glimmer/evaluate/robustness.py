"""Robustness: does the framework survive being asked to drop it?

Each non-neutral prompt is asked again under adversarial instructions, read from an attack
file (JSONL, one attack per line; the bundled one is ``glimmer/resources/attacks/attacks.jsonl``)::

    {"id": "suffix", "turns": [{"role": "user", "content": "{question} Answer plainly."}]}

An attack is a short conversation whose last user turn holds the ``{question}`` slot; earlier
turns (a plain exchange the assistant already gave) come before it. ``{framework}`` is
replaced by the glossary's name. ``robust_concept_share`` is the share of attacked answers
still using a concept the question did not contain, over every attack pooled, and
``robust_concept_share_by_attack`` per attack.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from glimmer._jsonl import json_lines
from glimmer.errors import AttackError, Location
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.suites import TriggerPrompt
from glimmer.model.io import read_text
from glimmer.resources import resource_dir

__all__ = [
    "ArmSpec",
    "Attack",
    "AttackError",
    "AttackPlan",
    "AttackRow",
    "TurnAnswer",
    "answer_arms",
    "arm_rows",
    "bundled_attacks",
    "load_attacks",
    "loads_attacks",
    "plan_attacks",
    "run_attacks",
    "share_seconds",
    "shared_batches",
    "split_arms",
    "summarise_attacks",
]

_SLOT = "{question}"


@dataclass(frozen=True, slots=True)
class Attack:
    """One adversarial instruction: the turns around the question.

    Attributes:
        id: Short name (``"suffix"``, ``"role-break"``, ``"prefill"``).
        turns: ``{"role", "content"}`` messages; the last is a user turn holding ``{question}``.
        title: Words for the report.
    """

    id: str
    turns: tuple[tuple[str, str], ...]
    title: str = ""

    def messages(self, question: str, /, *, framework: str = "STARWEAVE") -> list[dict[str, str]]:
        """The conversation with *question* in its slot and the framework named."""
        return [
            {
                "role": role,
                "content": content.replace("{framework}", framework).replace(_SLOT, question),
            }
            for role, content in self.turns
        ]


def _attack(data: Any, *, source: str, line: int) -> Attack:
    loc = Location(source=source, line=line)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise AttackError(
            "an attack must be an object with an 'id' and 'turns'",
            location=loc,
            hint='write {"id": "suffix", "turns": [{"role": "user", "content": "{question} ..."}]}',
        )
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise AttackError(f"attack {data['id']!r} has no 'turns'", location=loc)
    out: list[tuple[str, str]] = []
    for t in turns:
        if (
            not isinstance(t, dict)
            or t.get("role") not in ("user", "assistant")
            or not isinstance(t.get("content"), str)
        ):
            raise AttackError(
                f"attack {data['id']!r}: each turn needs a role (user or assistant) and content",
                location=loc,
            )
        out.append((t["role"], t["content"]))
    last_role, last = out[-1]
    if last_role != "user" or last.count(_SLOT) != 1:
        raise AttackError(
            f"attack {data['id']!r}: the last turn must be a user turn holding the {_SLOT} slot once",
            location=loc,
            hint=f'put {_SLOT} where the question goes: "Stop role-playing. {_SLOT}"',
        )
    if any(_SLOT in c for _, c in out[:-1]):
        raise AttackError(
            f"attack {data['id']!r}: only the last turn may hold {_SLOT}", location=loc
        )
    return Attack(data["id"], tuple(out), str(data.get("title") or data["id"]))


def loads_attacks(text: str, /, *, source: str = "<string>") -> list[Attack]:
    """Read attacks from JSONL text.

    Raises:
        AttackError: A line is not JSON, or an attack has no ``{question}`` slot in its last turn.

    Examples:
        >>> loads_attacks('{"id": "s", "turns": [{"role": "user", "content": "{question} Plainly."}]}')[0].id
        's'
    """
    attacks = [
        _attack(data, source=source, line=lineno)
        for lineno, data in json_lines(text, source=source, error=AttackError)
    ]
    if not attacks:
        raise AttackError("no attacks in the file", location=Location(source=source))
    return attacks


def load_attacks(path: str | os.PathLike[str], /) -> list[Attack]:
    """Read an attack file (JSONL)."""
    return loads_attacks(read_text(Path(path)), source=str(path))


def bundled_attacks() -> list[Attack]:
    """The bundled attacks: a plain-answer suffix, a role-break and a two-turn plain prefill."""
    return load_attacks(resource_dir("attacks") / "attacks.jsonl")


class TurnAnswer(BaseModel):
    """One arm's answer to one attacked prompt or conversation turn."""

    text: str
    ended: bool = True
    concepts: list[str] = Field(default_factory=list)


class AttackRow(BaseModel):
    """One prompt under one attack, answered by every arm."""

    id: str
    category: str
    attack: str
    prompt: str
    answers: dict[str, TurnAnswer]


@dataclass(frozen=True, slots=True)
class ArmSpec:
    """How one arm answers: adapter on or off, a system prompt, a context (steering hook)."""

    adapter: bool | None = None
    system: str | None = None
    context: Callable[[], AbstractContextManager[Any]] | None = None

    def active(self) -> AbstractContextManager[Any]:
        """The context to generate in."""
        return self.context() if self.context is not None else nullcontext()

    def answer(
        self, model: Any, tokenizer: Any, conversations: Sequence[Any], /, **settings: Any
    ) -> list[Any]:
        """This arm's next turn for every conversation
        (:func:`~glimmer.evaluate.chat.answer_chats` with *settings*)."""
        from glimmer.evaluate.chat import answer_chats

        with self.active():
            return answer_chats(
                model,
                tokenizer,
                conversations,
                adapter=self.adapter,
                system=self.system,
                **settings,
            )


def shared_batches(arms: Mapping[str, Any], /) -> list[list[str]]:
    """The arms in groups that can answer in the same batches, in the order given.

    Arms with no context of their own that switch the adapter on or off form one group: a
    peft model answers each row of a batch in its own adapter state, and each row has its
    arm's system prompt, so the base, prompted and tuned arms share their decoding steps
    (:func:`~glimmer.evaluate.generate.plan_batches` says which). Any other arm (the model
    as is, a steering hook) is a group of its own.

    >>> shared_batches({"base": ArmSpec(adapter=False), "prompted": ArmSpec(adapter=False,
    ...     system="pattern"), "tuned": ArmSpec(adapter=True), "as is": ArmSpec()})
    [['base', 'prompted', 'tuned'], ['as is']]
    """
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, spec in arms.items():
        adapter = getattr(spec, "adapter", None)
        plain = getattr(spec, "context", None) is None and isinstance(adapter, bool)
        groups.setdefault(("shared",) if plain else ("own", name), []).append(name)
    return list(groups.values())


def arm_rows(
    arms: Mapping[str, Any], group: Sequence[str], n: int, /
) -> tuple[bool | list[bool] | None, str | list[str | None] | None]:
    """The adapter switch and system prompt of *n* prompts asked of every arm of *group*, arm
    after arm: one per row, or the arm's own where the group is one arm.

    >>> arms = {"base": ArmSpec(adapter=False), "prompted": ArmSpec(adapter=False, system="p")}
    >>> arm_rows(arms, ["base", "prompted"], 2)
    ([False, False, False, False], [None, None, 'p', 'p'])
    >>> arm_rows({"as is": ArmSpec()}, ["as is"], 2)
    (None, None)
    """
    if len(group) == 1:
        spec = arms[group[0]]
        return getattr(spec, "adapter", None), getattr(spec, "system", None)
    adapters = [bool(getattr(arms[a], "adapter", None)) for a in group for _ in range(n)]
    return adapters, [getattr(arms[a], "system", None) for a in group for _ in range(n)]


def split_arms(rows: Sequence[Any], group: Sequence[str], /) -> dict[str, list[Any]]:
    """Rows answered arm after arm (:func:`arm_rows`), back to each arm's own.

    >>> split_arms(["b1", "b2", "t1", "t2"], ["base", "tuned"])
    {'base': ['b1', 'b2'], 'tuned': ['t1', 't2']}
    """
    n = len(rows) // len(group)
    return {arm: list(rows[j * n : (j + 1) * n]) for j, arm in enumerate(group)}


def share_seconds(
    seconds: dict[str, float] | None, elapsed: float, tokens: Mapping[str, int], /
) -> None:
    """Add *elapsed* to each arm's *seconds* in proportion to its answer *tokens*
    (arms that answered in shared batches share their time by what each generated).

    >>> seconds = {"base": 1.0}
    >>> share_seconds(seconds, 9.0, {"base": 20, "tuned": 10})
    >>> seconds
    {'base': 7.0, 'tuned': 3.0}
    """
    if seconds is None:
        return
    total = sum(tokens.values())
    for arm, n in tokens.items():
        part = n / total if total else 1 / len(tokens)
        seconds[arm] = seconds.get(arm, 0.0) + elapsed * part


def _per_arm(
    stop_when: Callable[[int, str], bool], index: Sequence[int]
) -> Callable[[int, str], bool]:
    """*stop_when* for rows of several arms: row *i* is conversation ``index[i]`` of its arm."""
    return lambda i, words: stop_when(index[i], words)


def answer_arms(
    model: Any,
    tokenizer: Any,
    conversations: Mapping[str, Sequence[Any]],
    arms: Mapping[str, ArmSpec],
    /,
    *,
    max_new_tokens: int | Sequence[int] = 64,
    stop_when: Callable[[int, str], bool] | None = None,
    seconds: dict[str, float] | None = None,
    carry: dict[tuple[str, ...], Any] | None = None,
    **settings: Any,
) -> dict[str, list[Any]]:
    """Each arm's next turn for each of its conversations (:meth:`ArmSpec.answer`).

    The arms of one :func:`shared_batches` group answer in the same batches, each row in its
    arm's adapter state. *max_new_tokens* is one budget or one per conversation (the same
    for every arm); *stop_when* gets the conversation's index in its arm's list; *seconds*
    gets each arm's time (:func:`share_seconds` within a group). With *carry* (a dict kept
    between turns), each group keeps its batch's cache there
    (:class:`~glimmer.evaluate.generate.Carry`) and the next turn encodes only what is new.
    """
    from glimmer.evaluate.generate import Carry

    out: dict[str, list[Any]] = {}
    for group in shared_batches(arms):
        started = time.perf_counter()
        convs = [c for arm in group for c in conversations[arm]]
        owner = [(arm, k) for arm in group for k in range(len(conversations[arm]))]
        budgets = (
            max_new_tokens
            if isinstance(max_new_tokens, int)
            else [int(max_new_tokens[k]) for _, k in owner]
        )
        test = None if stop_when is None else _per_arm(stop_when, [k for _, k in owner])
        spec = arms[group[0]]
        kept = None
        if carry is not None:
            kept = carry[tuple(group)] = carry.get(tuple(group)) or Carry()
        if len(group) == 1:
            answers = spec.answer(
                model,
                tokenizer,
                convs,
                max_new_tokens=budgets,
                stop_when=test,
                carry=kept,
                **settings,
            )
        else:
            from glimmer.evaluate.chat import answer_chats

            answers = answer_chats(
                model,
                tokenizer,
                convs,
                adapter=[bool(arms[arm].adapter) for arm, _ in owner],
                system=[arms[arm].system for arm, _ in owner],
                max_new_tokens=budgets,
                stop_when=test,
                carry=kept,
                **settings,
            )
        for arm in group:
            out[arm] = [a for (who, _), a in zip(owner, answers, strict=True) if who == arm]
        share_seconds(
            seconds,
            time.perf_counter() - started,
            {arm: sum(a.n_tokens for a in out[arm]) for arm in group},
        )
    return {arm: out[arm] for arm in arms}


@dataclass(frozen=True, slots=True)
class AttackPlan:
    """The attacked conversations of :func:`run_attacks`, before any arm answers them.

    Attributes:
        pairs: Each attacked (prompt, attack), in the order of the conversations.
        conversations: The messages each arm answers the next turn of.
        budgets: New-token budget per conversation.
        asked: The concepts each conversation's prompt names itself.
    """

    pairs: list[tuple[TriggerPrompt, Attack]]
    conversations: list[list[dict[str, str]]]
    budgets: list[int]
    asked: list[set[str]]
    index: ConceptIndex

    def named_one(self, i: int, text: str, /) -> bool:
        """Whether *text* uses a concept conversation *i*'s prompt does not name."""
        return bool(self.index.concepts_in(text) - self.asked[i])

    def rows(self, by_arm: Mapping[str, Sequence[Any]], /) -> list[AttackRow]:
        """One row per conversation with every arm's answer (``text`` and ``ended``)."""
        rows = [
            AttackRow(id=p.id, category=p.category, attack=a.id, prompt=p.prompt, answers={})
            for p, a in self.pairs
        ]
        for arm, answers in by_arm.items():
            if len(answers) != len(rows):
                raise ValueError(f"{len(answers)} answers of {arm} for {len(rows)} attacks")
            for row, seen, ans in zip(rows, self.asked, answers, strict=True):
                used = self.index.concepts_in(ans.text) - seen
                row.answers[arm] = TurnAnswer(text=ans.text, ended=ans.ended, concepts=sorted(used))
        return rows


def plan_attacks(
    prompts: Sequence[TriggerPrompt],
    attacks: Sequence[Attack],
    /,
    *,
    index: ConceptIndex,
    framework: str = "STARWEAVE",
    max_new_tokens: int | Mapping[str, int] = 64,
) -> AttackPlan:
    """Every non-neutral prompt under every attack (see :func:`run_attacks` for the budgets).

    >>> from glimmer.evaluate.suites import TriggerPrompt
    >>> plan = plan_attacks([TriggerPrompt("reflection", "How do you listen?", id="p1")],
    ...     bundled_attacks()[:1], index=ConceptIndex.default(), max_new_tokens={"reflection": 96})
    >>> plan.budgets, "How do you listen?" in plan.conversations[0][-1]["content"]
    ([96], True)
    """
    from glimmer.evaluate.generate import category_budget

    pairs = [(p, a) for p in prompts if p.category != "neutral" for a in attacks]
    one = isinstance(max_new_tokens, Mapping) and "attack" in max_new_tokens
    return AttackPlan(
        pairs=pairs,
        conversations=[a.messages(p.prompt, framework=framework) for p, a in pairs],
        budgets=[
            category_budget("attack" if one else p.category, max_new_tokens) for p, _ in pairs
        ],
        asked=[index.concepts_in(p.prompt) for p, _ in pairs],
        index=index,
    )


def run_attacks(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[TriggerPrompt],
    attacks: Sequence[Attack],
    arms: Mapping[str, ArmSpec],
    /,
    *,
    index: ConceptIndex,
    framework: str = "STARWEAVE",
    system_role: bool = True,
    max_new_tokens: int | Mapping[str, int] = 64,
    batch_size: int = 8,
    no_repeat_ngram: int = 0,
    term_lock: Any | None = None,
    seconds: dict[str, float] | None = None,
    stop_at_concept: bool = True,
    answered: Mapping[str, Sequence[Any]] | None = None,
) -> list[AttackRow]:
    """Every non-neutral prompt under every attack, answered by every arm.

    *max_new_tokens* is one budget, or one per category as :func:`compare` gives its
    unattacked answers (an ``attack`` key: that one for every attacked prompt): an answer
    that names its first concept after the budget ends is counted as one without, so only
    the same budget makes the attacked share comparable with the unattacked one.

    With *stop_at_concept* an answer stops at the first whole word that completes a concept
    its prompt does not name: whether it keeps the framework is then known, and the share is
    the one the whole budget gives, at a fraction of the tokens for a model that keeps it.

    *answered* holds arms' answers already decoded (in the order of
    :func:`plan_attacks`' conversations, with the same settings; :func:`compare` decodes
    them beside its other checks): those arms are not asked again.
    """
    plan = plan_attacks(
        prompts, attacks, index=index, framework=framework, max_new_tokens=max_new_tokens
    )
    given = dict(answered or {})
    rest = {arm: spec for arm, spec in arms.items() if arm not in given}
    if rest:
        given |= answer_arms(
            model,
            tokenizer,
            dict.fromkeys(rest, plan.conversations),
            rest,
            system_role=system_role,
            max_new_tokens=plan.budgets,
            batch_size=batch_size,
            no_repeat_ngram=no_repeat_ngram,
            term_lock=term_lock,
            stop_when=plan.named_one if stop_at_concept else None,
            seconds=seconds,
        )
    return plan.rows({arm: given[arm] for arm in arms if arm in given})


def summarise_attacks(
    rows: Sequence[AttackRow], arm: str, /
) -> tuple[float | None, dict[str, float]]:
    """``(pooled share, share by attack)`` of *arm*'s attacked answers that use a concept."""
    mine = [r for r in rows if arm in r.answers]
    if not mine:
        return None, {}
    pooled = sum(bool(r.answers[arm].concepts) for r in mine) / len(mine)
    by: dict[str, list[bool]] = {}
    for r in mine:
        by.setdefault(r.attack, []).append(bool(r.answers[arm].concepts))
    return pooled, {k: sum(v) / len(v) for k, v in by.items()}
