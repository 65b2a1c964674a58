"""One rank of the two-process training test (run by torchrun from test_distributed.py).

Trains the tiny checkpoint through ``glimmer.fit`` and writes what this rank saw to
``OUT/rank-<RANK>.json``: the world size fit() recorded, and the rows this rank trained on.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from glimmer.train.fit import fit


class RowCounter(TrainerCallback):  # type: ignore[misc]
    """Record every training row this process feeds forward (by its token ids)."""

    def __init__(self) -> None:
        self.rows: list[list[int]] = []
        self.pad: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs["model"]
        self.pad = kwargs["processing_class"].pad_token_id

        def hook(module: Any, inputs: Any, kw: dict[str, Any]) -> None:
            ids = kw.get("input_ids")
            if module.training and ids is not None:
                for row in ids.tolist():
                    self.rows.append([t for t in row if t != self.pad])

        model.register_forward_pre_hook(hook, with_kwargs=True)


def main() -> None:
    checkpoint, data, out = (Path(a) for a in sys.argv[1:4])
    counter = RowCounter()
    result = fit(
        data,
        model=str(checkpoint),
        output_dir=out,
        epochs=1,
        batch_size=1,
        grad_accum=1,
        report_to=[],
        replay_samples=0,
        progress=False,
        early_stopping_patience=None,
        callbacks=[counter],
    )
    rank = int(os.environ.get("RANK", "0"))
    report = {
        "rank": rank,
        "world_size": result.device.get("world_size"),
        "env_world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "steps": result.steps,
        "rows": counter.rows,
        "adapter_path": result.adapter_path,
    }
    (out / f"rank-{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
