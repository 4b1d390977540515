"""Video input: probe a file, plan windows, decode only the frames those windows need.

    info = probe_video("case.mp4")                      # VideoInfo, or VideoError for a bad file
    plan = plan_windows(info.duration_s, 30.0)          # [(0.0, 30.0), (30.0, 60.0), ...]
    for index, frames in iter_windows("case.mp4", plan):  # frames: (16, 224, 224, 3) uint8 RGB
        ...

`parallel_iter_windows` does the same with one decoding process per core for long videos.
"""

import importlib

# public name -> the module of this folder that defines it, imported on first use (PEP 562): probing a
# file (probe.py) and planning windows (windows.py) load neither PyAV nor torch; decoding loads PyAV.
_LAZY = {
    **{name: "decode" for name in ("TruncatedVideoError", "TruncatedVideoWarning", "WindowIterator",
                                   "default_workers", "iter_windows", "read_clip")},
    **{name: "parallel" for name in ("ParallelWindowIterator", "parallel_iter_windows", "plan_chunks")},
    **{name: "probe" for name in ("VideoInfo", "check_file", "probe_video", "validate_video")},
    **{name: "windows" for name in ("clip_timestamps", "plan_windows")},
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
