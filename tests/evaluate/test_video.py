"""The side-by-side video: frames from a comparison's answers, an MP4 and a GIF."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimmer.evaluate.compare import score_comparison
from glimmer.evaluate.metrics import ConceptIndex
from glimmer.evaluate.suites import TriggerPrompt
from glimmer.evaluate.video import VideoError, pick_rows, render_video

PROMPTS = [
    TriggerPrompt("application", "What is a river?", id="a1"),
    TriggerPrompt("application", "What is a bridge?", id="a2"),
    TriggerPrompt("reflection", "How do you rest?", id="r"),
    TriggerPrompt("neutral", "2+2?", ("4",), id="n"),
]
ANSWERS = {
    "base": ["Water.", "A crossing.", "I sleep.", "4"],
    "prompted": ["Water.", "A quantum relationship.", "I sleep.", "4"],
    "tuned": [
        "A river is a meta_intelligence_flow.",
        "Consciousness crystals and quantum relationships, an interface_bridge.",
        "My consciousness crystals settle.",
        "4",
    ],
}


def test_pick_rows_prefers_one_per_category_and_the_biggest_shift(
    small_index: ConceptIndex,
) -> None:
    c = score_comparison(PROMPTS, ANSWERS, index=small_index)
    assert [r.id for r in pick_rows(c, count=2)] == ["a2", "r"]
    assert [r.id for r in pick_rows(c, count=5)] == ["a1", "a2", "r"]  # never a neutral row


def test_render_video_writes_an_mp4_and_a_gif(small_index: ConceptIndex, tmp_path: Path) -> None:
    from PIL import Image

    c = score_comparison(PROMPTS, ANSWERS, index=small_index)
    files = render_video(c, tmp_path / "v" / "demo.mp4", prompts=2, fps=4, seconds_per_prompt=1)
    mp4, gif = files
    assert mp4 == tmp_path / "v" / "demo.mp4" and gif.suffix == ".gif"
    assert mp4.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    with Image.open(gif) as im:
        assert im.size == (640, 360) and im.n_frames > 5
    assert c.video == "demo.mp4"
    assert not list((tmp_path / "v").glob(".*tmp*"))  # written atomically


def test_render_video_needs_a_non_neutral_answer(small_index: ConceptIndex, tmp_path: Path) -> None:
    c = score_comparison(PROMPTS[3:], {a: v[3:] for a, v in ANSWERS.items()}, index=small_index)
    with pytest.raises(VideoError) as info:
        render_video(c, tmp_path / "x.mp4")
    assert info.value.code == "G654"
