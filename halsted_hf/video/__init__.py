"""Video input: probe a file, plan windows, decode only the frames those windows need.

    info = probe_video("case.mp4")                      # VideoInfo, or VideoError for a bad file
    plan = plan_windows(info.duration_s, 30.0)          # [(0.0, 30.0), (30.0, 60.0), ...]
    for index, frames in iter_windows("case.mp4", plan):  # frames: (16, 224, 224, 3) uint8 RGB
        ...

`parallel_iter_windows` does the same with one decoding process per core for long videos.
"""

from .decode import (
    TruncatedVideoError,
    TruncatedVideoWarning,
    WindowIterator,
    default_workers,
    iter_windows,
    read_clip,
)
from .parallel import ParallelWindowIterator, parallel_iter_windows, plan_chunks
from .probe import VideoInfo, check_file, probe_video, validate_video
from .windows import clip_timestamps, plan_windows

__all__ = [
    "ParallelWindowIterator",
    "TruncatedVideoError",
    "TruncatedVideoWarning",
    "VideoInfo",
    "WindowIterator",
    "check_file",
    "clip_timestamps",
    "default_workers",
    "iter_windows",
    "parallel_iter_windows",
    "plan_chunks",
    "plan_windows",
    "probe_video",
    "read_clip",
    "validate_video",
]
