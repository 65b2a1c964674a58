"""Constrained decoding: the logits processor keeps every row inside the grammar.

The processor is driven by scripted scores (a "model" that wants to write a given text), by
a tiny Llama built from a config, with a LoRA adapter on and off, and end to end by
``glimmer generate`` on the embedded model.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from glimmer import load, loads
from glimmer.cli import app
from glimmer.evaluate.suites import TriggerPrompt
from tests.train.tiny import make_model, make_tokenizer

pytest.importorskip("llguidance", reason="the generate extra is not installed")
torch = pytest.importorskip("torch", reason="the train extra is not installed")

from glimmer.evaluate.constrained import (  # noqa: E402
    GrammarLogitsProcessor,
    generate_patterns,
    generation_prompt,
)
from glimmer.evaluate.generate import stop_token_ids  # noqa: E402
from glimmer.evaluate.grammar import generation_grammar  # noqa: E402

runner = CliRunner()


@cache
def _tok() -> Any:
    return make_tokenizer()


def _drive(targets: list[str], fmt: str = "glimmer", steps: int = 400) -> list[tuple[str, bool]]:
    """Decode greedily from scores that want *targets*; ``(text, ended)`` per row."""
    tok = _tok()
    stops = stop_token_ids(tok)
    proc = GrammarLogitsProcessor(generation_grammar(fmt), tok, len(targets))
    wanted = [[*tok.encode(t, add_special_tokens=False), stops[0]] for t in targets]
    vocab = len(tok)
    ids = torch.zeros((len(targets), 3), dtype=torch.long)
    outs: list[list[int]] = [[] for _ in targets]
    done = [False] * len(targets)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        scores = torch.rand((len(targets), vocab), generator=gen)
        for row, want in enumerate(wanted):
            k = len(outs[row])
            scores[row, want[k] if k < len(want) else stops[0]] += 10.0
        scores = proc(ids, scores)
        nxt = scores.argmax(-1)
        for row in range(len(targets)):
            if not done[row]:
                token = int(nxt[row])
                if token in stops:
                    done[row] = True
                else:
                    outs[row].append(token)
        ids = torch.cat([ids, nxt.unsqueeze(-1)], dim=-1)
        if all(done):
            break
    return [(tok.decode(o), d) for o, d in zip(outs, done, strict=True)]


def test_a_valid_pattern_passes_through_unchanged() -> None:
    text = 'metadata {\n  title: "Lamp"\n  color: #FF69B4\n}\nstory: "The lamp keeps watch."'
    [(out, ended)] = _drive([text])
    assert ended
    assert out == text
    assert loads(out, strict=True).metadata.title == "Lamp"


def test_each_row_of_a_batch_keeps_to_the_grammar() -> None:
    targets = [
        "The GLIMMER pattern is a way of thinking that guides a gardener.",  # prose
        'story: "A seed." story: "again"',  # a duplicate section
        'metadata { title: "a", title: "b" }',  # a duplicate key
        'response { tone: warm }\nwhen_seeing { "a limit": "grow" }',  # a free-form rule
    ]
    results = _drive(targets)
    for out, ended in results:
        if ended:
            loads(out, format="glimmer", strict=True)
    assert any(ended for _, ended in results)
    assert results[3][0].startswith("response")


def test_the_json_form_keeps_to_the_schema() -> None:
    targets = ['{"story": "A seed.", "metadata": {"color": "red"}}', '{"nonsense": 1}']
    for out, ended in _drive(targets, fmt="json"):
        if ended:
            loads(out, format="json", strict=True)


def _prompts(n: int) -> list[TriggerPrompt]:
    return [
        TriggerPrompt("generation", generation_prompt(s), id=f"g{i}")
        for i, s in enumerate(["a lighthouse keeper", "a night gardener", "a quiet librarian"][:n])
    ]


@pytest.mark.parametrize("adapter", [None, False, True])
def test_generation_is_batched_with_the_adapter_on_or_off(adapter: bool | None) -> None:
    tok = _tok()
    model = make_model(len(tok))
    if adapter is not None:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    results = generate_patterns(
        model, _prompts(3), tokenizer=tok, adapter=adapter, max_new_tokens=24, batch_size=2
    )
    assert len(results) == 3
    for answer, check in results:
        assert check.valid == (answer.ended and check.error is None)
        if not answer.ended:
            assert check.error == f"ran out of tokens after {answer.n_tokens} tokens"
            assert not check.valid
        else:
            loads(answer.text, strict=True)


def test_a_shared_system_prompt_kept_once_gives_the_same_constrained_patterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The grammar sees only the answer: a long system prompt kept once for the batch (and
    rows without it in the same batch) give the patterns each row gets on its own."""
    import glimmer.evaluate.generate as g

    tok = _tok()
    model = make_model(len(tok))
    system = " ".join(["weave a pattern of light for the keeper"] * 20)
    prompts = _prompts(3)
    kw: dict[str, Any] = {"tokenizer": tok, "max_new_tokens": 24, "batch_size": 4}
    shared = generate_patterns(model, prompts * 2, system_prompt=[system] * 3 + [None] * 3, **kw)
    monkeypatch.setattr(g, "PREFIX_CACHE_MIN_TOKENS", 10**9)  # every row encodes its own
    alone = [
        *generate_patterns(model, prompts, system_prompt=system, **kw | {"batch_size": 1}),
        *generate_patterns(model, prompts, **kw | {"batch_size": 1}),
    ]
    assert [(a.text, a.n_tokens) for a, _ in shared] == [(a.text, a.n_tokens) for a, _ in alone]


def test_free_decoding_is_checked_by_the_same_strict_reading() -> None:
    tok = _tok()
    [(_, check)] = generate_patterns(
        make_model(len(tok)), _prompts(1), tokenizer=tok, constrained=False, max_new_tokens=8
    )
    assert not check.valid
    assert check.error is not None


# -- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["generate", "  "], "G640"),
        (["generate", "a gardener", "--format", "yaml"], "G641"),
        (["generate", "a gardener", "--adapter", "."], "G603"),
    ],
)
def test_bad_input_exits_2_with_a_code_and_a_hint(
    args: list[str], code: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "p.glimmer")])
    assert result.exit_code == 2, result.output
    assert code in result.output
    assert "hint:" in result.output
    assert not (tmp_path / "p.glimmer").exists()


def test_an_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    target = tmp_path / "p.glimmer"
    target.write_text("story: kept\n")
    result = runner.invoke(app, ["generate", "a gardener", "-o", str(target)])
    assert result.exit_code == 2
    assert target.read_text() == "story: kept\n"


def test_glimmer_generate_writes_a_pattern_that_checks_strictly(tmp_path: Path) -> None:
    target = tmp_path / "keeper.glimmer"
    result = runner.invoke(
        app,
        [
            "generate",
            "a lighthouse keeper who writes letters to ships",
            *("-o", str(target), "--max-new-tokens", "96"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    assert "tokens, constrained" in result.output
    load(target, strict=True)
    check = runner.invoke(app, ["check", "--strict", str(target)])
    assert check.exit_code == 0, check.output


def test_compare_gets_constrained_figures_and_the_report_shows_them() -> None:
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model

    from glimmer.evaluate.compare import score_comparison
    from glimmer.evaluate.constrained import add_constrained
    from glimmer.evaluate.metrics import ConceptIndex

    tok = _tok()
    model = get_peft_model(make_model(len(tok)), LoraConfig(r=2, target_modules=["q_proj"]))
    prompts = [*_prompts(2), TriggerPrompt("neutral", "What is 2 + 2?", ("4",), id="n")]
    answers = {arm: ["prose", "more prose", "4"] for arm in ("base", "prompted", "tuned")}
    result = score_comparison(prompts, answers, index=ConceptIndex.default())
    arms = {
        "base": SimpleNamespace(adapter=False, system=None),
        "prompted": SimpleNamespace(adapter=False, system="Be a pattern."),
        "tuned": SimpleNamespace(adapter=True, system=None),
    }
    add_constrained(result, model, tok, prompts, arms=arms, generate_kwargs={"max_new_tokens": 24})
    generation = [r for r in result.rows if r.category == "generation"]
    assert all(set(r.constrained) == set(arms) for r in generation)
    assert not any(r.constrained for r in result.rows if r.category == "neutral")
    for arm in arms:
        summary = result.summary[arm]
        checks = [r.constrained[arm] for r in generation]
        assert summary.glimmer_valid_constrained_share == sum(c.valid for c in checks) / 2
        assert (summary.section_coverage is None) == (not any(c.valid for c in checks))
        assert summary.glimmer_valid_share == 0.0  # the free answers were prose
    assert "under the grammar" in result.to_html()
    line = next(x for x in result.headline().splitlines() if x.startswith("valid under grammar"))
    assert line.split()[3] == "base"  # the label and the first arm stay apart


@pytest.mark.parametrize(("ended", "hint"), [(False, "--max-new-tokens"), (True, "drop --free")])
def test_no_valid_pattern_exits_1_and_writes_nothing(
    ended: bool, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import glimmer.evaluate.constrained as constrained
    from glimmer.evaluate.coverage import check_pattern

    def fake(scenario: str, **options: Any) -> constrained.GeneratedPattern:
        text = "A pattern is a way of seeing"
        check = check_pattern(text, ended=ended, n_tokens=9)
        return constrained.GeneratedPattern(text, "glimmer", False, 9, check, scenario)

    monkeypatch.setattr(constrained, "generate_pattern", fake)
    target = tmp_path / "p.glimmer"
    result = runner.invoke(app, ["generate", "a gardener", "--free", "-o", str(target)])
    assert result.exit_code == 1, result.output
    assert "G644" in result.output
    assert hint in result.output
    assert not target.exists()
