"""fit() on a tiny Llama built from a config: plumbing, adapters, resume, errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from glimmer.train.fit import (
    FitDataError,
    FitOutputError,
    QLoRAUnavailableError,
    fit,
    last_checkpoint,
    load_chat_splits,
)
from glimmer.train.result import FitResult
from tests.train.tiny import chat_rows

FAST = {
    "batch_size": 2,
    "grad_accum": 1,
    "learning_rate": 5e-3,
    "progress": False,
    "report_to": ["none"],
    "replay_samples": 0,
}


def _adapter_tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_lora_fit_moves_adapter_weights_only(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    result = fit(data_dir, model=str(tiny_checkpoint), output_dir=out, max_steps=6, **FAST)

    assert result.steps == 6
    assert [p.step for p in result.train_loss][:2] == [1, 2]  # loss logged from the first step
    assert result.eval_loss  # validation evaluated
    assert result.tokens_per_second > 0
    assert result.peak_memory_bytes > 0
    assert result.config["use_cpu"] is True
    assert result.config["batch_size"] == 2
    assert FitResult.load(out) == result

    adapter = Path(result.adapter_path)
    assert (adapter / "adapter_config.json").is_file()
    tensors = _adapter_tensors(adapter)
    lora_b = [t for name, t in tensors.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: it moved

    base = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    reference = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = PeftModel.from_pretrained(base, str(adapter))
    merged_free = tuned.get_base_model().state_dict()
    for name, value in reference.items():
        key = name.replace(".weight", ".base_layer.weight")
        current = merged_free.get(key, merged_free.get(name))
        assert current is not None
        assert torch.equal(current, value), name  # base weights untouched

    ids = torch.tensor([[2, 3, 4, 5, 6]])
    with torch.no_grad():
        with tuned.disable_adapter():
            plain = tuned(input_ids=ids).logits
        adapted = tuned(input_ids=ids).logits
    assert not torch.allclose(plain, adapted)


def test_padding_never_hides_end_of_turn(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tiny_checkpoint).pad_token == "<|im_end|>"  # the trap
    result = fit(
        data_dir, model=str(tiny_checkpoint), output_dir=tmp_path / "o", max_steps=1, **FAST
    )
    saved = AutoTokenizer.from_pretrained(result.adapter_path)
    assert saved.pad_token != "<|im_end|>"
    assert saved.pad_token_id != saved.convert_tokens_to_ids("<|im_end|>")


def test_resume_after_a_killed_run_loses_nothing(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import TrainerCallback

    class Kill(TrainerCallback):  # stands in for a killed process, after checkpoint-5
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == 7:
                raise KeyboardInterrupt

    opts = {**FAST, "max_steps": 8, "early_stopping_patience": None, "save_total_limit": 5}
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        fit(data_dir, model=str(tiny_checkpoint), output_dir=crashed, callbacks=[Kill()], **opts)
    checkpoint = last_checkpoint(crashed)
    assert checkpoint is not None and checkpoint.name == "checkpoint-5"
    before = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]

    with pytest.raises(FitOutputError) as info:  # no silent overwrite
        fit(data_dir, model=str(tiny_checkpoint), output_dir=crashed, **opts)
    assert info.value.code == "G505"

    resumed = fit(data_dir, model=str(tiny_checkpoint), output_dir=crashed, resume=True, **opts)
    straight = fit(data_dir, model=str(tiny_checkpoint), output_dir=tmp_path / "straight", **opts)
    assert resumed.steps == straight.steps == 8
    # the history before the checkpoint is kept, and training went on from it
    kept = [p for p in resumed.train_loss if p.step <= 5]
    assert [p.loss for p in kept] == [e["loss"] for e in before if "loss" in e]
    assert [p.step for p in resumed.train_loss] == [p.step for p in straight.train_loss]
    a, b = (
        _adapter_tensors(Path(resumed.adapter_path)),
        _adapter_tensors(Path(straight.adapter_path)),
    )
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name


_KILLED_RUN = """
import os, signal, sys
from transformers import TrainerCallback
from glimmer.train.fit import fit

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == 7:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception: a real kill

fit(sys.argv[1], model=sys.argv[2], output_dir=sys.argv[3], callbacks=[Kill()], max_steps=8,
    batch_size=2, grad_accum=1, learning_rate=5e-3, progress=False, report_to=["none"],
    replay_samples=0, early_stopping_patience=None, save_total_limit=5, precision="fp32")
"""


def test_resume_after_sigkill_loses_nothing(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    import torch

    script = tmp_path / "killed.py"
    script.write_text(_KILLED_RUN)
    crashed = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, str(script), str(data_dir), str(tiny_checkpoint), str(crashed)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    checkpoint = last_checkpoint(crashed)
    assert checkpoint is not None and checkpoint.name == "checkpoint-5"
    before = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]

    # fp32: bf16 autocast on a CPU with AMX is not bitwise repeatable across processes
    opts = {
        **FAST,
        "max_steps": 8,
        "early_stopping_patience": None,
        "save_total_limit": 5,
        "precision": "fp32",
    }
    resumed = fit(data_dir, model=str(tiny_checkpoint), output_dir=crashed, resume=True, **opts)
    straight = fit(data_dir, model=str(tiny_checkpoint), output_dir=tmp_path / "straight", **opts)
    assert resumed.steps == 8
    kept = [p for p in resumed.train_loss if p.step <= 5]
    assert [p.loss for p in kept] == [e["loss"] for e in before if "loss" in e]
    a = _adapter_tensors(Path(resumed.adapter_path))
    b = _adapter_tensors(Path(straight.adapter_path))
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name


def test_qlora_without_bitsandbytes_gpu_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(QLoRAUnavailableError) as info:
        fit(chat_rows(4), method="qlora", output_dir=tmp_path / "q", progress=False)
    assert info.value.code == "G503"
    assert 'method="lora"' in (info.value.hint or "")


def test_dataset_forms(data_dir: Path, tmp_path: Path) -> None:
    train, val = load_chat_splits(data_dir)
    assert (len(train), len(val)) == (10, 2)
    assert load_chat_splits(data_dir / "train.jsonl")[0] == train
    assert load_chat_splits(chat_rows(10))[0] == train

    class Splits:
        def __init__(self) -> None:
            self.train, self.validation = chat_rows(12)[:10], chat_rows(12)[10:]

    assert load_chat_splits(Splits()) == (train, val)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "empty"),
        ([{"messages": [{"role": "user", "content": "hi"}]}], "no assistant"),
        ([{"messages": [{"role": "bot", "content": "hi"}]}], "role 'bot'"),
        ([{"text": "hi"}], "no 'messages'"),
    ],
)
def test_bad_datasets_are_refused(records: list[Any], message: str) -> None:
    with pytest.raises(FitDataError, match=message) as info:
        load_chat_splits(records)
    assert info.value.code == "G506"


def test_missing_folder_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(FitDataError, match=r"no train\.jsonl"):
        load_chat_splits(tmp_path)
    (tmp_path / "train.jsonl").write_text('{"messages": [\n')
    with pytest.raises(FitDataError) as info:
        load_chat_splits(tmp_path)
    assert info.value.line == 1


def test_fit_shows_its_own_output_only(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path, capfd: Any, recwarn: Any
) -> None:
    import datasets

    datasets.enable_progress_bars()
    fit(data_dir, model=str(tiny_checkpoint), output_dir=tmp_path / "o", max_steps=2, **FAST)

    err = capfd.readouterr().err
    assert "glimmer done: 2 steps" in err
    # length-grouped batches and, on a CPU, the chunked LM-head loss and cheap LoRA dropout
    assert "batches grouped by length" in err and "chunked over the learned tokens" in err
    assert "LoRA dropout from 48-bit draws in" in err
    assert "examples/s" not in err  # trl's dataset bars stay hidden
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
    assert datasets.is_progress_bar_enabled()  # the user's setting is restored


def test_rows_cut_before_their_answer_stop_the_fit_with_advice(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    long_prompt = " ".join(["weave"] * 400)
    rows = [
        {
            "messages": [
                {"role": "user", "content": long_prompt},
                {"role": "assistant", "content": "ok"},
            ]
        }
    ] * 4
    with pytest.raises(FitDataError, match="max_seq_len 32") as info:
        fit(rows, model=str(tiny_checkpoint), output_dir=tmp_path / "out", max_seq_len=32, **FAST)
    assert "--max-seq-len" in (info.value.hint or "")
    assert not (tmp_path / "out" / "fit_result.json").exists()


def test_a_dataset_that_is_not_utf8_is_a_glimmer_error(tmp_path: Path) -> None:
    from glimmer.errors import GlimmerFileError

    (tmp_path / "train.jsonl").write_bytes(b'{"messages": []}\n\xff\xfe\n')
    with pytest.raises(GlimmerFileError) as info:
        load_chat_splits(tmp_path)
    assert (info.value.code, info.value.line) == ("G003", 2)


def test_a_resumed_run_keeps_the_precision_it_was_trained_in(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    from glimmer.train.device import choose_device
    from glimmer.train.fit import RUN_STATE_FILE

    out = tmp_path / "run"
    opts = {**FAST, "early_stopping_patience": None, "save_total_limit": 5}
    first = fit(data_dir, model=str(tiny_checkpoint), output_dir=out, max_steps=4, **opts)
    checkpoint = last_checkpoint(out)
    assert checkpoint is not None
    recorded = json.loads((checkpoint / RUN_STATE_FILE).read_text())
    assert recorded == {"precision": first.device["precision"]}
    # claim the precision the automatic choice would not make: the resume must follow it
    auto = choose_device(verbose=False).precision
    other = "fp32" if auto != "fp32" else "bf16"
    (checkpoint / RUN_STATE_FILE).write_text(json.dumps({"precision": other}))
    resumed = fit(
        data_dir, model=str(tiny_checkpoint), output_dir=out, resume=True, max_steps=6, **opts
    )
    assert resumed.steps == 6
    assert resumed.device["precision"] == other


class _FakeTrainer:
    """Stands in for trl's trainer: 'trains' by logging two losses, saves a marker file."""

    def __init__(self, run: Any, train_ds: Any, eval_ds: Any) -> None:
        from types import SimpleNamespace

        from glimmer.train.progress import FitProgress

        meter = FitProgress(enabled=False)
        meter.tokens, meter.train_seconds = 120, 2.0
        self.callback_handler = SimpleNamespace(callbacks=[meter])
        self.state = SimpleNamespace(
            log_history=[
                {"step": 1, "epoch": 0.5, "loss": 2.0},
                {"step": 2, "epoch": 1.0, "loss": 1.5, "eval_loss": 1.7},
            ],
            best_model_checkpoint=None,
            global_step=2,
        )
        self.rows = (len(train_ds), 0 if eval_ds is None else len(eval_ds))
        self.model = SimpleNamespace(save_pretrained=self._save)
        self.resumed_from: str | None = "never trained"

    def _save(self, folder: str, **_: Any) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "adapter_config.json").write_text("{}", encoding="utf-8")

    def train(self, resume_from_checkpoint: str | None = None) -> None:
        self.resumed_from = resume_from_checkpoint

    def is_world_process_zero(self) -> bool:
        return True


def test_fit_steps_around_the_trainer(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plumbing around training (data, adapter, output policy, result) without training."""
    import glimmer.train.fit as fit_module

    made: list[_FakeTrainer] = []

    def factory(run: Any, train_ds: Any, eval_ds: Any, **kwargs: Any) -> _FakeTrainer:
        assert kwargs["output_dir"] == tmp_path / "out" and kwargs["bake"] is False
        assert hasattr(run.net, "peft_config")  # the LoRA adapter is on before training
        made.append(_FakeTrainer(run, train_ds, eval_ds))
        return made[-1]

    monkeypatch.setattr(fit_module, "build_trainer", factory)
    out = tmp_path / "out"
    heard: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = heard.append  # type: ignore[method-assign]
    logging.getLogger("glimmer").addHandler(listener)
    try:
        result = fit(data_dir, model=str(tiny_checkpoint), output_dir=out, **FAST)
    finally:
        logging.getLogger("glimmer").removeHandler(listener)
    # fit reports through logging: an application routes or silences it like any library's
    said = [r.getMessage() for r in heard if r.name == "glimmer.train.fit"]
    assert any(m.startswith("lora on ") for m in said)
    assert any(m.startswith("done: 2 steps") for m in said)
    trainer = made[0]
    assert trainer.resumed_from is None
    given = [len(load_chat_splits(data_dir)[i]) for i in (0, 1)]
    assert list(trainer.rows) == given  # every row tokenized, none cut
    assert [p.loss for p in result.train_loss] == [2.0, 1.5]
    assert [p.loss for p in result.eval_loss] == [1.7]
    assert result.tokens_per_second == 60.0 and result.steps == 2
    assert FitResult.load(out) == result
    assert (out / "adapter" / "tokenizer_config.json").is_file()  # the tokenizer beside it
    with pytest.raises(FitOutputError):  # the run is there now: not overwritten unasked
        fit(data_dir, model=str(tiny_checkpoint), output_dir=out, **FAST)
    assert len(made) == 1


@pytest.mark.parametrize(
    ("precision", "method", "held_in"),
    [("bf16", "lora", "bfloat16"), ("fp32", "lora", "float32"), ("bf16", "full", "float32")],
)
def test_the_frozen_base_is_held_in_the_precision_the_run_computes_in(
    tiny_checkpoint: Path, precision: str, method: str, held_in: str
) -> None:
    """On a CPU in bf16 the base weights are loaded in bf16, so autocast has no fp32 copy
    to cast each step; full fine-tuning keeps fp32 master weights."""
    from glimmer.train.config import FitConfig
    from glimmer.train.device import Hardware, decide
    from glimmer.train.fit import _load

    choice = decide(Hardware(backend="cpu"), precision=precision)  # type: ignore[arg-type]
    cfg = FitConfig.from_overrides(model=str(tiny_checkpoint), method=method, **FAST)
    run = _load(cfg, choice, n_rows=8)
    assert {str(p.dtype).removeprefix("torch.") for p in run.net.parameters()} == {held_in}


def test_a_bf16_fit_on_the_cpu_keeps_fp32_adapters(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    import torch

    result = fit(
        data_dir,
        model=str(tiny_checkpoint),
        output_dir=tmp_path / "out",
        max_steps=4,
        precision="bf16",
        **FAST,
    )
    assert result.device["precision"] == "bf16"
    assert all(p.loss == p.loss and p.loss > 0 for p in result.train_loss)  # finite, learned
    tensors = _adapter_tensors(Path(result.adapter_path))
    assert tensors and {t.dtype for t in tensors.values()} == {torch.float32}


def test_lora_layers_take_their_input_as_it_comes_only_while_training_in_autocast(
    tiny_model: Any,
) -> None:
    from types import SimpleNamespace

    import torch
    from peft import LoraConfig, get_peft_model
    from peft.tuners.tuners_utils import BaseTunerLayer

    from glimmer.train.fit import _lora_in_autocast

    net = get_peft_model(tiny_model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    layers = [m for m in net.modules() if isinstance(m, BaseTunerLayer)]

    def casting() -> set[bool]:
        return {bool(getattr(m, "cast_input_dtype_enabled", True)) for m in layers}

    before = [m.__dict__.get("cast_input_dtype_enabled") for m in layers]

    for mixed, uncast in [({"bf16": True}, True), ({"fp16": True}, True), ({}, False)]:
        trainer = SimpleNamespace(args=SimpleNamespace(**mixed), model=net)
        with _lora_in_autocast(trainer):
            assert layers and casting() == {True}  # outside autocast: cast as peft does
            with torch.autocast("cpu", dtype=torch.bfloat16):
                assert casting() == {not uncast}
            # and a bf16 input through fp32 adapters works both ways
            x = torch.randn(1, 3, net.config.hidden_size, dtype=torch.bfloat16)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                layers[0](x)
        assert [m.__dict__.get("cast_input_dtype_enabled") for m in layers] == before
