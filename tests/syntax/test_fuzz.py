"""Fuzzing on a small budget: mangled real files and special inputs through every reader.

Every input is either a pattern that round-trips through every format (keys in order) or a
GlimmerError; ``check`` and ``fmt`` agree. ``benchmarks/fuzz.py`` runs the same checks on
many more inputs. Work grows linearly with the input for the reader and the error locator.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glimmer
from glimmer import errors
from glimmer.errors import GlimmerError
from glimmer.syntax import fastpath
from tests.syntax.fuzz import FORMATS, SPECIALS, check, mutate, seeds

SEEDS = seeds()


@pytest.mark.parametrize("fmt", FORMATS)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mangled_files_load_or_fail_cleanly(fmt: str, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS[fmt]), label="seed")
    rng = data.draw(st.randoms(use_true_random=False), label="rng")
    text = mutate(seed, rng, data.draw(st.integers(1, 6), label="edits"))
    out = check(fmt, text)
    assert not out.raw, (out.raw, text)
    assert not out.round_trip, (out.round_trip, text)


CONTEXTS: dict[str, tuple[str, ...]] = {
    "glimmer": ("story: {}", '{{"story": {}}}', "metadata {{ harmonics {{ a: {} }} }}", "{}"),
    "json": ('{{"story": {}}}', '{{"metadata": {{"title": "{}"}}}}', "{}"),
    "weave": (
        "@story@\n    a > {}\n@story@\n",
        '@pattern_meta@\n{{"story": "{}"}}\n@pattern_meta@\n',
        "~story~ = {}\n",
        "{}",
    ),
    "extract": ("```glimmer\nstory: {}\n```\n", "// x\n@pattern_meta@\n{{{}}}\n@pattern_meta@\n"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("special", SPECIALS)
def test_special_inputs_load_or_fail_cleanly(fmt: str, special: str) -> None:
    for context in CONTEXTS[fmt]:
        for piece in (special, special * 3):
            out = check(fmt, context.format(piece))
            assert not out.raw, (out.raw, context, piece)
            assert not out.round_trip, (out.round_trip, context, piece)


def _best_of(fn: Callable[[], object], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_fast_reader_time_grows_linearly_on_unterminated_comments() -> None:
    # A rescanning reader takes 64 times longer on 8 times the text (it did: 0.5 s at 20 KB,
    # 7.5 s at 80 KB); a linear one about 8 times. The bound leaves room for a busy machine.
    def text(n: int) -> str:
        return "a: 1\n" + "/* x " * (n // 5)

    small, large = text(20_000), text(160_000)
    assert fastpath.read(small) is None  # the grammar decides (and reports G102)
    ratio = _best_of(lambda: fastpath.read(large)) / max(
        _best_of(lambda: fastpath.read(small)), 1e-5
    )
    assert ratio < 24, ratio


def test_error_locator_splits_the_text_once_however_many_problems() -> None:
    n = 3000
    text = "metadata {\n  harmonics {\n" + "".join(f"    h{i}: 1\n" for i in range(n)) + "  }\n}\n"
    before = errors._lines.cache_info().misses
    with pytest.raises(GlimmerError) as info:
        glimmer.loads(text)
    assert len(info.value.problems) == n
    assert errors._lines.cache_info().misses - before == 1
    lines = [p.location.line for p in info.value.problems]
    assert lines == list(range(3, n + 3))
