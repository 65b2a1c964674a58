"""Padding share of the demo's training batches: drawn at random, and grouped by length.

Tokenizes the demo's training slice the way ``fit()`` does (completion-only labels, the
profile's ``max_seq_len``), adds the self-replay rows at the length they are sampled to (the
opening plus ``replay_tokens``; a sample that ends early is shorter, so this is a lower bound
of their spread), and prints the share of batch tokens that are padding for random batches
and for ``glimmer.train.batching.grouped_batches``, over several seeds.

    .venv/bin/python benchmarks/padding.py [--profile full] [--seeds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    from glimmer.data import build, default_recipe
    from glimmer.demo import PROFILES, demo_slices
    from glimmer.train.batching import grouped_batches, padding_share, random_batches
    from glimmer.train.masking import end_of_turn_token, tokenize_chat
    from glimmer.train.models import load_tokenizer, prepare_messages, resolve_model
    from glimmer.train.replay import OPENINGS

    profile = PROFILES[args.profile]
    train, _ = demo_slices(build(default_recipe(), seed=0), profile)
    tok = load_tokenizer()
    preset = resolve_model("smollm2-135m")
    eot = end_of_turn_token(tok, preset.end_of_turn)
    max_len = int(profile.fit["max_seq_len"])
    lengths = []
    for record in train:
        messages = [{"role": m.role, "content": m.content} for m in record.messages]
        chat = tokenize_chat(
            prepare_messages(messages, preset=preset), tok, end_of_turn=eot, max_length=max_len
        )
        lengths.append(len(chat.input_ids))
    n_replay = int(profile.fit.get("replay_samples") or 0)
    replay_tokens = int(profile.fit.get("replay_tokens") or 0)
    openings = [len(tok(o, add_special_tokens=False)["input_ids"]) for o in OPENINGS]
    lengths += [openings[i % len(openings)] + replay_tokens for i in range(n_replay)]
    batch = int(profile.fit["batch_size"])
    print(
        f"demo profile {profile.name!r}: {len(train)} records + {n_replay} replay rows, "
        f"batch {batch}, rows of {min(lengths)}-{max(lengths)} tokens "
        f"(median {statistics.median(lengths):.0f})"
    )
    shares = {"random": [], "grouped": []}
    for seed in range(args.seeds):
        shares["random"].append(
            padding_share(lengths, random_batches(len(lengths), batch, seed=seed))
        )
        shares["grouped"].append(padding_share(lengths, grouped_batches(lengths, batch, seed=seed)))
    for name, values in shares.items():
        print(
            f"{name:<8} padding {statistics.mean(values):6.1%} of batch tokens "
            f"(seeds 0-{args.seeds - 1}: {min(values):.1%}-{max(values):.1%})"
        )
    saved = 1 - (1 - statistics.mean(shares["random"])) / (1 - statistics.mean(shares["grouped"]))
    print(f"tokens through the model per epoch: {saved:.1%} fewer with grouped batches")


if __name__ == "__main__":
    main()
