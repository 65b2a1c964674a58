"""Starting a fit over removes what an earlier fit wrote, and nothing else, and only late."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.errors import GlimmerError, GlimmerFileError
from glimmer.train.outdir import clear_previous_run, previous_run


def earlier_run(out: Path) -> None:
    for folder in ("checkpoint-2", "checkpoint-4", "adapter", "runs/x"):
        (out / folder).mkdir(parents=True)
        (out / folder / "f").write_text("x")
    (out / "fit_result.json").write_text("{}")


def test_removes_only_what_a_fit_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    earlier_run(out)
    (out / "notes.txt").write_text("mine")
    (out / "checkpoint-notes").mkdir()
    (out / "train.jsonl").write_text("{}")
    removed = clear_previous_run(out)
    assert {p.name for p in removed} == {
        "checkpoint-2",
        "checkpoint-4",
        "adapter",
        "runs",
        "fit_result.json",
    }
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-notes", "notes.txt", "train.jsonl"]
    assert previous_run(out) == []


def test_never_removes_the_dataset_it_reads(tmp_path: Path) -> None:
    out = tmp_path / "out"
    earlier_run(out)
    data = out / "adapter" / "data"
    data.mkdir()
    with pytest.raises(GlimmerFileError) as info:
        clear_previous_run(out, keep=[data])
    assert info.value.code == "G013"
    assert (out / "fit_result.json").exists() and data.is_dir()  # nothing removed at all


def test_fit_force_with_a_bad_model_keeps_the_previous_run(tmp_path: Path, data_dir: Path) -> None:
    from glimmer.train.fit import fit

    out = tmp_path / "prev"
    earlier_run(out)
    (out / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(GlimmerError) as info:
        fit(data_dir, output_dir=out, overwrite=True, model=str(tmp_path / "nonexistent"))
    assert info.value.code == "G501"
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
