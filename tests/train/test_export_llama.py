"""The exported GGUF in llama.cpp (llama-cpp-python) answers as transformers does on the merged model.

One adapter with non-zero LoRA weights on the embedded SmolLM2 is exported once per weight
format. f16 and bf16 must give transformers' greedy continuation token for token (16 tokens,
three prompts), up to a tie: where transformers' two best tokens are within ``TIE`` logits
of each other, any rounding may pick either (fp32 against f16 already does, at a margin of
0.001), so the paths may part there, on transformers' second choice, and nowhere else. q8_0,
which rounds every weight to 8 bits, is held to a stated measure. The prompt tokens llama.cpp
builds from the file's chat template must equal ``apply_chat_template``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glimmer.train.export import ExportResult, export

llama_cpp = pytest.importorskip("llama_cpp", reason="the export extra: pip install glimmer[export]")
pytestmark = pytest.mark.slow  # exports the embedded model three times

SMOL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
N = 16
TIE = 0.05  # logits: two tokens this close are a tie no weight format can be held to
CHATS = [
    [{"role": "user", "content": "What is a glimmer?"}],
    [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Describe the weave."},
    ],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Pink."},
        {"role": "user", "content": "And another one?"},
    ],
]
# q8_0 keeps 8 bits a weight (bf16 8 bits of mantissa, so it is held here too): the greedy
# path may part from transformers' (fp32) after a near tie. Stated measure: on transformers'
# own greedy continuation (teacher forced), the argmax agrees at 15 of the 16 positions or
# more, for every prompt.
MIN_AGREEMENT = 15


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapter on the embedded model, saved as fit() saves it (base named by hub id)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from glimmer.train.hub import finish_adapter
    from glimmer.train.models import load_model, resolve_model

    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    net, tok = load_model()
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    tuned = get_peft_model(net, config)
    with torch.no_grad():  # a visible but sane change: scale the random B matrices down
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.mul_(0.05)
    tuned.save_pretrained(folder / "adapter")
    tok.save_pretrained(folder / "adapter")
    finish_adapter(folder / "adapter", preset=resolve_model("smollm2-135m"), settings={})
    assert (
        json.loads((folder / "adapter" / "adapter_config.json").read_text())[
            "base_model_name_or_path"
        ]
        == SMOL_ID
    )
    return folder


@pytest.fixture(scope="module")
def merged(run: Path) -> tuple[Any, Any]:
    """transformers on the merged model: the reference."""
    from transformers import AutoModelForCausalLM

    from glimmer.train.merge import merge
    from glimmer.train.models import load_tokenizer

    folder = merge(run / "adapter", run / "merged")
    return AutoModelForCausalLM.from_pretrained(folder).eval(), load_tokenizer(str(folder))


@pytest.fixture(scope="module")
def exported(run: Path, merged: tuple[Any, Any]) -> dict[str, ExportResult]:
    out = {"f16": export(run / "adapter", run / "gguf-f16", quant="f16")}
    merged_folder = run / "merged"
    for quant in ("bf16", "q8_0"):  # from the merged folder: the same weights, less time
        out[quant] = export(merged_folder, run / f"gguf-{quant}", quant=quant, name="run")
    return out


def _prompt_ids(tok: Any, chat: list[dict[str, str]]) -> list[int]:
    return list(
        tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)["input_ids"]
    )


def _hf_greedy(net: Any, ids: list[int]) -> tuple[list[int], Any]:
    seq, first, _ = _hf_greedy_ties(net, ids)
    return seq, first


def _hf_greedy_ties(net: Any, ids: list[int]) -> tuple[list[int], Any, list[tuple[int, float]]]:
    """transformers' greedy tokens, its first logits, and its runner-up and margin at each step."""
    import torch

    seq = list(ids)
    first = None
    runners: list[tuple[int, float]] = []
    with torch.no_grad():
        for _ in range(N):
            logits = net(torch.tensor([seq])).logits[0, -1]
            first = logits if first is None else first
            top = torch.topk(logits, 2)
            runners.append((int(top.indices[1]), float(top.values[0] - top.values[1])))
            seq.append(int(top.indices[0]))
    return seq[len(ids) :], first, runners


def _llama(result: ExportResult) -> Any:
    return llama_cpp.Llama(
        model_path=str(result.gguf),
        n_ctx=256,
        n_threads=2,
        n_batch=256,
        logits_all=True,  # llama-cpp-python keeps scores only with it
        verbose=False,
    )


def _cpp_greedy(llm: Any, ids: list[int]) -> tuple[list[int], Any]:
    import numpy as np

    llm.reset()
    llm.eval(ids)
    first = np.array(llm.scores[llm.n_tokens - 1])
    out: list[int] = []
    for _ in range(N):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        llm.eval([tok])
    return out, first


@pytest.mark.parametrize("quant", ["f16", "bf16"])
def test_greedy_tokens_match_transformers_up_to_a_tie(
    quant: str, exported: dict[str, ExportResult], merged: tuple[Any, Any]
) -> None:
    net, tok = merged
    llm = _llama(exported[quant])
    for chat in CHATS:
        ids = _prompt_ids(tok, chat)
        want, _, runners = _hf_greedy_ties(net, ids)
        got, _ = _cpp_greedy(llm, ids)
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b), None)
        if at is None:
            continue
        runner_up, margin = runners[at]
        assert margin < TIE and got[at] == runner_up, (
            f"{quant} parts from transformers at token {at} (margin {margin:.3f}): "
            f"{tok.decode(got)!r} != {tok.decode(want)!r}"
        )
        assert got[:at] == want[:at]
    llm.close()


@pytest.mark.parametrize("quant", ["bf16", "q8_0"])
def test_rounded_formats_agree_on_the_stated_measure(
    quant: str, exported: dict[str, ExportResult], merged: tuple[Any, Any]
) -> None:
    import numpy as np

    net, tok = merged
    llm = _llama(exported[quant])
    for chat in CHATS:
        ids = _prompt_ids(tok, chat)
        want, _ = _hf_greedy(net, ids)
        llm.reset()
        llm.eval(ids + want)
        scores = np.array(llm.scores[: llm.n_tokens])
        picks = [int(np.argmax(scores[len(ids) - 1 + k])) for k in range(N)]
        agree = sum(a == b for a, b in zip(picks, want, strict=True))
        assert agree >= MIN_AGREEMENT, (quant, chat, agree)
    llm.close()


def test_prompt_tokens_from_the_files_chat_template(
    exported: dict[str, ExportResult], merged: tuple[Any, Any]
) -> None:
    """llama-cpp-python's chat handler reads the template from the file: same tokens."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    _, tok = merged
    llm = _llama(exported["f16"])
    template = llm.metadata["tokenizer.chat_template"]
    assert template == tok.chat_template
    eos = llm.detokenize([llm.token_eos()], special=True).decode()
    bos = llm.detokenize([llm.token_bos()], special=True).decode()
    assert eos == "<|im_end|>"
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    for chat in CHATS:
        result = formatter(messages=chat)
        ids = llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        assert ids == _prompt_ids(tok, chat)


def test_end_of_turn_and_name_are_in_the_file(run: Path, exported: dict[str, ExportResult]) -> None:
    llm = _llama(exported["f16"])
    eot = int(llm.metadata["tokenizer.ggml.eot_token_id"])
    assert llm.detokenize([eot], special=True) == b"<|im_end|>"
    # an adapter folder is named after the run that holds it; a name given is used as is
    assert llm.metadata["general.name"] == run.name
    llm.close()
    named = _llama(exported["bf16"])
    assert named.metadata["general.name"] == "run"
    named.close()


def test_sentencepiece_style_tokenizer_round_trips(tmp_path: Path) -> None:
    """A Llama with a Llama-2/Mistral-style tokenizer: llama.cpp tokenizes and answers alike."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.train.tiny import MISTRAL, make_spm_tokenizer

    tok = make_spm_tokenizer(MISTRAL)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    net = LlamaForCausalLM(config).eval()
    net.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    result = export(tmp_path / "m", tmp_path / "out", quant="f16")
    llm = _llama(result)
    # This Metaspace tokenizer ("first") marks the start of the first piece of text only;
    # in a chat prompt that is never text, so the file tells llama.cpp to add no mark, and
    # plain text is compared with the mark written out (docs/using-the-model.md)
    for text in ["The weave holds every thread.", "What is STARWEAVE? 42, é!", "two  spaces"]:
        got = llm.tokenize((" " + text).encode(), add_bos=True, special=False)
        assert got == tok(text)["input_ids"]
    chat = [{"role": "user", "content": "What is a glimmer?"}]
    ids = _prompt_ids(tok, chat)
    prompt = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
    want, _ = _hf_greedy(net, ids)
    got, _ = _cpp_greedy(llm, ids)
    assert got == want
    llm.close()
