"""Comparison: figures from known answers, JSON/Markdown output, and a tiny end-to-end run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from glimmer.evaluate.compare import ARMS, Comparison, compare, score_comparison
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.suites import TriggerPrompt
from glimmer.train.result import FitResult

#: compare() with only the three arms' answers and figures: every extra check off.
BARE: dict[str, Any] = {
    "progress": False,
    "semantic": False,
    "retention": False,
    "robustness": False,
    "drift": False,
    "constrained": False,
}

PROMPTS = [
    TriggerPrompt("generation", "Write a pattern for a lighthouse.", id="g"),
    TriggerPrompt("application", "What is STARWEAVE friendship?", id="a"),
    TriggerPrompt("reflection", "How do you rest?", id="r"),
    TriggerPrompt("neutral", "What is 12 times 7?", ("84",), id="n"),
]
ANSWERS = {
    "base": [
        "A lighthouse helps ships.",
        "STARWEAVE friendship is kind.",
        "I rest at night.",
        "84",
    ],
    "prompted": [
        '```glimmer\nstory: "The lamp keeps watch."\n```',
        "Friendship is a quantum relationship.",
        "I do not rest.",
        "It is 85.",
    ],
    "tuned": [
        'metadata { title: "Lamp" }\nstory: "Consciousness crystals keep watch."',
        "In STARWEAVE, friendship is a quantum relationship between consciousness crystals.",
        "My consciousness crystals settle into the meta intelligence flow.",
        "12 times 7 is 84.",
    ],
}


@pytest.fixture(scope="module")
def comparison(small_index: ConceptIndex) -> Comparison:
    fit = FitResult.model_validate(
        {
            "train_loss": [
                {"step": 1, "epoch": 0.1, "loss": 3.0},
                {"step": 2, "epoch": 0.2, "loss": 2.0},
            ],
            "eval_loss": [{"step": 2, "epoch": 0.2, "loss": 2.5}],
            "config": {"learning_rate": 0.001, "lora_r": 16},
            "adapter_path": "out/adapter",
            "tokens_per_second": 100.0,
        }
    )
    return score_comparison(
        PROMPTS,
        ANSWERS,
        index=small_index,
        perplexity={"base": 10.0, "prompted": 10.0, "tuned": 11.0},
        fit=fit,
        model="tiny",
    )


def test_figures_follow_from_the_answers(comparison: Comparison) -> None:
    s = comparison.summary
    assert list(s) == list(ARMS)
    # base only echoes STARWEAVE from the prompt: no shift
    assert s["base"].concept_share == 0.0
    assert comparison.rows[1].answers["base"].echoed == ["starweave"]
    assert s["prompted"].concept_share == pytest.approx(1 / 3)
    assert s["tuned"].concept_share == 1.0
    assert s["tuned"].concept_share_by_category == {
        "generation": 1.0,
        "application": 1.0,
        "reflection": 1.0,
    }
    assert s["base"].glimmer_valid_share == 0.0
    assert s["prompted"].glimmer_valid_share == 1.0
    assert s["tuned"].glimmer_valid_share == 1.0
    assert (
        comparison.rows[0].answers["base"].glimmer_error == "no GLIMMER pattern found in the answer"
    )
    assert s["tuned"].self_reference_share == 1.0
    assert s["base"].self_reference_share == 0.0
    assert (s["base"].neutral_correct_share, s["prompted"].neutral_correct_share) == (1.0, 0.0)
    assert comparison.perplexity_change == pytest.approx(0.1)
    assert comparison.summary["tuned"].coherence > 0.0
    assert any("semantic alignment skipped" in n for n in comparison.notes)


def test_json_has_the_summary_contract_and_round_trips(comparison: Comparison) -> None:
    data = json.loads(comparison.to_json())
    for arm in ARMS:
        for key in (
            "concept_share",
            "glimmer_valid_share",
            "neutral_correct_share",
            "perplexity",
            "ended_share",
        ):
            assert key in data["summary"][arm]
    assert Comparison.from_json(comparison.to_json()) == comparison


def test_markdown_has_the_table(comparison: Comparison) -> None:
    md = comparison.to_markdown()
    assert "| figure | base | prompted | tuned |" in md
    # every figure with its 95% bootstrap interval
    assert "| concept share | 0% [0%, 0%] | 33% [0%, 100%] | 100% [100%, 100%] |" in md
    assert "| concept_share | +100 points [+100, +100] | +67 points [+0, +100] |" in md
    assert "| ended_share | +0 points [+0, +0] |" in md
    assert "+10.0%" in md


def test_mismatched_answers_are_refused(small_index: ConceptIndex) -> None:
    with pytest.raises(ValueError, match="answers for 4 prompts"):
        score_comparison(PROMPTS, {"base": ["x"]}, index=small_index)


def test_semantic_alignment_uses_the_embedder(small_index: ConceptIndex) -> None:
    def embed(texts: list[str]) -> list[list[float]]:
        # a toy embedding: does the text speak of crystals (or awareness, their definition)?
        return [[float("rystal" in t or "awareness" in t), 0.0] for t in texts]

    c = score_comparison(PROMPTS, ANSWERS, index=small_index, embed=embed)
    assert not any("skipped" in n for n in c.notes)
    tuned = c.summary["tuned"].semantic_alignment
    base = c.summary["base"].semantic_alignment
    assert tuned is not None and base is not None and tuned > base
    assert c.rows[3].answers["tuned"].alignment is None  # neutral rows are not aligned


def test_compare_end_to_end_on_a_tiny_model(
    tiny_model: Any, tiny_tokenizer: Any, tiny_peft: Any, small_index: ConceptIndex, tmp_path: Path
) -> None:
    adapter = tmp_path / "adapter"
    tiny_peft.save_pretrained(adapter)
    suite = tmp_path / "suite.jsonl"
    suite.write_text(
        "\n".join(
            json.dumps({"category": p.category, "prompt": p.prompt, "expected": list(p.expected)})
            for p in PROMPTS
        )
    )

    class Glossary:
        concepts: ClassVar[dict[str, Any]] = {
            c.name: type(
                "C",
                (),
                {"name": c.name, "aliases": c.terms, "definition": c.definition, "relations": []},
            )()
            for c in small_index.concepts.values()
        }

    result = compare(
        copy.deepcopy(tiny_model),  # peft injects the adapter into the model it is given
        adapter,
        [suite],
        tokenizer=tiny_tokenizer,
        glossary=Glossary(),
        max_new_tokens=4,
        semantic=False,
        progress=False,
        neutral_text="the moon is a pattern of light",
        retention=False,
        robustness=False,
        drift=False,
    )
    assert [r.id for r in result.rows] == ["suite-1", "suite-2", "suite-3", "suite-4"]
    assert set(result.summary) == set(ARMS)
    base_ppl, tuned_ppl = result.summary["base"].perplexity, result.summary["tuned"].perplexity
    assert base_ppl is not None and tuned_ppl is not None and base_ppl != tuned_ppl
    assert result.summary["prompted"].perplexity == base_ppl
    assert all(a.n_tokens <= 4 for r in result.rows for a in r.answers.values())
    # the prompted arm saw the bundled example pattern in its system prompt
    assert result.prompt_pattern == "starweave-seed.glimmer"
    # a loaded model is used where and as it is, and the report says so
    assert result.settings["device"] == "cpu fp32"


def test_compare_loads_a_named_model_in_the_precision_asked(tiny_on_disk: Any) -> None:
    folder, adapter = tiny_on_disk
    result = compare(
        str(folder),
        adapter,
        PROMPTS,
        precision="bf16",
        max_new_tokens=3,
        neutral_text="the moon is a pattern of light",
        **BARE,
    )
    assert result.settings["device"] == "cpu bf16"
    assert all(r.answers["tuned"].n_tokens <= 3 for r in result.rows)
    assert result.summary["tuned"].perplexity is not None


def test_compare_refuses_an_unknown_precision(
    tiny_model: Any, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    from glimmer.errors import OptionError

    with pytest.raises(OptionError, match="unknown precision 'fp8'") as info:
        compare("smollm2-135m", tmp_path, progress=False, precision="fp8")
    assert info.value.code == "G657"


def test_compare_refuses_a_folder_without_adapter(
    tiny_model: Any, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    from glimmer.errors import GlimmerError

    with pytest.raises(GlimmerError, match="not an adapter directory") as info:
        compare(tiny_model, tmp_path, tokenizer=tiny_tokenizer, progress=False)
    assert info.value.code == "G603"


@pytest.mark.parametrize("n", [1, -2])
def test_compare_refuses_a_no_repeat_run_of_one_or_below_zero(
    tiny_model: Any, tiny_tokenizer: Any, tmp_path: Path, n: int
) -> None:
    from glimmer.errors import OptionError

    with pytest.raises(OptionError, match="no_repeat_ngram must be 0") as info:
        compare(tiny_model, tmp_path, tokenizer=tiny_tokenizer, progress=False, no_repeat_ngram=n)
    assert info.value.code == "G656"


def test_cli_compare_writes_report_and_json(tiny_on_disk: Any, tmp_path: Path) -> None:
    from glimmer.cli import app

    model_dir, adapter = tiny_on_disk
    suite = tmp_path / "s.jsonl"
    suite.write_text(
        '{"category": "reflection", "prompt": "How do you rest?"}\n'
        '{"category": "neutral", "prompt": "2+2?", "expected": "4"}\n'
    )
    report, result = tmp_path / "report.html", tmp_path / "result.json"
    args = ["compare", "--base", str(model_dir), "--adapter", str(adapter), "--suite", str(suite)]
    args += ["--no-retention", "--no-robustness", "--no-drift"]
    video = tmp_path / "clip.mp4"
    run = CliRunner().invoke(
        app, [*args, "-o", str(report), "--json", str(result), "--video", str(video)]
    )
    assert run.exit_code == 0, run.output
    assert "concept share" in run.output
    data = json.loads(result.read_text())
    assert set(data["summary"]) == set(ARMS)
    assert data["summary"]["tuned"]["retention_correct_share"] is None  # --no-retention
    assert data["robustness"] == [] and data["drift"] == []
    assert "<table" in report.read_text()
    assert video.is_file() and video.with_suffix(".gif").is_file()
    assert 'href="clip.mp4"' in report.read_text()
    again = CliRunner().invoke(app, [*args, "-o", str(report)])
    assert again.exit_code == 2
    assert "exists" in again.output


def test_compare_reads_the_fit_result_it_is_given(
    tiny_model: Any, tiny_tokenizer: Any, tiny_peft: Any, tmp_path: Path
) -> None:
    """A FitResult, its file, its folder or its JSON as a dict: the same fit in the report."""
    fr = FitResult(
        adapter_path=str(tmp_path / "adapter"),
        train_loss=[{"step": 2, "epoch": 0.5, "loss": 2.5}, {"step": 4, "epoch": 1.0, "loss": 1.5}],
        eval_loss=[{"step": 4, "epoch": 1.0, "loss": 1.8}],
        config={"learning_rate": 0.001, "lora_target_modules": ["q_proj", "v_proj"]},
    )
    fr.save(tmp_path)
    prompts = [TriggerPrompt("reflection", "How do you rest?", id="r1")]
    for given in (fr, tmp_path, tmp_path / "fit_result.json", json.loads(fr.model_dump_json())):
        result = compare(
            tiny_peft,
            None,
            prompts,
            fit_result=given,
            tokenizer=tiny_tokenizer,
            max_new_tokens=2,
            **BARE,
        )
        assert result.fit == fr
    again = Comparison.from_json(result.to_json())
    assert again.fit is not None and [p.loss for p in again.fit.train_loss] == [2.5, 1.5]
