"""A short video of the arms answering side by side, typed out, with the figures at the end.

:func:`render_video` draws frames with Pillow from a comparison's own answers: a few prompts
(one per category, where the arms differ most), each arm's answer typed out in its column
in the order it was generated, then a closing card with the headline figures and their
intervals. The MP4 is encoded by the ffmpeg that ``imageio-ffmpeg`` ships (the ``eval``
extra); an animated GIF for READMEs is written beside it with Pillow.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from glimmer.errors import VideoError

if TYPE_CHECKING:  # pragma: no cover
    from glimmer.evaluate.results import Comparison, PromptRow

__all__ = ["VideoError", "pick_rows", "render_video"]

_SIZE: Final = (1280, 720)
_BG: Final = (250, 249, 252)
_INK: Final = (30, 27, 46)
_MUTED: Final = (107, 104, 128)
_COLORS: Final = {
    "base": (100, 116, 139),
    "prompted": (37, 99, 235),
    "tuned": (192, 38, 211),
    "steered": (22, 163, 74),
}


def pick_rows(comparison: Comparison, /, *, count: int = 4) -> list[PromptRow]:
    """Up to *count* non-neutral rows, one per category first, where the tuned arm uses most concepts."""
    rows = [r for r in comparison.rows if r.category != "neutral"]

    def score(r: PromptRow) -> int:
        return sum(len(a.concepts) for arm, a in r.answers.items() if arm != "base")

    ranked = sorted(rows, key=score, reverse=True)
    out: list[PromptRow] = []
    for r in ranked:
        if len(out) < count and all(o.category != r.category for o in out):
            out.append(r)
    for r in ranked:
        if len(out) < count and r not in out:
            out.append(r)
    return sorted(out, key=rows.index)


def _font(size: int, bold: bool = False) -> Any:
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size)


def _wrap(text: str, font: Any, width: int) -> list[str]:
    avg = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz ") / 27)
    cols = max(8, int(width / avg))
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        lines += textwrap.wrap(para, cols, replace_whitespace=False, drop_whitespace=True) or [""]
    return lines


def _answer_frame(
    row: PromptRow, arms: Sequence[str], shown: dict[str, str], fonts: dict[str, Any], title: str
) -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", _SIZE, _BG)
    d = ImageDraw.Draw(img)
    d.text((40, 22), title, font=fonts["small"], fill=_MUTED)
    prompt = _wrap(row.prompt, fonts["prompt"], _SIZE[0] - 80)[:2]
    for k, line in enumerate(prompt):
        d.text((40, 48 + 30 * k), line, font=fonts["prompt"], fill=_INK)
    top = 48 + 30 * len(prompt) + 18
    col_w = (_SIZE[0] - 80 - 20 * (len(arms) - 1)) // len(arms)
    line_h = 22
    for k, arm in enumerate(arms):
        x = 40 + k * (col_w + 20)
        color = _COLORS.get(arm, _MUTED)
        d.rounded_rectangle(
            (x, top, x + col_w, _SIZE[1] - 30), 10, fill=(255, 255, 255), outline=color, width=2
        )
        d.text((x + 14, top + 10), arm, font=fonts["arm"], fill=color)
        lines = _wrap(shown.get(arm, ""), fonts["body"], col_w - 28)
        room = (_SIZE[1] - 30 - (top + 48)) // line_h
        for j, line in enumerate(lines[-room:]):
            d.text((x + 14, top + 44 + j * line_h), line, font=fonts["body"], fill=_INK)
    return img


def _end_frame(lines: Sequence[str], fonts: dict[str, Any]) -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", _SIZE, (30, 27, 75))
    d = ImageDraw.Draw(img)
    d.text(
        (60, 50),
        "Is this just a prompt, or is it changing the model?",
        font=fonts["arm"],
        fill=(255, 255, 255),
    )
    y = 110
    for line in lines:
        for part in _wrap(line, fonts["body"], _SIZE[0] - 120):
            d.text((60, y), part, font=fonts["body"], fill=(235, 233, 245))
            y += 26
        y += 10
    return img


def _frames(
    comparison: Comparison, rows: Sequence[PromptRow], fps: int, seconds_per_prompt: float
) -> Iterator[Any]:
    from glimmer.evaluate.verdict import lead

    fonts = {
        "small": _font(16),
        "prompt": _font(24, bold=True),
        "arm": _font(22, bold=True),
        "body": _font(17),
    }
    arms = list(comparison.summary)
    for n, row in enumerate(rows, start=1):
        texts = {a: row.answers[a].text for a in arms if a in row.answers}
        longest = max((len(t) for t in texts.values()), default=1)
        steps = max(1, int(seconds_per_prompt * fps))
        per_frame = max(3, -(-longest // steps))
        title = f"{n}/{len(rows)} · {row.category} · same prompt, same decoding, three arms"
        shown_len = 0
        while shown_len < longest:
            shown_len += per_frame
            yield _answer_frame(
                row, arms, {a: t[:shown_len] for a, t in texts.items()}, fonts, title
            )
        final = _answer_frame(row, arms, texts, fonts, title)
        for _ in range(int(1.5 * fps)):
            yield final
    end = _end_frame(lead(comparison) or [comparison.headline()], fonts)
    for _ in range(int(5 * fps)):
        yield end


def render_video(
    comparison: Comparison,
    path: str | os.PathLike[str],
    /,
    *,
    prompts: int = 4,
    fps: int = 12,
    seconds_per_prompt: float = 6.0,
    gif: bool = True,
) -> list[Path]:
    """Write the MP4 to *path* (and an animated GIF beside it); returns the files written.

    Raises:
        VideoError: No non-neutral answers to show, or imageio-ffmpeg / Pillow missing.
    """
    try:
        import imageio_ffmpeg
        from PIL import Image
    except ImportError as exc:
        raise VideoError(
            f"the video needs {exc.name}",
            hint="install the eval extra: pip install 'glimmer-dsl[eval]'",
        ) from exc
    rows = pick_rows(comparison, count=prompts)
    if not rows:
        raise VideoError(
            "no non-neutral answers to show in a video",
            hint="compare on a suite with at least one non-neutral prompt",
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix or '.mp4'}")
    writer = imageio_ffmpeg.write_frames(
        str(tmp),
        _SIZE,
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=7,
        macro_block_size=16,
        ffmpeg_log_level="error",
    )
    writer.send(None)
    small: list[Any] = []
    step = max(1, fps // 4)  # the GIF keeps four frames a second at half size
    try:
        for k, frame in enumerate(_frames(comparison, rows, fps, seconds_per_prompt)):
            writer.send(frame.tobytes())
            if gif and k % step == 0:
                small.append(frame.resize((_SIZE[0] // 2, _SIZE[1] // 2), Image.Resampling.LANCZOS))
    finally:
        writer.close()
    os.replace(tmp, out)
    written = [out]
    if gif and small:
        gif_path = out.with_suffix(".gif")
        tmp_gif = gif_path.with_name(f".{gif_path.stem}.tmp.gif")
        small[0].save(
            tmp_gif,
            save_all=True,
            append_images=small[1:],
            duration=int(1000 * step / fps),
            loop=0,
            optimize=False,
        )
        os.replace(tmp_gif, gif_path)
        written.append(gif_path)
    comparison.video = out.name
    return written
