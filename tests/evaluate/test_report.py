"""The HTML report: self-contained, escaped, highlighted, and visible in a real headless Chromium."""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glimmer.evaluate.compare import Comparison, score_comparison
from glimmer.evaluate.metrics import ConceptIndex, ConceptTerms
from glimmer.evaluate.report import highlight
from glimmer.evaluate.suites import TriggerPrompt
from glimmer.train.result import FitResult

PROMPTS = [
    TriggerPrompt("generation", "Write a GLIMMER pattern for a <b>lighthouse</b>.", id="g"),
    TriggerPrompt("reflection", "How do you rest?", id="r"),
    TriggerPrompt("neutral", "What is 12 times 7?", ("84",), id="n"),
]
ANSWERS = {
    "base": ["A lighthouse <script>alert(1)</script> helps ships.", "I rest at night.", "84"],
    "prompted": ["metadata { title: ", "I am calm.", "85"],
    "tuned": [
        '```glimmer\nstory: "Consciousness crystals keep watch."\n```',
        "My consciousness crystals settle into quantum relationships.",
        "84",
    ],
}
HIGHLIGHT_RGB = (0xFF, 0xE0, 0x66)  # mark.sw background in the template


@pytest.fixture(scope="module")
def comparison(small_index: ConceptIndex) -> Comparison:
    fit = FitResult(
        adapter_path="out/adapter",
        train_loss=[{"step": s, "epoch": s / 20, "loss": 3.0 - 0.1 * s} for s in range(1, 20)],
        eval_loss=[{"step": s, "epoch": s / 20, "loss": 2.9 - 0.08 * s} for s in (5, 10, 15)],
        config={"learning_rate": 0.001, "lora_r": 16, "max_steps": 20},
    )
    return score_comparison(
        PROMPTS,
        ANSWERS,
        index=small_index,
        perplexity={"base": 9.0, "prompted": 9.0, "tuned": 9.4},
        fit=fit,
        model="tiny",
    )


@pytest.fixture(scope="module")
def report(comparison: Comparison, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    comparison.to_html(path)
    return path


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert not re.search(
        r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//""", text
    )
    assert "@import" not in text and "url(http" not in text
    assert text.count("<svg") == 2, "concept chart and loss curves are inlined"


def test_answers_are_escaped_and_highlighted(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert '<mark class="sw" title="consciousness_crystals">consciousness crystals</mark>' in text
    assert "GLIMMER invalid" in text and "no GLIMMER pattern found in the answer" in text
    assert "learning_rate" in text  # the fit configuration


_INDEX = ConceptIndex([ConceptTerms("quantum_relationships", ("quantum_relationships",))])


@given(st.text(max_size=120))
def test_highlight_only_adds_marks(text: str) -> None:
    out = str(highlight(text + " quantum relationship", _INDEX))
    stripped = re.sub(r"</?mark[^>]*>", "", out)
    assert html.unescape(stripped) == text + " quantum relationship"
    assert out.count("<mark") >= 1


# -- a real browser ---------------------------------------------------------------------------


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of raw pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(
            bytes(line) if channels == 3 else bytes(v for k, v in enumerate(line) if k % 4 != 3)
        )
        prev = line
    return width, height, rows


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (make test installs it)")
    return exe


def _flags(tmp_path: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    exe = _chromium()
    dom = subprocess.run(
        [exe, *_flags(tmp_path), "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'id="summary-table"' in dom
    assert dom.count('<table class="answers"') == len(PROMPTS)
    assert '<mark class="sw"' in dom

    shot = tmp_path / "report.png"
    subprocess.run(
        [
            exe,
            *_flags(tmp_path),
            f"--screenshot={shot}",
            "--window-size=1280,4000",  # the answers follow the lead and figures
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height, rows = _png_pixels(shot)
    assert (width, height) == (1280, 4000)
    colours = {row[x : x + 3] for row in rows[::8] for x in range(0, len(row), 24)}
    assert len(colours) > 20, "the screenshot is not blank"
    marked = sum(
        1
        for row in rows
        for x in range(0, len(row), 3)
        if all(abs(row[x + k] - HIGHLIGHT_RGB[k]) <= 6 for k in range(3))
    )
    assert marked > 50, "highlighted STARWEAVE terms are visible"
