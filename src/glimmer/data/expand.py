"""Grow a dataset with a larger teacher model, through any OpenAI-compatible server.

For each seed record, :func:`expand` asks the teacher for a new question of the same
category (prompt ``expand/question.jinja2``), then for an answer to it (system prompt
``expand/answer_system.jinja2``): for ``generation`` records, a new scenario and a complete
GLIMMER pattern. Every candidate goes through the automatic checks of
:class:`~glimmer.data.review.Reviewer` and is appended, with its checks and provenance, to a
review file (see :mod:`glimmer.data.review`). Only rows a person (or ``auto_accept``) marks
``accepted`` join a dataset, through ``glimmer build --include REVIEW.jsonl``.

The server may be Ollama, vLLM, a llama.cpp server, ``transformers serve`` or a hosted API:
glimmer speaks the chat-completions protocol with the official ``openai`` client (the
``expand`` extra) and nothing vendor-specific.

A run is resumable: each row is appended and flushed as soon as it is reviewed, and a run
started again with the same review file skips the candidates already there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2

from glimmer.data.builder import Builder
from glimmer.data.records import ChatRecord, DatasetSplits, Message, read_records
from glimmer.data.review import (
    Candidate,
    Check,
    Provenance,
    ReviewCounts,
    Reviewer,
    ReviewRow,
    _drop_unfinished_tail,
    append_row,
    count_rows,
    glimmer_blocks,
    read_review,
)
from glimmer.data.templates import TemplateError, TemplateSet
from glimmer.errors import GlimmerError, Location, TeacherError

if TYPE_CHECKING:  # pragma: no cover
    from openai import OpenAI

__all__ = [
    "ANGLES",
    "CATEGORY_HINTS",
    "ExpansionRun",
    "TeacherError",
    "expand",
    "seed_key",
]

#: What each category asks for, as the question prompt tells the teacher.
CATEGORY_HINTS: Final[dict[str, str]] = {
    "generation": "asks for a complete GLIMMER pattern for a scenario",
    "interpretation": "asks what a GLIMMER pattern or one of its sections means",
    "application": "asks to look at an everyday subject through the {framework} lens",
    "reflection": "asks the model how it itself perceives and processes something",
    "matrix": "asks whether a pattern is a mere prompt or a formative matrix that changes the model",
    "glossary": "asks what a {framework} concept means and how it relates to others",
    "general": "asks a general question",
}

#: Subjects the question prompt steers towards, one per candidate of a seed record, so that
#: candidates differ even on servers that ignore the sampling seed.
ANGLES: Final[tuple[str, ...]] = (
    "an everyday object",
    "a place in nature",
    "a human relationship",
    "a piece of technology",
    "a moment of change",
    "a craft or an art",
    "a scientific idea",
    "a gathering of people",
    "a memory",
    "a journey",
)

QUESTION_TEMPLATE: Final = "expand/question.jinja2"
ANSWER_SYSTEM_TEMPLATE: Final = "expand/answer_system.jinja2"
ANSWER_USER_TEMPLATE: Final = "expand/answer_user.jinja2"


# ---------------------------------------------------------------------------------------------
# seed records


@dataclass(frozen=True, slots=True)
class _Seed:
    key: str
    record: ChatRecord

    @property
    def question(self) -> str:
        return "\n".join(m.content for m in self.record.messages if m.role == "user")

    @property
    def text(self) -> str:
        return "\n".join(m.content for m in self.record.messages if m.role != "system")


def seed_key(record: ChatRecord, /) -> str:
    """A short stable key for a seed record: a hash of its category and messages.

    Candidate ids in a review file are ``<seed key>#<n>``.
    """
    payload = json.dumps(
        [record.category, [[m.role, m.content] for m in record.messages]], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _seed_records(source: Any, seed: int) -> list[ChatRecord]:
    if isinstance(source, (str, os.PathLike)):
        return read_records(source)
    if isinstance(source, DatasetSplits):
        return list(source.train)
    if isinstance(source, Builder):
        return source.records(seed=seed)
    records = list(source)
    for i, r in enumerate(records):
        if not isinstance(r, ChatRecord):
            raise TypeError(
                f"expand() takes ChatRecords, a Builder, DatasetSplits or a path; item {i} is {type(r).__name__}"
            )
    return records


def _unique_seeds(records: Iterable[ChatRecord]) -> list[_Seed]:
    seen: set[str] = set()
    out: list[_Seed] = []
    for r in records:
        key = seed_key(r)
        if key not in seen:
            seen.add(key)
            out.append(_Seed(key, r))
    return out


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class ExpansionRun:
    """What one call of :func:`expand` did.

    Attributes:
        review_path: The review file the rows were appended to.
        base_url: The teacher server.
        model: The teacher model.
        rows: The rows this run wrote, in the order they were written.
        skipped: Candidates skipped because the review file already had them.
        planned: Candidates this run set out to make (``len(rows)`` when it finished).
        elapsed_s: Wall-clock seconds the run took.
    """

    review_path: Path
    base_url: str
    model: str
    rows: list[ReviewRow] = field(default_factory=list)
    skipped: int = 0
    planned: int = 0
    elapsed_s: float = 0.0

    @property
    def counts(self) -> ReviewCounts:
        """Status and failed-check counts over this run's rows."""
        return count_rows(self.rows)

    @property
    def candidates_per_minute(self) -> float:
        """Candidates made per minute of wall-clock time."""
        return 60.0 * len(self.rows) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """A few lines for people: counts, rejection share per check, speed."""
        c = self.counts
        lines = [
            f"{len(self.rows)} candidate(s) from {self.model} in {self.elapsed_s:.1f} s "
            f"({self.candidates_per_minute:.1f}/min); {self.skipped} already in {self.review_path}",
            "status: " + ", ".join(f"{k} {v}" for k, v in c.status.items()),
            "rejected by: "
            + ", ".join(f"{k} {v} ({100 * c.share_failed()[k]:.0f}%)" for k, v in c.failed.items()),
        ]
        if c.answers:
            lines.append(
                "generation answers: "
                + ", ".join(
                    f"{way} {n['rows']} ({n['rejected']} rejected)"
                    for way, n in sorted(c.answers.items())
                )
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Job:
    id: str
    seed: _Seed
    index: int
    request_seed: int


@dataclass(frozen=True, slots=True)
class _Made:
    job: _Job
    candidate: Candidate
    finish_reason: str | None
    structured: bool | None = None


class _NoStructuredOutput(Exception):
    """The server refused ``response_format``: ask again in free text."""


@cache
def _pattern_format() -> dict[str, Any]:
    """``response_format`` asking for a pattern under the Pattern JSON Schema."""
    from glimmer.model.schema import schema

    closed = schema()
    closed["additionalProperties"] = False  # no unknown sections, as strict loading
    return {
        "type": "json_schema",
        "json_schema": {"name": "glimmer_pattern", "schema": closed, "strict": False},
    }


def _pattern_text(answer: str) -> str:
    """A structured answer (JSON, which GLIMMER reads as it is) laid out canonically."""
    from glimmer.model.io import dumps, loads

    try:
        pattern = loads(answer, format="json")
    except GlimmerError:
        return answer  # the review's checks will say what is wrong with it
    return dumps(pattern, format="json")


def _request_seed(seed: int, job_id: str) -> int:
    return int(hashlib.sha256(f"{seed}:{job_id}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


_LABEL = re.compile(r"^\s*(?:new\s+)?(?:question|q)\s*[:.\-]\s*", re.I)
_ANSWER_MARK = re.compile(r"\n\s*(?:answer|a)\s*:", re.I)


def _clean_question(text: str) -> str:
    """The question alone: no label, no quotes around it, no answer after it."""
    text = text.strip()
    m = _ANSWER_MARK.search(text)
    if m:
        text = text[: m.start()]
    text = _LABEL.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.strip('"“” ')


class _Teacher:
    """The two requests per candidate, and the translation of client errors."""

    def __init__(
        self,
        client: OpenAI,
        *,
        base_url: str,
        model: str,
        templates: TemplateSet,
        glossary: Sequence[dict[str, Any]],
        framework: str = "STARWEAVE",
        max_tokens: int,
        question_max_tokens: int,
        temperature: float,
        timeout: float,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.model = model
        self.templates = templates
        self.glossary = glossary
        self.framework = framework
        self.max_tokens = max_tokens
        self.question_max_tokens = question_max_tokens
        self.temperature = temperature
        self.timeout = timeout
        # whether the server writes under a JSON Schema (response_format); None: not asked yet
        self.structured: bool | None = None

    def render(self, template: str, **variables: Any) -> str:
        try:
            return str(self.templates.env.get_template(template).render(**variables)).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(
                f"template {template!r}: {exc}", location=Location(template), code="G410"
            ) from None

    def check_model(self) -> None:
        """Reach the server once and make sure it knows the model."""
        import openai

        quick = self.client.with_options(max_retries=1, timeout=min(self.timeout, 15.0))
        try:
            ids = [m.id for m in quick.models.list()]
        except openai.NotFoundError:
            return  # a server without /models: the first request will tell
        except openai.APIError as exc:
            raise self.error(exc) from None
        if ids and self.model not in ids:
            shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
            raise TeacherError(
                f"the teacher server has no model {self.model!r}",
                location=Location(self.base_url),
                hint=f"it serves: {shown}",
                code="G481",
            )

    def error(self, exc: Exception) -> TeacherError:
        import openai

        where = Location(self.base_url)
        if isinstance(exc, openai.APITimeoutError):
            return TeacherError(
                f"the teacher server did not answer within {self.timeout:g} s",
                location=where,
                hint="raise timeout=, lower max_tokens= or concurrency=, or check the server's load",
                code="G480",
            )
        if isinstance(exc, openai.APIConnectionError):
            return TeacherError(
                "cannot reach the teacher server",
                location=where,
                hint="start the server, or check --base-url (it usually ends in /v1)",
                code="G480",
            )
        if isinstance(exc, openai.APIStatusError):
            detail = _detail(exc)
            if exc.status_code in (400, 404) and "model" in detail.lower():
                return TeacherError(
                    f"the teacher server does not know the model {self.model!r}: {detail}",
                    location=where,
                    hint="list the served models at <base_url>/models and pass one of them as model=",
                    code="G481",
                )
            if exc.status_code == 404:
                return TeacherError(
                    "the teacher server has no chat-completions endpoint here (HTTP 404)",
                    location=where,
                    hint="the base URL of an OpenAI-compatible server usually ends in /v1",
                    code="G480",
                )
            if exc.status_code in (401, 403):
                return TeacherError(
                    f"the teacher server refused the API key (HTTP {exc.status_code})",
                    location=where,
                    hint="pass api_key= (--api-key, or the OPENAI_API_KEY variable)",
                    code="G483",
                )
            return TeacherError(
                f"the teacher server answered HTTP {exc.status_code}: {detail}",
                location=where,
                hint="retries with backoff were used up; try again later or with lower concurrency",
                code="G483",
            )
        return TeacherError(f"the teacher server failed: {exc}", location=where, code="G483")

    def _chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        seed: int,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[str, str | None]:
        import openai

        extra: dict[str, Any] = (
            {} if response_format is None else {"response_format": response_format}
        )
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=seed,
                **extra,
            )
        except openai.APIError as exc:
            refused = isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError)
            if response_format is not None and refused:
                raise _NoStructuredOutput from None
            raise self.error(exc) from None
        if not response.choices:
            return "", None
        choice = response.choices[0]
        return (choice.message.content or ""), choice.finish_reason

    def make(self, job: _Job) -> _Made:
        record = job.seed.record
        category = record.category
        prompt = self.render(
            QUESTION_TEMPLATE,
            category=category,
            category_hint=CATEGORY_HINTS.get(category, "a question of this kind").format(
                framework=self.framework
            ),
            framework=self.framework,
            seed_question=job.seed.question,
            concepts=[c["name"] for c in self.glossary],
            angle=ANGLES[(job.index + int(job.seed.key[:4], 16)) % len(ANGLES)],
        )
        raw, _ = self._chat(
            [{"role": "user", "content": prompt}],
            max_tokens=self.question_max_tokens,
            seed=job.request_seed,
        )
        question = _clean_question(raw)
        answer, finish = "", None
        structured: bool | None = False if category == "generation" else None
        if question:
            examples = glimmer_blocks(record.answer) if category == "generation" else []
            example = examples[0].strip() if examples and len(examples[0]) <= 2000 else ""
            system = self.render(
                ANSWER_SYSTEM_TEMPLATE,
                category=category,
                glossary=self.glossary,
                framework=self.framework,
                pattern_example=example,
            )
            user = self.render(ANSWER_USER_TEMPLATE, question=question)
            chat = [{"role": "system", "content": system}, {"role": "user", "content": user}]
            if category == "generation" and self.structured is not False:
                try:
                    answer, finish = self._chat(
                        chat,
                        max_tokens=self.max_tokens,
                        seed=job.request_seed + 1,
                        response_format=_pattern_format(),
                    )
                    self.structured = True
                    structured = True
                    answer = _pattern_text(answer)
                except _NoStructuredOutput:
                    self.structured = False  # this server: free text from now on
            if not structured:
                answer, finish = self._chat(
                    chat, max_tokens=self.max_tokens, seed=job.request_seed + 1
                )
        messages: list[Message] = []
        if record.system is not None:
            messages.append(Message(role="system", content=record.system))
        messages += [
            Message(role="user", content=question),
            Message(role="assistant", content=answer.strip()),
        ]
        return _Made(job, Candidate(messages=messages, category=category), finish, structured)


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str):
                return value
    return str(getattr(exc, "message", exc))


def _client(base_url: str, api_key: str | None, timeout: float, max_retries: int) -> OpenAI:
    try:
        from openai import OpenAI
    except ImportError:  # pragma: no cover - depends on the installation
        raise TeacherError(
            "teacher expansion needs the openai client",
            hint="pip install 'glimmer-dsl[expand]'",
            code="G484",
        ) from None
    key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
    return OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)


def expand(
    records_or_builder: Iterable[ChatRecord] | Builder | DatasetSplits | str | os.PathLike[str],
    /,
    *,
    base_url: str,
    model: str,
    api_key: str | None = None,
    n_per_record: int = 2,
    concurrency: int = 4,
    seed: int = 0,
    review_path: str | os.PathLike[str] = "REVIEW.jsonl",
    reviewer: Reviewer | None = None,
    max_tokens: int = 512,
    question_max_tokens: int = 128,
    temperature: float = 0.9,
    timeout: float = 120.0,
    max_retries: int = 4,
    auto_accept: bool = False,
    progress: bool = True,
) -> ExpansionRun:
    """Ask a teacher model for new questions and answers like the seed records, and review them.

    Args:
        records_or_builder: Seed records: chat records, a builder (built with *seed*), a
            built dataset (its train split), a ``.jsonl`` file or a dataset directory.
        base_url: The server's OpenAI-compatible base URL, e.g. ``http://127.0.0.1:11434/v1``.
        model: The model name the server knows.
        api_key: Key for hosted APIs; ``OPENAI_API_KEY`` when ``None`` (local servers need none).
        n_per_record: Candidates per seed record.
        concurrency: Requests in flight at once.
        seed: Sampling seed; each request gets one derived from it and the candidate id.
        review_path: The review file rows are appended to (created if missing).
        reviewer: The automatic checks; by default the bundled glossary, the bundled
            evaluation suites and the seed records as existing data.
        max_tokens: Token limit of an answer.
        question_max_tokens: Token limit of a question.
        temperature: Sampling temperature of both requests.
        timeout: Seconds to wait for one response.
        max_retries: Retries, with exponential backoff, on connection errors, timeouts, 429
            and 5xx answers.
        auto_accept: Mark candidates that pass every check ``accepted`` instead of ``pending``.
        progress: Show a progress bar on standard error.

    Returns:
        What the run did; ``run.summary()`` prints counts and speed.

    Raises:
        TeacherError: The server is down, does not know the model, or refuses requests. Rows
            reviewed before the failure stay in the review file; run again to resume.
        ReviewFileError: The existing review file has a line that is not a review row.

    Examples:
        ```python
        run = expand("data/train.jsonl", base_url="http://127.0.0.1:11434/v1", model="qwen2.5:14b")
        print(run.summary())
        ```
    """
    if n_per_record < 1:
        raise ValueError("n_per_record must be at least 1")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    started = time.perf_counter()
    path = Path(review_path)
    seeds = _unique_seeds(_seed_records(records_or_builder, seed))
    if reviewer is None:
        reviewer = Reviewer(existing=[s.text for s in seeds])
    previous = read_review(path)
    done = {row.id for row in previous}
    for row in previous:
        reviewer.remember(row)
    jobs = [
        _Job(job_id, s, k, _request_seed(seed, job_id))
        for s in seeds
        for k in range(n_per_record)
        if (job_id := f"{s.key}#{k}") not in done
    ]
    run = ExpansionRun(
        path, base_url, model, skipped=len(seeds) * n_per_record - len(jobs), planned=len(jobs)
    )
    if not jobs:
        run.elapsed_s = time.perf_counter() - started
        return run
    glossary = reviewer.teacher_glossary()
    teacher = _Teacher(
        _client(base_url, api_key, timeout, max_retries),
        base_url=base_url,
        model=model,
        templates=TemplateSet(),
        glossary=glossary,
        framework=reviewer.framework,
        max_tokens=max_tokens,
        question_max_tokens=question_max_tokens,
        temperature=temperature,
        timeout=timeout,
    )
    teacher.check_model()
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_unfinished_tail(path)
    try:
        with (
            path.open("a", encoding="utf-8", newline="\n") as fh,
            _progress(progress, len(jobs)) as bar,
        ):

            def record(made: _Made) -> None:
                checks = reviewer.review(
                    made.candidate, label=made.job.id, finish_reason=made.finish_reason
                )
                row = _row(made, checks, teacher, auto_accept=auto_accept)
                append_row(fh, row)
                run.rows.append(row)
                bar.advance()

            _run_jobs(jobs, teacher.make, record, concurrency)
    finally:
        run.elapsed_s = time.perf_counter() - started
    return run


def _row(made: _Made, checks: list[Check], teacher: _Teacher, *, auto_accept: bool) -> ReviewRow:
    record = made.job.seed.record
    passed = all(c.passed for c in checks)
    return ReviewRow(
        id=made.job.id,
        status=("accepted" if auto_accept else "pending") if passed else "rejected",
        candidate=made.candidate,
        checks=checks,
        provenance=Provenance(
            teacher=teacher.model,
            base_url=teacher.base_url,
            template=QUESTION_TEMPLATE,
            seed_record={
                "key": made.job.seed.key,
                "category": record.category,
                "template_id": record.template_id,
                "source": record.source,
            },
            time=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            seed=made.job.request_seed,
            structured=made.structured,
        ),
    )


def _run_jobs(jobs: Sequence[_Job], make: Any, record: Any, concurrency: int) -> None:
    """Run *make* on every job with at most *concurrency* in flight; *record* each result in
    this thread. On the first failure, stop submitting, record what is still in flight, and
    raise it."""
    pending: set[Future[_Made]] = set()
    failure: BaseException | None = None
    queue = iter(jobs)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="glimmer-expand")
    try:
        while True:
            while failure is None and len(pending) < concurrency:
                job = next(queue, None)
                if job is None:
                    break
                pending.add(pool.submit(make, job))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                exc = future.exception()
                if exc is not None:
                    failure = failure or exc
                else:
                    record(future.result())
    except BaseException:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failure is not None:
        raise failure


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self) -> None:
        return None


class _Bar(_NoBar):
    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("expanding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task("expand", total=total)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self) -> None:
        self.progress.advance(self.task)


def _progress(show: bool, total: int) -> _NoBar:
    return _Bar(total) if show else _NoBar()
