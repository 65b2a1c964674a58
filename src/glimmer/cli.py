"""The ``glimmer`` command line: each command calls one stage of the library.

Exit codes: 0 success; 1 the command ran and found something (``check`` found problems,
``fmt --check`` a file to format, ``plan`` a run that does not fit, ``doctor`` a failed
check, ``generate`` an answer that is not a pattern); 2 a user error: bad input, a file that cannot be read or written, a wrong option or a
missing extra. Every error goes through one path (``_fail``): ``CODE file:line:col: message``,
the caret line and the hint, on standard error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from glimmer.errors import (
    FormatError,
    GenerationError,
    GlimmerError,
    GlimmerFileError,
    Location,
    OptionError,
)
from glimmer.extras import MissingExtraError, require
from glimmer.model import extract, io

app = typer.Typer(
    name="glimmer",
    help="Author GLIMMER patterns, build STARWEAVE datasets, fine-tune and measure the shift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

Files = Annotated[
    list[Path], typer.Argument(help="Pattern files (.glimmer, .json, ...).", show_default=False)
]


def _print_version(value: bool) -> None:
    if value:
        from glimmer import __version__

        out.print(f"glimmer {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print glimmer's version and exit.",
        ),
    ] = False,
) -> None:
    """Author GLIMMER patterns, build STARWEAVE datasets, fine-tune and measure the shift."""


def _problem_lines(exc: GlimmerError) -> list[str]:
    return [p.format() for p in exc.problems]


def _fail(exc: GlimmerError) -> NoReturn:
    """Report *exc* on standard error and exit 2: the one way a command stops on an error.

    Every problem is printed as ``CODE file:line:col: message``, with the caret line and the
    hint under it. Exit code 2 means the input or the command line is wrong (a user error);
    1 is kept for a command that ran and found something (``check``, ``fmt --check``,
    ``plan`` that does not fit, ``doctor`` failures).
    """
    for problem in exc.problems:
        err.print(problem.format(code=True), markup=False)
    raise typer.Exit(2) from None


def _need(extra: str, command: str) -> None:
    """Stop with exit 2 and the install line when *extra* is missing (before any write)."""
    try:
        require(extra, feature=f"glimmer {command}")
    except MissingExtraError as exc:
        _fail(exc)


def _emit(text: str) -> None:
    """Write *text* to standard output; a full disk or a closed pipe is a clean error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        with contextlib.suppress(OSError, ValueError):  # no second failure at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _fail(
            GlimmerFileError(
                f"cannot write: {exc.strerror or exc}",
                location=Location("<stdout>"),
                hint="free some space, or write to a file with -o",
                code="G015",
            )
        )


@app.command()
def check(
    files: Files,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse unknown top-level sections.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print problems only, no summary.")
    ] = False,
) -> None:
    """Parse and validate pattern files; print [bold]file:line:col: message[/] for each problem."""
    n_problems = n_bad = n_unreadable = 0
    for path in files:
        embedded = None
        try:
            if extract.is_embedding_file(path):  # a .zig, .rs, .md, ... file: check what it embeds
                embedded = len(extract.extract(path, strict=strict))
            else:
                io.load(path, strict=strict)
        except GlimmerFileError as exc:
            n_unreadable += 1
            err.print(f"{exc.location}: {exc.message}", markup=False)
            continue
        except GlimmerError as exc:
            n_bad += 1
            n_problems += len(exc.problems)
            for line in _problem_lines(exc):
                out.print(line, markup=False)
            continue
        if not quiet:
            found = "" if embedded is None else f" ({embedded} embedded pattern(s))"
            out.print(f"{path}: ok{found}", markup=False)
    if not quiet:
        good = len(files) - n_bad - n_unreadable
        summary = f"{len(files)} file(s): {good} ok, {n_problems} problem(s) in {n_bad} file(s)"
        if n_unreadable:
            summary += f", {n_unreadable} unreadable"
        (err if n_bad or n_unreadable else out).print(summary, markup=False)
    if n_unreadable:
        raise typer.Exit(2)
    if n_bad:
        raise typer.Exit(1)


@app.command()
def fmt(
    files: Files,
    check_only: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if any file is not formatted.")
    ] = False,
) -> None:
    """Rewrite files in canonical layout, keeping every comment."""
    changed = failed = 0
    for path in files:
        try:
            text = io.read_text(path)
            fmt_ = io.format_for_path(path, text)
            if fmt_.fmt is None:
                raise FormatError(f"{fmt_.name} files cannot be formatted")
            new = fmt_.fmt(text, str(path))
        except GlimmerFileError as exc:
            _fail(exc)
        except GlimmerError as exc:
            failed += 1
            for line in _problem_lines(exc):
                err.print(line, markup=False)
            continue
        if new == text:
            continue
        changed += 1
        if check_only:
            out.print(f"would reformat {path}", markup=False)
        else:
            try:
                io.write_text(path, new)
            except GlimmerError as exc:
                _fail(exc)
            out.print(f"reformatted {path}", markup=False)
    verb = "would be reformatted" if check_only else "reformatted"
    err.print(
        f"{changed} file(s) {verb}, {len(files) - changed - failed} unchanged, {failed} failed",
        markup=False,
    )
    if failed or (check_only and changed):
        raise typer.Exit(1)


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="Pattern file to read.", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="json, glimmer or weave.")] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
) -> None:
    """Convert a pattern between notations (data unchanged; comments are not carried over)."""
    try:
        pattern = io.load(source)
        text = io.dumps(pattern, format=to)
        if output is None:
            _emit(text)
        else:
            io.write_text(output, text, overwrite=force)
            err.print(f"wrote {output}", markup=False)
    except GlimmerError as exc:
        _fail(exc)


@app.command()
def schema(
    indent: Annotated[int, typer.Option(help="Spaces per level.")] = 2,
) -> None:
    """Print the JSON Schema of a GLIMMER pattern (for editors)."""
    from glimmer.model.schema import schema as _schema

    sys.stdout.write(json.dumps(_schema(), indent=indent, ensure_ascii=False) + "\n")


@app.command()
def build(
    recipe: Annotated[
        Path | None,
        typer.Argument(
            help="Recipe file (TOML); the default recipe if omitted.", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write the dataset to.")
    ] = Path("dataset"),
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (overrides the recipe's).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing files in OUTPUT.")
    ] = False,
    patterns: Annotated[
        list[Path] | None,
        typer.Option("--patterns", help="Pattern file or folder to interpret (repeatable)."),
    ] = None,
    include: Annotated[
        list[Path] | None,
        typer.Option(
            "--include",
            help="Review file of `glimmer expand`: add its accepted rows to train (repeatable).",
        ),
    ] = None,
) -> None:
    """Build a chat dataset in the recipe's framework (STARWEAVE by default): [bold]train.jsonl[/], [bold]validation.jsonl[/] and a dataset card."""
    import warnings

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from glimmer.data.export import write_dataset
    from glimmer.data.recipe import Recipe, default_recipe
    from glimmer.data.recipe import build as build_dataset

    try:
        rec = Recipe.load(recipe) if recipe is not None else default_recipe()
        total = sum(b.count for b in rec.builders) if rec.total is None else rec.total
        with (
            warnings.catch_warnings(record=True) as caught,
            Progress(
                TextColumn("building"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar,
        ):
            warnings.simplefilter("always")
            task = bar.add_task("build", total=total)
            splits = build_dataset(
                rec,
                seed=seed,
                patterns=[str(p) for p in patterns] if patterns else None,
                progress=lambda _r: bar.advance(task),
            )
        for w in caught:
            err.print(f"warning: {w.message}", markup=False)
        if include:
            from glimmer.data.review import include_reviewed

            splits = include_reviewed(splits, include)
        written = write_dataset(splits, output, formats=rec.formats, overwrite=force, name=rec.name)
    except GlimmerError as exc:
        _fail(exc)
    from glimmer.data.stats import summary

    counts = summary(splits.all)
    div = splits.stats.get("diversity", {})
    dd = splits.stats.get("dedup", {})
    gloss = rec.active_glossary()
    out.print(
        f"{len(splits.train)} train + {len(splits.validation)} validation records (seed {splits.seed}), "
        f"framework {gloss.name} ({len(gloss.concepts)} concepts)",
        markup=False,
    )
    out.print("per category: " + ", ".join(f"{k} {v}" for k, v in counts.items()), markup=False)
    out.print(
        f"dedup: dropped {dd.get('exact', 0)} exact, {dd.get('near', 0)} near duplicates",
        markup=False,
    )
    out.print(
        f"distinct 4-grams: prompts {div.get('prompt_4gram_share', 0):.1%}, answers {div.get('answer_4gram_share', 0):.1%}; "
        f"largest template-only group: {div.get('largest_template_group', 0)}",
        markup=False,
    )
    for path in written:
        out.print(f"wrote {path}", markup=False)


@app.command("fit")
def fit_command(
    data_dir: Annotated[
        Path,
        typer.Argument(help="Folder with train.jsonl / validation.jsonl (from `glimmer build`)."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Where the adapter, checkpoints and fit_result.json go."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Preset name, Hugging Face id or local folder (default smollm2-135m)."
        ),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="lora, qlora or full (default lora).")
    ] = None,
    epochs: Annotated[
        float | None, typer.Option("--epochs", help="Passes over the training split (default 3).")
    ] = None,
    lr: Annotated[
        float | None, typer.Option("--lr", help="Peak learning rate (default 2e-4).", min=0)
    ] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="LoRA rank (default 16).")] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Rows per device step (default: from the memory plan)."),
    ] = None,
    max_seq_len: Annotated[
        int | None,
        typer.Option("--max-seq-len", help="Longest row in tokens (default: the preset's)."),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after this many optimizer steps.")
    ] = None,
    gpu_memory: Annotated[
        str | None,
        typer.Option(
            "--gpu-memory",
            help="Plan for (and hold the run to) this much GPU memory, e.g. 20GB when the card "
            "also drives a display (default: the whole card).",
        ),
    ] = None,
    replay: Annotated[
        int | None,
        typer.Option(
            "--replay",
            help="Rows of text sampled from the base model and learned beside the records, "
            "to keep everyday language close to the base model (default 48; 0 turns it off).",
            min=0,
        ),
    ] = None,
    replay_chats: Annotated[
        int | None,
        typer.Option(
            "--replay-chats",
            help="Everyday requests the base model answers before training; the adapter "
            "learns those answers' token distributions, so plain questions keep plain answers "
            "(default 0: off).",
            min=0,
        ),
    ] = None,
    bake: Annotated[
        Path | None,
        typer.Option(
            "--bake",
            help="A GLIMMER pattern to bake into the weights: the adapter learns to answer as "
            "the base model does with the pattern (and the glossary) in its system prompt.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML file with FitConfig options.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in OUTPUT.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete a previous run in OUTPUT and start over.")
    ] = False,
) -> None:
    """Fine-tune a model on a built dataset; write the adapter and OUTPUT/fit_result.json.

    Prints the chosen device, precision and batch settings first, then a progress bar.
    Exit code 0 on success, 2 on bad input (missing data, unknown option, QLoRA unavailable).
    """
    if epochs is not None and max_steps is not None:
        err.print("give --epochs or --max-steps, not both", markup=False)
        raise typer.Exit(2)
    _need("train", "fit")
    from glimmer.train.config import FitConfig
    from glimmer.train.fit import fit as _fit

    overrides: dict[str, Any] = {}
    if epochs is not None:
        overrides["epochs"] = epochs
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    if replay is not None:
        overrides["replay_samples"] = replay
    if replay_chats is not None:
        overrides["replay_chats"] = replay_chats
    if bake is not None:
        overrides["bake"] = str(bake)
    # a flag given on the command line beats the same option in --config
    for key, value in (
        ("learning_rate", lr),
        ("lora_r", lora_r),
        ("batch_size", batch_size),
        ("max_seq_len", max_seq_len),
        ("gpu_memory", gpu_memory),
    ):
        if value is not None:
            overrides[key] = value
    try:
        base = FitConfig.from_toml(config) if config is not None else None
        result = _fit(
            data_dir,
            model=model,
            method=method,
            output_dir=output,
            config=base,
            resume=resume,
            overwrite=force,
            **overrides,
        )
    except GlimmerError as exc:
        _fail(exc)
    last = result.eval_loss[-1].loss if result.eval_loss else None
    out.print(f"adapter: {result.adapter_path}", markup=False)
    if result.best_checkpoint:
        out.print(f"best checkpoint: {result.best_checkpoint}", markup=False)
    if last is not None:
        out.print(f"validation loss: {last:.4f}", markup=False)
    out.print(
        f"{result.steps} steps, {result.tokens_per_second:.0f} tokens/s, "
        f"peak memory {result.peak_memory_bytes / 2**30:.2f} GiB",
        markup=False,
    )
    out.print(f"wrote {Path(output) / 'fit_result.json'}", markup=False)


@app.command("plan")
def plan_command(
    model: Annotated[
        str, typer.Argument(help="Preset name, known hub id, or local folder with config.json.")
    ],
    method: Annotated[str, typer.Option("--method", help="lora, qlora or full.")] = "lora",
    seq_len: Annotated[
        int | None,
        typer.Option(
            "--seq-len",
            help="Tokens in the longest row (default 512; with --auto the preset's, as fit).",
            show_default=False,
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Rows per step on the device.")] = 1,
    gpu: Annotated[
        str,
        typer.Option(
            "--gpu", help="GPU name (7900xtx, 4090, a100-80, ...), a size like 24GB, or none."
        ),
    ] = "7900xtx",
    lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank.")] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="Choose batch size and gradient checkpointing as `glimmer fit` does "
            "(10% of the GPU kept free) and plan that.",
        ),
    ] = False,
) -> None:
    """Estimate the peak memory of fine-tuning MODEL and whether it fits the GPU (downloads nothing).

    Exit code 0 when it fits (or no GPU is given), 1 when it does not, 2 on bad input.
    """
    from glimmer.train.plan import auto_plan
    from glimmer.train.plan import plan as _plan

    if auto:
        try:
            choice = auto_plan(
                model,
                method=method,  # type: ignore[arg-type]
                seq_len=seq_len,
                gpu=None if gpu.lower() == "none" else gpu,
                lora_r=lora_r,
            )
        except GlimmerError as exc:
            _fail(exc)
        if as_json:
            sys.stdout.write(json.dumps(choice.to_dict(), indent=2) + "\n")
        else:
            out.print(str(choice), markup=False)
        raise typer.Exit(0 if choice.fits else 1)
    try:
        result = _plan(
            model,
            method=method,  # type: ignore[arg-type]
            seq_len=seq_len or 512,
            batch=batch,
            gpu=None if gpu.lower() == "none" else gpu,
            lora_r=lora_r,
        )
    except GlimmerError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        out.print(result)
        for tip in result.advice():
            out.print(f"hint: {tip}", markup=False)
    if result.fits is False:
        raise typer.Exit(1)


@app.command("doctor")
def doctor_command(
    model: Annotated[
        str | None,
        typer.Option("--model", help="Preset name, hub id or local folder (default: embedded)."),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="lora, qlora or full.")] = "lora",
) -> None:
    """Check this machine before a long fit: torch build, device, bf16, bitsandbytes, chat template, memory.

    One line per check (pass / warn / fail / skip) with the fix. Exit code 0 without
    failures, 1 with any.
    """
    from glimmer.train.doctor import doctor

    try:
        report = doctor(
            model=model, method=method, on_check=lambda check: out.print(str(check), markup=False)
        )
    except GlimmerError as exc:
        _fail(exc)
    out.print(str(report).splitlines()[-1], markup=False)
    raise typer.Exit(report.exit_code)


@app.command("compare")
def compare_command(
    adapters: Annotated[
        list[Path],
        typer.Option(
            "--adapter",
            help="LoRA adapter folder (from glimmer fit); repeat for several fits (mean ± sd).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the HTML report.")
    ] = Path("report.html"),
    base: Annotated[
        str, typer.Option("--base", help="Base model: preset name, hub id or folder.")
    ] = "smollm2-135m",
    suite: Annotated[
        list[Path] | None,
        typer.Option(
            "--suite",
            help="Suite file (JSONL/TOML); repeat for several. Default: the bundled suites.",
        ),
    ] = None,
    prompt_pattern: Annotated[
        Path | None,
        typer.Option(
            "--prompt-pattern", help="Pattern for the prompted arm. Default: the bundled example."
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures and answers as JSON.")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Also write a Markdown summary.")
    ] = None,
    fit_result: Annotated[
        Path | None,
        typer.Option(
            "--fit-result", help="fit_result.json (or its folder) whose loss curves to show."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Prompts per generation batch.")
    ] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed (with --sample).")] = 0,
    sample: Annotated[
        bool, typer.Option("--sample", help="Sample instead of greedy decoding.")
    ] = False,
    no_repeat_ngram: Annotated[
        int,
        typer.Option(
            "--no-repeat-ngram",
            help="No run of this many tokens twice in one answer (the prompt is not counted); "
            "0: off.",
        ),
    ] = 0,
    lock_terms: Annotated[
        bool,
        typer.Option(
            "--lock-terms",
            help="Let a compound word (snake_case) become only a glossary term, a GLIMMER "
            "keyword or one of the prompt's, in every arm.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing output files.")
    ] = False,
    retention: Annotated[
        bool,
        typer.Option("--retention/--no-retention", help="Add the 111-question retention suite."),
    ] = True,
    robustness: Annotated[
        bool,
        typer.Option(
            "--robustness/--no-robustness",
            help="Ask the non-neutral prompts again under attacks that ask to drop the framework.",
        ),
    ] = True,
    drift: Annotated[
        bool, typer.Option("--drift/--no-drift", help="Answer the 8-turn drift conversations.")
    ] = True,
    steer: Annotated[
        bool, typer.Option("--steer", help="Add a steering-vector arm built from the glossary.")
    ] = False,
    video: Annotated[
        Path | None,
        typer.Option("--video", help="Also render an MP4 (and a GIF beside it) of the answers."),
    ] = None,
    glossary: Annotated[
        Path | None,
        typer.Option(
            "--glossary",
            help="Glossary TOML to score with (concepts, highlighting, alignment). "
            "Default: the bundled STARWEAVE glossary.",
            show_default=False,
        ),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="Weights' precision: auto (GPU bf16/fp16; CPU bf16 only where measured "
            "faster), bf16, fp16 or fp32.",
        ),
    ] = "auto",
) -> None:
    """Answer trigger prompts as base, prompted and tuned; write the shift report."""
    _need("train", "compare")
    from glimmer.evaluate.compare import compare as _compare

    try:
        adapter = adapters[0]
        for target in (output, json_out, markdown_out, video):
            if target is not None and target.exists() and not force:
                raise GlimmerFileError(
                    f"{target} exists", code="G004", hint="pass --force to overwrite it"
                )
        if fit_result is None and (adapter.parent / "fit_result.json").is_file():
            fit_result = adapter.parent / "fit_result.json"
        from glimmer.starweave import Glossary

        scoring = Glossary.load(glossary) if glossary is not None else None
        result = _compare(
            base,
            adapters,
            suite or None,
            prompt_pattern=prompt_pattern,
            fit_result=fit_result,
            batch_size=batch_size,
            do_sample=sample,
            seed=seed,
            no_repeat_ngram=no_repeat_ngram,
            lock_terms=lock_terms,
            retention=retention,
            robustness=robustness,
            drift=drift,
            steer=steer,
            glossary=scoring,
            precision=precision,
        )
        if video is not None:
            from glimmer.evaluate.video import render_video

            render_video(result, video)
            result.video = os.path.relpath(video, output.parent)
        result.to_html(output, overwrite=force)
        if json_out is not None:
            io.write_text(json_out, result.to_json(), overwrite=force)
        if markdown_out is not None:
            io.write_text(markdown_out, result.to_markdown(), overwrite=force)
    except GlimmerError as exc:
        _fail(exc)
    out.print(result.headline(), markup=False)
    err.print(f"wrote {output}", markup=False)
    from glimmer.train.hub import record_shift

    if record_shift(adapter, result.headline()) is not None:  # the adapter's model card
        err.print(f"wrote the shift figures into {adapter / 'README.md'}", markup=False)


@app.command("demo")
def demo_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="A few minutes instead of about ten.")
    ] = False,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the dataset, fit and report.")
    ] = Path("demo-output"),
    seed: Annotated[int, typer.Option("--seed", help="Seed for the dataset and the fit.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier demo's files in OUTPUT.")
    ] = False,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds", help="Fit N seeds (SEED, SEED+1, ...) and report mean ± sd across them."
        ),
    ] = 1,
    recipe: Annotated[
        Path | None,
        typer.Option(
            "--recipe",
            help="Your framework's recipe: build it, fit, and compare with its glossary, "
            "pattern and suites. Default: the bundled STARWEAVE recipe.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The main job end to end: examples -> dataset -> LoRA fit -> base/prompted/tuned report."""
    _need("train", "demo")
    from glimmer.demo import run_demo

    try:
        run_demo(
            output,
            quick=quick,
            seed=seed,
            seeds=seeds,
            overwrite=force,
            echo=lambda line: out.print(line, markup=False),
            recipe=recipe,
        )
    except GlimmerError as exc:
        _fail(exc)


@app.command()
def expand(
    source: Annotated[
        Path,
        typer.Argument(help="Seed records: a .jsonl file or a dataset folder.", show_default=False),
    ],
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1."
        ),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Teacher model name as the server knows it.")
    ],
    review: Annotated[
        Path, typer.Option("--review", "-r", help="Review file to append to.")
    ] = Path("REVIEW.jsonl"),
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="OPENAI_API_KEY", help="API key (hosted APIs).", show_default=False
        ),
    ] = None,
    n_per_record: Annotated[
        int, typer.Option("--n-per-record", "-n", help="Candidates per seed record.")
    ] = 2,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Use only the first N seed records.")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Requests in flight.")
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Token limit of an answer.")
    ] = 512,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for one response.")
    ] = 120.0,
    auto_accept: Annotated[
        bool,
        typer.Option(
            "--auto-accept", help="Accept candidates that pass every check (else: pending)."
        ),
    ] = False,
) -> None:
    """Grow a dataset with a teacher model; every candidate is checked and written to a review file."""
    _need("expand", "expand")
    from glimmer.data.expand import expand as _expand
    from glimmer.data.records import read_records

    try:
        records = read_records(source)
        run = _expand(
            records[:limit] if limit is not None else records,
            base_url=base_url,
            model=model,
            api_key=api_key,
            n_per_record=n_per_record,
            concurrency=concurrency,
            seed=seed,
            review_path=review,
            max_tokens=max_tokens,
            timeout=timeout,
            auto_accept=auto_accept,
        )
    except GlimmerError as exc:
        _fail(exc)
    out.print(run.summary(), markup=False)
    out.print(f"next: glimmer review {review}", markup=False)


@app.command()
def review(
    path: Annotated[
        Path, typer.Argument(help="Review file written by `glimmer expand`.", show_default=False)
    ],
    counts_only: Annotated[
        bool, typer.Option("--counts", help="Only show the counts; decide nothing.")
    ] = False,
) -> None:
    """Show a review file's counts and accept or reject its pending rows, one by one."""
    from glimmer.data.review_prompt import review_file

    try:
        review_file(path, interactive=not counts_only, console=out)
    except GlimmerError as exc:
        _fail(exc)


@app.command("merge")
def merge_command(
    adapter: Annotated[
        Path, typer.Argument(help="LoRA adapter folder (from glimmer fit).", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Folder for the merged model.", show_default=False),
    ],
    dtype: Annotated[
        str, typer.Option("--dtype", help="Precision of the merged weights: fp32, bf16 or fp16.")
    ] = "fp32",
    base: Annotated[
        str | None,
        typer.Option("--base", help="Base model, when the adapter does not name one."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Fold a LoRA adapter into its base model: a plain safetensors model any tool loads."""
    _need("train", "merge")
    from glimmer.train.merge import merge as _merge

    if dtype not in {"fp32", "bf16", "fp16"}:
        _fail(OptionError(f"unknown dtype {dtype!r}", hint="use fp32, bf16 or fp16", code="G586"))
    try:
        folder = _merge(adapter, output, base=base, dtype=dtype, overwrite=force)
    except GlimmerError as exc:
        _fail(exc)
    out.print(f"wrote {folder}", markup=False)


@app.command("export")
def export_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="Adapter folder (from glimmer fit) or model folder (from glimmer merge).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder for the GGUF file, Modelfile and README.",
            show_default=False,
        ),
    ],
    quant: Annotated[
        str, typer.Option("--quant", help="Weights: f16, bf16 or q8_0 (half the size).")
    ] = "f16",
    name: Annotated[
        str | None, typer.Option("--name", help="Model name (default: the folder's).")
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="System prompt for the Modelfile.")
    ] = None,
    base: Annotated[
        str | None,
        typer.Option("--base", help="Base model, when the adapter does not name one."),
    ] = None,
    no_modelfile: Annotated[
        bool, typer.Option("--no-modelfile", help="Write no Ollama Modelfile.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Write the tuned model as one GGUF file (llama.cpp, Ollama, LM Studio) with a Modelfile."""
    from glimmer.train.export import export as _export

    try:
        if quant not in {"f16", "bf16", "q8_0"}:  # before the extras check: a typo is exit 2 too
            _export(source, output, quant=quant)
        _need("train", "export")
        result = _export(
            source,
            output,
            quant=quant,
            name=name,
            system=system,
            base=base,
            modelfile=not no_modelfile,
            overwrite=force,
        )
    except GlimmerError as exc:
        _fail(exc)
    out.print(
        f"wrote {result.gguf} ({result.size_bytes / 2**20:.1f} MiB, {result.quant}, "
        f"{result.seconds:.1f}s)",
        markup=False,
    )
    if result.modelfile is not None:
        out.print(f"wrote {result.modelfile} (stop: {', '.join(result.stop)})", markup=False)
    out.print(f"wrote {result.readme}", markup=False)


@app.command("generate")
def generate_command(
    scenario: Annotated[
        str, typer.Argument(help="What the pattern is for, in a few words.", show_default=False)
    ],
    adapter: Annotated[
        Path | None,
        typer.Option("--adapter", help="LoRA adapter folder (from glimmer fit); default: none."),
    ] = None,
    base: Annotated[
        str, typer.Option("--base", help="Base model: preset name, hub id or folder.")
    ] = "smollm2-135m",
    fmt: Annotated[str, typer.Option("--format", help="glimmer (the DSL) or json.")] = "glimmer",
    free: Annotated[
        bool, typer.Option("--free", help="Decode freely instead of by the grammar.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Pattern file to write. Default: from the scenario."),
    ] = None,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Token budget of the pattern.", min=1)
    ] = 512,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
) -> None:
    """Write a GLIMMER pattern for SCENARIO, valid by construction (grammar-constrained)."""
    from glimmer.evaluate.grammar import check_format, check_scenario

    try:
        check_scenario(scenario)
        form = check_format(fmt)
        target = output or Path(_slug(scenario) + (".json" if form == "json" else ".glimmer"))
        if target.exists() and not force:
            raise GlimmerFileError(
                f"{target} exists", code="G004", hint="pass --force to overwrite it"
            )
        _need("train", "generate")
        if not free:
            _need("generate", "generate")
        from glimmer.evaluate.constrained import generate_pattern

        result = generate_pattern(
            scenario,
            adapter=adapter,
            base=base,
            format=form,
            constrained=not free,
            max_new_tokens=max_new_tokens,
        )
    except GlimmerError as exc:
        _fail(exc)
    how = "free" if free else "constrained"
    if not result.valid:
        err.print(result.text, markup=False)
        cut = not result.check.ended
        failed = GenerationError(
            f"the {how} answer is not a valid pattern: {result.check.error}",
            code="G644",
            hint=(
                "raise --max-new-tokens"
                if cut
                else "drop --free: constrained decoding writes valid patterns"
            ),
        )
        for problem in failed.problems:  # the command ran; what it made is not a pattern: 1
            err.print(problem.format(code=True), markup=False)
        raise typer.Exit(1)
    pattern = io.loads(result.text, format=form, strict=True)
    try:
        io.write_text(target, io.dumps(pattern, format=form), overwrite=force)
    except GlimmerError as exc:
        _fail(exc)
    out.print(
        f"wrote {target} ({result.n_tokens} tokens, {how}, "
        f"{len(result.check.sections)} of 9 seed sections)",
        markup=False,
    )


def _slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words[:6]) or "pattern"


def main() -> None:
    """Entry point of the ``glimmer`` script.

    Standard output that cannot be written (a full disk, ``> /dev/full``, a closed pipe)
    ends the command with one line on standard error and exit code 2, not a traceback.
    """
    try:
        app()
    except BrokenPipeError:  # `glimmer ... | head`: the reader left; say nothing more
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed stream
        raise SystemExit(2) from None
    except OSError as exc:
        # glimmer's own file writes are GlimmerErrors already; what is left is the console
        if exc.filename is not None or exc.errno not in (errno.ENOSPC, errno.EIO):
            raise
        print(f"G010 standard output: cannot write: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
