"""The review file and the automatic checks of teacher expansion (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from glimmer.cli import app
from glimmer.data.records import ChatRecord, DatasetSplits, Message
from glimmer.data.review import (
    CHECKS,
    Candidate,
    Check,
    NearDuplicateIndex,
    Provenance,
    Reviewer,
    ReviewFileError,
    ReviewRow,
    accepted_records,
    count_rows,
    include_reviewed,
    read_review,
    write_review,
)
from glimmer.data.review_prompt import review_file
from glimmer.starweave import Glossary

EVAL = ["Using the STARWEAVE view, what is friendship between two old neighbours?"]


def candidate(question: str, answer: str, category: str = "application") -> Candidate:
    return Candidate(
        messages=[
            Message(role="user", content=question),
            Message(role="assistant", content=answer),
        ],
        category=category,
    )


def row(i: int, status: str = "pending", question: str | None = None) -> ReviewRow:
    return ReviewRow(
        id=f"k{i}#0",
        status=status,  # type: ignore[arg-type]
        candidate=candidate(question or f"question number {i}", f"answer number {i}"),
        checks=[],
        provenance=Provenance(
            teacher="t",
            base_url="http://127.0.0.1:1/v1",
            template="expand/question.jinja2",
            seed_record={
                "key": f"k{i}",
                "category": "application",
                "template_id": "application/lens",
                "source": None,
            },
            time="2026-01-01T00:00:00Z",
            seed=i,
        ),
    )


@pytest.fixture(scope="module")
def reviewer() -> Reviewer:
    return Reviewer(
        existing=["What is a river?\nA river is water that remembers the way down."],
        eval_prompts=EVAL,
    )


GOOD_ANSWER = (
    "A kitchen is a place where consciousness_crystals form: each meal crystallises attention "
    "into a stable structure of understanding that later patterns can build on."
)


def test_a_good_candidate_passes_every_check(reviewer: Reviewer) -> None:
    checks = reviewer.review(
        candidate("What is a kitchen, seen through STARWEAVE?", GOOD_ANSWER), label="a"
    )
    assert [c.name for c in checks] == list(CHECKS)
    assert all(c.passed for c in checks), checks
    assert "consciousness_crystals" in checks[2].reason


def test_the_same_candidate_again_is_a_duplicate_of_the_first(reviewer: Reviewer) -> None:
    reviewer.review(
        candidate("What does a lamp mean in STARWEAVE?", GOOD_ANSWER + " Lamps too."), label="lamp"
    )
    checks = reviewer.review(
        candidate("What does a lamp mean in STARWEAVE?", GOOD_ANSWER + " Lamps too."), label="b"
    )
    dup = checks[3]
    assert not dup.passed
    assert "lamp" in dup.reason


def test_a_copy_of_existing_data_is_a_duplicate(reviewer: Reviewer) -> None:
    check = reviewer.check_duplicate(
        candidate("What is a river?", "A river is water that remembers the way down!")
    )
    assert not check.passed
    assert "existing record 1" in check.reason


def test_an_evaluation_prompt_is_refused(reviewer: Reviewer) -> None:
    check = reviewer.check_eval_overlap(candidate(EVAL[0], GOOD_ANSWER))
    assert not check.passed
    assert "friendship" in check.reason


def test_bundled_eval_suites_are_used_by_default() -> None:
    from glimmer.data.review import bundled_eval_prompts

    prompts = bundled_eval_prompts()
    assert prompts, "the bundled trigger suites should provide prompts"
    r = Reviewer(existing=[])
    assert not r.check_eval_overlap(candidate(prompts[0], GOOD_ANSWER)).passed


def test_a_broken_pattern_keeps_its_error() -> None:
    answer = "Here it is:\n```glimmer\nmetadata { color: #FF69B4\n```"
    check = Reviewer.check_glimmer(candidate("Write a pattern.", answer, "generation"))
    assert not check.passed
    assert check.reason.startswith("[G1")  # a syntax error code, with the message after it
    assert "never closed" in check.reason or "expected" in check.reason


def test_a_valid_pattern_passes_and_generation_needs_one() -> None:
    good = '```glimmer\nmetadata { author: "ada" }\nstory: "A garden that remembers."\n```'
    assert Reviewer.check_glimmer(candidate("Write a pattern.", good, "generation")).passed
    missing = Reviewer.check_glimmer(candidate("Write a pattern.", "I cannot.", "generation"))
    assert not missing.passed
    assert Reviewer.check_glimmer(candidate("What is time?", "Time flows.", "application")).passed


def test_starweave_check_wants_concepts_used_as_defined(reviewer: Reviewer) -> None:
    none = reviewer.check_starweave(candidate("q", "Bread is made of flour and water."))
    assert not none.passed
    assert "no STARWEAVE concept" in none.reason
    glossary = Glossary.default()
    concept = glossary.core()[0]
    bare = reviewer.check_starweave(candidate("q", f"Bread is {concept.name}."))
    assert not bare.passed
    assert concept.name in bare.reason
    defined = reviewer.check_starweave(
        candidate("q", f"Bread is {concept.name}: {concept.definition}")
    )
    assert defined.passed


def test_format_check_rejects_empty_and_cut_off_answers() -> None:
    assert not Reviewer.check_format(candidate("", "an answer")).passed
    assert not Reviewer.check_format(candidate("a question?", "  ")).passed
    assert not Reviewer.check_format(
        candidate("a question?", "an ans"), finish_reason="length"
    ).passed
    assert Reviewer.check_format(
        candidate("a question?", "an answer."), finish_reason="stop"
    ).passed


@given(st.text(min_size=1, max_size=200).filter(lambda t: any(ch.isalnum() for ch in t)))
def test_a_remembered_text_is_always_found_again(text: str) -> None:
    index = NearDuplicateIndex()
    index.add("it", text)
    hit = index.find(text)
    assert hit is not None
    assert hit[0] == "it"


def test_read_review_ignores_an_unfinished_last_line(tmp_path: Path) -> None:
    path = tmp_path / "REVIEW.jsonl"
    write_review(path, [row(1), row(2)])
    with path.open("a", encoding="utf-8") as fh:
        fh.write(row(3).to_json_line()[:40])  # a write cut off mid-row
    assert [r.id for r in read_review(path)] == ["k1#0", "k2#0"]


def test_read_review_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "REVIEW.jsonl"
    bad = json.loads(row(2).to_json_line())
    bad["status"] = "maybe"
    path.write_text(row(1).to_json_line() + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(ReviewFileError) as info:
        read_review(path)
    assert info.value.line == 2
    assert info.value.code == "G482"


def test_accepted_rows_become_chat_records_and_join_a_build(tmp_path: Path) -> None:
    path = tmp_path / "REVIEW.jsonl"
    write_review(
        path, [row(1, "accepted"), row(2, "rejected"), row(3, "pending"), row(4, "accepted")]
    )
    records = accepted_records(path)
    assert [r.prompt for r in records] == ["question number 1", "question number 4"]
    assert all(r.template_id == "expand/application/lens" for r in records)
    base = ChatRecord(
        messages=[
            Message(role="user", content="question number 4"),
            Message(role="assistant", content="answer number 4"),
        ],
        category="application",
        template_id="application/lens",
        seed=0,
    )
    splits = include_reviewed(DatasetSplits(train=[base], validation=[]), [path])
    assert [r.prompt for r in splits.train] == ["question number 4", "question number 1"]
    assert splits.stats["included"] == {str(path): 1}


def test_counts(tmp_path: Path) -> None:
    rows = [row(1, "accepted"), row(2, "rejected"), row(3, "pending")]
    rows[1].checks.append(Check(name="glimmer", passed=False, reason="x"))
    counts = count_rows(rows)
    assert counts.total == 3
    assert counts.status == {"accepted": 1, "rejected": 1, "pending": 1}
    assert counts.failed["glimmer"] == 1
    assert counts.share_failed()["glimmer"] == pytest.approx(1 / 3)


def test_review_command_decides_pending_rows_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "REVIEW.jsonl"
    write_review(path, [row(1), row(2, "rejected"), row(3), row(4), row(5)])
    result = CliRunner().invoke(app, ["review", str(path)], input="a\nr\ns\n")  # then end of input
    assert result.exit_code == 0, result.output
    status = {r.id: r.status for r in read_review(path)}
    assert status == {
        "k1#0": "accepted",
        "k2#0": "rejected",
        "k3#0": "rejected",
        "k4#0": "pending",
        "k5#0": "pending",
    }
    assert "2 decision(s)" in result.output


def test_review_counts_only_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "REVIEW.jsonl"
    write_review(path, [row(1), row(2, "accepted")])
    before = path.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["review", str(path), "--counts"])
    assert result.exit_code == 0
    assert "pending" in result.output
    assert path.read_text(encoding="utf-8") == before


def test_review_quits_on_q_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "REVIEW.jsonl"
    write_review(path, [row(1), row(2)])
    counts = review_file(path, interactive=False)
    assert counts.status["pending"] == 2
    result = CliRunner().invoke(app, ["review", str(path)], input="q\n")
    assert result.exit_code == 0
    assert [r.status for r in read_review(path)] == ["pending", "pending"]
    missing = CliRunner().invoke(app, ["review", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2


RECIPE = """
name = "tiny"
validation = 0.2
formats = ["jsonl"]

[[builders]]
kind = "reflection"
count = 5
"""


def test_build_include_takes_only_accepted_rows(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    review = tmp_path / "REVIEW.jsonl"
    write_review(
        review, [row(1, "accepted"), row(2, "rejected"), row(3, "pending"), row(4, "accepted")]
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["build", str(recipe), "-o", str(out), "--include", str(review)])
    assert res.exit_code == 0, res.output
    from glimmer.data.records import read_jsonl

    train = read_jsonl(out / "train.jsonl")
    included = [r for r in train if r.template_id.startswith("expand/")]
    assert sorted(r.prompt for r in included) == ["question number 1", "question number 4"]
    assert len(train) - len(included) + len(read_jsonl(out / "validation.jsonl")) == 5
