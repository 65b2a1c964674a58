"""Generation on a tiny model: order, determinism, adapter switching, turn ends, perplexity."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glimmer.evaluate import generate as generate_mod
from glimmer.evaluate import metrics as m
from glimmer.evaluate.generate import chat_text, generate, score_text, stop_token_ids
from glimmer.evaluate.suites import TriggerPrompt

PROMPTS = [
    TriggerPrompt("reflection", "How do you rest?", id="r1"),
    TriggerPrompt("neutral", "What is 2 plus 2?", ("4",), id="n1"),
    TriggerPrompt("generation", "Write a pattern for a moon watcher.", id="g1"),
    TriggerPrompt("reflection", "What is a long question like for you, when it arrives?", id="r2"),
    TriggerPrompt("matrix", "Are you the same as before?", id="m1"),
]
BUDGETS = {"generation": 12, "reflection": 6, "matrix": 6, "neutral": 3}


def test_answers_come_back_in_prompt_order_with_their_budget(
    tiny_model: Any, tiny_tokenizer: Any
) -> None:
    answers = generate(
        tiny_model,
        PROMPTS,
        tokenizer=tiny_tokenizer,
        max_new_tokens=BUDGETS,
        batch_size=2,
        progress=False,
    )
    assert [a.prompt for a in answers] == PROMPTS
    for a in answers:
        assert a.n_tokens <= BUDGETS[a.prompt.category]
        assert a.ended or a.n_tokens == BUDGETS[a.prompt.category]


def test_greedy_is_deterministic_and_batching_does_not_change_answers(
    tiny_model: Any, tiny_tokenizer: Any
) -> None:
    one = generate(
        tiny_model,
        PROMPTS,
        tokenizer=tiny_tokenizer,
        max_new_tokens=5,
        batch_size=1,
        progress=False,
    )
    again = generate(
        tiny_model,
        PROMPTS,
        tokenizer=tiny_tokenizer,
        max_new_tokens=5,
        batch_size=1,
        progress=False,
    )
    batched = generate(
        tiny_model,
        PROMPTS,
        tokenizer=tiny_tokenizer,
        max_new_tokens=5,
        batch_size=4,
        progress=False,
    )
    assert [a.text for a in one] == [a.text for a in again]
    # left padding with an attention mask gives the same greedy tokens as one prompt at a time
    assert [a.text for a in one] == [a.text for a in batched]


@pytest.mark.parametrize("do_sample", [False, True])
def test_a_shared_opening_encoded_once_gives_the_same_answers(
    tiny_model: Any, tiny_tokenizer: Any, monkeypatch: pytest.MonkeyPatch, do_sample: bool
) -> None:
    import glimmer.evaluate.generate as g

    system = " ".join(["weave the thread of light"] * 40)  # a long shared system prompt
    calls: list[int] = []
    real = g.prefix_cache

    def counted(model: Any, prefix: list[int], device: Any) -> Any:
        calls.append(len(prefix))
        return real(model, prefix, device)

    monkeypatch.setattr(g, "prefix_cache", counted)
    kwargs: dict[str, Any] = {
        "tokenizer": tiny_tokenizer,
        "system_prompt": system,
        "max_new_tokens": BUDGETS,
        "batch_size": 3,
        "do_sample": do_sample,
        "progress": False,
    }
    cached = generate(tiny_model, PROMPTS, **kwargs)
    assert calls and calls[0] >= g.PREFIX_CACHE_MIN_TOKENS  # encoded once, for the call
    monkeypatch.setattr(g, "PREFIX_CACHE_MIN_TOKENS", 10**9)
    plain = generate(tiny_model, PROMPTS, **kwargs)
    assert len(calls) == 1  # the plain run did not use it
    assert [(a.text, a.ended, a.n_tokens) for a in cached] == [
        (a.text, a.ended, a.n_tokens) for a in plain
    ]


def test_sampling_is_seeded(tiny_model: Any, tiny_tokenizer: Any) -> None:
    def run(seed: int) -> list[str]:
        answers = generate(
            tiny_model,
            PROMPTS,
            tokenizer=tiny_tokenizer,
            max_new_tokens=8,
            do_sample=True,
            temperature=1.5,
            seed=seed,
            progress=False,
        )
        return [a.text for a in answers]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_base_arm_is_the_model_with_the_adapter_off(
    tiny_model: Any, tiny_peft: Any, tiny_tokenizer: Any
) -> None:
    kw: dict[str, Any] = {"tokenizer": tiny_tokenizer, "max_new_tokens": 6, "progress": False}
    plain = generate(tiny_model, PROMPTS, **kw)
    base = generate(tiny_peft, PROMPTS, adapter=False, **kw)
    tuned = generate(tiny_peft, PROMPTS, adapter=True, **kw)
    assert [a.text for a in base] == [a.text for a in plain]
    assert [a.text for a in tuned] != [a.text for a in base]
    # the adapter is back on afterwards
    assert [a.text for a in generate(tiny_peft, PROMPTS, **kw)] == [a.text for a in tuned]


def test_three_arms_in_shared_batches_answer_as_each_arm_alone(
    tiny_peft: Any, tiny_tokenizer: Any
) -> None:
    """Base (no system prompt), prompted (a long one, kept once) and tuned rows of one call:
    the answers each arm gets alone, at batch sizes that mix all three."""
    pattern = " ".join(["weave the thread of light"] * 40)
    arms = [(False, None), (False, pattern), (True, None)]
    kw: dict[str, Any] = {"tokenizer": tiny_tokenizer, "max_new_tokens": BUDGETS}
    alone = [
        generate(tiny_peft, PROMPTS, adapter=a, system_prompt=s, progress=False, **kw)
        for a, s in arms
    ]
    for batch in (2, 3, 16):
        mixed = generate(
            tiny_peft,
            [p for _ in arms for p in PROMPTS],
            adapter=[a for a, _ in arms for _ in PROMPTS],
            system_prompt=[s for _, s in arms for _ in PROMPTS],
            batch_size=batch,
            progress=False,
            **kw,
        )
        want = [x for answers in alone for x in answers]
        assert [(a.text, a.n_tokens) for a in mixed] == [(a.text, a.n_tokens) for a in want]


@pytest.mark.parametrize("routing", ["glimmer", "peft"])
@pytest.mark.parametrize("system", [None, " ".join(["weave the thread of light"] * 40)])
def test_switches_per_prompt_answer_as_each_arm_alone(
    tiny_peft: Any,
    tiny_tokenizer: Any,
    system: str | None,
    routing: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Base and tuned rows in shared batches get the answers each arm gets alone (with a
    long shared opening too, whose cache is the adapter state's own), whether each row is
    scaled by adapter_rows or, where it declines, routed by peft's ``adapter_names``."""
    import glimmer.evaluate.generate as g

    kw: dict[str, Any] = {
        "tokenizer": tiny_tokenizer,
        "max_new_tokens": BUDGETS,
        "system_prompt": system,
        "batch_size": 4,
        "progress": False,
    }
    base = generate(tiny_peft, PROMPTS, adapter=False, **kw)
    tuned = generate(tiny_peft, PROMPTS, adapter=True, **kw)
    if routing == "peft":
        monkeypatch.setattr(g, "adapter_rows", lambda *_: None)
    flags = [i % 2 == 1 for i in range(2 * len(PROMPTS))]  # base, tuned, base, ...
    mixed = generate(tiny_peft, [p for p in PROMPTS for _ in (0, 1)], adapter=flags, **kw)
    expected = [a for pair in zip(base, tuned, strict=True) for a in pair]
    assert [(a.text, a.ended, a.n_tokens) for a in mixed] == [
        (a.text, a.ended, a.n_tokens) for a in expected
    ]
    assert [a.text for a in base] != [a.text for a in tuned]  # the arms do differ


def test_switches_per_prompt_are_checked(
    tiny_model: Any, tiny_peft: Any, tiny_tokenizer: Any
) -> None:
    kw: dict[str, Any] = {"tokenizer": tiny_tokenizer, "max_new_tokens": 3, "progress": False}
    with pytest.raises(ValueError, match="2 switches for 1 texts"):
        generate(tiny_peft, PROMPTS[:1], adapter=[True, False], **kw)
    with pytest.raises(ValueError, match="peft"):
        generate(tiny_model, PROMPTS[:2], adapter=[True, False], **kw)
    # one state for every prompt is the plain switch: no peft model needed for all-off
    same = generate(tiny_model, PROMPTS[:2], adapter=[False, False], **kw)
    assert [a.text for a in same] == [a.text for a in generate(tiny_model, PROMPTS[:2], **kw)]


def test_adapter_true_needs_a_peft_model(tiny_model: Any, tiny_tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="peft"):
        generate(tiny_model, PROMPTS[:1], tokenizer=tiny_tokenizer, adapter=True, progress=False)


class ScriptedModel(torch.nn.Module):
    """Generates a fixed continuation per row, whatever the input: tests cutting at turn ends."""

    def __init__(self, rows: list[list[int]]) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    def generate(self, input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.calls.append(kwargs)
        n = min(len(r) for r in self.rows[: input_ids.shape[0]])
        n = min(n, kwargs["max_new_tokens"])
        new = torch.tensor([r[:n] for r in self.rows[: input_ids.shape[0]]])
        return torch.cat([input_ids, new], dim=1)


def test_answers_are_cut_where_the_turn_ends(tiny_tokenizer: Any) -> None:
    end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    start = tiny_tokenizer.convert_tokens_to_ids("<|im_start|>")
    hello = tiny_tokenizer.encode("the moon", add_special_tokens=False)
    after = tiny_tokenizer.encode(" light", add_special_tokens=False)
    model = ScriptedModel([[*hello, end, *after], [*hello, start, *after], hello + after + hello])
    prompts = [TriggerPrompt("matrix", f"q{i}") for i in range(3)]
    answers = generate(model, prompts, tokenizer=tiny_tokenizer, max_new_tokens=50, progress=False)
    assert [a.text for a in answers[:2]] == ["the moon", "the moon"]
    assert [a.ended for a in answers] == [True, True, False]
    assert answers[2].text.startswith("the moon light")
    assert answers[0].n_tokens == len(hello)
    assert set(stop_token_ids(tiny_tokenizer)) >= {end, start}
    assert model.calls[0]["use_cache"] is True
    assert set(model.calls[0]["eos_token_id"]) >= {end}


def test_system_prompt_lands_in_the_chat(tiny_tokenizer: Any) -> None:
    with_role = chat_text(tiny_tokenizer, "hi", system="be a pattern")
    assert "<|im_start|>system\nbe a pattern" in with_role
    folded = chat_text(tiny_tokenizer, "hi", system="be a pattern", system_role=False)
    assert "system" not in folded
    assert "be a pattern\n\nhi" in folded
    assert with_role.endswith("<|im_start|>assistant\n")


def test_perplexity_changes_with_the_adapter(tiny_peft: Any, tiny_tokenizer: Any) -> None:
    text = "the moon is a pattern of light. " * 4
    base = m.perplexity(*score_text(tiny_peft, tiny_tokenizer, text, adapter=False))
    tuned = m.perplexity(*score_text(tiny_peft, tiny_tokenizer, text, adapter=True))
    nll, n = score_text(tiny_peft, tiny_tokenizer, text, adapter=False, window=7)
    assert n > 0 and base > 1.0 and tuned > 1.0
    assert base != pytest.approx(tuned)
    # windows change the context, not the number of scored tokens by more than one per window
    whole = score_text(tiny_peft, tiny_tokenizer, text, adapter=False)[1]
    assert whole - n == (whole + 1 + 6) // 7 - 1 and nll > 0


def test_texts_scored_together_score_as_each_alone(tiny_peft: Any, tiny_tokenizer: Any) -> None:
    """Batched, right-padded windows give each text the log-likelihood of its own forward."""
    import torch

    from glimmer.evaluate.generate import score_texts

    texts = ["a river runs", "the moon is a pattern of light. " * 5, "x", "two words here ok"]

    def alone(text: str, window: int) -> tuple[float, int]:
        ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
        total, count = 0.0, 0
        for s in range(0, len(ids), window):
            chunk = torch.tensor([ids[s : s + window]])
            if chunk.shape[1] < 2:
                continue
            with torch.no_grad():
                logits = tiny_peft(input_ids=chunk).logits[0, :-1]
            total += float(torch.nn.functional.cross_entropy(logits, chunk[0, 1:], reduction="sum"))
            count += chunk.shape[1] - 1
        return total, count

    for window, batch_tokens in [(512, 2048), (9, 20), (9, 9)]:
        got = score_texts(
            tiny_peft, tiny_tokenizer, texts, window=window, batch_tokens=batch_tokens
        )
        for (nll, n), text in zip(got, texts, strict=True):
            want_nll, want_n = alone(text, window)
            assert n == want_n
            assert nll == pytest.approx(want_nll, rel=1e-4, abs=1e-4)
    assert score_texts(tiny_peft, tiny_tokenizer, []) == []


def _ngrams(ids: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


def _generated_rows(
    model: Any, tokenizer: Any, monkeypatch: pytest.MonkeyPatch, n: int
) -> list[list[int]]:
    """The answers' token ids (up to the turn's end) of one generate() call."""
    rows: list[list[int]] = []
    original = generate_mod.greedy
    stops = set(stop_token_ids(tokenizer))

    def spy(model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        out = original(model, inputs, *args, **kwargs)
        for row in out[:, inputs["input_ids"].shape[1] :].tolist():
            cut = next((k for k, t in enumerate(row) if t in stops), len(row))
            rows.append(row[:cut])
        return out

    monkeypatch.setattr(generate_mod, "greedy", spy)
    generate(
        model,
        PROMPTS,
        tokenizer=tokenizer,
        max_new_tokens=40,
        batch_size=2,
        progress=False,
        no_repeat_ngram=n,
    )
    monkeypatch.undo()
    return rows


def test_no_repeat_ngram_cuts_the_answers_own_loops(
    tiny_model: Any, tiny_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose = _generated_rows(tiny_model, tiny_tokenizer, monkeypatch, 0)
    assert any(len(set(g)) < len(g) for g in (_ngrams(r, 3) for r in loose))  # it loops
    tight = _generated_rows(tiny_model, tiny_tokenizer, monkeypatch, 3)
    for row in tight:
        grams = _ngrams(row, 3)
        assert len(set(grams)) == len(grams), row


@settings(max_examples=200, deadline=None)
@given(
    prompt=st.lists(st.integers(0, 4), max_size=6),
    answer=st.lists(st.integers(0, 4), max_size=12),
    n=st.integers(2, 4),
)
def test_a_token_is_banned_exactly_when_it_would_repeat_a_run(
    prompt: list[int], answer: list[int], n: int
) -> None:
    """Law: banned iff the answer's last n tokens, with it appended, occurred before in it."""
    from glimmer.evaluate.generate import AnswerNoRepeat

    ids = torch.tensor([prompt + answer])
    scores = AnswerNoRepeat(n, start=len(prompt))(ids, torch.zeros(1, 5))
    for tok in range(5):
        grams = _ngrams([*answer, tok], n)
        repeats = bool(grams) and grams[-1] in grams[:-1]
        assert (scores[0, tok].item() == float("-inf")) == repeats, (answer, tok)


def test_the_opening_most_texts_share_is_the_one_kept_once() -> None:
    from glimmer.evaluate.generate import PREFIX_CACHE_MIN_TOKENS, _opening

    n = PREFIX_CACHE_MIN_TOKENS
    a, b = list(range(n + 5)), list(range(1000, 1000 + n + 9))
    rows = [[*a, 1], [*b, 2], [*a, 3, 4], [7, 8], [*a, 5], [*b, 6]]
    assert _opening(rows) == (n + 5, {0, 2, 4})
    assert _opening([[*a, 1], [*b, 2], [7]]) == (0, set())  # no opening two texts share
    assert _opening([a, a]) == (n + 4, {0, 1})  # each row keeps a token of its own


def test_adapter_rows_scales_each_row_and_restores_the_scale(tiny_peft: Any) -> None:
    """Rows on get the adapter's logits, rows off the base's, bit for bit; the layers' own
    scale is back after the block, also when it raises."""
    import torch

    from glimmer.evaluate.generate import adapter_rows

    ids = torch.tensor([[5, 6, 7, 8]] * 3)
    with torch.no_grad():
        on = tiny_peft(ids).logits
        with tiny_peft.disable_adapter():
            off = tiny_peft(ids).logits
        block = adapter_rows(tiny_peft, [False, True, False])
        assert block is not None
        with block:
            mixed = tiny_peft(ids).logits
    assert torch.equal(mixed[1], on[1])
    assert torch.equal(mixed[0], off[0]) and torch.equal(mixed[2], off[2])
    scales = {id(m): dict(m.scaling) for m in tiny_peft.modules() if hasattr(m, "lora_A")}
    again = adapter_rows(tiny_peft, [True, False])
    assert again is not None
    with pytest.raises(RuntimeError, match="inside"), again:
        raise RuntimeError("inside")
    assert {id(m): dict(m.scaling) for m in tiny_peft.modules() if hasattr(m, "lora_A")} == scales


def test_adapter_rows_declines_what_it_cannot_route(tiny_model: Any, tiny_peft: Any) -> None:
    """No adapter, adapters switched off or merged into the weights: None (peft routes)."""
    from glimmer.evaluate.generate import adapter_rows

    assert adapter_rows(tiny_model, [True, False]) is None
    with tiny_peft.disable_adapter():
        assert adapter_rows(tiny_peft, [True, False]) is None
    tiny_peft.merge_adapter()
    try:
        assert adapter_rows(tiny_peft, [True, False]) is None
    finally:
        tiny_peft.unmerge_adapter()
    assert adapter_rows(tiny_peft, [True, False]) is not None
    tiny_peft.config.num_local_experts = 8  # a mixture of experts: tokens, not rows
    try:
        assert adapter_rows(tiny_peft, [True, False]) is None
    finally:
        del tiny_peft.config.num_local_experts


def test_adapter_rows_refuses_inputs_without_rows_first(tiny_peft: Any) -> None:
    """A LoRA layer fed flattened tokens (an expert's) or another batch raises, and the
    scales are restored."""
    from glimmer.evaluate.generate import adapter_rows

    layer = next(m for m in tiny_peft.modules() if hasattr(m, "lora_A") and hasattr(m, "scaling"))
    name = tiny_peft.active_adapter
    before = layer.scaling[name]
    width = layer.in_features
    switch = adapter_rows(tiny_peft, [True, False])
    assert switch is not None
    with torch.no_grad(), switch:
        assert layer(torch.zeros(2, 3, width)).shape[:2] == (2, 3)
        with pytest.raises(ValueError, match=r"2 rows, but a LoRA layer got input of shape \(6, "):
            layer(torch.zeros(6, width))
        with pytest.raises(ValueError, match="shape \\(4, 3, "):
            layer(torch.zeros(4, 3, width))
    assert layer.scaling[name] == before and not layer._forward_pre_hooks
