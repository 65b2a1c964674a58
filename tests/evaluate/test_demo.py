"""The demo's plumbing, with the fit and the comparison replaced by fast stand-ins."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from glimmer import demo
from glimmer.evaluate.compare import ARMS, Comparison, score_comparison
from glimmer.evaluate.metrics import ConceptIndex


@pytest.mark.parametrize("name", sorted(demo.PROFILES))
def test_profiles_are_valid_fit_configs(name: str) -> None:
    from glimmer.train import config

    profile = demo.PROFILES[name]
    cfg = config.FitConfig.from_overrides(**profile.fit)
    assert cfg.method == "lora"
    assert profile.max_new_tokens["generation"] > profile.max_new_tokens["neutral"]


def test_run_demo_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_index: ConceptIndex
) -> None:
    seen: dict[str, Any] = {}

    def fake_fit(dataset: Any, /, **kwargs: Any) -> Any:
        seen["dataset"], seen["fit"] = Path(dataset), kwargs
        loss = [SimpleNamespace(step=1, epoch=0.5, loss=2.0)]
        return SimpleNamespace(
            adapter_path=str(tmp_path / "adapter"),
            train_loss=loss,
            eval_loss=[],
            steps=1,
            config={"replay_samples": kwargs.get("replay_samples")},
        )

    def fake_compare(base: str, adapter: str, prompts: Any, **kwargs: Any) -> Comparison:
        seen["prompts"], seen["compare"] = prompts, kwargs
        answers = {arm: ["My consciousness crystals glow."] * len(prompts) for arm in ARMS}
        return score_comparison(prompts, answers, index=small_index, model=base, adapter=adapter)

    monkeypatch.setattr("glimmer.train.fit.fit", fake_fit)
    monkeypatch.setattr(demo, "compare", fake_compare)
    lines: list[str] = []
    result = demo.run_demo(tmp_path / "out", quick=True, echo=lines.append, progress=False)

    profile = demo.PROFILES["quick"]
    assert result.report.is_file() and "<table" in result.report.read_text()
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    assert set(data["summary"]) == set(ARMS)
    assert (tmp_path / "out" / "report.md").read_text().startswith("## STARWEAVE shift")
    train = (seen["dataset"] / "train.jsonl").read_text().splitlines()
    assert len(train) == profile.train_records
    assert seen["fit"]["overwrite"] is True
    assert seen["compare"]["max_new_tokens"] == profile.max_new_tokens
    assert {p.category for p in seen["prompts"]} >= {"generation", "neutral"}
    assert seen["fit"]["replay_samples"] == profile.fit["replay_samples"] > 0
    replay_line = (
        f"{profile.train_records} records + {profile.fit['replay_samples']} self-replay rows"
    )
    assert any(replay_line in line for line in lines)
    assert any(line.startswith("concept share") for line in lines)
    assert any(line.startswith("wall time") for line in lines)
    assert set(result.seconds) == {"build", "fit", "compare", "total"}


def _records(categories: str) -> list[Any]:
    from glimmer.data.records import ChatRecord, Message

    return [
        ChatRecord(
            messages=[
                Message(role="user", content=f"q{i}"),
                Message(role="assistant", content="a"),
            ],
            category={"a": "application", "g": "generation", "n": "general"}[c],
            template_id="t",
            source=None,
            seed=i,
        )
        for i, c in enumerate(categories)
    ]


def test_stratified_slice_keeps_shares_and_order() -> None:
    records = _records("aaaaaaggnaaaaaaggnaa")  # 14 a, 4 g, 2 n
    picked = demo.stratified_slice(records, 10)
    counts = {
        c: sum(r.category == c for r in picked) for c in ("application", "generation", "general")
    }
    assert counts == {"application": 7, "generation": 2, "general": 1}
    seeds = [r.seed for r in picked]
    assert seeds == sorted(seeds)  # the shuffled order is kept
    assert seeds[:6] == [0, 1, 2, 3, 4, 5]


def test_stratified_slice_passes_over_records_that_do_not_fit() -> None:
    records = _records("aaaaaaggnaaaaaaggnaa")
    too_long = {6, 15}  # two of the generation records
    picked = demo.stratified_slice(records, 10, fits=lambda r: r.seed not in too_long)
    assert not too_long & {r.seed for r in picked}
    assert sum(r.category == "generation" for r in picked) == 2  # taken from later ones
    short = demo.stratified_slice(records, 10, fits=lambda r: r.category != "generation")
    assert len(short) == 10  # the slice is filled from the other categories
    assert all(r.category != "generation" for r in short)


def test_stratified_slice_gives_a_category_a_fixed_share() -> None:
    records = _records("aaaaaaggnaaaaaaggnaa")  # 14 a, 4 g, 2 n
    picked = demo.stratified_slice(records, 10, shares={"generation": 0.4})
    counts = {
        c: sum(r.category == c for r in picked) for c in ("application", "generation", "general")
    }
    assert counts == {"application": 5, "generation": 4, "general": 1}
    # a share the category cannot fill is filled from the others
    short = demo.stratified_slice(records, 10, shares={"generation": 0.8})
    assert len(short) == 10 and sum(r.category == "generation" for r in short) == 4


def test_demo_slices_leave_unsliced_splits_whole() -> None:
    records = _records("aaaaaaggnaaaaaaggnaa")
    splits = SimpleNamespace(train=records[:15], validation=records[15:])
    whole = demo.DemoProfile(
        "x", fit={"max_seq_len": 320}, prompts_per_category=1, max_new_tokens={}
    )
    assert demo.demo_slices(splits, whole) == (records[:15], records[15:])
    half = demo.DemoProfile(
        "y", fit={}, prompts_per_category=1, max_new_tokens={}, train_records=5
    )  # no max_seq_len: nothing is measured, only stratified
    train, val = demo.demo_slices(splits, half)
    assert len(train) == 5 and val == records[15:]


def test_run_demo_fits_several_seeds_and_says_what_quick_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_index: ConceptIndex
) -> None:
    fits: list[int] = []

    def fake_fit(dataset: Any, /, **kwargs: Any) -> Any:
        fits.append(kwargs["seed"])
        return SimpleNamespace(
            adapter_path=str(tmp_path / f"adapter{kwargs['seed']}"),
            train_loss=[],
            eval_loss=[],
            steps=1,
            config={},
        )

    seen: dict[str, Any] = {}

    def fake_compare(base: str, adapters: Any, prompts: Any, **kwargs: Any) -> Comparison:
        seen["adapters"], seen["kwargs"] = adapters, kwargs
        answers = {arm: ["Plain."] * len(prompts) for arm in ARMS}
        return score_comparison(prompts, answers, index=small_index)

    monkeypatch.setattr("glimmer.train.fit.fit", fake_fit)
    monkeypatch.setattr(demo, "compare", fake_compare)
    result = demo.run_demo(
        tmp_path / "out", quick=True, seed=5, seeds=2, echo=lambda _: None, progress=False
    )
    assert fits == [5, 6]
    assert seen["adapters"] == [str(tmp_path / "adapter5"), str(tmp_path / "adapter6")]
    assert seen["kwargs"]["robustness"] is False and seen["kwargs"]["steer"] is False
    notes = result.comparison.notes
    assert any("skips robustness, drift; the full profile runs them" in n for n in notes)
    assert any("skips steer; `glimmer compare --steer` runs it" in n for n in notes)


def test_seeds_below_one_are_refused_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from glimmer.cli import app
    from glimmer.errors import GlimmerError

    with pytest.raises(GlimmerError) as info:
        demo.run_demo(tmp_path / "out", seeds=0, echo=lambda _: None)
    assert info.value.code == "G653"
    assert not (tmp_path / "out").exists()
    run = CliRunner().invoke(app, ["demo", "--seeds", "0", "-o", str(tmp_path / "cli")])
    assert run.exit_code == 2 and "--seeds" in run.output
