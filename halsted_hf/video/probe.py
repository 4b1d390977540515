"""Probe a video file: what it holds (duration, frame rate, display size, rotation, streams) before any
frame is decoded, and a clear `VideoError` for anything that is not a decodable video.

ffprobe (through ffmpeg-python's `ffmpeg.probe`) is used when it is installed, PyAV otherwise; both
give the same `VideoInfo`. Rotation follows FFmpeg's display matrix: `rotation` is the angle in
degrees by which a frame must be turned counter-clockwise to be upright (0, 90, 180 or 270), the
number ffprobe prints, except for a mirrored video, whose matrix ffprobe calls a 180-degree turn: its
`rotation` is the turn left once the mirroring is taken out (decoding mirrors it back).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import List, Optional, Union

from ..core.errors import VideoError
from .orientation import orientation

PathLike = Union[str, os.PathLike]

# Packets read to judge whether a stream's frame rate varies; demuxing is cheap (no decoding).
_VFR_PACKETS = 240
_FIX = "Export it as an MP4 (H.264) and try again."


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. Sizes in pixels, times in seconds, rates in frames per second."""

    path: str
    duration_s: float
    fps: float  # average rate: frames / duration (for a VFR video, not every frame is 1/fps apart)
    width: int  # display width: after rotation and non-square pixel correction
    height: int  # display height
    rotation: int  # counter-clockwise degrees that make a decoded frame upright: 0, 90, 180, 270
    num_frames: int
    num_frames_exact: bool  # False when the container stores no count and it was estimated
    codec: str
    has_audio: bool
    is_variable_frame_rate: bool
    size_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def check_file(path: PathLike) -> Path:
    """Fail early, with a message naming the file, for paths that cannot hold a video."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file. Check the path.")
    if not p.is_file():
        raise VideoError(f"{p}: is {special_file_kind(p.stat().st_mode)}, not a video file. "
                         "Give the path of a video file.")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes); the upload or copy did not finish. Copy it again.")
    return p


def special_file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words, from its `st_mode` (os.stat: through symlinks)."""
    import stat

    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def probe_video(path: PathLike) -> VideoInfo:
    """Read a video's metadata (no frame decoding). Raises `VideoError` for a missing or empty file,
    a file that is not a video, or a file with no video stream (audio only)."""
    p = check_file(path)
    if shutil.which("ffprobe"):
        return _probe_ffprobe(p)
    return _probe_pyav(p)


def validate_video(path: PathLike) -> VideoInfo:
    """`probe_video`, then decode the first frame: what an upload must pass before it is accepted.

    A file whose header parses but whose frames do not decode (unknown codec, damaged data)
    raises `VideoError`."""
    info = probe_video(path)  # refuses a missing, empty or unreadable file before PyAV is even loaded
    import av  # here, not at the top: importing halsted_hf.video.probe stays light

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"{path}: the video frames cannot be decoded ({_short(err)}). {_FIX}") from err
    if frame is None:
        raise VideoError(f"{path}: the video stream holds no decodable frame. {_FIX}")
    return info


# ---------------------------------------------------------------------------------------------
# ffprobe


def _probe_ffprobe(p: Path) -> VideoInfo:
    import ffmpeg  # ffmpeg-python: imported here so that PyAV-only installs still work

    try:
        meta = ffmpeg.probe(str(p))
    except ffmpeg.Error as err:
        reason = _last_line(err.stderr.decode("utf-8", "replace") if err.stderr else "")
        reason = reason.removeprefix(f"{p}: ")  # ffprobe names the file too
        raise VideoError(f"{p}: not a video file that FFmpeg can read ({reason}). {_FIX}") from err
    streams = meta.get("streams", [])
    videos = [s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)]
    if not videos:
        kinds = sorted({s.get("codec_type", "?") for s in streams}) or ["none"]
        raise VideoError(f"{p}: has no video stream (streams: {', '.join(kinds)}; audio only?). "
                         "Choose the video file.")
    v = next((s for s in videos if s.get("disposition", {}).get("default")), videos[0])
    fmt = meta.get("format", {})

    avg = _rate(v.get("avg_frame_rate"))
    real = _rate(v.get("r_frame_rate"))
    duration = (
        _float(v.get("duration"))
        or _hms(v.get("tags", {}).get("DURATION"))  # Matroska keeps it in a tag
        or _float(fmt.get("duration"))
        or 0.0
    )
    nb = int(_float(v.get("nb_frames")) or 0)
    fps = avg or (nb / duration if nb and duration else 0.0) or real or 0.0
    rotation = _rotation_from_ffprobe(v)
    width, height = _display_size(int(v["width"]), int(v["height"]), v.get("sample_aspect_ratio"), rotation)
    # ffprobe's r_frame_rate is the finest rate that expresses every timestamp; when it departs
    # from the average the gaps between frames vary. The packet check catches the rest.
    vfr = bool(avg and real and abs(avg - real) > 0.02 * real) or _packets_vary(p, v.get("index"))
    return VideoInfo(
        path=str(p),
        duration_s=float(duration),
        fps=float(fps),
        width=width,
        height=height,
        rotation=rotation,
        num_frames=nb or int(round(duration * fps)),
        num_frames_exact=bool(nb),
        codec=str(v.get("codec_name", "unknown")),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        is_variable_frame_rate=vfr,
        size_bytes=p.stat().st_size,
    )


def _is_cover_art(stream: dict) -> bool:
    # An MP3 or M4A with album art has a one-picture "video" stream: still audio only.
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _rotation_from_ffprobe(v: dict) -> int:
    for side in v.get("side_data_list", []) or []:
        matrix = _matrix(side.get("displaymatrix"))
        if matrix is not None:  # a mirrored video's "rotation" of 180 is a flip, not a turn
            a, b, c, d = matrix
            mirror = a * d - b * c < 0
            return _normalise(math.degrees(math.atan2(c, -a if mirror else a)))
        if "rotation" in side:
            return _normalise(float(side["rotation"]))
    rotate = v.get("tags", {}).get("rotate")  # legacy tag: clockwise degrees
    return _normalise(-float(rotate)) if rotate not in (None, "") else 0


def _matrix(text: Optional[str]) -> Optional[tuple]:
    """(a, b, c, d) of ffprobe's printed display matrix ("00000000: a b u" lines, 16.16 fixed point)."""
    try:
        rows = [line.split(":", 1)[1].split() for line in str(text).strip().splitlines()]
        return int(rows[0][0]) / 65536, int(rows[0][1]) / 65536, int(rows[1][0]) / 65536, int(rows[1][1]) / 65536
    except (IndexError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------------------------------------
# PyAV (no ffprobe on the machine)


def _probe_pyav(p: Path) -> VideoInfo:
    import av

    try:
        container = av.open(str(p))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"{p}: not a video file that FFmpeg can read ({_short(err)}). {_FIX}") from err
    with container:
        videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError(f"{p}: has no video stream (streams: {', '.join(kinds)}; audio only?). "
                             "Choose the video file.")
        v = videos[0]
        tb = v.time_base
        duration = 0.0
        if v.duration is not None and tb is not None:
            duration = float(v.duration * tb)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        nb = int(v.frames or 0)
        avg = float(v.average_rate) if v.average_rate else 0.0
        fps = avg or (nb / duration if nb and duration else 0.0) or float(v.guessed_rate or 0)
        # Stream-level display matrices are not exposed by PyAV; the first frame carries it.
        try:
            first = next(container.decode(v), None)
        except av.FFmpegError:
            first = None
        # the whole display matrix, as decoding applies it
        rotation = orientation(first)[0] * 90 if first is not None else 0
        codec = v.codec_context.name
        sar = v.sample_aspect_ratio
        width, height = _display_size(v.codec_context.width, v.codec_context.height, str(sar) if sar else None,
                                      rotation)
        has_audio = bool(container.streams.audio)
        index = v.index
        real = float(v.base_rate) if v.base_rate else 0.0
    vfr = bool(avg and real and abs(avg - real) > 0.02 * real) or _packets_vary(p, index)
    return VideoInfo(
        path=str(p),
        duration_s=duration,
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        num_frames=nb or int(round(duration * fps)),
        num_frames_exact=bool(nb),
        codec=codec,
        has_audio=has_audio,
        is_variable_frame_rate=vfr,
        size_bytes=p.stat().st_size,
    )


# ---------------------------------------------------------------------------------------------
# helpers


def _packets_vary(p: Path, index: Optional[int]) -> bool:
    """True when the gaps between the first packets' timestamps differ by more than half a gap.

    Timestamp rounding (29.97 fps in a 1/1000 time base gives gaps of 33 and 34) stays far below
    that; a phone that drops to 15 fps in the dark does not."""
    import av

    try:
        with av.open(str(p)) as container:
            streams = [s for s in container.streams.video if index is None or s.index == index]
            if not streams:
                return False
            pts: List[int] = []
            for packet in container.demux(streams[0]):
                if packet.pts is not None:
                    pts.append(packet.pts)
                if len(pts) >= _VFR_PACKETS:
                    break
    except (av.FFmpegError, OSError):
        return False
    pts.sort()
    gaps = [b - a for a, b in zip(pts, pts[1:]) if b > a]
    if len(gaps) < 3:
        return False
    typical = statistics.median(gaps)
    return (max(gaps) - min(gaps)) > 0.5 * typical


def _display_size(width: int, height: int, sar: Optional[str], rotation: int) -> tuple:
    ratio = _rate(sar.replace(":", "/")) if sar else 0.0
    if ratio and abs(ratio - 1.0) > 1e-3:
        width = int(round(width * ratio))  # anamorphic: square the pixels the way players do
    return (height, width) if rotation in (90, 270) else (width, height)


def _normalise(degrees: float) -> int:
    return int(round(degrees / 90.0)) * 90 % 360


def _rate(text: Optional[str]) -> float:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError, TypeError):
        return 0.0
    return float(value) if value > 0 else 0.0


def _float(text) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _hms(text: Optional[str]) -> float:
    if not text:
        return 0.0
    try:
        h, m, s = str(text).split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return 0.0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown format"


def _short(err: BaseException) -> str:
    return str(getattr(err, "strerror", None) or err).strip().splitlines()[0] if str(err) else type(err).__name__
