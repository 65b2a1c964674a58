"""Record templates: sandboxed Jinja2 with strict variables, from the package and user folders.

A template is a ``.jinja2`` file whose id is its path without the suffix, e.g.
``application/lens``. It defines the blocks ``user`` and ``assistant`` (and optionally
``system``); each block is rendered on its own. Inside a template:

* ``pick(text)`` chooses one non-empty line of *text* (usually a ``{% set %}`` block),
  seeded per record; ``pick(text, key="name")`` chooses among lines written ``name | ...``.
* ``pick(list)`` chooses one item of a list.
* ``say(concept, slot, **fills)`` writes one sentence about a concept of the active glossary
  for a slot (``topic``, ``self``, ``change``, ``reading``; see :mod:`glimmer.data.sentences`),
  e.g. ``say(c1, "topic", topic=topic)``.
* ``cap`` upper-cases the first letter; ``join_and`` writes ``a, b and c``.

A missing variable or a template error is a :class:`TemplateError` naming the file and line.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from glimmer.data.sentences import Voice, voice
from glimmer.errors import GlimmerError, Location, TemplateError, caret_context
from glimmer.starweave.glossary import Glossary

__all__ = ["TemplateError", "TemplateSet", "build_budget", "inside_folder", "join_and"]

PACKAGE_DIR = Path(__file__).resolve().parent / "templates"
SUFFIX = ".jinja2"


def join_and(items: Iterable[Any]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    xs = [str(x) for x in items]
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]


def _cap(text: Any) -> str:
    s = str(text)
    return s[:1].upper() + s[1:]


@cache
def _lines(text: str) -> tuple[str, ...]:
    return tuple(s for s in (line.strip() for line in text.splitlines()) if s)


@cache
def _keyed(text: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for line in _lines(text):
        key, sep, rest = line.partition(" | ")
        if sep:
            out.setdefault(key.strip(), []).append(rest.strip())
    return {k: tuple(v) for k, v in out.items()}


_RNG: contextvars.ContextVar[random.Random] = contextvars.ContextVar("glimmer_template_rng")
_VOICE: contextvars.ContextVar[Voice | None] = contextvars.ContextVar(
    "glimmer_template_voice", default=None
)


class _Sayer:
    """The ``say`` global: a concept's sentence for a slot, in the voice of the active glossary."""

    __slots__ = ()

    def __call__(self, concept: str, slot: str, **fills: Any) -> str:
        v = _VOICE.get() or voice(Glossary.default())
        return v.line(str(concept), slot, _RNG.get(), **{k: str(x) for k, x in fills.items()})


class _Picker:
    """The ``pick`` global: choices drawn from the generator of the record being rendered.

    A global (not a context variable) so that imported macro files need no context and
    Jinja caches them; the generator is the render's, held in a context variable.
    """

    __slots__ = ()

    def __call__(self, pool: str | Sequence[Any], key: str | None = None) -> Any:
        if isinstance(pool, str):
            options: Sequence[Any] = _keyed(pool).get(key, ()) if key is not None else _lines(pool)
        else:
            options = pool
        if not options:
            raise ValueError(
                f"pick() found nothing to choose from{f' for key {key!r}' if key else ''}"
            )
        return options[_RNG.get().randrange(len(options))]


def _template_frame(tb: Any) -> tuple[str | None, int | None]:
    """The template file and line of the innermost template frame in a traceback."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(SUFFIX) or filename == "<template>":
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


RECORD_SECONDS = 5.0
"""Most time one record's templates may take to render."""

RECORD_CHARS = 1_000_000
"""Most text one record's templates may produce (and the largest number a template may
pass to a function or filter, or repeat a string by)."""

BUILD_SECONDS = 900.0
"""Most time the templates of one build may take together (see :func:`build_budget`)."""

BUILD_CHARS = 256 * 1_000_000
"""Most text the templates of one build may produce together."""


class _BuildBudget:
    __slots__ = ("chars", "seconds")

    def __init__(self, seconds: float, chars: int) -> None:
        self.seconds = seconds
        self.chars = chars


_BUILD: contextvars.ContextVar[_BuildBudget | None] = contextvars.ContextVar(
    "glimmer_build_budget", default=None
)
_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar(
    "glimmer_template_deadline", default=float("inf")
)


class _OverBudget(Exception):
    """Raised inside a render that passes its budget; becomes a :class:`TemplateError`."""


@contextlib.contextmanager
def build_budget(seconds: float = BUILD_SECONDS, chars: int = BUILD_CHARS) -> Iterator[None]:
    """Bound the time and text of every template rendered inside the block, together.

    Each record is bounded on its own as well (:data:`RECORD_SECONDS`, :data:`RECORD_CHARS`).
    """
    token = _BUILD.set(_BuildBudget(seconds, chars))
    try:
        yield
    finally:
        _BUILD.reset(token)


def _check_deadline() -> None:
    if time.monotonic() > _DEADLINE.get():
        raise _OverBudget("ran past its time budget")


def _check_size(value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > RECORD_CHARS:
        raise _OverBudget(f"a number too large for a template ({value:.3g})")


class _BudgetSandbox(SandboxedEnvironment):
    """A sandbox that bounds what a template can make: big repeats, powers and widths are
    refused before they are computed, and every call checks the render's deadline."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_deadline()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(n, int)
                    and len(seq) * n > RECORD_CHARS
                ):
                    raise _OverBudget("a repeated string or list past the output budget")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise _OverBudget(f"a power too large for a template ({right:.3g})")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        for value in (*args, *kwargs.values()):
            _check_size(value)
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        for value in (*args[1:], *kwargs.values()):
            _check_size(value)
        return fn(*args, **kwargs)

    return bounded


class _Alarm:
    """The render's deadline from outside the template: a timer signal (main thread only,
    where nothing else uses it) that interrupts even a loop that calls nothing."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def __enter__(self) -> _Alarm:
        if (
            hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        ):
            signal.signal(signal.SIGALRM, self._ring)
            signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001))
            self.armed = True
        return self

    @staticmethod
    def _ring(signum: int, frame: Any) -> None:
        raise _OverBudget("ran past its time budget")

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)


def inside_folder(path: str | Path, root: str | Path) -> bool:
    """Whether *path* (links followed) lies in the folder *root*: where a recipe's own
    templates may come from, so that ``{% include %}`` reads nothing else on the machine."""
    target, base = Path(path).resolve(), Path(root).resolve()
    return target == base or base in target.parents


class TemplateSet:
    """The templates of every category: the package's, overlaid by user folders.

    A user folder holds ``<category>/<name>.jinja2`` files; one with the same id as a
    bundled template replaces it, others are added.

    Args:
        user_dirs: Folders searched before the package's own templates.

    Examples:
        >>> ts = TemplateSet()
        >>> "application/lens" in ts.ids("application")
        True
    """

    def __init__(self, user_dirs: Sequence[str | Path] = ()) -> None:
        self.dirs = [Path(d) for d in user_dirs] + [PACKAGE_DIR]
        self.env = _BudgetSandbox(
            loader=jinja2.FileSystemLoader([str(d) for d in self.dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        self.env.filters["cap"] = _cap
        self.env.filters["join_and"] = join_and
        for name, fn in list(self.env.filters.items()):
            self.env.filters[name] = _bounded_filter(fn)
        self.env.globals["pick"] = _Picker()
        self.env.globals["say"] = _Sayer()
        self._ids: dict[str, list[str]] = {}
        self._compiled: dict[str, jinja2.Template] = {}

    def ids(self, category: str, /) -> list[str]:
        """Template ids of a category, sorted (user templates included)."""
        if category not in self._ids:
            names: set[str] = set()
            for d in self.dirs:
                folder = d / category
                if folder.is_dir():
                    names.update(
                        p.stem for p in folder.glob(f"*{SUFFIX}") if not p.stem.startswith("_")
                    )
            self._ids[category] = sorted(f"{category}/{n}" for n in names)
        return self._ids[category]

    def path(self, template_id: str, /) -> Path | None:
        """The file a template id resolves to."""
        for d in self.dirs:
            p = d / f"{template_id}{SUFFIX}"
            if p.is_file():
                return p
        return None

    def _get(self, template_id: str) -> jinja2.Template:
        tpl = self._compiled.get(template_id)
        if tpl is None:
            try:
                tpl = self.env.get_template(f"{template_id}{SUFFIX}")
            except jinja2.TemplateNotFound:
                raise TemplateError(
                    f"no template {template_id!r}",
                    location=Location(template_id),
                    hint=f"add {template_id}{SUFFIX} to a template folder",
                    code="G411",
                ) from None
            except jinja2.TemplateSyntaxError as exc:
                raise self._error(exc, template_id, exc.filename, exc.lineno) from None
            self._compiled[template_id] = tpl
        return tpl

    def _error(
        self, exc: BaseException, template_id: str, filename: str | None, line: int | None
    ) -> TemplateError:
        if filename is None:
            p = self.path(template_id)
            filename = str(p) if p else template_id
        context = ""
        if line is not None and Path(filename).is_file():
            context = caret_context(Path(filename).read_text(encoding="utf-8"), line, 1)
        if isinstance(exc, jinja2.UndefinedError):
            msg = f"template {template_id!r}: {exc.message}"
            hint = "the builder does not provide that variable; check its spelling against the builder's documented variables"
            code = "G411"
        else:
            msg = f"template {template_id!r}: {type(exc).__name__}: {exc}"
            hint = "fix the template; blocks are user, assistant and optionally system"
            code = "G410"
        return TemplateError(
            msg,
            location=Location(filename, line, 1 if line else None),
            context=context,
            hint=hint,
            code=code,
        )

    def render(
        self,
        template_id: str,
        /,
        variables: dict[str, Any],
        *,
        rng: random.Random,
        verbatim: dict[str, str] | None = None,
        glossary: Glossary | None = None,
    ) -> dict[str, str]:
        """Render the blocks of a template.

        Args:
            template_id: e.g. ``"application/lens"``.
            variables: What the template may use.
            rng: The record's generator; ``pick`` draws from it.
            verbatim: Variables inserted after whitespace is tidied (pattern text, code).
            glossary: The glossary ``say`` speaks for; the bundled one when ``None``.

        Returns:
            Block name (``system``, ``user``, ``assistant``) -> rendered, stripped text.

        Raises:
            TemplateError: The template is missing, does not compile, or fails to render.
        """
        tpl = self._get(template_id)
        marks = {k: f"\x00{k}\x00" for k in verbatim or {}}
        ctx = tpl.new_context({**variables, **marks})
        token = _RNG.set(rng)
        voice_token = _VOICE.set(voice(glossary) if glossary is not None else None)
        build = _BUILD.get()
        seconds = min(RECORD_SECONDS, build.seconds) if build is not None else RECORD_SECONDS
        chars = min(RECORD_CHARS, build.chars) if build is not None else RECORD_CHARS
        start = time.monotonic()
        deadline_token = _DEADLINE.set(start + seconds)
        out: dict[str, str] = {}
        try:
            with _Alarm(seconds):
                for name in ("system", "user", "assistant"):
                    block: Callable[[Any], Iterable[str]] | None = tpl.blocks.get(name)
                    if block is not None:
                        text = _bounded_join(block(ctx), chars - sum(map(len, out.values())))
                        out[name] = text
            for name, text in out.items():
                text = _tidy(text)
                for k, mark in marks.items():
                    if mark in text:
                        text = text.replace(mark, (verbatim or {})[k])
                out[name] = text
        except GlimmerError:
            raise
        except _OverBudget as exc:
            raise TemplateError(
                f"template {template_id!r} {exc} (at most {seconds:g} s and {chars:,} "
                "characters per record)",
                location=Location(str(self.path(template_id) or template_id)),
                hint="a template writes one record: remove the loop or repetition that grows "
                "without bound",
                code="G410",
            ) from None
        except Exception as exc:
            try:  # let Jinja rewrite the traceback so frames carry template lines
                self.env.handle_exception()
            except Exception as rewritten:
                filename, line = _template_frame(rewritten.__traceback__)
            raise self._error(exc, template_id, filename, line) from None
        finally:
            _RNG.reset(token)
            _VOICE.reset(voice_token)
            _DEADLINE.reset(deadline_token)
            if build is not None:
                build.seconds -= time.monotonic() - start
                build.chars -= sum(map(len, out.values()))
        if "user" not in out or "assistant" not in out:
            raise TemplateError(
                f"template {template_id!r} needs a user and an assistant block",
                location=Location(str(self.path(template_id) or template_id)),
                hint="{% block user %}...{% endblock %} and {% block assistant %}...{% endblock %}",
                code="G410",
            )
        return out


def _bounded_join(chunks: Iterable[str], limit: int) -> str:
    """Join a block's output, stopping as soon as it passes *limit* characters or its time."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _OverBudget("wrote past its output budget")
        _check_deadline()
        parts.append(chunk)
    return "".join(parts)


_ITEM = re.compile(r"^(?:[-*] |\d+\. )")


def _tidy(text: str) -> str:
    """Tidy rendered text: one paragraph per blank-line run, spaces collapsed, list items kept on their own lines."""
    paras: list[str] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines: list[str] = []
        for raw in para.splitlines():
            line = " ".join(raw.split())
            if not line:
                continue
            if lines and not _ITEM.match(line):
                lines[-1] += " " + line
            else:
                lines.append(line)
        if lines:
            paras.append("\n".join(lines))
    return "\n\n".join(paras)
