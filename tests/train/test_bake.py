"""Baking a pattern into the weights: the loss, the teacher's targets, fit(bake=...), bad input."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from glimmer.errors import GlimmerError
from glimmer.starweave import Glossary
from glimmer.train.bake import (
    BakeCollator,
    BakeError,
    bake_prompts,
    bake_system_prompt,
    sample_bake,
    topk_kl,
)
from glimmer.train.fit import fit
from tests.train.tiny import make_tokenizer, student_kl

PATTERN = 'story: "Answer briefly."\nresponse {\n  style: brief\n}\n'
GLOSSARY = 'name = "TINY"\n[concepts.seed]\ndefinition = "A beginning."\n'
FAST = {
    "batch_size": 4,
    "grad_accum": 1,
    "learning_rate": 2e-2,
    "progress": False,
    "report_to": ["none"],
    "replay_samples": 0,
    "bake_samples": 8,
    "bake_tokens": 12,
    "bake_top_k": 8,
}


@pytest.fixture
def pattern_file(tmp_path: Path) -> Path:
    path = tmp_path / "brief.glimmer"
    path.write_text(PATTERN)
    return path


@pytest.fixture
def glossary_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(GLOSSARY)
    return path


def test_topk_kl_is_zero_at_the_teacher_and_a_lower_bound_of_the_full_kl() -> None:
    import torch

    torch.manual_seed(0)
    teacher = torch.randn(6, 50) * 3
    student = torch.randn(6, 50) * 3
    t_lp = torch.log_softmax(teacher, -1)
    top = t_lp.topk(5, dim=-1)
    at_teacher = topk_kl(teacher, top.indices, top.values)
    elsewhere = topk_kl(student, top.indices, top.values)
    full = (t_lp.exp() * (t_lp - torch.log_softmax(student, -1))).sum(-1)
    assert torch.allclose(at_teacher, torch.zeros(6), atol=1e-5)
    assert bool((elsewhere > 1e-3).all())
    assert bool((elsewhere <= full + 1e-5).all())


def test_topk_kl_pulls_the_student_to_the_teacher() -> None:
    import torch

    torch.manual_seed(1)
    t_lp = torch.log_softmax(torch.randn(4, 30) * 2, -1)
    top = t_lp.topk(6, dim=-1)
    student = torch.zeros(4, 30, requires_grad=True)
    opt = torch.optim.Adam([student], lr=0.1)
    first = float(topk_kl(student, top.indices, top.values).detach().mean())
    for _ in range(300):
        opt.zero_grad()
        topk_kl(student, top.indices, top.values).sum().backward()
        opt.step()
    last = float(topk_kl(student, top.indices, top.values).detach().mean())
    assert last < first / 20
    probs = torch.softmax(student.detach(), -1).gather(-1, top.indices)
    assert torch.allclose(probs, top.values.exp(), atol=0.02)


def test_the_teacher_prompt_holds_the_pattern_and_the_glossary(
    pattern_file: Path, glossary_file: Path
) -> None:
    system = bake_system_prompt(pattern_file, glossary=glossary_file)
    assert 'story: "Answer briefly."' in system
    assert "The TINY framework" in system
    assert "- seed: A beginning." in system
    assert "STARWEAVE" in bake_system_prompt(pattern_file)  # the bundled glossary by default


def test_bake_prompts_are_distinct_user_turns_in_a_seeded_order() -> None:
    rows = [
        [{"role": "system", "content": "s"}, {"role": "user", "content": f"q{i % 5}"}]
        for i in range(12)
    ]
    assert sorted(bake_prompts(rows, 10)) == [f"q{i}" for i in range(5)]
    assert bake_prompts(rows, 3, seed=4) == bake_prompts(rows, 3, seed=4)
    assert len(bake_prompts(rows, 3)) == 3


def test_teacher_rows_line_up_with_their_targets(tiny_model: Any, tiny_tokenizer: Any) -> None:
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    eot = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    rows = sample_bake(
        tiny_model,
        tiny_tokenizer,
        "Answer briefly.",
        ["What is a weave?", "What is light?", "Hi"],
        stop_ids=[eot],
        max_new_tokens=10,
        max_length=40,
        top_k=4,
        batch_size=2,
    )
    assert len(rows.input_ids) == 3
    for ids, labels, start, tids, tlps in zip(
        rows.input_ids, rows.labels, rows.start, rows.topk_ids, rows.topk_logprobs, strict=True
    ):
        assert len(ids) == len(labels) <= 40
        assert all(label == -100 for label in labels[:start])
        assert labels[start:] == ids[start:]
        assert len(tids) == len(tlps) == len(ids) - start
        assert all(len(k) == 4 for k in tids)
        assert all(a >= b for k in tlps for a, b in itertools.pairwise(k))  # sorted top-k
        student = tiny_tokenizer.decode(ids[:start])
        assert "Answer briefly." not in student  # the student never sees the system prompt

    collate = BakeCollator(DataCollatorForLanguageModeling(pad_token_id=0), 4)
    plain = {"input_ids": [1, 2, 3], "labels": [-100, 2, 3], "bake_start": 0, "bake_ids": []}
    baked = dict(zip(("input_ids", "labels"), (rows.input_ids[0], rows.labels[0]), strict=True))
    baked.update(
        bake_start=rows.start[0], bake_ids=rows.topk_ids[0], bake_logprobs=rows.topk_logprobs[0]
    )
    batch = collate([plain, baked])
    assert not bool(batch["bake_mask"][0].any())
    start = rows.start[0]
    assert batch["bake_mask"][1].nonzero().flatten().tolist() == list(
        range(start, len(rows.input_ids[0]))
    )
    assert batch["bake_ids"][1, start].tolist() == rows.topk_ids[0][0]
    assert torch.allclose(batch["bake_logprobs"][1, start], torch.tensor(rows.topk_logprobs[0][0]))


def test_baking_moves_the_adapter_towards_the_prompted_teacher(
    sharp_checkpoint: Path, data_dir: Path, tmp_path: Path, pattern_file: Path, glossary_file: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = fit(
        data_dir,
        model=str(sharp_checkpoint),
        output_dir=tmp_path / "baked",
        max_steps=30,
        bake=pattern_file,
        bake_glossary=str(glossary_file),
        **FAST,
    )
    losses = [p.loss for p in result.train_loss]
    assert sum(losses[-3:]) / 3 < losses[0]
    assert result.config["bake"] == str(pattern_file)

    base = AutoModelForCausalLM.from_pretrained(str(sharp_checkpoint))
    tuned = PeftModel.from_pretrained(base, result.adapter_path)
    tuned.eval()
    tokenizer = make_tokenizer()
    system = bake_system_prompt(pattern_file, glossary=glossary_file)
    prompts = ["What is weave?", "What is thread?", "What is star?", "What is light?"]
    before = student_kl(tuned, tokenizer, system, prompts, adapter=False)
    after = student_kl(tuned, tokenizer, system, prompts, adapter=True)
    # (a fit on the records alone moves it the other way: 4.6 -> 4.9 nats on this model)
    assert after < 0.95 * before


@pytest.mark.parametrize(
    ("content", "line"),
    [(None, None), ("this is not { a pattern\n", 1), ('story: "ok"\nbroken = 3\n', 2)],
)
def test_a_bake_file_that_is_missing_or_not_a_pattern_stops_fit_before_any_write(
    tmp_path: Path, data_dir: Path, content: str | None, line: int | None
) -> None:
    bad = tmp_path / "bad.glimmer"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "out"
    with pytest.raises(BakeError) as info:
        fit(data_dir, output_dir=out, bake=bad, progress=False)
    err = info.value
    assert err.code == "G520"
    assert err.location.source == str(bad)
    assert err.location.line == line
    assert err.hint and "pattern" in err.hint
    assert not out.exists()


def test_a_bad_bake_glossary_stops_fit_before_any_write(
    tmp_path: Path, data_dir: Path, pattern_file: Path
) -> None:
    bad = tmp_path / "gloss.toml"
    bad.write_text(
        '[concepts.seed]\ndefinition = "A beginning."\n'
        'relations = [{kind = "forms", target = "seed"}]\n'
    )
    out = tmp_path / "out"
    with pytest.raises(GlimmerError) as info:
        fit(data_dir, output_dir=out, bake=pattern_file, bake_glossary=str(bad), progress=False)
    assert info.value.location.source == str(bad)
    assert info.value.location.line is not None
    assert not out.exists()
    with pytest.raises(GlimmerError):
        Glossary.load(bad)


@pytest.mark.parametrize(
    ("content", "where"),
    [(None, "bad.glimmer"), ("this is not { a pattern\n", "bad.glimmer:1:6")],
)
def test_glimmer_fit_bake_refuses_a_missing_or_broken_pattern(
    tmp_path: Path, data_dir: Path, content: str | None, where: str
) -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app

    bad = tmp_path / "bad.glimmer"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fit", str(data_dir), "-o", str(out), "--bake", str(bad)])
    assert result.exit_code == 2
    assert "G520" in result.output and where in result.output
    assert "hint:" in result.output
    assert not out.exists()


def test_a_bad_bake_glossary_in_the_config_is_refused_by_the_cli(
    tmp_path: Path, data_dir: Path, pattern_file: Path
) -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app

    gloss = tmp_path / "gloss.toml"
    gloss.write_text('[concepts.seed]\ndefinition = ""\n')
    config = tmp_path / "fit.toml"
    config.write_text(f'bake_glossary = "{gloss}"\n')
    out = tmp_path / "out"
    args = ["fit", str(data_dir), "-o", str(out), "--bake", str(pattern_file)]
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 2
    assert "gloss.toml:" in result.output and "hint:" in result.output
    assert not out.exists()
