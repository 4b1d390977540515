"""Reading a video file with PyAV (a transformers video dependency) at chosen instants, for the processor (a path
as a clip) and the stand-alone pipeline. A Hub file: no package imports; PyAV is imported only when a file is read.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

Span = Tuple[float, float]


def instants(span: Span, num_frames: int, grid_s: Optional[float] = None) -> np.ndarray:
    """The centres of `num_frames` equal bins of `span`; with `grid_s`, each snapped to the centre of its cell
    on a grid of `grid_s` seconds from 0 where that keeps them inside the span and apart, as the package's
    mapping samples for a frame encoder (halsted_hf/video/windows.py, `clip_timestamps`)."""
    a, b = span
    times = a + (np.arange(num_frames) + 0.5) * (b - a) / num_frames
    if not grid_s:
        return times
    snapped = (np.floor(times / grid_s + 1e-9) + 0.5) * grid_s
    if np.all((snapped >= a) & (snapped < b)) and np.all(np.diff(snapped) > 0):
        return snapped
    return times


def decode_at(path: str, times: Sequence[float], size: int) -> Dict[float, np.ndarray]:
    """-> {instant: (size, size, 3) uint8 frame shown at that instant}. One pass over the file; instants after
    the last frame get the last frame."""
    import av  # imported here: loading the pipeline needs no video library

    wanted = sorted(set(float(t) for t in times))
    frames: Dict[float, np.ndarray] = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        origin, last, i = None, None, 0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            origin = frame.time if origin is None else origin
            t = frame.time - origin
            while i < len(wanted) and wanted[i] < t and last is not None:
                frames[wanted[i]] = last
                i += 1
            if i == len(wanted):
                break
            last = frame.reformat(width=size, height=size, format="rgb24", interpolation="AREA").to_ndarray()
        while i < len(wanted) and last is not None:
            frames[wanted[i]] = last
            i += 1
    return frames


def probe(path: str) -> Dict[str, Any]:
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        duration = (float(stream.duration * stream.time_base) if stream.duration
                    else float(container.duration or 0) / 1e6)
        fps = float(stream.average_rate or 0.0)
        return {"id": os.path.splitext(os.path.basename(path))[0], "duration_s": duration, "fps": fps,
                "width": stream.codec_context.width, "height": stream.codec_context.height}


def sample_video(path: str, num_frames: int, size: int) -> np.ndarray:
    """(num_frames, size, size, 3) uint8: the whole video seen as one clip, at the centres of `num_frames` equal
    bins of its duration (what the workflow samples in a window)."""
    duration = probe(path)["duration_s"]
    if not duration > 0:
        raise ValueError(f"{path}: no video duration could be read; is it a video file?")
    times = instants((0.0, duration), num_frames)
    frames = decode_at(path, times, size)
    if not frames:
        raise ValueError(f"{path}: no frame could be decoded")
    return np.stack([frames[float(t)] for t in times])
