"""Decode only the frames that windows need, in one sequential pass over a video.

A window (start_s, end_s) is sampled at `clip_timestamps` (centres of equal bins). For each instant t
the decoder takes the frame *on screen* at t: the last frame whose presentation time is <= t. Selecting
by timestamp, not by frame index, keeps variable-frame-rate videos (phones, screen recorders) right.
Times are seconds from the first frame of the video stream.

Frames come out as (T, H, W, 3) uint8 RGB arrays, resized by FFmpeg's scaler (area averaging, so a
720p frame shrunk to 224 does not alias) and turned upright (and mirrored back) by the whole display matrix. Only the
sampled frames are converted; every other frame is decoded and dropped, which is the real cost.

Why PyAV and not an `ffmpeg` subprocess (measured on this 2-core machine, 20 s of 720p30 H.264 at
8 Mbit/s): PyAV decodes 273 frames/s on one thread and 436-450 frames/s with frame threads, the
ffmpeg 5.1 CLI 248 and 410 frames/s (`-f null`, before any scaling or piping); PyAV also picks
frames by timestamp in-process, seeks over gaps between windows and needs no process per clip.

Skipping what no window needs: a camera's H.264 is mostly B-frames, and most B-frames are
not references (no other frame is decoded from them). A packet whose frame is on screen at no sampled
instant -- known from its presentation time and the next one's, read from the demuxed packets around it
before decoding -- is sent with libavcodec's `skip_frame = NONREF`, so the decoder drops it if nothing
depends on it; every frame on screen at a sampled instant is still decoded, so the output is the same
frame for frame as decoding everything (tested). On a veryfast 720p30 stream (73% B-frames) this decodes
about half the frames and saves about a third of the decoding time when sampling 3.2 frames per second
(docs/benchmarks.md). Only for H.264 and HEVC, whose decoders mark references exactly.

Seeking: a gap of more than `seek_gap_s` between sampled instants is skipped by a seek only when the
seek lands (on the keyframe before the target) later than the frame being decoded, which a second,
demux-only handle tells without disturbing the decoder; otherwise, and after any seek, decoding goes
forward to the target. One seek decision per target, plus a bound on frames decoded without progress
(a `VideoError`), so no keyframe layout or damaged file can make a pass loop.

Truncated files: decoding stops where the data stops. `iter_windows` yields every window that
decoded completely, then warns with a `TruncatedVideoWarning` and records `decoded_until_s` on the
iterator; `read_clip` raises `TruncatedVideoError` (a `VideoError`) that carries the same number.
"""

from __future__ import annotations

import math
import os
import warnings
from bisect import bisect_left
from collections import deque
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import av
import numpy as np

from ..core.errors import VideoError
from .orientation import orientation
from .probe import PathLike, check_file
from .windows import clip_timestamps

Size = Optional[Tuple[int, int]]  # (height, width) of the output frames; None keeps the decoded size

# Two times closer than this are the same instant (frame times are rationals, ours are floats).
_EPS = 1e-6
# Consider a seek instead of decoding through a gap longer than this (seconds). A seek lands on the
# keyframe before the target, which may lie anywhere before it (x264's default interval is 250 frames,
# 16.7 s at 15 fps; some recorders put one keyframe in a whole file), so a seek is made only when it
# lands later than where decoding already is, and at most once per target (re-seeking from a
# keyframe more than this gap before the target looped forever).
DEFAULT_SEEK_GAP_S = 10.0
# A pass that decodes this many frames more than the video holds without reaching a later instant or
# filling a sampled slot is stuck (a demuxer that loops, damaged timestamps): stop with a VideoError.
_IDLE_SLACK_FRAMES = 1000
# A clean end of stream this far (seconds) before the declared duration means a cut file.
_TRUNCATION_SLACK_S = 0.5
# Codecs whose decoders tell reference frames exactly, so `skip_frame = NONREF` never drops a frame
# that a later one is decoded from.
_SKIP_NONREF_CODECS = frozenset({"h264", "hevc"})
# Packets either side of a packet searched for the next presentation time: frames next to each other on
# screen lie within the decoder's reorder window (x264 uses at most 16 B-frames).
_REORDER_WINDOW = 16


class TruncatedVideoWarning(UserWarning):
    """The video's data stops before its declared end; windows after `decoded_until_s` were skipped."""

    def __init__(self, path: str, decoded_until_s: float, declared_s: Optional[float], reason: str = ""):
        self.path = path
        self.decoded_until_s = decoded_until_s
        self.declared_s = declared_s
        of = f" of {declared_s:.2f} s" if declared_s else ""
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"{path}: decoding stopped at {decoded_until_s:.2f} s{of}{why}; the file looks truncated. "
            f"Windows after that point were skipped; copy or export the video again to map the rest."
        )


def damage_warning(damaged_s: List[float], gap_s: float = 1.0) -> Optional[str]:
    """One line naming where packets failed to decode (seconds; a second apart or less is one span), or None."""
    times = sorted(set(round(t, 3) for t in damaged_s))
    if not times:
        return None
    spans = [[times[0], times[0]]]
    for t in times[1:]:
        if t - spans[-1][1] <= gap_s:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    where = ", ".join(f"{a:.2f} s" if a == b else f"{a:.2f}-{b:.2f} s" for a, b in spans[:5])
    more = f" and {len(spans) - 5} more places" if len(spans) > 5 else ""
    return (f"the video data is damaged at {where}{more} ({len(times)} frame packet(s) could not be decoded and "
            f"were skipped; the rest decoded): copy or export the video again for a complete mapping")


class TruncatedVideoError(VideoError):
    """A requested clip lies (partly) after the point where the file's data stops."""

    def __init__(self, message: str, decoded_until_s: float):
        super().__init__(message)
        self.decoded_until_s = decoded_until_s


def read_clip(
    path: PathLike,
    start_s: float,
    end_s: float,
    num_frames: int = 16,
    size: Size = (224, 224),
    *,
    threads: int = 0,
) -> np.ndarray:
    """The `num_frames` frames of [start_s, end_s), as a (T, H, W, 3) uint8 RGB array.

    `size` is (height, width) after rotation. Raises `VideoError` for unreadable files,
    `TruncatedVideoError` when the file's data ends before the clip does, and `ValueError` for a
    window outside the video."""
    it = iter_windows(path, [(start_s, end_s)], num_frames, size, threads=threads, warn=False)
    for _, frames in it:
        return frames
    raise TruncatedVideoError(
        f"{path}: the clip [{start_s:.2f}, {end_s:.2f}) s cannot be decoded: the data stops at "
        f"{it.decoded_until_s:.2f} s (truncated file). Copy or export the video again.",
        it.decoded_until_s,
    )


def iter_windows(
    path: PathLike,
    windows: Sequence[Tuple[float, float]],
    num_frames: int = 16,
    size: Size = (224, 224),
    *,
    threads: int = 0,
    seek_gap_s: float = DEFAULT_SEEK_GAP_S,
    warn: bool = True,
    stop: Optional[Callable[[], bool]] = None,
    grid_s: Optional[float] = None,
    skip_unneeded: bool = True,
) -> "WindowIterator":
    """Decode many windows of one video in a single forward pass; yields (index, frames).

    `index` is the window's position in `windows`; windows are yielded in order of their start
    (the given order when `windows` is sorted, as `plan_windows` returns it). Memory holds only the
    windows being filled, never the video. `threads`: decoder threads (0: FFmpeg's choice; 1 in
    worker processes that already use one core each). `stop`: polled between decoded frames; when it
    returns True the iteration ends at once (`stopped` is then True and nothing is reported as
    truncated). `grid_s`: sample on a shared time grid (`clip_timestamps`). `skip_unneeded`: let the
    decoder drop non-reference frames that are on screen at no sampled instant (same output, less work).
    See `WindowIterator` for what is known after the iteration (truncation)."""
    return WindowIterator(path, windows, num_frames, size, threads=threads, seek_gap_s=seek_gap_s, warn=warn,
                          stop=stop, grid_s=grid_s, skip_unneeded=skip_unneeded)


class WindowIterator:
    """Iterator of (index, frames) with what the pass found, read once it is exhausted:

    - `decoded_until_s`: seconds: the end of the last decoded frame, or the declared duration when
      the pass reached the end of a complete file,
    - `truncated`: True when the data stopped before the declared duration (or a decode error hit),
    - `skipped`: indices of windows that could not be decoded (after the stop), in time order,
    - `frames_decoded`: frames the decoder produced (sampled or not): the real cost of the pass
      (frames it was allowed to drop, see `skip_unneeded`, are not counted),
    - `stopped`: True when the caller's `stop()` ended the pass early.
    """

    def __init__(self, path, windows, num_frames, size, *, threads=0, seek_gap_s=DEFAULT_SEEK_GAP_S, warn=True,
                 stop=None, grid_s=None, skip_unneeded=True):
        self.path = str(path)
        self.windows = [(float(s), float(e)) for s, e in windows]
        self.num_frames = int(num_frames)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.threads = int(threads)
        self.seek_gap_s = float(seek_gap_s)
        self.warn = warn
        self.stop = stop
        self.grid_s = None if grid_s is None else float(grid_s)
        self.skip_unneeded = bool(skip_unneeded)
        self.stopped = False
        self.decoded_until_s = 0.0
        self.declared_s: Optional[float] = None
        self.truncated = False
        self.skipped: List[int] = []
        self.frames_decoded = 0
        self.damaged_s: List[float] = []  # times of packets the decoder refused (skipped, decoding went on)
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames!r}")
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"size must be (height, width) in pixels, got {size!r}")
        for k, (s, e) in enumerate(self.windows):
            if not (math.isfinite(s) and math.isfinite(e) and 0 <= s < e):
                raise ValueError(f"window {k} = ({s!r}, {e!r}) must satisfy 0 <= start < end (seconds)")
        check_file(path)
        self._gen = self._run()

    def __iter__(self) -> "WindowIterator":
        return self

    def __next__(self) -> Tuple[int, np.ndarray]:
        return next(self._gen)

    def close(self) -> None:
        """Stop early: closes the file (and, for the parallel decoder, its worker processes)."""
        self._gen.close()

    def __enter__(self) -> "WindowIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def _run(self) -> Iterator[Tuple[int, np.ndarray]]:
        container = open_video(self.path)
        self._scout = None  # a second, demux-only handle that tells where a seek would land
        try:
            yield from self._decode(container)
        finally:
            container.close()
            if self._scout is not None:
                self._scout.close()

    def _seek_lands_after(self, stream, t: float, now_t: float, origin: float, tb) -> bool:
        """Would a seek to `t` land on a keyframe later than `now_t` (where decoding is)? Asked of a
        second handle of the file, so the decoder keeps its place when the answer is no. Only the first
        packet after the seek is read: no decoding. True when it cannot be told (seeking then is what
        the decoder did before; it happens once per target, so it cannot loop)."""
        try:
            if self._scout is None:
                self._scout = av.open(self.path)
            scout_stream = self._scout.streams[stream.index]
            self._scout.seek(int((t + origin) / tb), stream=scout_stream, backward=True)
            for packet in self._scout.demux(scout_stream):
                if packet.pts is not None:
                    return float(packet.pts * tb) - origin > now_t + _EPS
        except (av.FFmpegError, OSError):
            pass
        return True

    def _decode(self, container) -> Iterator[Tuple[int, np.ndarray]]:
        stream = _video_stream(container, self.path)
        if self.threads == 1:
            stream.thread_type = "NONE"
        else:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = max(self.threads, 0)
        tb = stream.time_base
        origin = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        self.declared_s = declared = _declared_duration(container, stream)
        gap = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0 / 30
        check_windows_fit(self.windows, declared, gap, self.path)

        T = self.num_frames
        order = sorted(range(len(self.windows)), key=lambda k: self.windows[k])
        # Every sampled instant of every window, in time order: (t, window, slot).
        targets = sorted(
            (float(t), k, slot)
            for k in order
            for slot, t in enumerate(clip_timestamps(*self.windows[k], T, self.grid_s))
        )
        times = [t for t, _, _ in targets]
        skip = self.skip_unneeded and stream.codec_context.name in _SKIP_NONREF_CODECS
        wanted = _on_screen_at_an_instant(times) if skip else None
        last_rgb: list = [None, None]  # (frame, its array): instants on the shared grid often share a frame
        bufs: Dict[int, np.ndarray] = {}
        filled = [0] * len(self.windows)
        state = {"next": 0}  # position in `order` of the next window to yield

        def assign(frame, pos: int) -> None:
            _, k, slot = targets[pos]
            if k not in bufs:
                h, w = self.size if self.size is not None else _upright_size(frame)
                bufs[k] = np.empty((T, h, w, 3), np.uint8)
            if last_rgb[0] is not frame:
                last_rgb[:] = [frame, _to_rgb(frame, self.size)]
            bufs[k][slot] = last_rgb[1]
            filled[k] += 1

        def ready() -> Iterator[Tuple[int, np.ndarray]]:
            while state["next"] < len(order) and filled[order[state["next"]]] == T:
                k = order[state["next"]]
                state["next"] += 1
                yield k, bufs.pop(k)

        pos, n = 0, len(targets)
        prev, prev_t = None, -math.inf
        frames = None
        seek_margins: List[float] = []
        error: Optional[BaseException] = None
        reached_end = False
        sought_t = -math.inf  # the target of the last seek decision: one decision per target
        high_t = -math.inf  # the latest frame time decoded in this pass
        idle, max_idle = 0, _max_idle_frames(declared, stream)
        while pos < n:
            if self.stop is not None and self.stop():
                self.stopped = True
                return
            t = targets[pos][0]
            if frames is None:
                # Start as close before t as the keyframes allow (from the start for an early t).
                seek_margins = [0.0, 2.0, 10.0, 60.0, math.inf] if t > self.seek_gap_s else [math.inf]
                frames = _frames(container, stream, t, seek_margins.pop(0), origin, tb, fresh=True, wanted=wanted,
                                 damaged=self.damaged_s)
                sought_t, prev = t, None
            elif prev is not None and t - prev_t > self.seek_gap_s and t > sought_t + _EPS:
                # A long gap: seek over it if that lands past the current frame; otherwise (the next
                # keyframe is after t) decode forward. Either way t is not considered again.
                sought_t = t
                if self._seek_lands_after(stream, t, prev_t, origin, tb):
                    seek_margins = [2.0, 10.0, 60.0, math.inf]
                    frames = _frames(container, stream, t, 0.0, origin, tb, fresh=False, wanted=wanted,
                                     damaged=self.damaged_s)
                    prev = None
            try:
                frame = next(frames)
            except StopIteration:
                reached_end = True
                break
            except (av.FFmpegError, OSError) as err:  # damaged or missing data: stop here
                error = err
                break
            self.frames_decoded += 1
            ft = float(frame.pts * tb) - origin
            if prev is None and ft > t + _EPS and seek_margins:
                # The demuxer landed after t (imprecise index): go back further.
                frames = _frames(container, stream, t, seek_margins.pop(0), origin, tb, fresh=False, wanted=wanted,
                                 damaged=self.damaged_s)
                continue
            progressed = ft > high_t + _EPS
            high_t = max(high_t, ft)
            while pos < n and targets[pos][0] < ft - _EPS:
                assign(prev if prev is not None else frame, pos)  # t before the first frame: use it
                pos += 1
                progressed = True
            idle = 0 if progressed else idle + 1
            if idle > max_idle:
                raise VideoError(
                    f"{self.path}: decoding makes no progress: {idle} frames decoded without getting past "
                    f"{high_t:.2f} s (looping data or damaged timestamps). Export the video again as an MP4 (H.264)."
                )
            prev, prev_t = frame, ft
            yield from ready()

        # End of data: the last frame stays on screen until the end of the video.
        if prev is not None:
            dur = float(prev.duration * tb) if (prev.duration or 0) > 0 else gap
            last_end = prev_t + dur
        else:
            last_end = 0.0
        complete = reached_end and error is None and (
            not declared or last_end >= declared - max(_TRUNCATION_SLACK_S, 3 * gap)
        )
        while pos < n and prev is not None and (complete or targets[pos][0] < last_end + _EPS):
            assign(prev, pos)
            pos += 1
        yield from ready()
        self.decoded_until_s = max(last_end, declared or 0.0) if complete else last_end
        if pos < n:
            self.truncated = True
            self.skipped = [k for k in order[state["next"]:]]
            if self.warn:
                reason = _first_line(error) if error is not None else ""
                warnings.warn(TruncatedVideoWarning(self.path, self.decoded_until_s, declared, reason), stacklevel=4)


# ---------------------------------------------------------------------------------------------
# helpers shared with the parallel decoder


def open_video(path: PathLike):
    """av.open with the failure turned into a `VideoError` naming the file."""
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(
            f"{path}: not a video file that FFmpeg can read ({_first_line(err)}). "
            "Export it as an MP4 (H.264) and try again."
        ) from err


def _video_stream(container, path):
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise VideoError(f"{path}: has no video stream (audio only?). Choose the video file.")


def check_windows_fit(windows, declared: Optional[float], gap: float, path) -> None:
    """ValueError for a window that starts or ends past the video's declared duration (plus one frame)."""
    if not declared:
        return
    for k, (s, e) in enumerate(windows):
        if s >= declared or e > declared + max(gap, 1e-3):
            raise ValueError(f"window {k} = [{s:.3f}, {e:.3f}) s lies past the end of {path} ({declared:.3f} s)")


def _declared_duration(container, stream) -> Optional[float]:
    """What the file says it lasts. An AVI cut short has no index, so its demuxer measures the duration
    from the data it finds, while the header still counts every frame: the count (over the frame rate)
    then states more, and that is the duration the data fell short of."""
    declared = None
    if stream.duration is not None and stream.time_base is not None:
        declared = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        declared = container.duration / av.time_base
    if stream.frames and stream.average_rate:
        stated = stream.frames / float(stream.average_rate)
        if declared is None or stated > 1.05 * declared + 1.0:  # well beyond rounding and edit lists
            declared = stated
    return declared


def _max_idle_frames(declared: Optional[float], stream) -> int:
    """Frames a pass may decode without progress: a re-decode after a seek never exceeds the video."""
    rate = float(stream.average_rate or stream.guessed_rate or 30)
    frames = int(stream.frames or 0) or int((declared or 3600.0) * rate)
    return frames + _IDLE_SLACK_FRAMES


def _frames(container, stream, t: float, margin: float, origin: float, tb, fresh: bool,
            wanted: Optional[Callable[[float, Optional[float]], bool]] = None,
            damaged: Optional[List[float]] = None) -> Iterator:
    """Decoded frames (with a pts) from the keyframe before `t - margin`; from the start when the
    margin reaches back past 0 (and no seek at all on a freshly opened file). With `wanted` (seconds on
    screen -> needed?), packets of unneeded frames are sent with skip_frame NONREF: the decoder drops them
    unless they are references. A packet the decoder refuses (overwritten data in the middle of a file) is
    skipped and its time added to `damaged`: the decoder recovers at the next keyframe, as ffmpeg's own
    command line does, instead of the whole rest of the video being lost."""
    target = t - margin
    if target > 0:
        container.seek(int((target + origin) / tb), stream=stream, backward=True)
    elif not fresh:
        container.seek(int(origin / tb) if origin else 0, stream=stream, backward=True)
    context = stream.codec_context
    mode = context.skip_frame = "DEFAULT"
    try:
        for packet, next_pts in _with_next_pts(container.demux(stream)):
            if wanted is not None:
                keep = packet.pts is None or wanted(
                    float(packet.pts * tb) - origin, None if next_pts is None else float(next_pts * tb) - origin)
                if ("DEFAULT" if keep else "NONREF") != mode:
                    mode = context.skip_frame = "DEFAULT" if keep else "NONREF"
            try:
                decoded = packet.decode()
            except av.InvalidDataError:
                if damaged is None or packet.pts is None:
                    raise
                damaged.append(float(packet.pts * tb) - origin)
                continue
            for frame in decoded:
                if frame.pts is not None:
                    yield frame
    finally:
        context.skip_frame = "DEFAULT"


def _on_screen_at_an_instant(times: List[float]) -> Callable[[float, Optional[float]], bool]:
    """times (sorted seconds) -> wanted(p0, p1): is a frame on screen over [p0, p1) (p1 None: to the end)
    the frame of one of those instants? Generous by 2 x _EPS, like the frame picking it serves."""
    def wanted(p0: float, p1: Optional[float]) -> bool:
        i = bisect_left(times, p0 - 2 * _EPS)
        return i < len(times) and (p1 is None or times[i] < p1 + _EPS)
    return wanted


def _with_next_pts(packets) -> Iterator:
    """(packet, next_pts): the smallest presentation time above the packet's among the packets within
    `_REORDER_WINDOW` of it in decoding order (None when there is none: the end of the stream, or a packet
    without a pts). A frame's neighbour on screen lies in that window, and a neighbour missed there can
    only make next_pts later: a frame is then kept for a longer span, never dropped wrongly."""
    ahead: deque = deque()
    behind: deque = deque(maxlen=_REORDER_WINDOW)

    def release():
        packet = ahead.popleft()
        p = packet.pts
        later = None
        if p is not None:
            for q in [x.pts for x in ahead] + list(behind):
                if q is not None and q > p and (later is None or q < later):
                    later = q
            behind.append(p)
        return packet, later

    for packet in packets:
        ahead.append(packet)
        if len(ahead) > _REORDER_WINDOW:
            yield release()
    while ahead:
        yield release()


def _upright_size(frame) -> Tuple[int, int]:
    k, _ = orientation(frame)
    return (frame.width, frame.height) if k % 2 else (frame.height, frame.width)


def _to_rgb(frame, size: Size) -> np.ndarray:
    """(H, W, 3) uint8, upright. The scaler works on the stored (unturned) frame, so for a
    quarter-turned video it is asked for (width=H, height=W) and the result is turned after."""
    k, mirror = orientation(frame)
    if size is None:
        rgb = frame.to_ndarray(format="rgb24")
    else:
        h, w = size
        if k % 2:
            h, w = w, h
        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    if mirror:
        rgb = rgb[:, ::-1]
    if k:
        rgb = np.rot90(rgb, k=k)  # counter-clockwise, as the display matrix says
    return np.ascontiguousarray(rgb) if (mirror or k) else rgb


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def default_workers() -> int:
    """One decoding process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
