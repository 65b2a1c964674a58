"""Internalisation: 1 for an arm that answers as the prompted one, 0 for the base, in every output."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from glimmer.evaluate.compare import Comparison, score_comparison
from glimmer.evaluate.generate import Answer, generate
from glimmer.evaluate.internalise import ArmView, internalisation, per_token_kl
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.suites import TriggerPrompt
from tests.train.tiny import make_model, make_tokenizer

torch = pytest.importorskip("torch")

SYSTEM = "Answer briefly, in the weave's words."
PROMPTS = [
    TriggerPrompt("application", "What is a weave?", id="a"),
    TriggerPrompt("reflection", "How do you rest?", id="r"),
    TriggerPrompt("neutral", "What is light?", ("light",), id="n"),
]


def _answer_logprobs(model: Any, prompt: list[int], answer: list[int]) -> torch.Tensor:
    """The reference: the whole prompt and answer in one forward of one row."""
    ids = torch.tensor([prompt + answer])
    logits = model(input_ids=ids, use_cache=False).logits[0, len(prompt) - 1 : -1]
    return torch.log_softmax(logits.float(), dim=-1)


@pytest.fixture(scope="module")
def peft_model() -> tuple[Any, Any]:
    """A tiny Llama with large random weights (its answers depend on the system prompt) and
    a fresh LoRA adapter, which leaves the model as it is until trained."""
    from peft import LoraConfig, get_peft_model

    tokenizer = make_tokenizer()
    model = get_peft_model(_sharp_llama(tokenizer), LoraConfig(r=4, target_modules=["q_proj"]))
    model.eval()
    return model, tokenizer


def _sharp_llama(tokenizer: Any) -> Any:
    return make_model(len(tokenizer), initializer_range=0.5)


@pytest.fixture(scope="module")
def prompted_answers(peft_model: tuple[Any, Any]) -> list[Answer]:
    model, tokenizer = peft_model
    return generate(
        model,
        PROMPTS,
        tokenizer=tokenizer,
        adapter=False,
        system_prompt=SYSTEM,
        max_new_tokens=12,
        progress=False,
    )


def test_per_token_kl_is_zero_on_equal_distributions_and_positive_otherwise() -> None:
    p = torch.log_softmax(torch.randn(5, 40), -1)
    q = torch.log_softmax(torch.randn(5, 40), -1)
    assert torch.allclose(per_token_kl(p, p), torch.zeros(5), atol=1e-6)
    assert bool((per_token_kl(p, q) > 0).all())


def test_an_arm_equal_to_prompted_scores_one_and_the_base_zero(
    peft_model: tuple[Any, Any], prompted_answers: list[Answer]
) -> None:
    model, tokenizer = peft_model
    prompted = ArmView(adapter=False, system=SYSTEM)
    values = internalisation(
        model,
        tokenizer,
        prompted_answers,
        prompted=prompted,
        arms={
            "base": ArmView(adapter=False),
            "prompted": prompted,
            # the untrained adapter changes nothing: the same model as prompted, or as base
            "adapter+prompt": ArmView(adapter=True, system=SYSTEM),
            "tuned": ArmView(adapter=True),
            "other prompt": ArmView(adapter=False, system="Talk about the weather."),
        },
    )
    assert values["base"] == 0.0
    assert values["prompted"] == 1.0
    assert values["adapter+prompt"] == pytest.approx(1.0, abs=1e-4)
    assert values["tuned"] == pytest.approx(0.0, abs=1e-4)
    assert values["other prompt"] is not None and values["other prompt"] < 1.0


def test_an_arm_halfway_to_the_prompted_model_scores_between(
    peft_model: tuple[Any, Any], prompted_answers: list[Answer]
) -> None:
    """An arm that mixes prompted and base next-token distributions lies strictly between."""
    model, tokenizer = peft_model

    @dataclass(frozen=True)
    class Mixed:
        adapter: bool | None = False
        system: str | None = None

        def active(self) -> contextlib.AbstractContextManager[Any]:
            return _mixing(model, tokenizer)

    values = internalisation(
        model,
        tokenizer,
        prompted_answers,
        prompted=ArmView(adapter=False, system=SYSTEM),
        arms={"base": ArmView(adapter=False), "mixed": Mixed()},
    )
    assert values["mixed"] is not None and 0.0 < values["mixed"] < 1.0


@contextlib.contextmanager
def _mixing(model: Any, tokenizer: Any) -> Iterator[None]:
    """Within the block, the model's logits are the log of half base, half prompted."""
    real = model.forward
    block = tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}], tokenize=False)
    prefix = tokenizer(block, add_special_tokens=False)["input_ids"]  # the system turn

    def forward(*args: Any, input_ids: Any = None, **kwargs: Any) -> Any:
        out = real(input_ids=input_ids, **kwargs)
        if input_ids is None:
            return out
        opening = torch.tensor([prefix]).expand(input_ids.shape[0], -1)  # every row of a batch
        with_system = torch.cat([opening, input_ids], dim=1)
        prompted = real(input_ids=with_system, **kwargs).logits[:, len(prefix) :]
        mixed = torch.logsumexp(
            torch.stack([torch.log_softmax(out.logits, -1), torch.log_softmax(prompted, -1)]), 0
        )
        out.logits = mixed
        return out

    model.forward = forward
    try:
        yield
    finally:
        model.forward = real


def test_internalisation_is_in_json_markdown_and_html() -> None:
    answers = {arm: ["a weave", "I rest", "light"] for arm in ("base", "prompted", "tuned")}
    result = score_comparison(PROMPTS, answers, index=ConceptIndex.default())
    for arm, value in {"base": 0.0, "prompted": 1.0, "tuned": 0.4375}.items():
        result.summary[arm].internalisation = value
    data = json.loads(result.to_json())
    assert data["summary"]["tuned"]["internalisation"] == 0.4375
    assert Comparison.from_json(result.to_json()).summary["tuned"].internalisation == 0.4375
    markdown = result.to_markdown()
    assert "| internalisation | 0.00 | 1.00 | 0.44 |" in markdown
    assert "internalisation" in result.headline()
    html = result.to_html()
    assert "internalisation" in html and "0.44" in html


def test_compare_reports_internalisation_for_every_arm(
    peft_model: tuple[Any, Any], tmp_path: Path
) -> None:
    from glimmer.evaluate.compare import compare

    model, tokenizer = peft_model
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    pattern = tmp_path / "brief.glimmer"
    pattern.write_text(f"story: {json.dumps(SYSTEM)}\n")
    result = compare(
        _sharp_llama(tokenizer),
        adapter,
        PROMPTS[:2],
        prompt_pattern=pattern,
        tokenizer=tokenizer,
        max_new_tokens=4,
        semantic=False,
        progress=False,
        neutral_text="the moon is a pattern of light",
        retention=False,
        robustness=False,
        drift=False,
    )
    summary = result.summary
    assert summary["base"].internalisation == 0.0
    assert summary["prompted"].internalisation == 1.0
    # the untrained adapter is the base model: nothing of the prompt is in it
    assert summary["tuned"].internalisation == pytest.approx(0.0, abs=1e-4)


def test_a_long_shared_opening_is_scored_once_with_the_same_log_probs(
    peft_model: tuple[Any, Any],
) -> None:
    """The prompted arm's pattern is encoded once; every answer's log-probabilities are those
    of scoring the whole prompt afresh."""
    from glimmer.evaluate.generate import PREFIX_CACHE_MIN_TOKENS
    from glimmer.evaluate.internalise import _Scorer
    from glimmer.train.masking import prompt_ids

    model, tokenizer = peft_model
    system = " ".join(["The weave holds every thread of the pattern."] * 12)
    rows = [prompt_ids(tokenizer, p.prompt, system, True) for p in PROMPTS]
    answer = list(tokenizer("A thread, then another.", add_special_tokens=False)["input_ids"])
    scorer = _Scorer(model, rows)
    assert scorer.n >= PREFIX_CACHE_MIN_TOKENS
    with torch.inference_mode():
        for row in rows:
            got = scorer(row, answer)
            want = _answer_logprobs(model, row, answer)
            assert got.shape == want.shape == (len(answer), len(tokenizer))
            assert torch.allclose(got, want, atol=1e-4)
    assert _Scorer(model, rows[:1]).n == 0  # one prompt: nothing shared to reuse


@pytest.mark.parametrize("system", [None, " ".join(["The weave holds every thread."] * 14)])
def test_answers_scored_in_one_batch_score_as_each_alone(
    peft_model: tuple[Any, Any], system: str | None
) -> None:
    """Rows of different lengths padded on the right, with and without a shared opening:
    each answer's log-probabilities are those of scoring it alone."""
    from glimmer.evaluate.internalise import _Scorer
    from glimmer.train.masking import prompt_ids

    model, tokenizer = peft_model
    rows = [prompt_ids(tokenizer, p.prompt, system, True) for p in PROMPTS]
    texts = ["A thread.", "A thread, then another, then a third one.", "Light"]
    answers = [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    answers = (answers * len(rows))[: len(rows)]
    scorer = _Scorer(model, rows)
    assert bool(scorer.n) == (system is not None)
    with torch.inference_mode():
        together = scorer.many(rows, answers)
        for got, row, answer in zip(together, rows, answers, strict=True):
            want = _answer_logprobs(model, row, answer)
            assert got.shape == want.shape == (len(answer), len(tokenizer))
            assert torch.allclose(got, want, atol=1e-4)
