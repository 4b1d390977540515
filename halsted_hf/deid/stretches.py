"""Per-sample out-of-body probabilities -> the stretches of a video that are removed.

Recall comes first: a single sample over the threshold is removed, not voted away. Each flagged sample stands
for the time around it (half a sampling step each side); stretches closer than `merge_gap_s` are joined (the
camera that leaves for a second and comes back out stays out), each is made at least `min_len_s` long, and
each is padded by `pad_s` on both sides, which also covers the camera passing through the trocar (dark, blurred
frames the classifier may not call either way).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

Stretch = Tuple[float, float]
MIN_LEN_S = 1.0
MERGE_GAP_S = 1.0
PAD_S = 0.5


def removed_stretches(times: Sequence[float], p_out: Sequence[float], threshold: float, duration_s: float,
                      step_s: float, min_len_s: float = MIN_LEN_S, merge_gap_s: float = MERGE_GAP_S,
                      pad_s: float = PAD_S) -> List[Stretch]:
    """[(start_s, end_s), ...] sorted and disjoint, within [0, duration_s]."""
    flagged = [float(t) for t, p in zip(times, p_out) if p >= threshold]
    raw: List[List[float]] = []
    for t in flagged:
        start, end = t - step_s / 2, t + step_s / 2
        if raw and start - raw[-1][1] <= merge_gap_s:
            raw[-1][1] = max(raw[-1][1], end)
        else:
            raw.append([start, end])
    out: List[List[float]] = []
    for start, end in raw:
        if end - start < min_len_s:
            mid = (start + end) / 2
            start, end = mid - min_len_s / 2, mid + min_len_s / 2
        start, end = max(0.0, start - pad_s), min(float(duration_s), end + pad_s)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(round(s, 3), round(e, 3)) for s, e in out if e > s]


def inside(t: float, stretches: Sequence[Stretch]) -> bool:
    return any(s <= t < e for s, e in stretches)


def sample_times(duration_s: float, step_s: float) -> np.ndarray:
    """The instants the classifier looks at: the centre of every `step_s` bin of the video."""
    n = max(1, int(np.ceil(duration_s / step_s - 1e-9)))
    return np.minimum((np.arange(n) + 0.5) * step_s, max(0.0, duration_s - 1e-3))
