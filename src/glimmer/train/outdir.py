"""What a fit writes in its output folder, and removing exactly that for ``overwrite=True``.

A fit writes checkpoints (``checkpoint-N/``), TensorBoard logs (``runs/``), the adapter
(``adapter/``, or ``model/`` for a full fine-tune) and ``fit_result.json``. Starting over
removes those and nothing else: a dataset, notes or any other file in the folder stay.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from glimmer.errors import GlimmerFileError, Location

__all__ = ["FIT_OUTPUTS", "clear_previous_run", "previous_run"]

FIT_OUTPUTS = ("adapter", "model", "runs", "fit_result.json")
"""Names a fit writes directly in its output folder, besides ``checkpoint-N`` folders."""


def previous_run(output_dir: str | os.PathLike[str], /) -> list[Path]:
    """The entries of *output_dir* an earlier fit wrote (empty when there are none)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [folder / name for name in FIT_OUTPUTS if (folder / name).exists()]
    found += sorted(
        p
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and not p.is_symlink() and p.name.removeprefix("checkpoint-").isdigit()
    )
    found += sorted(folder.glob(".fit_result.json.tmp-*"))  # left by an interrupted save
    return found


def clear_previous_run(
    output_dir: str | os.PathLike[str], /, *, keep: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """Remove what an earlier fit wrote in *output_dir*, and nothing else.

    Call it only once the new run's inputs and model are known good, so that a failing run
    never costs the previous one.

    Args:
        output_dir: The fit's output folder.
        keep: Paths that must survive (the dataset being read); if one lies inside an entry
            to remove, nothing is removed.

    Returns:
        The entries removed.

    Raises:
        GlimmerFileError: An entry to remove holds a path in *keep* (G013), or cannot be
            removed (G010).
    """
    entries = previous_run(output_dir)
    kept = [Path(os.path.realpath(k)) for k in keep]
    for entry in entries:
        real = Path(os.path.realpath(entry)) if not entry.is_symlink() else entry.absolute()
        for k in kept:
            if k == real or real in k.parents:
                raise GlimmerFileError(
                    f"starting over would delete {entry}, which holds the dataset {k}",
                    location=Location(str(entry)),
                    hint="move the dataset out of the fit's output folder, or write the fit "
                    "to another folder",
                    code="G013",
                )
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            raise GlimmerFileError(
                f"cannot remove the previous run's {entry.name}: {exc.strerror or exc}",
                location=Location(str(entry)),
                hint="check the folder's permissions",
                code="G010",
            ) from None
    return entries
