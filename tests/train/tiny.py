"""Tiny models and tokenizers built in memory, and small chat datasets, for train tests."""

from __future__ import annotations

from typing import Any

SPECIALS = [
    "<unk>",
    "<pad>",
    "<s>",
    "</s>",
    "<|im_start|>",
    "<|im_end|>",
    "<start_of_turn>",
    "<end_of_turn>",
    "[INST]",
    "[/INST]",
]
CORPUS = [
    "The weave holds every thread; a glimmer is a pattern of perception.",
    "What is STARWEAVE? It is a framework for how an AI perceives and processes.",
    "system user assistant model Hello Hi there. Answer briefly, please.",
    "0 1 2 3 4 5 6 7 8 9 + - = ? ! , . : ; ( ) { } [ ] # ' \" abcdefghijklmnopqrstuvwxyz",
]

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
GEMMA = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def make_tokenizer(
    template: str = CHATML, *, pad: str = "<|im_end|>", eos: str = "<|im_end|>"
) -> Any:
    """A small byte-level BPE tokenizer with the special tokens of three chat formats."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token=eos,
        pad_token=pad,
        additional_special_tokens=SPECIALS[4:],
    )
    fast.chat_template = template
    return fast


def make_model(vocab_size: int, *, seed: int = 0, initializer_range: float = 0.02) -> Any:
    """A tiny Llama built from a config (two layers, 32 wide); a large *initializer_range*
    gives sharp weights whose answers depend on their prompt."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
    )
    return LlamaForCausalLM(config)


def chat_rows(n: int = 12) -> list[dict[str, Any]]:
    """Short chats whose replies follow a learnable pattern; some are multi-turn."""
    words = ["weave", "thread", "glimmer", "pattern", "star", "light"]
    rows: list[dict[str, Any]] = []
    for i in range(n):
        w = words[i % len(words)]
        messages = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"What is {w}?"},
            {"role": "assistant", "content": f"A {w} is a pattern of perception."},
        ]
        if i % 3 == 0:
            messages += [
                {"role": "user", "content": "And then?"},
                {"role": "assistant", "content": f"The {w} holds every thread."},
            ]
        rows.append(
            {
                "messages": messages,
                "category": "generation",
                "template_id": "t",
                "source": None,
                "seed": i,
            }
        )
    return rows


def make_spm_tokenizer(template: str) -> Any:
    """A small SentencePiece-style BPE tokenizer (byte fallback, ▁ for spaces), as Llama 2
    and Mistral ship, with BOS added to every encoding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    bytes_ = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=[*SPECIALS[:4], *bytes_], show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["[INST]", "[/INST]"],
    )
    fast.chat_template = template
    return fast


def student_kl(
    model: Any, tokenizer: Any, system: str | None, prompts: list[str], *, adapter: bool
) -> float:
    """Mean top-k KL from the base model (with *system*, if any) to *model* without it, on
    the base model's own answers: how far the adapter (or, with ``adapter=False``, the base
    model without the system prompt) is from that teacher."""
    import contextlib

    import torch

    from glimmer.train.bake import sample_bake, topk_kl

    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    with model.disable_adapter():
        rows = sample_bake(
            model, tokenizer, system, prompts, stop_ids=[eot], max_new_tokens=12, top_k=8, seed=7
        )
    total, count = 0.0, 0
    student = contextlib.nullcontext() if adapter else model.disable_adapter()
    with student, torch.inference_mode():
        for ids, start, tids, tlps in zip(
            rows.input_ids, rows.start, rows.topk_ids, rows.topk_logprobs, strict=True
        ):
            logits = model(input_ids=torch.tensor([ids])).logits[0, start - 1 : len(ids) - 1]
            kl = topk_kl(logits, torch.tensor(tids), torch.tensor(tlps))
            total, count = total + float(kl.sum()), count + len(tids)
    return total / count
