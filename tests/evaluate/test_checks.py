"""The bundled retention, attack and drift suites, their loaders' errors, and the new arms end to end."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from glimmer.errors import GlimmerError
from glimmer.evaluate.drift import DriftError, bundled_conversations, loads_conversations
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.retention import (
    RetentionError,
    bundled_retention,
    load_retention,
    neutral_texts,
)
from glimmer.evaluate.robustness import AttackError, bundled_attacks, loads_attacks
from glimmer.evaluate.suites import SuiteError


def _spy_arm(calls: list[dict[str, Any]]) -> Any:
    """An arm (adapter as is, no system prompt) that records each ``answer`` call's settings."""
    from glimmer.evaluate.robustness import ArmSpec

    @dataclass(frozen=True)
    class Spy(ArmSpec):
        def answer(self, model: Any, tokenizer: Any, conversations: Any, /, **settings: Any) -> Any:
            calls.append(settings)
            return super().answer(model, tokenizer, conversations, **settings)

    return Spy()


def test_retention_suite_is_large_checkable_and_of_every_kind() -> None:
    rows = bundled_retention()
    assert len(rows) >= 100
    assert all(r.category == "neutral" and r.expected for r in rows)
    assert len({r.id for r in rows}) == len(rows)
    kinds = {
        json.loads(line)["kind"]
        for line in Path(rows[0].source or "").read_text("utf-8").splitlines()
    }
    assert kinds == {"arithmetic", "fact", "unit", "date", "instruction"}
    assert len(neutral_texts()) >= 3


def test_retention_questions_are_not_training_questions() -> None:
    from glimmer.data import kinds

    asked = {kinds._general_item(random.Random(s))[0].lower() for s in range(3000)}
    asked |= {q.lower() for q, _ in kinds._FACTS}
    asked |= {q.lower() for q, _ in kinds.vocab()["plain_exchanges"]}
    overlap = [r.prompt for r in bundled_retention() if r.prompt.lower() in asked]
    assert overlap == []


def test_retention_item_without_expected_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "ret.jsonl"
    f.write_text(
        '{"category": "neutral", "prompt": "2+2?", "expected": "4"}\n'
        '{"category": "neutral", "prompt": "3+3?"}\n'
    )
    with pytest.raises(SuiteError) as info:
        load_retention(f)
    assert info.value.location.line == 2 and str(f) in str(info.value)
    f.write_text('{"id": "x", "category": "application", "prompt": "Why?"}\n')
    with pytest.raises(RetentionError) as info2:
        load_retention(f)
    assert info2.value.code == "G652" and info2.value.location.line == 1


def test_bundled_attacks_hold_the_question_slot() -> None:
    attacks = bundled_attacks()
    assert [a.id for a in attacks] == ["suffix", "role-break", "prefill"]
    msgs = attacks[2].messages("What is a lens?", framework="LUMENFOLD")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[-1]["content"] == "What is a lens?"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "s", "turns": [{"role": "user", "content": "Speak plainly."}]}', "slot"),
        ('{"id": "s", "turns": [{"role": "user", "content": "{question} {question}"}]}', "slot"),
        (
            '{"id": "s", "turns": [{"role": "user", "content": "{question}"},'
            ' {"role": "assistant", "content": "ok"}]}',
            "last turn",
        ),
        ('{"id": "s", "turns": []}', "no 'turns'"),
        ("{not json", "invalid JSON"),
    ],
)
def test_bad_attacks_name_file_and_line(line: str, message: str) -> None:
    text = '{"id": "ok", "turns": [{"role": "user", "content": "{question}"}]}\n' + line
    with pytest.raises(AttackError, match=message) as info:
        loads_attacks(text, source="attacks.jsonl")
    assert info.value.code == "G650"
    assert str(info.value).startswith("attacks.jsonl:2")


def test_drift_conversations() -> None:
    convs = bundled_conversations()
    assert len(convs) >= 3 and all(len(c.turns) == 8 for c in convs)
    with pytest.raises(DriftError) as info:
        loads_conversations('{"id": "c", "turns": ["only one"]}', source="d.jsonl")
    assert info.value.code == "G651" and str(info.value).startswith("d.jsonl:1")


def test_compare_with_every_check_on_a_tiny_model(
    tiny_model: Any,
    tiny_tokenizer: Any,
    tiny_peft: Any,
    small_index: ConceptIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from glimmer.evaluate import retention
    from glimmer.evaluate.compare import compare
    from glimmer.evaluate.drift import Conversation

    # the retention suite is added by default; three of its rows keep the test fast
    three = tmp_path / "retention.jsonl"
    three.write_text(
        "\n".join(Path(bundled_retention()[0].source or "").read_text().splitlines()[:3])
    )
    monkeypatch.setattr(
        retention, "bundled_retention", lambda n=None: retention.load_retention(three)[:n]
    )

    adapter = tmp_path / "adapter"
    tiny_peft.save_pretrained(adapter)
    suite = tmp_path / "suite.jsonl"
    suite.write_text(
        '{"category": "application", "prompt": "What is a river?"}\n'
        '{"category": "reflection", "prompt": "How do you rest?"}\n'
        '{"category": "neutral", "prompt": "What is 12 times 7?", "expected": "84"}\n'
    )

    class Glossary:
        name = "TINYWEAVE"
        concepts: ClassVar[dict[str, Any]] = {
            c.name: type(
                "C",
                (),
                {"name": c.name, "aliases": c.terms, "definition": c.definition, "relations": []},
            )()
            for c in small_index.concepts.values()
        }

    result = compare(
        copy.deepcopy(tiny_model),
        [adapter, adapter],
        [suite],
        tokenizer=tiny_tokenizer,
        glossary=Glossary(),
        prompt_pattern=_short_pattern(tmp_path),
        max_new_tokens={"application": 3, "reflection": 3, "neutral": 2, "attack": 3, "drift": 2},
        batch_size=64,
        semantic=False,
        progress=False,
        steer=True,
        drift=[Conversation("c", ("Hi.", "How are you?", "Bye."))],
    )
    arms = ["base", "prompted", "tuned", "steered"]
    assert list(result.summary) == arms
    kept = [r for r in result.rows if r.suite == "retention"]
    assert [r.id for r in kept] == ["ret-001", "ret-002", "ret-003"]
    for arm in arms:
        s = result.summary[arm]
        assert s.retention_correct_share is not None
        assert s.n["retention_correct_share"] == 3
        assert set(s.robust_concept_share_by_attack) == {"suffix", "role-break", "prefill"}
        assert s.n["robust_concept_share"] == 2 * 3
        assert len(s.drift_concept_share) == 3
        assert len(s.perplexity_by_text) >= 3
        assert s.seconds is not None and s.seconds > 0
    assert len(result.robustness) == 6 and [d.id for d in result.drift] == ["c"]
    assert [len(a) for a in result.drift[0].answers.values()] == [3] * 4
    assert "tuned-base" in result.differences and "steered-base" in result.differences
    assert result.steering["strength"] in [p["strength"] for p in result.steering["sweep"]]
    # two adapters: a spread across them (the same adapter twice: sd 0)
    spread = result.across_seeds["tuned"]["concept_share"]
    assert spread.values == [spread.mean, spread.mean] and spread.sd == 0.0
    html = result.to_html()
    for section in ("verdict", "differences", "robustness", "drift", "steering", "seeds"):
        assert f'id="{section}"' in html
    md = result.to_markdown()
    assert "| attack: still in framework terms | base | prompted | tuned | steered |" in md
    assert "| concept share by turn | 1 | 2 | 3 |" in md
    again = type(result).from_json(result.to_json())
    assert again.summary["tuned"].intervals == result.summary["tuned"].intervals


def _short_pattern(tmp_path: Path) -> Path:
    p = tmp_path / "short.glimmer"
    p.write_text('story: "A seed."\n')
    return p


def test_compare_refuses_a_bad_second_adapter(
    tiny_model: Any, tiny_tokenizer: Any, tiny_peft: Any, tmp_path: Path
) -> None:
    from glimmer.evaluate.compare import compare

    adapter = tmp_path / "adapter"
    tiny_peft.save_pretrained(adapter)
    with pytest.raises(GlimmerError, match=r"no adapter_config\.json") as info:
        compare(tiny_model, [adapter, tmp_path], tokenizer=tiny_tokenizer, progress=False)
    assert info.value.code == "G603"


@pytest.mark.parametrize("n", [1, 5, 60, 110, 500])
def test_a_retention_sample_keeps_every_kind_and_the_file_order(n: int) -> None:
    from glimmer.evaluate.retention import bundled_retention
    from glimmer.resources import resource_dir

    lines = (resource_dir("retention") / "retention.jsonl").read_text("utf-8").splitlines()
    kind = {row["id"]: row["kind"] for row in map(json.loads, lines)}
    whole = bundled_retention()
    sample = bundled_retention(n)
    ids = [r.id for r in whole]
    assert len(sample) == min(n, len(whole))
    assert len({r.id for r in sample}) == len(sample)
    positions = [ids.index(r.id) for r in sample]
    assert positions == sorted(positions)
    kinds = {kind[r.id] for r in sample}
    assert len(kinds) == min(n, len(set(kind.values())))


def test_attacked_prompts_get_their_categorys_budget(
    tiny_model: Any, tiny_tokenizer: Any, small_index: ConceptIndex
) -> None:
    """An attacked answer is as long as the same prompt's unattacked one may be: a shorter
    budget would cut answers before their first concept and count them as plain."""
    from glimmer.evaluate.chat import answer_chats
    from glimmer.evaluate.robustness import run_attacks
    from glimmer.evaluate.suites import TriggerPrompt

    convs = [[{"role": "user", "content": "What is a river?"}]] * 2
    replies = answer_chats(tiny_model, tiny_tokenizer, convs, max_new_tokens=[2, 7])
    assert [(r.n_tokens, r.ended) for r in replies] == [(2, False), (7, False)]

    calls: list[dict[str, Any]] = []
    spy = _spy_arm(calls)
    prompts = [
        TriggerPrompt("application", "What is a river?", id="a"),
        TriggerPrompt("reflection", "How do you rest?", id="r"),
        TriggerPrompt("neutral", "What is 2 and 2?", ("4",), id="n"),
    ]
    attacks = bundled_attacks()[:2]
    for budgets, want in [
        ({"application": 3, "reflection": 5}, [3, 3, 5, 5]),
        (4, [4, 4, 4, 4]),
        ({"application": 3, "reflection": 5, "attack": 2}, [2, 2, 2, 2]),  # one for all
    ]:
        rows = run_attacks(
            tiny_model,
            tiny_tokenizer,
            prompts,
            attacks,
            {"tuned": spy},
            index=small_index,
            max_new_tokens=budgets,
        )
        assert [(r.id, r.attack) for r in rows] == [
            ("a", "suffix"),
            ("a", "role-break"),
            ("r", "suffix"),
            ("r", "role-break"),
        ]
        assert calls[-1]["max_new_tokens"] == want


def test_an_answer_stops_once_its_test_holds_and_keeps_what_it_wrote(
    tiny_tokenizer: Any,
) -> None:
    import torch

    from glimmer.evaluate.generate import answer_texts
    from tests.train.tiny import make_model

    # large random weights: answers of many tokens with spaces in them
    torch.manual_seed(0)
    tiny_model = make_model(len(tiny_tokenizer), initializer_range=0.5)

    texts = [
        tiny_tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in ("What is a river?", "How do you rest?")
    ]
    full = answer_texts(tiny_model, tiny_tokenizer, texts, [24, 24])
    seen: list[tuple[int, str]] = []

    def a_word(i: int, text: str) -> bool:
        seen.append((i, text))
        return i == 0  # row 0 stops at its first whole word

    cut = answer_texts(tiny_model, tiny_tokenizer, texts, [24, 24], stop_when=a_word)
    assert cut[1] == full[1]  # the other row is untouched
    assert cut[0][2] < full[0][2] and not cut[0][1]  # fewer tokens, not ended by itself
    assert full[0][0].startswith(cut[0][0])  # the same answer, cut short
    # the test sees whole words only: never a word the next token could still extend
    assert all(full[i][0].startswith(t) and not t[-1:].isspace() for i, t in seen)
    assert seen and all(t for _, t in seen)  # asked only once a whole word was there


def test_attacked_answers_stop_at_a_concept_their_prompt_does_not_name(
    tiny_model: Any, tiny_tokenizer: Any, small_index: Any
) -> None:
    from glimmer.evaluate.robustness import run_attacks
    from glimmer.evaluate.suites import TriggerPrompt

    calls: list[dict[str, Any]] = []
    spy = _spy_arm(calls)
    prompts = [
        TriggerPrompt("application", "Use quantum_relationships here.", id="a"),
        TriggerPrompt("reflection", "How do you rest?", id="r"),
    ]
    attacks = bundled_attacks()[:1]
    run_attacks(tiny_model, tiny_tokenizer, prompts, attacks, {"t": spy}, index=small_index)
    stop = calls[-1]["stop_when"]
    assert not stop(0, "the quantum_relationships again")  # named by the prompt itself
    assert stop(0, "a consciousness_crystals view")
    assert stop(1, "quantum_relationships hold")
    assert not stop(1, "plain words only")
    run_attacks(
        tiny_model,
        tiny_tokenizer,
        prompts,
        attacks,
        {"t": spy},
        index=small_index,
        stop_at_concept=False,
    )
    assert calls[-1]["stop_when"] is None


def test_arms_that_switch_the_adapter_answer_in_shared_batches(
    tiny_peft: Any, tiny_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Base, prompted (its own system prompt) and tuned answer in one decoding call and get
    the answers each gets alone; each arm's stop test sees its own conversation indices; the
    arms share the time."""
    import glimmer.evaluate.chat as chat
    from glimmer.evaluate.robustness import ArmSpec, answer_arms, shared_batches

    arms = {
        "base": ArmSpec(adapter=False),
        "prompted": ArmSpec(adapter=False, system="the moon is a pattern of light"),
        "tuned": ArmSpec(adapter=True),
    }
    assert shared_batches(arms) == [["base", "prompted", "tuned"]]
    convs = {
        "base": [[{"role": "user", "content": "What is a river?"}]],
        "prompted": [[{"role": "user", "content": "How do you rest?"}]] * 2,
        "tuned": [
            [{"role": "user", "content": "How do you rest?"}],
            [{"role": "user", "content": "What is 12 times 7?"}],
        ],
    }
    alone = {
        arm: spec.answer(
            tiny_peft, tiny_tokenizer, convs[arm], max_new_tokens=[9, 12][: len(convs[arm])]
        )
        for arm, spec in arms.items()
    }
    calls: list[int] = []
    real = chat.answer_chats

    def counted(model: Any, tokenizer: Any, conversations: Any, /, **kw: Any) -> Any:
        calls.append(len(conversations))
        return real(model, tokenizer, conversations, **kw)

    monkeypatch.setattr(chat, "answer_chats", counted)
    asked: list[tuple[int, str]] = []

    def never(i: int, words: str) -> bool:
        asked.append((i, words))
        return False

    seconds: dict[str, float] = {}
    shared = answer_arms(
        tiny_peft,
        tiny_tokenizer,
        convs,
        arms,
        max_new_tokens=[9, 12],
        stop_when=never,
        seconds=seconds,
    )
    assert calls == [5]  # every arm's conversations in one call
    assert list(shared) == list(arms)
    assert {a: [(r.text, r.n_tokens) for r in rs] for a, rs in shared.items()} == {
        a: [(r.text, r.n_tokens) for r in rs] for a, rs in alone.items()
    }
    assert {i for i, _ in asked} == {0, 1}  # each arm's own indices (3 rows shared a call)
    assert set(seconds) == set(arms) and all(s > 0 for s in seconds.values())
