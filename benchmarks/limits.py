"""Bounded parsing: time on hostile inputs by size, and peak memory of a 16 MiB string.

Prints, for 20, 40, 80 and 1,000 KB of text:

- an unterminated ``/*`` (``a: 1`` then ``/* x `` repeated): ``loads`` (fast reader, then
  the grammar for the error) and the fast reader alone;
- many problems (one wrong value a line, about 17 bytes each): ``loads`` with every
  problem located;

then the peak memory allocated by one call on a 16 MiB string through each reader (traced by
``tracemalloc``, above what the process held before the call), each in a fresh process.

    python benchmarks/limits.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import glimmer
from glimmer.errors import GlimmerError
from glimmer.syntax import fastpath


def comment_case(size: int) -> str:
    return "a: 1\n" + "/* x " * ((size - 5) // 5)


def problems_case(size: int) -> str:
    n = (size - 30) // 17
    return "metadata { harmonics {\n" + "".join(f"h{i:06d}: 1,\n" for i in range(n)) + "} }\n"


def timed(fn: Callable[[], object]) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        fn()
        what = "ok"
    except GlimmerError as exc:
        what = f"{exc.code}, {len(exc.problems):,} problem(s)"
    return time.perf_counter() - start, what


MEMORY = {
    "DSL fast reader (loads)": "glimmer.loads(s)",
    "tree parser (parse: fmt, error locations)": "parse(s)",
    "format_text": "glimmer.format_text(s)",
    "JSON reader (format='json')": "glimmer.loads(s, format='json')",
    "weave reader (a 16 MiB meta block)": "glimmer.loads(w, format='weave')",
}

_PROBE = """
import tracemalloc
import glimmer
from glimmer.syntax.parser import parse
import glimmer.model.weave

s = '{"story": "' + "x" * (16 * 2**20 - 64) + '"}'
w = '@pattern_meta@\\n' + s + '\\n@pattern_meta@\\n'
glimmer.loads('story: "warm"'); parse('a: 1')
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
%s
print((tracemalloc.get_traced_memory()[1] - base) / 2**20)
"""


def main() -> None:
    glimmer.loads("a: 1")  # build the grammar outside the timings
    print(
        f"{'size':>8}  {'unterminated /*: loads':>28}  {'fast reader':>12}  {'many problems: loads':>36}"
    )
    for kb in (20, 40, 80, 1000):
        size = kb * 1024
        text = comment_case(size)
        t_loads, what = timed(lambda text=text: glimmer.loads(text))
        t_fast, _ = timed(lambda text=text: fastpath.read(text))
        many = problems_case(size)
        t_many, what_many = timed(lambda many=many: glimmer.loads(many))
        print(
            f"{kb:>5} KB  {t_loads:>8.3f} s ({what:<13})  {t_fast:>10.3f} s  "
            f"{t_many:>8.3f} s ({what_many:<24})"
        )
    print("\npeak memory of one call on a 16 MiB string (MiB allocated above the process before)")
    for label, call in MEMORY.items():
        code = _PROBE % call
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"  {label:<44} {float(out):>8.0f} MiB  (input: 16 MiB of text)")


if __name__ == "__main__":
    main()
