"""Tiny stand-ins for evaluation tests: a byte-level tokenizer, a 2-layer Llama, a LoRA adapter."""

from __future__ import annotations

from typing import Any

import pytest

from glimmer.evaluate.metrics import ConceptIndex, ConceptTerms

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [
        "the moon is a pattern of light",
        "What is 12 times 7? 84",
        "consciousness crystals weave",
    ] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token="<|im_start|>",
    )
    fast.chat_template = CHATML
    return fast


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tiny_tokenizer.pad_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def tiny_peft(tiny_model: Any, tmp_path: Any) -> Any:
    """A peft model over a fresh copy of the tiny model, adapter weights not zero."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    lora = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    return get_peft_model(copy.deepcopy(tiny_model), lora).eval()


@pytest.fixture(scope="session")
def small_index() -> ConceptIndex:
    return ConceptIndex(
        [
            ConceptTerms("starweave", ("STARWEAVE",), "The framework that weaves patterns."),
            ConceptTerms(
                "consciousness_crystals",
                ("consciousness_crystals",),
                "Stable structures of awareness.",
                frozenset({"quantum_relationships"}),
            ),
            ConceptTerms(
                "quantum_relationships",
                ("quantum_relationships",),
                "Entangled links between ideas.",
            ),
            ConceptTerms(
                "pattern_language",
                ("pattern_language",),
                "The shared grammar of patterns.",
                frozenset({"interface_bridge"}),
            ),
            ConceptTerms(
                "interface_bridge", ("interface_bridge",), "Where two intelligences meet."
            ),
            ConceptTerms(
                "meta_intelligence_flow",
                ("meta_intelligence_flow",),
                "The movement of understanding.",
            ),
        ]
    )


@pytest.fixture
def tiny_on_disk(tiny_model: Any, tiny_tokenizer: Any, tiny_peft: Any, tmp_path: Any) -> Any:
    """``(model folder, adapter folder)``: the tiny model, its tokenizer and adapter saved."""
    model_dir, adapter = tmp_path / "model", tmp_path / "adapter"
    tiny_model.save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    tiny_peft.save_pretrained(adapter)
    return model_dir, adapter
