"""Self-replay: rows sampled from the base model, learned beside the chat records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glimmer.train.fit import fit
from glimmer.train.masking import IGNORE_INDEX
from glimmer.train.replay import EVERYDAY_REQUESTS, OPENINGS, everyday_requests, sample_replay
from tests.train.tiny import student_kl


def test_rows_learn_the_continuation_not_the_opening(tiny_model: Any, tiny_tokenizer: Any) -> None:
    tiny_tokenizer.padding_side = "right"
    rows = sample_replay(tiny_model, tiny_tokenizer, 5, max_new_tokens=12, seed=3, batch_size=2)

    assert tiny_tokenizer.padding_side == "right"  # restored after left-padded sampling
    assert len(rows.input_ids) == len(rows.labels) == len(rows.texts) == 5
    special = set(tiny_tokenizer.all_special_ids)
    openings = {tuple(tiny_tokenizer(o, add_special_tokens=False)["input_ids"]) for o in OPENINGS}
    for ids, labels in zip(rows.input_ids, rows.labels, strict=True):
        assert len(ids) == len(labels)
        n_masked = labels.index(next(t for t in labels if t != IGNORE_INDEX))
        assert tuple(ids[:n_masked]) in openings  # the opening is masked, without padding
        learned = ids[n_masked:]
        assert labels[n_masked:] == learned
        assert 1 <= len(learned) <= 12
        # the text stops at the first special token the model writes: no padding is learned
        assert all(t not in special for t in learned[:-1])
    assert rows.tokens == sum(len([t for t in lab if t != IGNORE_INDEX]) for lab in rows.labels)


def test_sampling_is_seeded(tiny_model: Any, tiny_tokenizer: Any) -> None:
    a = sample_replay(tiny_model, tiny_tokenizer, 4, max_new_tokens=10, seed=1)
    b = sample_replay(tiny_model, tiny_tokenizer, 4, max_new_tokens=10, seed=1)
    c = sample_replay(tiny_model, tiny_tokenizer, 4, max_new_tokens=10, seed=2)
    assert a.input_ids == b.input_ids
    assert a.input_ids != c.input_ids


def test_fit_learns_replay_rows_beside_the_records(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    common: dict[str, Any] = {
        "model": str(tiny_checkpoint),
        "batch_size": 2,
        "grad_accum": 1,
        "epochs": 1,
        "progress": False,
        "report_to": ["none"],
        "replay_tokens": 8,
    }
    plain = fit(data_dir, output_dir=tmp_path / "plain", replay_samples=0, **common)
    replayed = fit(data_dir, output_dir=tmp_path / "replay", replay_samples=6, **common)

    assert "self-replay: 6 rows of text sampled from the base model" in capsys.readouterr().err
    # 10 chat records alone are 5 steps at batch 2; with 6 replay rows they are 8
    assert plain.steps == plain.config["steps_per_epoch"] == 5
    assert replayed.steps == replayed.config["steps_per_epoch"] == 8
    assert replayed.config["replay_samples"] == 6


def _words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def test_everyday_requests_are_none_of_the_evaluation_prompts() -> None:
    from glimmer.evaluate.drift import bundled_conversations
    from glimmer.evaluate.retention import bundled_retention
    from glimmer.evaluate.suites import bundled_suites

    asked = {_words(p.prompt) for p in [*bundled_suites(), *bundled_retention()]}
    asked |= {_words(turn) for c in bundled_conversations() for turn in c.turns}
    own = {_words(r) for r in EVERYDAY_REQUESTS}
    assert len(own) == len(EVERYDAY_REQUESTS)  # no request twice
    assert own.isdisjoint(asked)


def test_everyday_requests_are_seeded_and_cycle_past_the_list() -> None:
    n = len(EVERYDAY_REQUESTS)
    assert everyday_requests(8, seed=1) == everyday_requests(8, seed=1)
    assert everyday_requests(8, seed=1) != everyday_requests(8, seed=2)
    assert sorted(everyday_requests(n)) == sorted(EVERYDAY_REQUESTS)
    longer = everyday_requests(n + 3, seed=5)
    assert longer[n:] == longer[:3]


def test_chat_replay_keeps_the_base_models_answers_to_everyday_requests(
    sharp_checkpoint: Path, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """With chat replay, the adapter's answers to everyday requests stay closer (KL) to the
    base model's than after a fit on the records alone; the rows are counted and logged."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common: dict[str, Any] = {
        "model": str(sharp_checkpoint),
        "batch_size": 2,
        "grad_accum": 1,
        "epochs": 4,
        "learning_rate": 5e-3,
        "progress": False,
        "report_to": ["none"],
        "replay_samples": 0,
        "bake_tokens": 12,
        "bake_top_k": 8,
        "early_stopping_patience": None,
    }
    plain = fit(data_dir, output_dir=tmp_path / "plain", **common)
    anchored = fit(data_dir, output_dir=tmp_path / "chats", replay_chats=24, **common)

    assert "chat replay: base model answers to everyday requests: 24 rows" in (
        capsys.readouterr().err
    )
    # 10 chat records are 5 steps an epoch at batch 2; with 24 chat replay rows they are 17
    assert anchored.config["steps_per_epoch"] == plain.config["steps_per_epoch"] + 12
    assert anchored.config["replay_chats"] == 24

    tokenizer = AutoTokenizer.from_pretrained(str(sharp_checkpoint))

    def drift(adapter: str) -> float:
        """Mean top-k KL from the base model to the tuned one on the base model's answers."""
        base = AutoModelForCausalLM.from_pretrained(str(sharp_checkpoint))
        model = PeftModel.from_pretrained(base, adapter).eval()
        return student_kl(model, tokenizer, None, everyday_requests(24), adapter=True)

    assert drift(anchored.adapter_path) < 0.8 * drift(plain.adapter_path)
