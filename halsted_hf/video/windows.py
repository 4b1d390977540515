"""Window plans: which spans of a video the model looks at, and which instants inside each span.

All times are seconds from the first video frame (the same clock `decode.iter_windows` uses).
Pure functions, no I/O: the workflow plans stage-1 windows over the whole video and stage-2
windows inside the segments it needs, then hands the plan to the decoder.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

Window = Tuple[float, float]

# The mapping workflow's window lengths (mapping/workflow.py): stage 1 maps 30-s windows with the macro-activity
# task, stage 2 maps short windows with the fine tasks. Training and evaluation clips use the same
# lengths (`halsted_hf.data.windows`), so the model is trained on what mapping feeds it. One place.
STAGE1_WINDOW_S = 30.0
STAGE2_WINDOW_S = 2.5  # divides 30 s, so stage-2 windows never straddle two stage-1 windows

# Float sums such as 0.1 * 3 must not create or drop a window at a boundary.
_EPS = 1e-9


def check_long_enough(path: str, duration_s: float, window_s: float = STAGE2_WINDOW_S) -> None:
    """A VideoError for a video shorter than one mapping window: said from the probe, before any model
    loads (the CLI asks here first; the workflow asks again for callers that come to it directly)."""
    if duration_s < window_s:
        from ..core.errors import VideoError

        raise VideoError(f"{path}: the video lasts {duration_s:.2f} s, shorter than one {window_s:g}-s mapping "
                         f"window; map a video of at least {window_s:g} s")


def plan_windows(
    duration_s: float,
    window_s: float,
    start_s: float = 0.0,
    end_s: Optional[float] = None,
    min_window_s: Optional[float] = None,
) -> List[Window]:
    """Non-overlapping windows of `window_s` seconds tiling [start_s, end_s) of a video.

    `end_s` defaults to (and is clipped to) `duration_s`. The last, shorter window is kept only
    if it lasts at least `min_window_s` (default: half a window), because a clip of a fraction of
    a second says little and would be stretched over 16 frames. A span shorter than `min_window_s`
    therefore gets no window at all: callers that must map very short videos pass a smaller
    `min_window_s`.

    Returns a list of (start_s, end_s) pairs, in time order.
    """
    if not (window_s > 0 and math.isfinite(window_s)):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
    if not (duration_s >= 0 and math.isfinite(duration_s)):
        raise ValueError(f"duration_s must be a non-negative number of seconds, got {duration_s!r}")
    end = duration_s if end_s is None else min(end_s, duration_s)
    if start_s < 0:
        raise ValueError(f"start_s must be >= 0, got {start_s!r}")
    min_s = window_s / 2 if min_window_s is None else min_window_s
    span = end - start_s
    if span <= _EPS:
        return []
    # Multiply rather than accumulate so that window k starts exactly at start_s + k * window_s.
    n_full = int(math.floor(span / window_s + _EPS))
    windows = [(start_s + k * window_s, start_s + (k + 1) * window_s) for k in range(n_full)]
    rest_start = start_s + n_full * window_s
    rest = end - rest_start
    if rest > _EPS and rest + _EPS >= min_s:
        windows.append((rest_start, end))
    return windows


def full_length_window(start_s: float, end_s: float, window_s: float, floor_s: float = 0.0) -> Window:
    """The span the model looks at to tag [start_s, end_s): the span itself when it lasts a whole
    window, else a window of full length ending at `end_s` (reaching back over the previous window,
    never before `floor_s`, the video's start). A tail shorter than a window thus reaches the model
    as a clip like every other (and like the training clips), not as 16 frames of a fraction of it;
    its tags still cover only [start_s, end_s)."""
    if end_s - start_s + _EPS >= window_s:
        return (start_s, end_s)
    return (max(floor_s, end_s - window_s), end_s)


def clip_timestamps(start_s: float, end_s: float, num_frames: int, grid_s: Optional[float] = None) -> np.ndarray:
    """The `num_frames` instants (seconds, float64, shape (num_frames,)) sampled in [start_s, end_s).

    The span is cut into `num_frames` equal bins and each bin contributes its centre, so frames
    are evenly spread, none sits on a window boundary (neighbouring windows never share a frame),
    and the sampling does not depend on the video's frame rate.

    `grid_s`: snap each instant to the centre of its cell on a grid of `grid_s` seconds from 0 (see
    `shared_grid_s`), so that windows of different lengths or offsets sample the *same* instants and a
    frame encoder encodes each of them once. An instant moves by at most half a cell; a window whose
    instants already are cell centres (a stage-2 window on the grid) is unchanged.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames!r}")
    if not end_s > start_s:
        raise ValueError(f"a window must end after it starts, got [{start_s!r}, {end_s!r})")
    step = (end_s - start_s) / num_frames
    times = start_s + (np.arange(num_frames, dtype=np.float64) + 0.5) * step
    if grid_s is None:
        return times
    if not grid_s > 0:
        raise ValueError(f"grid_s must be a positive number of seconds, got {grid_s!r}")
    # Cell centres; _EPS keeps an instant that lies on a cell edge (up to float error) in one cell.
    snapped = (np.floor(times / grid_s + _EPS) + 0.5) * grid_s
    # Bins shorter than the grid could snap two instants, or one outside the window; keep those exact.
    inside = (snapped >= start_s) & (snapped < end_s)
    if np.all(inside) and np.all(np.diff(snapped) > 0):
        return snapped
    return times


def shared_grid_s(stage2_window_s: float, num_frames: int) -> float:
    """The time grid the mapping workflow samples on with a frame encoder: the stage-2 frame spacing.
    Stage-2 windows start at multiples of their length, so their instants are this grid's cell centres;
    stage-1 windows (30 s = 12 stage-2 windows) snapped to it then sample instants that stage-2 windows
    sample too, and each shared frame is decoded and encoded once."""
    return float(stage2_window_s) / int(num_frames)
