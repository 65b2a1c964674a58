"""Writers: JSONL (OpenAI ``messages``), ShareGPT, Alpaca, ``datasets.Dataset``, chat templates.

Every file is written atomically (temporary file, then rename) and never replaces an
existing one unless ``overwrite=True``. :func:`write_dataset` writes a dataset card (``README.md``)
beside the data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glimmer._fs import atomic_dir, write_text
from glimmer.data.records import ChatRecord, DatasetSplits, fold_system
from glimmer.errors import GlimmerFileError, Location

if TYPE_CHECKING:  # pragma: no cover
    import datasets  # type: ignore[import-untyped]

__all__ = [
    "render_chat",
    "to_alpaca",
    "to_hf_dataset",
    "to_sharegpt",
    "write_dataset",
    "write_jsonl",
]

_SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(record: ChatRecord, /) -> dict[str, Any]:
    """``{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}], ...provenance}``."""
    return {
        "conversations": [
            {"from": _SHAREGPT_ROLES[m.role], "value": m.content} for m in record.messages
        ],
        "category": record.category,
        "template_id": record.template_id,
        "source": record.source,
        "seed": record.seed,
    }


def to_alpaca(record: ChatRecord, /) -> dict[str, Any]:
    """``{"instruction", "input", "output", "system"}`` (single-turn records)."""
    return {
        "instruction": record.prompt,
        "input": "",
        "output": record.answer,
        "system": record.system or "",
        "category": record.category,
    }


def _lines(rows: Iterable[str]) -> str:
    return "".join(f"{row}\n" for row in rows)


def write_jsonl(
    records: Iterable[ChatRecord],
    path: str | os.PathLike[str],
    /,
    *,
    overwrite: bool = False,
    form: Callable[[ChatRecord], dict[str, Any]] | None = None,
) -> Path:
    """Write records one JSON object a line, atomically.

    Args:
        records: The records.
        path: Target file.
        overwrite: Replace an existing file.
        form: Row shape (:func:`to_sharegpt`, :func:`to_alpaca`); the chat record itself if ``None``.

    Returns:
        The path written.

    Raises:
        GlimmerFileError: The file exists and *overwrite* is false (G004).
    """
    if form is None:
        text = _lines(r.to_json_line() for r in records)
    else:
        text = _lines(json.dumps(form(r), ensure_ascii=False) for r in records)
    return write_text(path, text, overwrite=overwrite)


def to_hf_dataset(records: Sequence[ChatRecord], /) -> datasets.Dataset:
    """A ``datasets.Dataset`` with columns messages, category, template_id, source, seed.

    Needs the ``train`` extra (``pip install glimmer-dsl[train]``).
    """
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_hf_dataset() needs the 'datasets' package: pip install 'glimmer-dsl[train]'"
        ) from exc
    rows = [json.loads(r.to_json_line()) for r in records]
    return datasets.Dataset.from_list(rows)


def render_chat(
    records: Iterable[ChatRecord],
    tokenizer: Any,
    /,
    *,
    system_role: bool | None = None,
    chat_template: str | None = None,
) -> list[str]:
    """Render records through a model's chat template (``tokenizer.apply_chat_template``).

    Templates that reject a system role (Mistral v0.2 raises on one) get the system turn
    folded into the first user turn.

    Args:
        records: The records.
        tokenizer: A ``transformers`` tokenizer with a chat template.
        system_role: ``False`` always folds; ``True`` never does; ``None`` folds when the template raises.
        chat_template: A Jinja chat template to use instead of the tokenizer's.

    Returns:
        One rendered string per record.
    """
    out: list[str] = []
    kwargs: dict[str, Any] = {"tokenize": False}
    if chat_template is not None:
        kwargs["chat_template"] = chat_template
    for rec in records:
        messages = [{"role": m.role, "content": m.content} for m in rec.messages]
        if system_role is False:
            messages = fold_system(messages)
        try:
            text = tokenizer.apply_chat_template(messages, **kwargs)
        except Exception:
            if system_role is True or not any(m["role"] == "system" for m in messages):
                raise
            text = tokenizer.apply_chat_template(fold_system(messages), **kwargs)
        out.append(str(text))
    return out


def write_dataset(
    splits: DatasetSplits,
    out_dir: str | os.PathLike[str],
    /,
    *,
    formats: Sequence[str] = ("jsonl",),
    overwrite: bool = False,
    name: str = "dataset",
) -> list[Path]:
    """Write a dataset: ``train.jsonl``, ``validation.jsonl``, other formats, and ``README.md``.

    The folder is written as one set: every file goes into a temporary folder beside it,
    which then replaces it in one rename. A reader (or a killed build) never sees files of
    two builds mixed, and no file of an earlier build (a format no longer asked for)
    survives. An existing folder is replaced only with *overwrite*, and only if it holds
    nothing but dataset files.

    Args:
        splits: What :func:`glimmer.data.build` returned.
        out_dir: Target folder (created if needed).
        formats: ``"jsonl"`` (always written), ``"sharegpt"``, ``"alpaca"``.
        overwrite: Replace existing files.
        name: Dataset name for the card.

    Returns:
        The files written, the card last.

    Raises:
        GlimmerFileError: The folder is not empty and *overwrite* is false (G004), holds
            files a dataset build did not write (G012), or cannot be written (G010).
    """
    from glimmer.data.card import dataset_card
    from glimmer.data.loaders import (
        DATASET_INFO,
        axolotl_section,
        configs_header,
        llamafactory_info,
    )

    out = Path(out_dir)
    plan: list[tuple[Path, list[ChatRecord], Callable[[ChatRecord], dict[str, Any]] | None]] = []
    for split, recs in (("train", splits.train), ("validation", splits.validation)):
        plan.append((out / f"{split}.jsonl", recs, None))
        if "sharegpt" in formats:
            plan.append((out / f"{split}.sharegpt.jsonl", recs, to_sharegpt))
        if "alpaca" in formats:
            plan.append((out / f"{split}.alpaca.jsonl", recs, to_alpaca))
    card = out / "README.md"
    # the whole folder is one set: written beside the target, then renamed over it at once
    with atomic_dir(out, overwrite=overwrite, check=_only_dataset_files) as tmp:
        for path, recs, form in plan:
            write_jsonl(recs, tmp / path.relative_to(out), overwrite=True, form=form)
        files = [str(p.relative_to(out)) for p, _, _ in plan]
        # other tools load the folder as is: datasets (configs header), LLaMA-Factory, axolotl
        card_text = configs_header(files) + dataset_card(splits, name=name, files=files)
        write_text(tmp / "README.md", card_text + "\n" + axolotl_section(out.name or name))
        info = llamafactory_info(name, files)
        if info is not None:
            write_text(tmp / DATASET_INFO, info)
    extra = [out / DATASET_INFO] if info is not None else []
    return [p for p, _, _ in plan] + extra + [card]


_OWN_FILES = {"README.md", "dataset_info.json"}


def _only_dataset_files(folder: Path) -> None:
    """Refuse to replace a folder holding anything a dataset writer did not write.

    A dataset folder holds JSONL files (directly or in sub-folders) and its card; anything
    else (notes, a fit run, a pattern) belongs to someone and must not vanish in a rebuild.
    """
    foreign: list[str] = []
    for entry in sorted(folder.rglob("*")):
        rel = entry.relative_to(folder)
        if entry.is_dir() and not entry.is_symlink():
            continue
        if entry.is_file() and (entry.suffix == ".jsonl" or str(rel) in _OWN_FILES):
            continue
        if entry.name.startswith(".") and ".tmp-" in entry.name:
            continue  # left by an interrupted write
        foreign.append(str(rel))
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise GlimmerFileError(
            f"holds files a dataset build did not write ({shown}); replacing the folder would "
            "delete them",
            location=Location(str(folder)),
            hint="move them elsewhere, or write the dataset to another folder",
            code="G012",
        )
