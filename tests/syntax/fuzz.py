"""Fuzzing glimmer's readers: real files mangled, special inputs, and one check per input.

Shared by the fuzz property tests (a small budget, in every test run) and by
``benchmarks/fuzz.py`` (a long run that prints figures). An input is a seed text (an example
pattern or a corpus file) changed by a few random edits: cuts, copies, swaps, changed
characters and inserted special pieces (unterminated comments and strings, lone
surrogates, huge and non-finite numbers, deep brackets, weave markers, ...).

:func:`check` runs one input through a format and says what went wrong, if anything: an
exception that is not a :class:`~glimmer.errors.GlimmerError`, a call over the time limit, a
round trip (``dumps`` then ``loads``, in every format) that does not give back an equal
pattern with its keys in the same order, or ``check`` and ``fmt`` disagreeing on whether
the text is valid.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import glimmer
from glimmer.errors import GlimmerError, GlimmerSyntaxError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("GLIMMER_CORPUS", ROOT.parent / "shared" / "corpus" / "glimmer"))
FORMATS = ("glimmer", "json", "weave", "extract")
SLOW_SECONDS = 2.0

SPECIALS = (
    "/*",
    "*/",
    "//",
    '"""',
    '"',
    "\\",
    "\\u",
    "\\ud800",
    "\\udc00",
    "\\ud83d\\ude00",
    "\ud800",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" + "0" * 4300,
    "0.0000000000000000000000001",
    "-0",
    "[" * 250,
    "]" * 250,
    "{" * 250,
    "}",
    "]",
    "[",
    "{",
    ",",
    ",,",
    ":",
    "#FF69B4",
    "#GG",
    "2025-02-30T25:61:00Z",
    "1.0.0",
    "\u0e51.\u0e52.\u0e53",
    "true",
    "null",
    "@pattern_meta@",
    "\n@pattern_meta@\n",
    "GLIMMER Pattern:",
    "@story@",
    "\n@story@\n",
    "~story~ = ",
    ">>> ",
    " >define> ",
    " <weave< ",
    "[ a | b ]",
    "|",
    "\x00",
    "\ufeff",
    "\r",
    "\r\n",
    "\t",
    "\u2028",
    "```glimmer\n",
    "```json\n",
    "```\n",
    "metadata",
    "harmonics",
    "story",
    "weave",
    "quoted",
    "prefix",
)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def seeds() -> dict[str, list[str]]:
    """Seed texts per format: the examples, and the corpus where it is checked out."""
    ex = ROOT / "examples" / "patterns"
    fixtures = ROOT / "tests" / "syntax" / "fixtures"
    cases = _read(fixtures / "identity.glimmer").split("\n%%\n")
    dsl = [_read(p) for p in sorted(ex.glob("*.glimmer"))] + [c for c in cases if c.strip()]
    weave = [_read(p) for p in sorted(ex.glob("*.we"))] + [_read(fixtures / "identity.we")]
    json_ = [glimmer.dumps(glimmer.loads(t), format="json") for t in dsl]
    md = []
    if CORPUS.is_dir():
        json_ += [_read(p) for p in sorted(CORPUS.rglob("*.json")) if "schema" not in p.name]
        weave += [_read(p) for p in sorted(CORPUS.rglob("*.we"))]
        md += [_read(p) for p in sorted(CORPUS.rglob("*.md"))]
    embedded = [
        "const x = 1;\n```glimmer\n" + dsl[0] + "```\n",
        "// header\n" + weave[0] + "\nfn main() {}\n",
        "# Notes\n\n```json\n" + json_[0] + "```\n\ntext\n",
        *md,
    ]
    return {"glimmer": dsl + json_[:3], "json": json_, "weave": weave, "extract": embedded}


def mutate(text: str, rng: random.Random, edits: int) -> str:
    """*text* changed by *edits* random edits."""
    for _ in range(edits):
        n = len(text)
        i = rng.randrange(n + 1)
        j = min(n, i + rng.choice((1, 2, 4, 16, 64, 256)))
        op = rng.randrange(7)
        if op == 0:  # cut
            text = text[:i] + text[j:]
        elif op == 1:  # copy a span somewhere else
            k = rng.randrange(n + 1)
            text = text[:k] + text[i:j] + text[k:]
        elif op in (2, 3):  # insert a special piece
            text = text[:i] + rng.choice(SPECIALS) + text[i:]
        elif op == 4:  # replace one character
            c = chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x10FFFF))))
            c = "?" if 0xD800 <= ord(c) <= 0xDFFF and rng.random() < 0.9 else c
            text = text[:i] + c + text[i + 1 :]
        elif op == 5:  # swap two spans
            k = rng.randrange(n + 1)
            a, b = sorted((i, k))
            text = text[:a] + text[b : b + 8] + text[a + 8 : b] + text[a : a + 8] + text[b + 8 :]
        else:  # repeat a span many times
            text = text[:i] + text[i:j] * rng.choice((2, 10, 100)) + text[j:]
    return text


@dataclass
class Outcome:
    """What went wrong with one input (all empty or False when nothing did)."""

    raw: str = ""
    """``Type: message`` of an exception that is not a GlimmerError."""
    slow: float = 0.0
    """Seconds of the slowest call when over :data:`SLOW_SECONDS`."""
    round_trip: str = ""
    """What a failed round trip or a check/fmt disagreement looked like."""
    valid: bool = False
    """Whether the input loaded."""


def _timed(outcome: Outcome, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        took = time.perf_counter() - start
        if took > SLOW_SECONDS:
            outcome.slow = max(outcome.slow, took)


def _same(a: glimmer.Pattern, b: glimmer.Pattern) -> bool:
    return a == b and _order(a.to_data()) == _order(b.to_data())


def _order(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k, _order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_order(v) for v in value]
    return value


def check(fmt: str, text: str) -> Outcome:
    """Run *text* through *fmt* (or :func:`glimmer.extract`) and report what went wrong."""
    out = Outcome()
    try:
        if fmt == "extract":
            found = _timed(out, lambda: glimmer.extract(text))
            patterns = [f.pattern for f in found]
        else:
            patterns = [_timed(out, lambda: glimmer.loads(text, format=fmt))]
        out.valid = True
        for p in patterns:
            for to in ("glimmer", "json", "weave"):
                written = _timed(out, lambda p=p, to=to: glimmer.dumps(p, format=to))
                back = _timed(out, lambda w=written, to=to: glimmer.loads(w, format=to))
                if not _same(back, p):
                    out.round_trip = f"{fmt} -> {to}: {written[:200]!r}"
                    return out
        if fmt != "extract":  # what check accepts, fmt formats, and the result reads the same
            formatted = _timed(out, lambda: glimmer.format_text(text, format=fmt))
            again = _timed(out, lambda: glimmer.loads(formatted, format=fmt))
            if not _same(again, patterns[0]):
                out.round_trip = f"fmt {fmt}: {formatted[:200]!r}"
    except GlimmerSyntaxError as exc:
        if out.valid:
            out.round_trip = f"{fmt}: loads accepts, a later step says {exc.code} {exc.message}"
    except GlimmerError:
        pass
    except Exception as exc:  # the very thing the fuzzer looks for
        out.raw = f"{type(exc).__name__}: {str(exc)[:200]}"
    if fmt not in ("extract", "json") and not out.valid and not out.raw:
        # fmt must refuse what check refuses as syntax, and accept what parses
        try:
            formatted = _timed(out, lambda: glimmer.format_text(text, format=fmt))
        except GlimmerError:
            pass
        except Exception as exc:
            out.raw = f"fmt {type(exc).__name__}: {str(exc)[:200]}"
        else:
            try:
                glimmer.loads(text, format=fmt)
            except GlimmerSyntaxError as exc:
                out.round_trip = f"fmt {fmt} formats what loads calls {exc.code}: {text[:120]!r}"
            except GlimmerError:
                pass
    return out
