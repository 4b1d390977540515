"""Draw a Timeline's current tags on every frame of a copy of the video (H.264 MP4, no audio).

The tags at time t are `Timeline.tags_at(t)` (stage-1 tags overridden by the finer stage-2 ones). They
are written on a translucent band along the bottom of the frame: one line with the procedure and step,
one with the fine tags; a tag the Timeline's reliability record marks not reliable is labelled so
("proficiency (not reliable): high"). The band for a given set of tags is rendered once with PIL and then
blended into each frame with numpy, so the cost per frame is a blend, not a text layout.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np

from ..core.errors import HalstedError, VideoError
from ..video.decode import _to_rgb, _video_stream, open_video
from ..video.probe import check_file
from ..video.writer import TimedVideoWriter
from .outputs import check_output_path, same_file
from .reliability import NONE, Reliability, of_timeline
from .tag_lookup import TagLookup
from .timeline import Timeline

FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf")
COARSE_TAGS = ("specialty", "procedure", "step")
# A timeline's duration is the probe's duration of the file it mapped: the same file gives the same
# number; a re-encoded copy may differ by a frame or two.
DURATION_TOLERANCE_S = 0.25
BAND_ALPHA = 0.6  # opacity of the dark band behind the text: readable over bright tissue and drapes


def _font(size: int):
    from PIL import ImageFont

    for path in FONT_PATHS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def overlay_lines(tags: Dict[str, str], rel: Reliability = NONE) -> Tuple[str, str]:
    """(coarse line, fine line) of the text drawn for a set of tags."""
    coarse, fine = overlay_parts(tags, rel)
    return (" · ".join(f"{label} {c}".strip() for label, c in coarse),
            " · ".join(f"{label} {c}" for label, c in fine))


def overlay_parts(tags: Dict[str, str], rel: Reliability = NONE) -> Tuple[list, list]:
    """The lines of `overlay_lines` as (label, category) pairs, for drawing each category's swatch. A tag the
    Timeline's reliability record marks not reliable is labelled so: "extent (not reliable):"."""
    coarse = [("" if rel.is_reliable(t) else f"{rel.label(t)}:", tags[t]) for t in COARSE_TAGS if t in tags]
    fine = [(f"{rel.label(t)}:", c) for t, c in tags.items() if t not in COARSE_TAGS]
    return coarse, fine


MIN_FONT_PX = 6  # smaller text on a small video is hard to read, but cut-off text cannot be read at all


class _Band:
    """Renders and caches, per tag set, the band as (rgb (h, W, 3) float32, alpha (h, W, 1) float32).
    The text is sized to the frame: a tag set whose lines are wider than the frame at the band's font is
    drawn smaller, down to MIN_FONT_PX, rather than cut off at the right edge."""

    def __init__(self, width: int, height: int, rel: Reliability = NONE):
        self.width, self.rel = width, rel
        self.font_px = max(10, height // 22)
        self.fonts: Dict[int, object] = {}
        self.h = min(height, int(self.font_px * 2.9))
        self.cache: Dict[tuple, Tuple[np.ndarray, np.ndarray]] = {}

    def font(self, px: int):
        if px not in self.fonts:
            self.fonts[px] = _font(px)
        return self.fonts[px]

    @staticmethod
    def _spacing(px: int) -> Tuple[int, int]:
        """(padding, swatch side) for text of `px` pixels."""
        return max(2, px // 4), max(4, int(px * 0.8))

    def _row_width(self, parts, px: int) -> float:
        font, (pad, side) = self.font(px), self._spacing(px)
        x = pad
        for i, (label, category) in enumerate(parts):
            x += font.getlength(("  " if i else "") + label) + pad + side + pad + font.getlength(category)
        return x + pad

    def fit(self, rows) -> int:
        """The largest text size, at most the band's, at which every row fits the frame's width."""
        px = self.font_px
        while px > MIN_FONT_PX and max((self._row_width(r, px) for r in rows), default=0) > self.width:
            px -= 1
        return px

    def get(self, tags: Dict[str, str]):
        key = tuple(sorted(tags.items()))
        if key not in self.cache:
            from PIL import Image, ImageDraw

            from ..palette import category_rgb

            # white text on the dark band; before each category a swatch in its timeline colour
            # (halsted_hf/palette.py), so the overlay reads like the dashboard's and the Space's legend
            ink_img = Image.new("L", (self.width, self.h), 0)
            colour_img = Image.new("RGB", (self.width, self.h), (255, 255, 255))
            ink, colour = ImageDraw.Draw(ink_img), ImageDraw.Draw(colour_img)
            rows = overlay_parts(tags, self.rel)
            px = self.fit(rows)
            font = self.font(px)
            pad, side = self._spacing(px)
            for row, parts in enumerate(rows):
                x, y = pad, pad + row * int(px * 1.3)
                for i, (label, category) in enumerate(parts):
                    text = ("  " if i else "") + label
                    ink.text((x, y), text, fill=255, font=font)
                    x += int(ink.textlength(text, font=font)) + pad
                    box = (x, y + (px - side) // 2 + 1, x + side, y + (px - side) // 2 + 1 + side)
                    ink.rectangle(box, fill=255)
                    colour.rectangle(box, fill=category_rgb(category))
                    x += side + pad
                    ink.text((x, y), category, fill=255, font=font)
                    x += int(ink.textlength(category, font=font))
            ink_a = np.asarray(ink_img, np.float32)[..., None] / 255.0
            alpha = BAND_ALPHA + (1.0 - BAND_ALPHA) * ink_a  # dark band, opaque text and swatches
            rgb = np.asarray(colour_img, np.float32) * ink_a / np.maximum(alpha, 1e-6)
            self.cache[key] = (rgb * alpha, 1.0 - alpha)
        return self.cache[key]

    def draw(self, frame: np.ndarray, tags: Dict[str, str]) -> np.ndarray:
        if not tags:
            return frame
        premult, keep = self.get(tags)
        y0 = frame.shape[0] - self.h
        region = frame[y0:].astype(np.float32) * keep + premult
        frame[y0:] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
        return frame


def _frames(container, stream):
    """Decoded frames; a truncated or damaged tail ends the video instead of failing it."""
    import av

    it = container.decode(stream)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except (av.FFmpegError, OSError):
            return


def check_timeline_matches(video: str, timeline: Timeline, where: str = "the timeline") -> None:
    """Raise a one-line HalstedError when `timeline` was not made for `video`: its video id is neither
    the file's name nor (through symlinks) its target's, or its duration differs. Drawing another
    video's tags gives an overlay that looks right and is wrong."""
    from ..video import validate_video

    made_for = timeline.video.get("id")
    names = {os.path.splitext(os.path.basename(p))[0] for p in (video, os.path.realpath(video))}
    duration = timeline.video.get("duration_s")
    actual = validate_video(video).duration_s
    if made_for is not None and str(made_for) not in names:
        problem = f"was made for video {str(made_for)!r}, not {os.path.basename(video)}"
    elif isinstance(duration, (int, float)) and abs(float(duration) - actual) > DURATION_TOLERANCE_S:
        problem = f"is for a video of {float(duration):.2f} s, but {video} lasts {actual:.2f} s"
    else:
        return
    raise HalstedError(f"{where} {problem}: pass the timeline of this video, or --force to draw it anyway")


def render_overlay(video: str, timeline: Union[Timeline, str], out: str,
                   progress: Optional[Callable[[int, int], None]] = None, force: bool = False) -> str:
    """Write `out` (H.264 MP4): every frame of `video` with the tags active at its time drawn on it.

    `timeline`: a Timeline or the path of its JSON. Frames keep their size (cropped by one pixel
    where a side is odd: H.264 4:2:0 needs even sides) and their own timestamps (a variable frame
    rate, or a video that decodes only in part, keeps its timing). A timeline made for another video
    (id or duration) is refused unless `force`. `out` must not be the video or the timeline file under
    any name. `progress(done, total)` counts frames. The file appears only when complete."""
    check_file(video)
    sources = {"the input video": video}
    if not isinstance(timeline, Timeline):
        sources["the timeline"] = str(timeline)
        timeline = Timeline.load(str(timeline))
    for what, path in sources.items():
        if same_file(out, path):
            raise HalstedError(f"the overlay {out} is {what} {path}; choose another output path")
    check_output_path(out, "the overlay")
    if not force:
        check_timeline_matches(video, timeline, sources.get("the timeline", "the timeline"))
    with open_video(video) as container:
        stream = _video_stream(container, video)
        tb = stream.time_base
        start = stream.start_time if stream.start_time is not None else 0
        fps = Fraction(stream.average_rate) if stream.average_rate else Fraction(30)
        step = max(1, round(1 / (fps * tb)))  # one frame, in time-base units, for frames without a pts
        total = int(stream.frames or 0)
        writer, band, done, pts = None, None, 0, None
        lookup = TagLookup(timeline.segments)  # one sweep, then a bisection per frame: no scan of every segment
        try:
            for frame in _frames(container, stream):
                rgb = _to_rgb(frame, None)
                h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
                if writer is None:
                    if h == 0 or w == 0:
                        raise VideoError(f"{video}: frames of {rgb.shape[1]}x{rgb.shape[0]} are too small to draw on")
                    writer = TimedVideoWriter(out, size=(w, h), time_base=tb).open()
                    band = _Band(w, h, of_timeline(timeline))
                # each frame keeps its own time: the average rate drifts on VFR video and squeezes a
                # video whose middle does not decode
                pts = max(0, frame.pts - start) if frame.pts is not None else (0 if pts is None else pts + step)
                t = float(pts * tb)
                writer.write(band.draw(np.ascontiguousarray(rgb[:h, :w]), lookup.at(t)), pts)
                done += 1
                if progress is not None:
                    progress(done, max(total, done))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    if writer is None:
        raise VideoError(f"{video}: no frame could be decoded; nothing to draw on")
    return writer.close()
