"""`deidentify(VIDEO, OUT)`: the de-identified copy of a video, and its report.

Two passes over the video:
1. the out-of-body classifier looks at one frame every `sample_step_s` (decoded small, non-reference frames
   between them skipped) and `stretches.py` turns its scores into removed stretches;
2. every frame is decoded once more and written, at its own timestamp, as H.264 (browser-playable MP4,
   +faststart): a frame inside a removed stretch is replaced (black with a short label, or a heavy blur); any
   other frame gets its masks painted and its faces blurred.
The copy carries no container, stream or chapter metadata and no encoder tag; audio is dropped unless
`keep_audio` (then re-encoded as AAC, still without metadata). The copy and the report appear only when both
are complete (temp files beside them, renamed at the end); an error or SIGINT/SIGTERM removes the temp files.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, List, Optional, Sequence

import numpy as np

from ..core.errors import HalstedError, VideoError
from ..core.io import commit, discard, ffmpeg_exe, temp_path_for
from .masks import Mask, apply_masks
from .report import DeidReport
from .stretches import inside, removed_stretches, sample_times

REPLACEMENTS = ("black", "blur")
LABEL = "removed: out of body"
DESCRIBE_BATCH = 64
# A kept frame whose nearest sample scored below this share of the threshold is confidently inside the body:
# a face there must be confirmed by an eye (faces.py), since the face cascade alone fires on tissue.
CONFIDENT_IN_BODY = 0.25


class DeidStopped(HalstedError):
    """The caller's `stop()` said so; nothing was written."""


@dataclass
class DeidOptions:
    replace: str = "black"  # what an out-of-body frame becomes: black | blur
    masks: Sequence[Mask] = ()
    keep_audio: bool = False
    blur_faces: bool = True
    classifier: Optional[str] = None  # a classifier folder (None: $HALSTED_OUT_OF_BODY, else default_classifier)
    default_classifier: Optional[str] = None  # None: classifier_folder.default_folder(); built there at first use
    threshold: Optional[float] = None  # None: the classifier's own, chosen on validation material
    sample_step_s: float = 0.5
    face_fps: float = 10.0  # face detections per second of video at most; boxes hold in between
    crf: int = 18  # x264 quality of the copy: in-body frames stay within ~40 dB of the original
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.replace not in REPLACEMENTS:
            raise HalstedError(f"--replace must be one of {', '.join(REPLACEMENTS)}, got {self.replace!r}")
        if not 0.05 <= self.sample_step_s <= 5:
            raise HalstedError(f"--sample-step must be between 0.05 and 5 seconds, got {self.sample_step_s}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise HalstedError(f"--threshold must be between 0 and 1, got {self.threshold}")


def check_paths(video: str, out: str, report: Optional[str]) -> None:
    """Refuse, before anything is decoded, an output that is the input (under any name) or each other, or
    that cannot be written."""
    from ..mapping.outputs import check_output_path, same_file
    from ..video.probe import check_file

    check_file(video)
    if not out.lower().endswith(".mp4"):
        raise HalstedError(f"OUT {out} must end in .mp4: the copy is H.264 in MP4 (what every browser plays)")
    for flag, path in (("OUT", out), ("--report", report)):
        if path and same_file(path, video):
            raise HalstedError(f"{flag} {path} is the input video {video}; writing it would destroy the video. "
                               f"Choose another path")
    if report and same_file(report, out):
        raise HalstedError(f"--report {report} and OUT {out} are the same file; give each its own path")
    check_output_path(out, "OUT")
    if report:
        check_output_path(report, "--report")


def deidentify(video: str, out: str, report: Optional[str] = None, options: Optional[DeidOptions] = None,
               progress: Optional[Callable[[int, int], None]] = None,
               stop: Optional[Callable[[], bool]] = None, **option_values) -> DeidReport:
    """Write the de-identified copy of `video` to `out` (MP4) and, when `report` is given, the report as JSON
    there. Options as `DeidOptions` or keywords (replace="blur", masks=["0,0,320,40"], keep_audio=True, ...).
    Returns the report. A file `halsted map` refuses is refused the same way (VideoError)."""
    from ..video.probe import validate_video
    from .faces import FaceDetector
    from .metadata import metadata_keys
    from .classifier_folder import load_classifier

    opts = options or DeidOptions(**{k: v for k, v in option_values.items()})
    opts.masks = [m if isinstance(m, Mask) else Mask.parse(m) for m in opts.masks]
    opts.check()
    video, out = os.fspath(video), os.fspath(out)
    check_paths(video, out, report)
    info = validate_video(video)
    for m in opts.masks:
        m.check_fits(info.width, info.height)
    clf = load_classifier(opts.classifier, default=opts.default_classifier)
    threshold = float(opts.threshold if opts.threshold is not None else clf.threshold)
    detector = FaceDetector() if opts.blur_faces else None
    duration = float(info.duration_s)
    times = sample_times(duration, opts.sample_step_s)
    total = len(times) + max(1, int(info.num_frames))
    tick = _Ticker(progress, total, stop)

    p_out = _score(video, times, opts.sample_step_s, clf, tick)
    stretches = removed_stretches(times, p_out, threshold, duration, opts.sample_step_s)
    result = DeidReport(duration_s=round(duration, 3), removed_stretches=stretches, replaced_with=opts.replace,
                        metadata_removed=metadata_keys(video),
                        audio_removed=bool(info.has_audio and not opts.keep_audio),
                        masks=[m.as_text() for m in opts.masks],
                        out_of_body={"classifier": clf.name, "folder": clf.folder, "threshold": round(threshold, 6),
                                     "sample_step_s": opts.sample_step_s, "samples": len(times),
                                     "samples_over_threshold": int((np.asarray(p_out) >= threshold).sum())},
                        face_detector={"name": detector.name, "version": detector.version} if detector else {})
    temps: List[str] = []
    try:
        picture = temp_path_for(out)
        temps.append(picture)
        confident = _confidently_inside(times, p_out, threshold * CONFIDENT_IN_BODY)
        result.frames_written = _rewrite(video, picture, stretches, opts, detector, result, tick, confident)
        final = picture
        if opts.keep_audio and info.has_audio:
            final = temp_path_for(out)
            temps.append(final)
            _add_audio(picture, video, final)
        if report:
            report_tmp = temp_path_for(report)
            temps.append(report_tmp)
            with open(report_tmp, "x", encoding="utf-8") as f:
                f.write(result.to_json() + "\n")
        commit(final, out)
        if report:
            commit(report_tmp, report)
    finally:
        for tmp in temps:
            discard(tmp)
    return result


class _Ticker:
    def __init__(self, progress, total: int, stop):
        self.progress, self.total, self.stop, self.done = progress, total, stop, 0

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.stop is not None and self.stop():
            raise DeidStopped("de-identification was stopped; nothing was written")
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def _score(video: str, times, step_s: float, clf, tick: _Ticker) -> np.ndarray:
    """Out-of-body probability at each sampled instant (0 where the file's data stops before it)."""
    from ..video.decode import iter_windows
    from .out_of_body import IMAGE_SIZE, shared_describer

    describe = shared_describer()
    p = np.zeros(len(times))
    windows = [(max(0.0, t - step_s / 2), t + step_s / 2) for t in times]
    batch, index = [], []

    def flush():
        if batch:
            p[index] = clf.probability(describe(np.stack(batch)))
            tick(len(batch))
            batch.clear()
            index.clear()

    for i, frames in iter_windows(video, windows, 1, (IMAGE_SIZE, IMAGE_SIZE), warn=False):
        batch.append(frames[0])
        index.append(i)
        if len(batch) == DESCRIBE_BATCH:
            flush()
    flush()
    return p


def _confidently_inside(times, p_out, below: float) -> Callable[[float], bool]:
    """t -> whether the sample nearest to t scored below `below`."""
    times, p_out = np.asarray(times, float), np.asarray(p_out, float)

    def at(t: float) -> bool:
        return bool(len(times)) and bool(p_out[int(np.abs(times - t).argmin())] < below)

    return at


def _rewrite(video: str, out: str, stretches, opts: DeidOptions, detector, result: DeidReport, tick,
             confident: Callable[[float], bool]) -> int:
    from ..mapping.overlay import _frames  # a truncated or damaged tail ends the video, as the overlay treats it
    from ..video.decode import _to_rgb, _video_stream, open_video
    from ..video.writer import TimedVideoWriter
    from .faces import blur_boxes

    with open_video(video) as container:
        stream = _video_stream(container, video)
        tb = stream.time_base
        start = stream.start_time if stream.start_time is not None else 0
        fps = Fraction(stream.average_rate) if stream.average_rate else Fraction(30)
        step = max(1, round(1 / (fps * tb)))
        writer, pts, blank = None, None, None
        boxes, previous, next_detect = [], [], 0.0
        try:
            for frame in _frames(container, stream):
                rgb = _to_rgb(frame, None)
                h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
                if writer is None:
                    if h == 0 or w == 0:
                        raise VideoError(f"{video}: frames of {rgb.shape[1]}x{rgb.shape[0]} are too small to write")
                    # threads=0: x264 on every core (the copy need not be byte-identical run to run)
                    writer = TimedVideoWriter(out, size=(w, h), time_base=tb, crf=opts.crf, threads=0,
                                              bitexact=True).open()
                pts = max(0, frame.pts - start) if frame.pts is not None else (0 if pts is None else pts + step)
                t = float(pts * tb)
                picture = np.array(rgb[:h, :w])  # a copy we may paint on
                if inside(t, stretches):
                    if opts.replace == "black":
                        blank = blank if blank is not None else _label_frame(w, h)
                        picture = blank.copy()
                    else:
                        picture = blur_boxes(picture, [(0, 0, w, h)], grow=0.0)
                else:
                    apply_masks(picture, opts.masks)
                    if detector is not None:
                        if t >= next_detect:
                            previous, boxes = boxes, detector.detect(picture, confirm=confident(t))
                            next_detect = t + 1.0 / opts.face_fps
                            key = str(int(t))
                            result.faces_per_second[key] = max(result.faces_per_second.get(key, 0), len(boxes))
                        # the boxes of the last two detections: a face moving between them stays covered
                        picture = blur_boxes(picture, previous + boxes)
                writer.write(picture, pts)
                tick()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    if writer is None:
        raise VideoError(f"{video}: no frame could be decoded; the file is damaged or truncated at the start. "
                         f"Copy or export the video again")
    result.faces_per_second = {k: v for k, v in result.faces_per_second.items() if v}
    frames = writer.frames_written
    writer.close()
    return frames


def _label_frame(w: int, h: int) -> np.ndarray:
    """A black frame with LABEL written small in its centre (so a viewer knows the picture was removed)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (w, h), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(8, h // 24))
    box = draw.textbbox((0, 0), LABEL, font=font)
    draw.text(((w - (box[2] - box[0])) // 2, (h - (box[3] - box[1])) // 2), LABEL, fill=(160, 160, 160), font=font)
    return np.asarray(img, dtype=np.uint8)


def _add_audio(picture: str, video: str, out: str) -> None:
    """`out`: the copy's video with the original's first audio track as AAC; no metadata, no chapters."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", picture, "-i", video, "-map", "0:v:0", "-map", "1:a:0",
           "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1", "-map_chapters", "-1",
           "-fflags", "+bitexact", "-flags:a", "+bitexact", "-movflags", "+faststart", "-f", "mp4", out]
    with tempfile.TemporaryFile() as err:
        # subprocess.run kills and reaps ffmpeg if this process is interrupted while it waits
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        if done.returncode != 0:
            err.seek(0)
            last = err.read().decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise HalstedError(f"could not add the audio to the de-identified copy: ffmpeg said {last[0]!r}")
