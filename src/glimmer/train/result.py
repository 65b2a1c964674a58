"""FitResult: what a fine-tuning run produced, saved as ``OUT/fit_result.json``.

This module is light (no torch): results can be read back without the training stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from glimmer._fs import write_text
from glimmer.errors import GlimmerFileError, Location

__all__ = ["RESULT_FILE", "FitResult", "LossPoint"]

RESULT_FILE = "fit_result.json"


class LossPoint(BaseModel):
    """One logged loss value."""

    model_config = ConfigDict(extra="forbid")

    step: int
    epoch: float
    loss: float


class FitResult(BaseModel):
    """The outcome of :func:`glimmer.fit`.

    Attributes:
        adapter_path: The saved peft adapter folder (the full model's folder with ``method="full"``).
        best_checkpoint: The checkpoint with the lowest validation loss, if any was evaluated.
        train_loss: Training loss history, ``[{"step", "epoch", "loss"}, ...]``.
        eval_loss: Validation loss after each epoch (or evaluation step).
        tokens_per_second: Training tokens (padding excluded) per second of training.
        peak_memory_bytes: Peak resident memory (CPU) or peak allocated GPU memory.
        steps: Optimizer steps taken.
        train_seconds: Wall time of the training loop.
        device: Device, precision and the reasons they were chosen.
        config: The resolved configuration (every automatic choice made).
    """

    model_config = ConfigDict(extra="forbid")

    adapter_path: str
    best_checkpoint: str | None = None
    train_loss: list[LossPoint] = Field(default_factory=list)
    eval_loss: list[LossPoint] = Field(default_factory=list)
    tokens_per_second: float = 0.0
    peak_memory_bytes: int = 0
    steps: int = 0
    train_seconds: float = 0.0
    device: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)

    def save(self, path: str | Path, /) -> Path:
        """Write the result as JSON; a folder gets ``fit_result.json`` inside it.

        Returns:
            The file written.
        """
        file = Path(path)
        if file.is_dir() or not file.suffix:
            file = file / RESULT_FILE
        write_text(file, self.model_dump_json(indent=2) + "\n")
        return file

    @classmethod
    def load(cls, path: str | Path, /) -> FitResult:
        """Read a result written by :meth:`save` (a file, or the folder holding it).

        Raises:
            GlimmerFileError: The file is missing or not a fit result.
        """
        file = Path(path)
        if file.is_dir():
            file = file / RESULT_FILE
        try:
            return cls.model_validate(json.loads(file.read_text("utf-8")))
        except OSError as exc:
            raise GlimmerFileError(
                f"cannot read {file}: {exc.strerror or exc}", location=Location(source=str(file))
            ) from exc
        except (ValueError, ValidationError) as exc:
            raise GlimmerFileError(
                f"not a fit result: {exc}".splitlines()[0],
                location=Location(source=str(file)),
                hint="fit_result.json is written by glimmer.fit() / `glimmer fit`",
            ) from exc
