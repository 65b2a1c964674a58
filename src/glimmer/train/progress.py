"""A rich progress bar for training: steps, loss and tokens per second.

And :func:`quiet_libraries`, which keeps the libraries' own bars and deprecation notices
about their internals out of glimmer's output, so that one bar shows the work.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

__all__ = ["FitProgress", "quiet_libraries"]


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Run the block without datasets' progress bars and transformers' internal FutureWarnings.

    trl tokenizes and filters its datasets with ``Dataset.map`` (one bar each), and peft and
    trl call transformers methods that transformers has deprecated; neither is something a
    glimmer user can act on. Settings are restored afterwards.
    """
    import datasets  # type: ignore[import-untyped,unused-ignore]

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", category=FutureWarning, module=r"transformers\.|peft\.|trl\."
            )
            yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


class FitProgress(TrainerCallback):
    """Show a progress bar and measure training throughput (evaluation time excluded).

    Attributes:
        tokens: Training tokens (padding excluded) seen since this run started or resumed.
        train_seconds: Wall time of training since then, minus evaluation.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tokens = 0
        self.train_seconds = 0.0
        self._start = 0.0
        self._start_tokens = 0
        self._eval_seconds = 0.0
        self._eval_start: float | None = None
        self._loss: float | None = None
        self._progress: Any = None
        self._task: Any = None

    def _tokens_per_second(self, state: TrainerState) -> float:
        seconds = time.perf_counter() - self._start - self._eval_seconds
        seen = int(state.num_input_tokens_seen or 0) - self._start_tokens
        return seen / seconds if seconds > 0 else 0.0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._start = time.perf_counter()
        self._start_tokens = int(state.num_input_tokens_seen or 0)
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]glimmer[/] training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=state.max_steps or None, completed=state.global_step, stats=""
        )

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self._eval_start is not None:  # evaluation ran between two steps
            self._eval_seconds += time.perf_counter() - self._eval_start
            self._eval_start = None

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self._progress is not None:
            loss = f"loss {self._loss:.3f}  " if self._loss is not None else ""
            stats = f"{loss}{self._tokens_per_second(state):.0f} tok/s"
            self._progress.update(self._task, completed=state.global_step, stats=stats)
        if control.should_evaluate or control.should_save:
            self._eval_start = time.perf_counter()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self._eval_start is not None:
            self._eval_seconds += time.perf_counter() - self._eval_start
            self._eval_start = None
        self.train_seconds = max(time.perf_counter() - self._start - self._eval_seconds, 1e-9)
        self.tokens = max(0, int(state.num_input_tokens_seen or 0) - self._start_tokens)
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
