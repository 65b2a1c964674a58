"""The review file of a teacher expansion: one JSONL row per candidate, checks and status.

A row looks like this (one line in the file, shown folded)::

    {"id": "1f0c9a2b7d3e#0", "status": "pending",
     "candidate": {"messages": [{"role": "user", ...}, {"role": "assistant", ...}],
                   "category": "application"},
     "checks": [{"name": "format", "passed": true, "reason": "..."}, ...],
     "provenance": {"teacher": "qwen2.5:14b", "base_url": "http://127.0.0.1:11434/v1",
                    "template": "expand/question.jinja2", "seed_record": {...},
                    "time": "2026-01-01T12:00:00Z", "seed": 123456}}

A person may edit the file by hand (change ``status``, fix a message); ``glimmer review`` does
the same from the terminal. :class:`Reviewer` runs the automatic checks, in this order:

``format``
    The teacher gave a non-empty question and a non-empty answer that was not cut off.
``glimmer``
    Every GLIMMER pattern in the answer parses and validates (the error is kept in the
    reason); a ``generation`` answer must hold one.
``starweave``
    The answer names at least one STARWEAVE concept, and each concept it names comes with
    words of its glossary definition or of a related concept.
``duplicate``
    The candidate is not a near-duplicate of the existing data or of an earlier candidate.
``eval_overlap``
    The question does not overlap a prompt of the evaluation trigger suites.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from glimmer._jsonl import json_lines
from glimmer.data.dedup import normalise, shingles
from glimmer.data.records import ChatRecord, DatasetSplits, Message
from glimmer.errors import GlimmerError, GlimmerFileError, Location, ReviewFileError
from glimmer.model.io import loads, read_text, write_text
from glimmer.resources import resource_dir
from glimmer.starweave import Concept, Glossary

__all__ = [
    "CHECKS",
    "Candidate",
    "Check",
    "NearDuplicateIndex",
    "Provenance",
    "ReviewCounts",
    "ReviewFileError",
    "ReviewRow",
    "Reviewer",
    "Status",
    "accepted_records",
    "accepted_rows",
    "append_row",
    "count_rows",
    "include_reviewed",
    "read_review",
    "write_review",
]

Status = Literal["accepted", "rejected", "pending"]

#: Names of the automatic checks, in the order they run.
CHECKS: Final[tuple[str, ...]] = ("format", "glimmer", "starweave", "duplicate", "eval_overlap")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Candidate(_Model):
    """A proposed chat record: the messages and the category."""

    messages: list[Message]
    category: str

    def question(self) -> str:
        """The user turns, joined."""
        return "\n".join(m.content for m in self.messages if m.role == "user")

    def answer(self) -> str:
        """The assistant turns, joined."""
        return "\n".join(m.content for m in self.messages if m.role == "assistant")


class Check(_Model):
    """The outcome of one automatic check."""

    name: str
    passed: bool
    reason: str


class Provenance(_Model):
    """Where a candidate came from.

    Attributes:
        teacher: The model name sent to the server.
        base_url: The server's OpenAI-compatible base URL.
        template: The prompt template that produced the question.
        seed_record: ``key``, ``category``, ``template_id`` and ``source`` of the seed record.
        time: UTC time the row was written, ISO 8601.
        seed: The sampling seed sent with the requests.
        structured: For a generation answer, whether the server wrote it under the Pattern
            JSON Schema (``response_format``, ``True``) or as free text (``False``).
    """

    teacher: str
    base_url: str
    template: str
    seed_record: dict[str, Any]
    time: str
    seed: int
    structured: bool | None = None


class ReviewRow(_Model):
    """One line of a review file."""

    id: str
    status: Status
    candidate: Candidate
    checks: list[Check] = Field(default_factory=list)
    provenance: Provenance

    def failed(self) -> list[str]:
        """Names of the checks that did not pass."""
        return [c.name for c in self.checks if not c.passed]

    def to_json_line(self) -> str:
        """The row as one line of JSON (no trailing newline)."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# the file


def read_review(path: str | os.PathLike[str], /) -> list[ReviewRow]:
    """Read a review file; a missing file reads as empty.

    A last line without its newline (a run stopped mid-write) is ignored: the candidate is
    simply made again on resume.

    Raises:
        ReviewFileError: A complete line is not a valid review row (the line number is given).
    """
    p = Path(path)
    if not p.exists():
        return []
    text = read_text(p)
    lines = text.split("\n")
    complete = lines[:-1]  # text after the last newline is an unfinished write
    rows: list[ReviewRow] = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            rows.append(ReviewRow.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "<row>"
            raise ReviewFileError(
                f"not a review row: {where}: {first['msg']}",
                location=Location(str(path), number, 1),
                hint="fix the line by hand, or delete it to have the candidate made again",
            ) from None
    return rows


def _drop_unfinished_tail(path: Path) -> None:
    """Cut a last line that lacks its newline, so the next append starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        data = path.read_bytes()
        fh.truncate(data.rfind(b"\n") + 1)


def append_row(fh: Any, row: ReviewRow, /) -> None:
    """Append one row to an open text file and push it to disk (one row, one flush)."""
    fh.write(row.to_json_line() + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def write_review(path: str | os.PathLike[str], rows: Iterable[ReviewRow], /) -> Path:
    """Rewrite a whole review file atomically (used after decisions in ``glimmer review``)."""
    return write_text(path, "".join(r.to_json_line() + "\n" for r in rows))


def accepted_records(path: str | os.PathLike[str], /) -> list[ChatRecord]:
    """The accepted rows of a review file as chat records, ready to join a dataset.

    ``template_id`` is ``expand/`` plus the seed record's template; ``source`` and ``seed``
    come from the provenance.

    Raises:
        GlimmerFileError: The file does not exist.
        ReviewFileError: A line is not a review row.
    """
    out: list[ChatRecord] = []
    for row in accepted_rows(path):
        seed_record = row.provenance.seed_record
        out.append(
            ChatRecord(
                messages=list(row.candidate.messages),
                category=row.candidate.category,
                template_id=f"expand/{seed_record.get('template_id') or row.candidate.category}",
                source=seed_record.get("source"),
                seed=row.provenance.seed,
            )
        )
    return out


def accepted_rows(path: str | os.PathLike[str], /) -> list[ReviewRow]:
    """The rows of a review file whose status is ``accepted``, in file order.

    Raises:
        GlimmerFileError: The file does not exist.
        ReviewFileError: A line is not a review row.
    """
    if not Path(path).exists():
        raise GlimmerFileError("no such review file", location=Location(str(path)), code="G001")
    return [r for r in read_review(path) if r.status == "accepted"]


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    """Counts over a review file.

    Attributes:
        total: Rows in the file.
        status: Rows per status (``accepted``, ``rejected``, ``pending``).
        failed: Rows per failed check (a row may fail several).
        answers: Generation rows per way the answer was asked for (``structured``: under
            the Pattern JSON Schema, ``free``: free text), with how many were rejected.
    """

    total: int
    status: dict[str, int]
    failed: dict[str, int]
    answers: dict[str, dict[str, int]] = field(default_factory=dict)

    def share_failed(self) -> dict[str, float]:
        """The share of rows that failed each check, 0..1."""
        return {name: (n / self.total if self.total else 0.0) for name, n in self.failed.items()}


def count_rows(rows: Iterable[ReviewRow], /) -> ReviewCounts:
    """Count rows per status and per failed check."""
    status = {"accepted": 0, "rejected": 0, "pending": 0}
    failed = dict.fromkeys(CHECKS, 0)
    answers: dict[str, dict[str, int]] = {}
    total = 0
    for row in rows:
        total += 1
        status[row.status] += 1
        for name in row.failed():
            failed[name] = failed.get(name, 0) + 1
        if row.provenance.structured is not None:
            way = answers.setdefault(
                "structured" if row.provenance.structured else "free", {"rows": 0, "rejected": 0}
            )
            way["rows"] += 1
            way["rejected"] += row.status == "rejected"
    return ReviewCounts(total, status, failed, answers)


# ---------------------------------------------------------------------------------------------
# text helpers

_WORD = re.compile(r"[a-z0-9]+")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_STOP: Final[frozenset[str]] = frozenset(
    [
        "that",
        "this",
        "with",
        "from",
        "into",
        "their",
        "there",
        "which",
        "where",
        "when",
        "what",
        "your",
        "have",
        "been",
        "being",
        "were",
        "they",
        "them",
        "then",
        "than",
        "such",
        "each",
        "every",
        "other",
        "also",
        "only",
        "more",
        "most",
        "some",
        "many",
        "much",
        "very",
        "just",
        "like",
        "will",
        "would",
        "could",
        "should",
        "about",
        "over",
        "under",
        "between",
        "through",
        "within",
        "without",
    ]
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("_", " "))


def jaccard(a: frozenset[int], b: frozenset[int], /) -> float:
    """``|a & b| / |a | b|``; 0 for two empty sets."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def glimmer_blocks(answer: str, /) -> list[str]:
    """The GLIMMER (or JSON) patterns in an answer: fenced blocks, or the whole answer if it
    is a bare object."""
    blocks = [
        body
        for lang, body in _FENCE.findall(answer)
        if lang.lower() in ("", "glimmer", "json", "glim")
    ]
    if not blocks and answer.lstrip().startswith("{"):
        blocks = [answer]
    return [b for b in blocks if b.strip()]


class NearDuplicateIndex:
    """Finds texts that duplicate a remembered one, and which one they duplicate.

    Uses the dataset builders' definitions (:mod:`glimmer.data.dedup`): the same normalised
    text is an exact duplicate; word *k*-gram shingle sets with Jaccard similarity at or above
    *threshold* are near duplicates. An inverted index over shingles keeps lookups cheap.

    Args:
        threshold: Jaccard similarity at which two texts count as near duplicates.
        k: Words per shingle.
    """

    def __init__(self, *, threshold: float = 0.85, k: int = 5) -> None:
        self.threshold = threshold
        self.k = k
        self._exact: dict[str, str] = {}
        self._sets: list[tuple[str, frozenset[int]]] = []
        self._by_shingle: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, label: str, text: str, /) -> None:
        """Remember *text* under *label*."""
        norm = normalise(text)
        self._exact.setdefault(norm, label)
        sh = shingles(norm, k=self.k)
        index = len(self._sets)
        self._sets.append((label, sh))
        for x in sh:
            self._by_shingle.setdefault(x, []).append(index)

    def find(self, text: str, /) -> tuple[str, float] | None:
        """The most similar remembered text at or above the threshold: ``(label, similarity)``."""
        norm = normalise(text)
        if norm in self._exact:
            return self._exact[norm], 1.0
        sh = shingles(norm, k=self.k)
        seen: set[int] = set()
        best: tuple[str, float] | None = None
        for x in sh:
            for index in self._by_shingle.get(x, ()):
                if index in seen:
                    continue
                seen.add(index)
                label, other = self._sets[index]
                sim = jaccard(sh, other)
                if sim >= self.threshold and (best is None or sim > best[1]):
                    best = (label, sim)
        return best


# ---------------------------------------------------------------------------------------------
# the checks


@dataclass(frozen=True, slots=True)
class _ConceptForms:
    name: str
    forms: tuple[str, ...]  # normalised surface forms ("consciousness crystals")
    support: frozenset[str]  # content words of the definition, examples and related concepts


def _norm(text: str) -> str:
    return " ".join(_words(text))


def _concept_forms(glossary: Glossary) -> list[_ConceptForms]:
    out: list[_ConceptForms] = []
    for concept in glossary.core():  # GLIMMER sections are not STARWEAVE concepts
        forms = {_norm(concept.name)} | {_norm(a) for a in concept.aliases}
        own = {w for f in forms for w in f.split()}
        text = " ".join(
            [concept.definition, *concept.examples, *(r.target for r in concept.relations)]
        )
        support = frozenset(
            w for w in _words(text) if len(w) >= 4 and w not in _STOP and w not in own
        )
        out.append(_ConceptForms(concept.name, tuple(sorted(f for f in forms if f)), support))
    return out


def default_glossary() -> Glossary:
    """The bundled STARWEAVE glossary."""
    return Glossary.default()


def bundled_eval_prompts() -> list[str]:
    """Every prompt of the bundled evaluation suites (``glimmer/resources/suites``)."""
    folder = resource_dir("suites")
    prompts: list[str] = []
    if not folder.is_dir():
        return prompts
    for path in sorted(folder.iterdir()):
        if path.suffix == ".jsonl":
            text = path.read_text(encoding="utf-8")
            for _, row in json_lines(text, source=str(path), error=GlimmerFileError):
                if isinstance(row, dict) and isinstance(row.get("prompt"), str):
                    prompts.append(row["prompt"])
        elif path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            prompts += [
                r["prompt"] for r in data.get("prompt", []) if isinstance(r.get("prompt"), str)
            ]
    return prompts


@dataclass
class Reviewer:
    """Runs the automatic checks on candidates and remembers what it has let through.

    Args:
        glossary: The STARWEAVE glossary; the bundled one when ``None``.
        eval_prompts: Prompts that must not leak into training data; the bundled trigger
            suites when ``None``.
        existing: Texts of the data the candidates join (each record's turns joined); a
            candidate too close to one of them is a duplicate.
        similarity: Jaccard similarity of word 5-gram sets at which two candidates count as
            near duplicates (the dataset builders' default).
        eval_similarity: Jaccard similarity of word 3-gram sets at which a question overlaps
            an evaluation prompt.
    """

    glossary: Glossary | None = None
    eval_prompts: Sequence[str] | None = None
    existing: Sequence[str] = ()
    similarity: float = 0.85
    eval_similarity: float = 0.5
    _glossary: Glossary = field(init=False, repr=False)
    _concepts: list[_ConceptForms] = field(init=False, repr=False)
    _index: NearDuplicateIndex = field(init=False, repr=False)
    _eval: NearDuplicateIndex = field(init=False, repr=False)
    _eval_norm: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._glossary = default_glossary() if self.glossary is None else self.glossary
        self._concepts = _concept_forms(self._glossary)
        self._index = NearDuplicateIndex(threshold=self.similarity)
        for i, text in enumerate(self.existing):
            self._index.add(f"existing record {i + 1}", text)
        prompts = bundled_eval_prompts() if self.eval_prompts is None else list(self.eval_prompts)
        self._eval = NearDuplicateIndex(threshold=self.eval_similarity, k=3)
        for p in prompts:
            self._eval.add(p, p)
        self._eval_norm = [n for n in (_norm(p) for p in prompts) if len(n.split()) >= 5]

    def glossary_concepts(self) -> list[Concept]:
        """The framework's concepts the checks look for (the glossary's core concepts)."""
        return self._glossary.core()

    @property
    def framework(self) -> str:
        """The name of the framework the glossary describes (:attr:`Glossary.name`)."""
        return self._glossary.name

    def teacher_glossary(self) -> list[dict[str, Any]]:
        """The core concepts as a teacher prompt reads them: name, definition, two examples,
        relations (read with their phrases) and aliases."""
        g = self._glossary
        return [
            {
                "name": c.name,
                "definition": c.definition,
                "examples": c.examples[:2],
                "relations": [f"{c.name} {g.phrase(r)} {r.target}" for r in c.relations],
                "aliases": [a for a in c.aliases if a != c.spoken],
            }
            for c in g.core()
        ]

    def remember(self, row: ReviewRow, /) -> None:
        """Count an earlier row (read back on resume) as existing data, unless it was rejected."""
        if row.status != "rejected":
            self._index.add(f"candidate {row.id}", _joined(row.candidate))

    def review(
        self, candidate: Candidate, /, *, label: str, finish_reason: str | None = None
    ) -> list[Check]:
        """Run every check on *candidate*; a candidate that passes all is remembered."""
        checks = [
            self.check_format(candidate, finish_reason=finish_reason),
            self.check_glimmer(candidate),
            self.check_starweave(candidate),
        ]
        checks.append(self.check_duplicate(candidate))
        checks.append(self.check_eval_overlap(candidate))
        if all(c.passed for c in checks):
            self._index.add(f"candidate {label}", _joined(candidate))
        return checks

    @staticmethod
    def check_format(candidate: Candidate, /, *, finish_reason: str | None = None) -> Check:
        """The question and the answer are there, and the answer was not cut off."""
        if not candidate.question().strip():
            return Check(name="format", passed=False, reason="the teacher gave an empty question")
        if not candidate.answer().strip():
            return Check(name="format", passed=False, reason="the teacher gave an empty answer")
        if finish_reason == "length":
            return Check(name="format", passed=False, reason="the answer was cut off at max_tokens")
        return Check(name="format", passed=True, reason="question and complete answer present")

    @staticmethod
    def check_glimmer(candidate: Candidate, /) -> Check:
        """Every GLIMMER pattern in the answer parses and validates."""
        blocks = glimmer_blocks(candidate.answer())
        if not blocks:
            if candidate.category == "generation":
                return Check(
                    name="glimmer",
                    passed=False,
                    reason="a generation answer must hold a GLIMMER pattern",
                )
            return Check(
                name="glimmer", passed=True, reason="no GLIMMER in the answer; nothing to check"
            )
        for i, block in enumerate(blocks, 1):
            try:
                pattern = loads(block, source=f"<answer block {i}>")
            except GlimmerError as exc:
                return Check(name="glimmer", passed=False, reason=f"[{exc.code}] {exc}")
            if not pattern.to_data():
                return Check(name="glimmer", passed=False, reason=f"block {i} is an empty pattern")
        return Check(
            name="glimmer", passed=True, reason=f"{len(blocks)} pattern(s) parse and validate"
        )

    def check_starweave(self, candidate: Candidate, /) -> Check:
        """The answer names STARWEAVE concepts and uses them as the glossary defines them."""
        answer = candidate.answer()
        norm = f" {_norm(answer)} "
        words = set(norm.split())
        used: list[str] = []
        unsupported: list[str] = []
        for concept in self._concepts:
            if any(f" {form} " in norm for form in concept.forms):
                used.append(concept.name)
                if not (concept.support & words):
                    unsupported.append(concept.name)
        if not used:
            return Check(
                name="starweave", passed=False, reason=f"names no {self.framework} concept"
            )
        if unsupported:
            return Check(
                name="starweave",
                passed=False,
                reason="uses "
                + ", ".join(unsupported)
                + " without any word of its glossary definition",
            )
        return Check(name="starweave", passed=True, reason="uses " + ", ".join(used))

    def check_duplicate(self, candidate: Candidate, /) -> Check:
        """Not a near-duplicate of the existing data or of an earlier candidate."""
        hit = self._index.find(_joined(candidate))
        if hit is not None:
            return Check(
                name="duplicate",
                passed=False,
                reason=f"near-duplicate of {hit[0]} (similarity {hit[1]:.2f})",
            )
        return Check(name="duplicate", passed=True, reason="no near-duplicate found")

    def check_eval_overlap(self, candidate: Candidate, /) -> Check:
        """The question does not overlap an evaluation trigger prompt."""
        question = candidate.question()
        hit = self._eval.find(question)
        if hit is not None:
            return Check(
                name="eval_overlap",
                passed=False,
                reason=f"overlaps evaluation prompt {hit[0]!r} ({hit[1]:.2f})",
            )
        norm = f" {_norm(question + ' ' + candidate.answer())} "
        for p in self._eval_norm:
            if f" {p} " in norm:
                return Check(
                    name="eval_overlap", passed=False, reason=f"contains evaluation prompt {p!r}"
                )
        return Check(
            name="eval_overlap", passed=True, reason="no overlap with the evaluation suites"
        )


def _joined(candidate: Candidate) -> str:
    return candidate.question() + "\n" + candidate.answer()


def include_reviewed(
    splits: DatasetSplits, paths: Sequence[str | os.PathLike[str]], /
) -> DatasetSplits:
    """*splits* with the accepted rows of review files added to its train split.

    Rows whose text already appears in the dataset (after normalisation) are left out.
    ``stats["included"]`` records how many rows each file gave.

    Raises:
        GlimmerFileError: A review file does not exist.
        ReviewFileError: A line is not a review row.
    """
    seen = {
        normalise("\n".join(m.content for m in r.messages if m.role != "system"))
        for r in splits.all
    }
    train = list(splits.train)
    included: dict[str, int] = {}
    for path in paths:
        n = 0
        for record in accepted_records(path):
            key = normalise("\n".join(m.content for m in record.messages if m.role != "system"))
            if key in seen:
                continue
            seen.add(key)
            train.append(record)
            n += 1
        included[str(path)] = n
    stats = {**splits.stats, "included": included}
    return splits.model_copy(update={"train": train, "stats": stats})
