"""The one error tree of glimmer.

Every error a user can cause is a :class:`GlimmerError`, and every class of the tree is
defined here (stage modules import theirs from this one and keep the old names importable).
Stages mix in the builtin a caller would expect, so ``except ValueError`` keeps working.
Each class has a default code; a class that stands for several related faults names the
others in its row of ``docs/errors.md``. The bare root is never raised::

    GlimmerError                         G000  root; .code, .location, .hint; never raised bare
    ├── GlimmerSyntaxError               G1xx  (ValueError) text that does not parse
    ├── GlimmerValidationError           G2xx  (ValueError) data that is not a valid Pattern
    ├── GlimmerFileError                 G001  (OSError) a path that cannot be read or written
    │   └── AdapterError                 G603  (ValueError) a folder that is not an adapter
    ├── FormatError                      G002  (ValueError) an unknown or unformattable format
    ├── OptionError                      G006  (ValueError) an argument value glimmer refuses
    ├── MissingExtraError                G005  (RuntimeError) an optional extra not installed
    ├── GlossaryError                    G401  (ValueError) a STARWEAVE glossary
    ├── TemplateError                    G410  (ValueError) a record template
    ├── RecordError                      G412  (ValueError) a line that is not a chat record
    ├── RecipeError                      G414  (ValueError) a dataset recipe
    ├── NoConceptsError                  G422  (ValueError) a glossary with no concept to use
    ├── TeacherError                     G480  (ConnectionError) the teacher server
    ├── ReviewFileError                  G482  (ValueError) a review file row
    ├── GlimmerModelError                G501  (ValueError) a model that cannot be loaded
    ├── ChatTemplateError                G502  (ValueError) a chat template without a mask
    ├── QLoRAUnavailableError            G503  (RuntimeError) QLoRA where it cannot run
    ├── FitConfigError                   G504  (ValueError) a fit option or fit TOML
    ├── FitOutputError                   G505  (FileExistsError) the fit output holds a run
    ├── FitDataError                     G506  (ValueError) the dataset given to fit()
    ├── BakeError                        G520  (ValueError) the pattern to bake
    ├── FitMemoryError                   G530  (ValueError) a run that does not fit memory
    ├── PlanError                        G570  (ValueError) the memory planner's inputs
    ├── MergeError                       G575  (ValueError) an adapter that cannot be merged
    ├── ExportError                      G580  (ValueError) a GGUF export
    │   └── UnsupportedArchitectureError G581  an architecture the exporter does not map
    ├── TemplateExportError              G584  (ValueError) a chat template as Ollama TEMPLATE
    ├── SuiteError                       G601  (ValueError) a prompt suite
    ├── GenerationError                  G640  (ValueError) a pattern that cannot be generated
    ├── GrammarError                     G642  (ValueError) a generation grammar or format
    ├── AttackError                      G650  (ValueError) an attack file or row
    ├── DriftError                       G651  (ValueError) a drift conversation file or row
    ├── RetentionError                   G652  (ValueError) a retention suite
    ├── VideoError                       G654  (RuntimeError) the comparison video
    └── SteerError                       G655  (ValueError) a model the steering arm cannot use

Messages read like ``demo.glimmer:3:14: expected ':' after key``, followed by the offending
line with a caret under the fault and a hint saying how to fix it. Every code is listed on
the docs page ``docs/errors.md``; a test keeps the two in step.

This module imports nothing from glimmer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "AdapterError",
    "AttackError",
    "BakeError",
    "ChatTemplateError",
    "DriftError",
    "ExportError",
    "FitConfigError",
    "FitDataError",
    "FitMemoryError",
    "FitOutputError",
    "FormatError",
    "GenerationError",
    "GlimmerError",
    "GlimmerFileError",
    "GlimmerModelError",
    "GlimmerSyntaxError",
    "GlimmerValidationError",
    "GlossaryError",
    "GrammarError",
    "Location",
    "MergeError",
    "MissingExtraError",
    "NoConceptsError",
    "OptionError",
    "PlanError",
    "Problem",
    "QLoRAUnavailableError",
    "RecipeError",
    "RecordError",
    "RetentionError",
    "ReviewFileError",
    "SteerError",
    "SuiteError",
    "TeacherError",
    "TemplateError",
    "TemplateExportError",
    "UnsupportedArchitectureError",
    "VideoError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is: a source, a 1-based line and column, and a field path.

    Attributes:
        source: File path or a label such as ``"<string>"``; ``None`` when unknown.
        line: 1-based line, ``None`` when unknown.
        column: 1-based column, ``None`` when unknown.
        end_line: 1-based line where the span ends, if known.
        end_column: 1-based column just past the span's end, if known.
        field_path: Keys and indexes from the document root (model errors).
    """

    source: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    field_path: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        parts = [self.source or "<string>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    @property
    def dotted_path(self) -> str:
        """The field path written as ``metadata.harmonics[0].color``."""
        return format_field_path(self.field_path)


def format_field_path(path: Sequence[str | int]) -> str:
    """Write a field path the way users read it: ``content.sections[1].title``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


@lru_cache(maxsize=4)
def _lines(text: str) -> list[str]:
    # one split per text, however many problems it has (a str caches its own hash)
    return text.splitlines()


def caret_context(text: str, line: int, column: int, end_column: int | None = None) -> str:
    """Return the given 1-based line of *text* with a caret line under *column*."""
    lines = _lines(text)
    if not 1 <= line <= len(lines):
        return ""
    src = lines[line - 1].replace("\t", " ")
    if len(src) > 200:  # keep one line readable even on minified input
        start = max(0, column - 80)
        src = ("..." if start else "") + src[start : start + 160]
        column = column - start + (3 if start else 0)
        end_column = None
    width = 1
    if end_column is not None and end_column > column:
        width = min(end_column - column, max(1, len(src) - column + 1))
    return f"    {src}\n    {' ' * (column - 1)}{'^' * width}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a document; a :class:`GlimmerValidationError` holds several."""

    code: str
    message: str
    location: Location = field(default_factory=Location)
    hint: str | None = None
    context: str = ""

    def format(self, *, code: bool = False) -> str:
        """``file:line:col: message`` plus the caret context and the hint.

        With *code*, the line starts with the error code (``G104 demo.glimmer:1:26: ...``).
        A problem with no source and no line is just its message.
        """
        loc = self.location
        head = f"{loc}: {self.message}" if loc.source or loc.line else self.message
        if code:
            head = f"{self.code} {head}"
        if self.location.field_path:
            head += f" (at {self.location.dotted_path})"
        body = [head]
        if self.context:
            body.append(self.context)
        if self.hint:
            body.append(f"hint: {self.hint}")
        return "\n".join(body)


class GlimmerError(Exception):
    """Root of every error glimmer raises on bad input.

    Attributes:
        code: Stable identifier such as ``"G101"``; see the error reference.
        message: One line in the user's terms.
        location: Where the problem is (source, line, column, field path).
        hint: How to fix it, when there is something to say.
        context: The offending source line with a caret under the fault.
    """

    code = "G000"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        context: str = "",
        code: str | None = None,
    ) -> None:
        self.message = message
        self.location = location or Location()
        self.hint = hint
        self.context = context
        if code is not None:
            self.code = code
        super().__init__(self._render())

    def _render(self) -> str:
        return Problem(self.code, self.message, self.location, self.hint, self.context).format()

    @property
    def path(self) -> str | None:
        """The file (or source label) the error is in."""
        return self.location.source

    @property
    def line(self) -> int | None:
        """1-based line of the fault, when known."""
        return self.location.line

    @property
    def column(self) -> int | None:
        """1-based column of the fault, when known."""
        return self.location.column

    @property
    def field_path(self) -> tuple[str | int, ...]:
        """Keys and indexes from the document root to the fault."""
        return self.location.field_path

    @property
    def problems(self) -> list[Problem]:
        """Every problem this error stands for (one, except for validation errors)."""
        return [Problem(self.code, self.message, self.location, self.hint, self.context)]


class GlimmerSyntaxError(GlimmerError, ValueError):
    """Text that is not GLIMMER (or JSON, or weave) notation.

    Attributes:
        expected: What the parser would have accepted at the fault, in the user's terms.
    """

    code = "G100"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        context: str = "",
        code: str | None = None,
        expected: Sequence[str] = (),
    ) -> None:
        self.expected = tuple(expected)
        super().__init__(message, location=location, hint=hint, context=context, code=code)


class GlimmerValidationError(GlimmerError, ValueError):
    """Parsed data that is not a valid Pattern; carries every problem found.

    The first problem gives ``message``, ``location`` and ``hint``; ``problems`` lists all.
    """

    code = "G200"

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("GlimmerValidationError needs at least one problem")
        self._problems = list(problems)
        first = self._problems[0]
        super().__init__(
            first.message,
            location=first.location,
            hint=first.hint,
            context=first.context,
            code=first.code,
        )

    def _render(self) -> str:
        text = "\n".join(p.format() for p in self._problems)
        if len(self._problems) > 1:
            text = f"{len(self._problems)} problems:\n{text}"
        return text

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)


class GlimmerFileError(GlimmerError, OSError):
    """A path that does not exist, is a directory, is unreadable or is not UTF-8."""

    code = "G001"


class AdapterError(GlimmerFileError, ValueError):
    """A folder that is not a peft adapter (no ``adapter_config.json``), or a tuned arm
    with no adapter to compare."""

    code = "G603"


class FitOutputError(GlimmerError, FileExistsError):
    """The output folder already holds a run, and neither resume nor overwrite was asked."""

    code = "G505"


class FormatError(GlimmerError, ValueError):
    """A pattern format name glimmer does not know, or one it cannot format."""

    code = "G002"


class OptionError(GlimmerError, ValueError):
    """An argument or command-line option with a value glimmer does not accept.

    Codes: ``G006`` an unknown extra, ``G413`` bad builder arguments, ``G531`` an unknown
    doctor method, ``G586`` an unknown merge dtype, ``G653`` a demo seed count below 1,
    ``G656`` a no-repeat run length of 1 or below 0, ``G657`` an unknown compare precision.
    """

    code = "G006"


class MissingExtraError(GlimmerError, RuntimeError):
    """A feature needs an optional extra that is not installed.

    Attributes:
        extra: The extra's name (``"train"``, ``"eval"``, ``"expand"``, ``"qlora"``).
        missing: The top-level modules that could not be found.
    """

    code = "G005"

    def __init__(
        self, extra: str, missing: tuple[str, ...], *, feature: str, hint: str | None = None
    ) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{feature} needs the '{extra}' extra ({', '.join(missing)} not installed)",
            hint=hint or f'pip install "glimmer-dsl[{extra}]"',
        )


class GlossaryError(GlimmerError, ValueError):
    """A glossary file that is not valid TOML or not a valid glossary."""

    code = "G401"


class TemplateError(GlimmerError, ValueError):
    """A template that does not compile, names a missing variable, or fails while rendering."""

    code = "G410"


class RecordError(GlimmerError, ValueError):
    """A line of a JSONL file that is not a chat record."""

    code = "G412"


class RecipeError(GlimmerError, ValueError):
    """A recipe that is not valid TOML or names an unknown builder, format or option."""

    code = "G414"


class NoConceptsError(GlimmerError, ValueError):
    """A glossary with nothing for the builders to speak of: no concepts, only GLIMMER sections."""

    code = "G422"


class TeacherError(GlimmerError, ConnectionError):
    """The teacher server cannot be used: unreachable, unknown model, or refusing requests.

    Codes: ``G480`` server unreachable or timing out, ``G481`` unknown model, ``G483`` the
    server refused or kept failing, ``G484`` the openai client is not installed. The
    location is the server's base URL.
    """

    code = "G480"


class ReviewFileError(GlimmerError, ValueError):
    """A review file row that is not valid JSON or not a review row (code ``G482``)."""

    code = "G482"


class GlimmerModelError(GlimmerError, ValueError):
    """A model that cannot be found, converted or loaded."""

    code = "G501"


class ChatTemplateError(GlimmerError, ValueError):
    """A chat template that renders an assistant reply where it cannot be found."""

    code = "G502"


class QLoRAUnavailableError(GlimmerError, RuntimeError):
    """QLoRA was asked for where bitsandbytes cannot run it."""

    code = "G503"


class FitConfigError(GlimmerError, ValueError):
    """A fit configuration that is not valid (unknown option, wrong type, bad TOML)."""

    code = "G504"


class FitDataError(GlimmerError, ValueError):
    """The dataset given to fit() is missing, empty or not chat records."""

    code = "G506"


class BakeError(GlimmerError, ValueError):
    """The pattern to bake is missing or is not a GLIMMER pattern."""

    code = "G520"


class FitMemoryError(GlimmerError, ValueError):
    """A run that would not fit the device's memory, found before any weight is loaded."""

    code = "G530"


class PlanError(GlimmerError, ValueError):
    """A model, method, GPU or option the memory planner cannot work with."""

    code = "G570"


class MergeError(GlimmerError, ValueError):
    """An adapter that cannot be merged (no base model known, or not a LoRA adapter)."""

    code = "G575"


class ExportError(GlimmerError, ValueError):
    """An export that cannot be done: a bad quantisation, or a source that is not a model."""

    code = "G580"


class UnsupportedArchitectureError(ExportError):
    """A model whose architecture the GGUF exporter does not map."""

    code = "G581"


class TemplateExportError(GlimmerError, ValueError):
    """A chat template that cannot be written as an Ollama TEMPLATE."""

    code = "G584"


class SuiteError(GlimmerError, ValueError):
    """A suite file or row that cannot be used (``G601``), or no prompts at all (``G602``)."""

    code = "G601"


class GenerationError(GlimmerError, ValueError):
    """A pattern cannot be generated: an empty scenario (G640), an answer that is not a
    valid pattern (G644)."""

    code = "G640"


class GrammarError(GlimmerError, ValueError):
    """A generation grammar or format that cannot be used.

    Codes: ``G641`` an unknown format, ``G642`` a grammar the constraint library cannot
    compile.
    """

    code = "G642"


class AttackError(GlimmerError, ValueError):
    """An attack file or row that cannot be used (code ``G650``)."""

    code = "G650"


class DriftError(GlimmerError, ValueError):
    """A drift conversation file or row that cannot be used (code ``G651``)."""

    code = "G651"


class RetentionError(GlimmerError, ValueError):
    """A retention file whose rows are not neutral questions (code ``G652``)."""

    code = "G652"


class VideoError(GlimmerError, RuntimeError):
    """The video cannot be made: no encoder, or nothing to show (code ``G654``)."""

    code = "G654"


class SteerError(GlimmerError, ValueError):
    """The model's decoder layers cannot be found for steering (code ``G655``)."""

    code = "G655"
