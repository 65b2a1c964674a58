"""Self-replay: text sampled from the base model, trained on beside the chat records.

A LoRA that learns a new vocabulary from a few hundred chat records also drifts on plain
text: its perplexity on everyday prose rises. Training on the base model's *own* samples
counters that drift without any outside corpus. The cross-entropy of the tuned model on
text drawn from the base model is ``H(base) + KL(base || tuned)`` in expectation, so each
replay row pulls the tuned model back towards the base distribution, the same anchor that
a KL penalty gives, at the price of one extra row instead of a second forward pass per step.

The samples are drawn once, before the adapter is attached, with temperature 1 and no
top-k or top-p cut (a truncated sample would anchor the model to a sharper distribution
than its own). Each starts from a short everyday opening so that the rows spread over
topics; the opening is not learned, the sampled continuation is.

Plain text does not anchor how the model *answers*: a fit on framework records with text
replay still changed the base model's answers to everyday questions (neutral correct 38% for
one seed, 29% and 26% for two others). **Chat replay** (``FitConfig.replay_chats``) anchors
that too: the base model answers :data:`EVERYDAY_REQUESTS` through its chat template, and the
adapter learns its top-k token distributions on those answers by KL divergence, the loss of
:mod:`glimmer.train.bake` with the base model as its own teacher and no system prompt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from glimmer.train.masking import IGNORE_INDEX

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerBase

__all__ = ["EVERYDAY_REQUESTS", "OPENINGS", "ReplayRows", "everyday_requests", "sample_replay"]

#: Everyday openings the replay samples continue from (the model writes the rest).
OPENINGS: tuple[str, ...] = (
    "The",
    "In the morning,",
    "Most people",
    "When I was young,",
    "There are many ways to",
    "The history of",
    "It was late in the evening when",
    "One of the most important",
    "Yesterday",
    "Here is a simple recipe:",
    "The weather",
    "A good teacher",
    "In 1998,",
    "If you want to learn",
    "The city council",
    "After the game,",
    "Scientists have found that",
    "My favourite book",
    "To fix a flat tyre,",
    "The river",
    "Dear Sir or Madam,",
    "Once upon a time,",
    "The company announced",
    "Water is",
)


#: Everyday chat requests the base model answers for chat replay (``replay_chats``): the
#: adapter learns the base model's own answers to them, so plain questions keep plain answers.
#: Written for this purpose and kept apart from the bundled evaluation suites (a test holds
#: them apart): none of them is a question the neutral or retention suites ask.
EVERYDAY_REQUESTS: tuple[str, ...] = (
    "What is the capital of Japan?",
    "What is the capital of Canada?",
    "Which city is the capital of Egypt?",
    "What is 9 plus 16?",
    "What is 8 times 5?",
    "What is 45 minus 20?",
    "What is 72 divided by 8?",
    "What is 13 plus 29?",
    "What is 11 times 11?",
    "How many days are in a week?",
    "How many sides does a triangle have?",
    "How many hours are in a day?",
    "How many legs does a spider have?",
    "How many continents are there?",
    "How many players are on a football team on the field?",
    "Which animal is the largest on land?",
    "What is the opposite of cold?",
    "What is the opposite of fast? Answer in one word.",
    "Answer in one word: what do cows drink?",
    "Answer yes or no: is the ocean salty?",
    "Which month comes after July?",
    "What day comes after Thursday?",
    "Which season comes before winter?",
    "What is the boiling point of water in Fahrenheit?",
    "What is the square root of 49?",
    "What is the chemical symbol for gold?",
    "Which gas do plants take in from the air?",
    "What is the main ingredient of guacamole?",
    "Which instrument has black and white keys?",
    "Who wrote Romeo and Juliet?",
    "What do you call a group of wolves?",
    "Spell the word 'garden' backwards.",
    "Name three fruits that are yellow.",
    "Write the number nineteen in digits.",
    "Put these numbers in order from smallest to largest: 8, 3, 5.",
    "Which is heavier, a kilogram of feathers or a kilogram of stones?",
    "How many centimetres are in half a metre?",
    "How many minutes are in three hours?",
    "Give me one tip for sleeping better.",
    "How do I boil an egg?",
    "What should I pack for a day at the beach?",
    "Write a friendly reminder about a meeting tomorrow at ten.",
    "Give me a simple recipe for a cheese sandwich.",
    "How can I save money on groceries?",
    "What tools do you need to hang a picture?",
    "Summarise the story of Little Red Riding Hood in one sentence.",
    "Write a sentence using the word 'bright'.",
    "Tell me a fun fact about octopuses.",
)


def everyday_requests(n: int, /, *, seed: int = 0) -> list[str]:
    """*n* requests from :data:`EVERYDAY_REQUESTS`, shuffled by *seed* (cycled past 48)."""
    rng = random.Random(seed)
    order = list(EVERYDAY_REQUESTS)
    rng.shuffle(order)
    return [order[i % len(order)] for i in range(n)]


@dataclass(frozen=True, slots=True)
class ReplayRows:
    """Replay samples as training rows.

    Attributes:
        input_ids: Token ids per row (opening plus sampled continuation).
        labels: The same ids on the continuation, ``-100`` on the opening.
        texts: The rows as text, for inspection.
    """

    input_ids: list[list[int]]
    labels: list[list[int]]
    texts: list[str]

    @property
    def tokens(self) -> int:
        """Tokens that count in the loss."""
        return sum(sum(1 for t in row if t != IGNORE_INDEX) for row in self.labels)


def sample_replay(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    n: int,
    /,
    *,
    max_new_tokens: int = 128,
    seed: int = 0,
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> ReplayRows:
    """Sample *n* plain-text rows from *model* (the base, before any adapter).

    Args:
        model: A causal language model.
        tokenizer: Its tokenizer.
        n: Rows to sample.
        max_new_tokens: Length of each continuation.
        seed: Seed of the openings and the sampling.
        batch_size: Rows sampled together (64 took 26 s where two batches of 32 took 31 s on
            two CPU cores, SmolLM2-135M, 128 tokens).
        on_batch: Called with the number of rows done after each batch (progress).

    Returns:
        The rows, ready to be appended to a tokenized training set.
    """
    import torch

    rng = random.Random(seed)
    openings = [OPENINGS[i % len(OPENINGS)] for i in range(n)]
    rng.shuffle(openings)
    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    special = set(tokenizer.all_special_ids)
    ids_out: list[list[int]] = []
    labels_out: list[list[int]] = []
    texts: list[str] = []
    was_training = model.training
    model.eval()
    try:
        torch.manual_seed(seed)
        for start in range(0, n, batch_size):
            batch = openings[start : start + batch_size]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    do_sample=True,
                    temperature=1.0,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=pad_id,
                )
            width = enc["input_ids"].shape[1]
            for row, mask in zip(out.tolist(), enc["attention_mask"].tolist(), strict=True):
                prompt = [t for t, keep in zip(row[:width], mask, strict=True) if keep]
                sampled = row[width:]
                # The text ends at the first special token the model writes itself (end of
                # text or of turn); what follows is padding.
                cut = next((i for i, t in enumerate(sampled) if t in special), None)
                if cut is not None:
                    sampled = sampled[: cut + 1]
                if not sampled:
                    continue
                ids_out.append(prompt + sampled)
                labels_out.append([IGNORE_INDEX] * len(prompt) + sampled)
                texts.append(str(tokenizer.decode(prompt + sampled, skip_special_tokens=True)))
            if on_batch is not None:
                on_batch(len(ids_out))
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    return ReplayRows(ids_out, labels_out, texts)
