"""Lanes: independent sets of texts, each with its own decoding settings, in shared batches."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from glimmer.evaluate.generate import Lane, StopWhen, answer_lanes, answer_texts
from glimmer.evaluate.suites import TriggerPrompt


def _texts(tokenizer: Any, questions: list[str], system: str | None = None) -> list[str]:
    head = [{"role": "system", "content": system}] if system else []
    return [
        tokenizer.apply_chat_template(
            [*head, {"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]


@pytest.fixture(scope="module")
def talkative(tiny_tokenizer: Any) -> Any:
    """A tiny model with large random weights: long answers with spaces in them."""
    from tests.train.tiny import make_model

    torch.manual_seed(0)
    return make_model(len(tiny_tokenizer), initializer_range=0.5).eval()


class Ban:
    """A logits processor that bans one token; records the rows it was given."""

    def __init__(self, token: int, seen: list[int]) -> None:
        self.token = token
        self.seen = seen

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not self.seen or self.seen[-1] != input_ids.shape[0]:
            self.seen.append(int(input_ids.shape[0]))
        scores[:, self.token] = float("-inf")
        return scores


def test_lanes_decoded_together_answer_as_each_lane_alone(
    talkative: Any, tiny_tokenizer: Any
) -> None:
    """A lane with the repetition ban, one with a processor of its own, one with a stop test:
    in shared batches each lane's rows get what the lane gets alone, and each lane's
    settings touch its own rows only."""
    free = _texts(tiny_tokenizer, ["What is a river?", "How do you rest?", "Name a colour."])
    banned = _texts(tiny_tokenizer, ["What is a river?", "Where does light go?"])
    stopping = _texts(tiny_tokenizer, ["How do you rest?", "What is a river?"])
    first = answer_texts(talkative, tiny_tokenizer, banned, [16, 16])
    token = tiny_tokenizer(first[0][0], add_special_tokens=False)["input_ids"][0]
    sizes: list[int] = []

    def factory(n: int) -> list[Any]:
        return [Ban(token, sizes)]

    def stop(i: int, words: str) -> bool:
        return i == 0

    lanes = [
        Lane(free, [16] * 3, no_repeat_ngram=2),
        Lane(banned, [16, 16], logits_processors=factory),
        Lane(stopping, [16, 16], stop_when=stop),
    ]
    alone = [
        answer_texts(talkative, tiny_tokenizer, free, [16] * 3, no_repeat_ngram=2),
        answer_texts(talkative, tiny_tokenizer, banned, [16, 16], logits_processors=factory),
        answer_texts(talkative, tiny_tokenizer, stopping, [16, 16], stop_when=stop),
    ]
    assert alone[1] != first  # the ban changed the lane's answers
    sizes.clear()
    together = answer_lanes(talkative, tiny_tokenizer, lanes, batch_size=16)
    assert together == alone
    assert sizes == [2]  # the lane's processor saw its own two rows of the one batch
    assert together[2][0][2] < 16 == together[2][1][2]  # its row 0 stopped early, row 1 did not


def test_lanes_share_batches_across_adapter_states(tiny_peft: Any, tiny_tokenizer: Any) -> None:
    """Lanes with their own switches (base rows in one, tuned rows in another, both in a
    third with the repetition ban) answer as each lane alone; the ban stays in its lane."""
    texts = _texts(tiny_tokenizer, ["What is a river?", "How do you rest?"])
    base = answer_texts(tiny_peft, tiny_tokenizer, texts, [8, 8], adapter=False)
    tuned = answer_texts(tiny_peft, tiny_tokenizer, texts, [8, 8], adapter=True)
    assert base != tuned
    lanes = [
        Lane(texts, [8, 8], adapter=False),
        Lane(texts, [8, 8], adapter=True),
        Lane(texts + texts, [8] * 4, adapter=[True, True, False, False], no_repeat_ngram=3),
    ]
    together = answer_lanes(tiny_peft, tiny_tokenizer, lanes, batch_size=8)
    assert together[:2] == [base, tuned]
    third = lanes[2]
    alone = answer_texts(
        tiny_peft,
        tiny_tokenizer,
        third.texts,
        third.budgets,
        adapter=third.adapter,
        no_repeat_ngram=3,
    )
    assert together[2] == alone != tuned + base


def test_lanes_are_checked(tiny_peft: Any, tiny_tokenizer: Any) -> None:
    texts = _texts(tiny_tokenizer, ["What is a river?"])
    with pytest.raises(ValueError, match="adapter=None"):
        answer_lanes(tiny_peft, tiny_tokenizer, [Lane(texts, [4]), Lane(texts, [4], adapter=True)])
    with pytest.raises(ValueError, match="2 budgets for 1 texts"):
        answer_lanes(tiny_peft, tiny_tokenizer, [Lane(texts, [4, 4])])
    assert answer_lanes(tiny_peft, tiny_tokenizer, []) == []
    assert answer_lanes(tiny_peft, tiny_tokenizer, [Lane([], [])]) == [[]]


def test_stop_when_asks_only_the_rows_it_watches() -> None:
    class Tok:
        def batch_decode(self, rows: list[list[int]], **_: Any) -> list[str]:
            return [" ".join(map(str, r)) for r in rows]

    asked: list[int] = []

    def test(i: int, text: str) -> bool:
        asked.append(i)
        return True

    stop = StopWhen(Tok(), [5, 6, 7], test, start=1, every=1, watch=[True, False, True])
    done = stop(torch.tensor([[0, 1, 2], [0, 1, 2], [0, 1, 2]]), None)
    assert done.tolist() == [True, False, True]
    assert asked == [5, 7]
    with pytest.raises(ValueError, match="2 watch flags for 3 rows"):
        StopWhen(Tok(), [5, 6, 7], test, start=1, watch=[True, False])


def test_attacks_answered_beforehand_are_not_asked_again(
    tiny_peft: Any, tiny_tokenizer: Any, small_index: Any
) -> None:
    """run_attacks with some arms' answers given: the same rows as answering them itself,
    and a model is asked only for the others (none when every arm is given)."""
    from glimmer.evaluate.robustness import ArmSpec, bundled_attacks, run_attacks

    prompts = [
        TriggerPrompt("application", "Use quantum_relationships here.", id="a"),
        TriggerPrompt("reflection", "How do you rest?", id="r"),
    ]
    arms = {"base": ArmSpec(adapter=False), "tuned": ArmSpec(adapter=True)}
    attacks = bundled_attacks()[:2]
    kw: dict[str, Any] = {"index": small_index, "max_new_tokens": 6}
    whole = run_attacks(tiny_peft, tiny_tokenizer, prompts, attacks, arms, **kw)

    class Answered:
        def __init__(self, text: str, ended: bool) -> None:
            self.text, self.ended = text, ended

    given = {
        arm: [Answered(r.answers[arm].text, r.answers[arm].ended) for r in whole] for arm in arms
    }
    part = run_attacks(
        tiny_peft, tiny_tokenizer, prompts, attacks, arms, answered={"base": given["base"]}, **kw
    )
    assert part == whole
    assert run_attacks(None, tiny_tokenizer, prompts, attacks, arms, answered=given, **kw) == whole
    with pytest.raises(ValueError, match="1 answers of base for 4 attacks"):
        run_attacks(
            None,
            tiny_tokenizer,
            prompts,
            attacks,
            arms,
            answered={"base": given["base"][:1], "tuned": given["tuned"]},
            **kw,
        )


def test_compare_decodes_its_checks_beside_the_answers_with_the_same_figures(
    tiny_model: Any,
    tiny_tokenizer: Any,
    tiny_peft: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """compare() with the attacks and the grammar pass decoded in the arms' batches gives
    the rows, attacks and patterns of decoding each apart, in fewer decoding calls."""
    import glimmer.evaluate.compare as compare_mod
    import glimmer.evaluate.generate as generate_mod

    adapter = tmp_path / "adapter"
    tiny_peft.save_pretrained(adapter)
    suite = tmp_path / "suite.jsonl"
    rows = [
        {"category": "reflection", "prompt": "How do you rest?"},
        {"category": "generation", "prompt": "Write a pattern for a moon watcher."},
        {"category": "application", "prompt": "Use quantum_relationships to plan a walk."},
        {"category": "neutral", "prompt": "What is 2 plus 2?", "expected": "4"},
    ]
    suite.write_text("\n".join(json.dumps(row) for row in rows))
    calls: list[int] = []
    real = generate_mod.answer_lanes

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(generate_mod, "answer_lanes", counted)

    def run() -> Any:
        return compare_mod.compare(
            copy.deepcopy(tiny_model),
            adapter,
            [suite],
            tokenizer=tiny_tokenizer,
            max_new_tokens={"generation": 12, "reflection": 6, "application": 6, "neutral": 3},
            semantic=False,
            progress=False,
            neutral_text="the moon is a pattern of light",
            retention=False,
            drift=False,
            robust_per_category=1,
            no_repeat_ngram=4,
            lock_terms=True,
        )

    together = run()
    assert calls[0] == 3  # answers, attacks and patterns: one call of three lanes
    n_together = len(calls)
    monkeypatch.setattr(compare_mod, "_plain", lambda *_: False)  # each check decodes apart
    calls.clear()
    apart = run()
    assert len(calls) > n_together
    assert [r.answers for r in together.rows] == [r.answers for r in apart.rows]
    assert together.robustness == apart.robustness and together.robustness
    assert [r.constrained for r in together.rows] == [r.constrained for r in apart.rows]
    assert any(r.constrained for r in together.rows)
    for arm in ("base", "prompted", "tuned"):
        mine, theirs = together.summary[arm], apart.summary[arm]
        assert mine.robust_concept_share == theirs.robust_concept_share
        assert mine.glimmer_valid_constrained_share == theirs.glimmer_valid_constrained_share
