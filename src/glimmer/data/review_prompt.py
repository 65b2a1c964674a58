"""``glimmer review``: counts of a review file, and accept/reject of pending rows in the terminal."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from glimmer.data.review import (
    CHECKS,
    ReviewCounts,
    ReviewRow,
    count_rows,
    read_review,
    write_review,
)
from glimmer.errors import GlimmerFileError, Location

__all__ = ["counts_table", "review_file"]

_SHOWN_CHARS = 1500


def counts_table(counts: ReviewCounts, /, *, title: str = "review") -> Table:
    """A table of rows per status and per failed check."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for status, n in counts.status.items():
        table.add_row(status, str(n), _share(n, counts.total))
    table.add_section()
    for name in CHECKS:
        n = counts.failed.get(name, 0)
        table.add_row(f"failed {name}", str(n), _share(n, counts.total))
    table.add_section()
    table.add_row("total", str(counts.total), "")
    return table


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.0f}%" if total else "-"


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + " [...]"


def _show(console: Console, row: ReviewRow, position: str) -> None:
    body = Text()
    body.append("question\n", style="bold")
    body.append(_clip(row.candidate.question()) + "\n\n")
    body.append("answer\n", style="bold")
    body.append(_clip(row.candidate.answer()) + "\n\n")
    for check in row.checks:
        body.append(
            "  ok  " if check.passed else "  NO  ", style="green" if check.passed else "red"
        )
        body.append(f"{check.name}: {check.reason}\n")
    title = f"{position}  {row.id}  ({row.candidate.category}, from {row.provenance.teacher})"
    console.print(Panel(body, title=title, title_align="left"))


def review_file(
    path: str | os.PathLike[str],
    /,
    *,
    interactive: bool = True,
    console: Console | None = None,
) -> ReviewCounts:
    """Show the counts of a review file and, if *interactive*, decide its pending rows.

    For each pending row the candidate and its checks are shown and a person answers
    ``a`` (accept), ``r`` (reject), ``s`` (skip) or ``q`` (quit). The file is rewritten
    atomically after every decision, so stopping at any point loses nothing. The end of the
    input counts as ``q``.

    Args:
        path: The review file.
        interactive: Ask about pending rows; ``False`` only prints the counts.
        console: Where to print and read (a fresh console on the terminal by default).

    Returns:
        The counts after the decisions.

    Raises:
        GlimmerFileError: The file does not exist.
        ReviewFileError: A line is not a review row.
    """
    con = console or Console(highlight=False)
    p = Path(path)
    if not p.is_file():
        raise GlimmerFileError("no such review file", location=Location(str(path)), code="G001")
    rows = read_review(p)
    con.print(counts_table(count_rows(rows), title=str(path)))
    pending = [i for i, r in enumerate(rows) if r.status == "pending"]
    if not interactive or not pending:
        return count_rows(rows)
    decided = 0
    for n, index in enumerate(pending, 1):
        _show(con, rows[index], f"{n}/{len(pending)}")
        try:
            answer = Prompt.ask(
                "[a]ccept, [r]eject, [s]kip or [q]uit",
                choices=["a", "r", "s", "q"],
                default="s",
                console=con,
            )
        except EOFError:
            answer = "q"
        if answer == "q":
            break
        if answer in ("a", "r"):
            status = "accepted" if answer == "a" else "rejected"
            rows[index] = rows[index].model_copy(update={"status": status})
            write_review(p, rows)
            decided += 1
    counts = count_rows(rows)
    con.print(f"{decided} decision(s) written to {path}")
    con.print(counts_table(counts, title=str(path)))
    return counts
