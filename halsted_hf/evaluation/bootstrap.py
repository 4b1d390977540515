"""Percentile bootstrap confidence intervals for any metric.

Resampling whole groups (e.g. videos) instead of samples matters here: clips of one video are
correlated, so a per-clip bootstrap would give intervals that are too narrow.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np


def _as_array(a: Any) -> np.ndarray:
    """A 1-D (or n-D sample-first) array; lists of tuples/strings with None stay one object per sample."""
    if isinstance(a, np.ndarray):
        return a
    arr = np.asarray(a)
    if arr.dtype == object or arr.ndim != 1:
        arr = np.empty(len(a), dtype=object)
        arr[:] = list(a)
    return arr


def bootstrap_ci(metric_fn: Callable[..., float], *arrays: Sequence[Any], n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0, groups: Optional[Sequence[Any]] = None) -> Tuple[float, float, float]:
    """(point, low, high): `metric_fn(*arrays)` and its (1 - alpha) percentile bootstrap interval.

    `arrays` are equally long per-sample sequences (y_true, y_pred, scores, ...); each replicate draws
    n samples with replacement (the same indices for every array), or, with `groups` (one id per sample,
    e.g. the video), draws as many groups as there are with replacement and takes all their samples.
    Replicates whose metric is NaN (e.g. an AUROC with one class drawn) are left out; if all are, the
    interval is (NaN, NaN). Deterministic for a given seed.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    data = [_as_array(a) for a in arrays]
    n = len(data[0])
    if any(len(a) != n for a in data):
        raise ValueError(f"arrays must be equally long, got lengths {[len(a) for a in data]}")
    point = float(metric_fn(*data))
    if n == 0:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if groups is not None:
        g = _as_array(groups)
        if len(g) != n:
            raise ValueError(f"groups has {len(g)} entries but the arrays have {n}")
        _, inverse = np.unique(g.astype(str) if g.dtype == object else g, return_inverse=True)
        members = [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]
    stats = np.empty(n_boot)
    for b in range(n_boot):
        if groups is None:
            idx = rng.integers(0, n, size=n)
        else:
            idx = np.concatenate([members[k] for k in rng.integers(0, len(members), size=len(members))])
        stats[b] = metric_fn(*(a[idx] for a in data))
    stats = stats[~np.isnan(stats)]
    if len(stats) == 0:
        return point, float("nan"), float("nan")
    low, high = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return point, float(low), float(high)
