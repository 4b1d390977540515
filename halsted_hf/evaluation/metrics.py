"""Evaluation metrics, as small pure numpy functions.

Units: `accuracy`, `auroc` and `temporal_f1` are fractions in [0, 1] (the paper's tables);
`segmental_f1_at_k` and `edit_score` are in [0, 100], the action-segmentation convention (MS-TCN's
evaluation), so numbers compare with that literature as printed.

Segments are (start, end, label) tuples covering [start, end): seconds for `temporal_f1`, frame
indices (end exclusive) for `segments_from_labels`.
"""

from __future__ import annotations

import math
from typing import Any, Hashable, List, Optional, Sequence, Tuple

import numpy as np

SegmentT = Tuple[float, float, Hashable]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Share of ground-truth categories that the prediction matches exactly (the paper's accuracy).

    A None/NaN prediction (the model emitted no such tag) counts as wrong; a None/NaN truth (the clip
    carries no such tag) is left out. Returns NaN when no entry has a truth.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} entries but y_pred has {len(y_pred)}")
    t = _object_array(y_true)
    p = _object_array(y_pred)
    if t is not None and p is not None:
        # elementwise == on object arrays; NaN != NaN, so `t == t` drops NaN truths
        valid = (t != None) & (t == t)  # noqa: E711 (elementwise comparison, not identity)
        total = int(valid.sum())
        return float(((t == p) & valid).sum()) / total if total else float("nan")
    hits = total = 0  # categories that numpy would turn into 2-D arrays (tuples): plain loop
    for a, b in zip(y_true, y_pred):
        if _missing(a):
            continue
        total += 1
        hits += (not _missing(b)) and a == b
    return hits / total if total else float("nan")


def _object_array(values: Sequence[Any]) -> Optional[np.ndarray]:
    """A 1-D object array of `values` (one Python object per sample), or None if that is not possible."""
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):  # pandas: pd.NA/NaN -> None
        values = values.to_numpy(dtype=object, na_value=None)
    arr = np.empty(len(values), dtype=object)
    try:
        arr[:] = values if not isinstance(values, np.ndarray) else values.astype(object)
    except ValueError:
        return None
    return arr if all(np.ndim(v) == 0 for v in arr[:1]) else None


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # start index of each run of equal values in sorted order
    new = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(new)
    counts = np.diff(np.r_[starts, len(xs)])
    mean_rank = starts + (counts + 1) / 2.0
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.repeat(mean_rank, counts)
    return ranks


def auroc(y_true_binary: Sequence[Any], scores: Sequence[float]) -> float:
    """Area under the ROC curve, as the Mann-Whitney U statistic with average ranks for ties
    (equal to sklearn.metrics.roc_auc_score). `y_true_binary`: 0/1 or bools (1 = positive);
    `scores`: higher = more positive. Returns NaN when only one class is present (undefined)."""
    y = np.asarray(y_true_binary).astype(float)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true_binary and scores must be 1-D and equally long, got {y.shape} and {s.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true_binary must hold only 0/1 (or False/True)")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; give every sample a score")
    n_pos = float(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def segments_from_labels(frame_labels: Sequence[Hashable], ignore: Sequence[Hashable] = ()) -> List[SegmentT]:
    """Runs of equal labels: [(start, end, label)] with frame indices, end exclusive.
    Labels in `ignore` (e.g. "background") start no segment, as in MS-TCN's `bg_class`."""
    labels = list(frame_labels)
    out: List[SegmentT] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start] not in ignore:
                out.append((start, i, labels[start]))
            start = i
    return out


def _f1(tp: float, fp: float, fn: float) -> float:
    """F1 from counts; 0 when nothing matched, NaN when there was nothing to find nor predicted."""
    if tp + fp + fn == 0:
        return float("nan")
    return 2 * tp / (2 * tp + fp + fn)


def match_segments(true_segments: Sequence[SegmentT], pred_segments: Sequence[SegmentT],
                   overlap: float = 0.1) -> Tuple[int, int, int]:
    """(tp, fp, fn) of the paper's temporal matching.

    A predicted and a true segment match when their labels are equal and their overlap, defined as
    the intersection over union of the two time spans, is >= `overlap` (the paper's "overlap by at
    least 10%"; IoU so that a tiny prediction inside a long truth, or the reverse, does not count).
    One-to-one: pairs are taken greedily by decreasing IoU, so each true and each predicted segment
    is used at most once. Unmatched predictions are false positives, unmatched truths false negatives.
    """
    pairs = []
    for i, (ts, te, tl) in enumerate(true_segments):
        for j, (ps, pe, pl) in enumerate(pred_segments):
            if tl != pl:
                continue
            inter = min(te, pe) - max(ts, ps)
            if inter <= 0:
                continue
            iou = inter / (max(te, pe) - min(ts, ps))
            if iou >= overlap:
                pairs.append((-iou, i, j))
    pairs.sort()
    used_t, used_p = set(), set()
    for _, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
    tp = len(used_t)
    return tp, len(pred_segments) - tp, len(true_segments) - tp


def temporal_f1(true_segments: Sequence[SegmentT], pred_segments: Sequence[SegmentT], overlap: float = 0.1) -> float:
    """The paper's temporal F1 in [0, 1] over (start, end, label) segments; see `match_segments`.
    NaN when both lists are empty."""
    return _f1(*match_segments(true_segments, pred_segments, overlap))


def segmental_counts(y_true_frames: Sequence[Hashable], y_pred_frames: Sequence[Hashable], k: float = 0.10,
                     ignore: Sequence[Hashable] = ()) -> Tuple[int, int, int]:
    """(tp, fp, fn) of F1@k on frame-wise labels, with MS-TCN's matching: predicted segments in time
    order each take the true segment of highest IoU (same label); it counts as a hit when that IoU is
    >= k and the true segment was not hit before, else it is a false positive. Sum the counts over
    videos for the dataset-level F1@k that papers report."""
    if len(y_true_frames) != len(y_pred_frames):
        raise ValueError(f"{len(y_true_frames)} true frames but {len(y_pred_frames)} predicted frames")
    true = segments_from_labels(y_true_frames, ignore)
    pred = segments_from_labels(y_pred_frames, ignore)
    if not true:
        return 0, len(pred), 0
    t_start = np.array([s[0] for s in true], dtype=float)
    t_end = np.array([s[1] for s in true], dtype=float)
    t_label = [s[2] for s in true]
    hit = np.zeros(len(true), dtype=bool)
    tp = fp = 0
    for ps, pe, pl in pred:
        inter = np.minimum(pe, t_end) - np.maximum(ps, t_start)
        union = np.maximum(pe, t_end) - np.minimum(ps, t_start)
        same = np.array([pl == tl for tl in t_label])
        iou = np.where(same, inter / union, -np.inf)
        best = int(np.argmax(iou))
        if iou[best] >= k and not hit[best]:
            tp += 1
            hit[best] = True
        else:
            fp += 1
    return tp, fp, int(len(true) - hit.sum())


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """F1 in [0, 100] from summed (tp, fp, fn), as action-segmentation papers report it."""
    return 100.0 * _f1(tp, fp, fn)


def segmental_f1_at_k(y_true_frames: Sequence[Hashable], y_pred_frames: Sequence[Hashable], k: float = 0.10,
                      ignore: Sequence[Hashable] = ()) -> float:
    """Segmental F1@k in [0, 100] for one video's frame-wise labels (k = 0.10, 0.25 or 0.50 usually).
    0 when no segment matched; NaN when neither sequence has a segment."""
    return f1_from_counts(*segmental_counts(y_true_frames, y_pred_frames, k, ignore))


def levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Edit distance (insert, delete, substitute, each cost 1), one rolling row of the DP table."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] if x == y else 1 + min(prev[j], cur[j - 1], prev[j - 1])
        prev = cur
    return prev[-1]


def edit_score(y_true_frames: Sequence[Hashable], y_pred_frames: Sequence[Hashable],
               ignore: Sequence[Hashable] = ()) -> float:
    """Segmental edit score in [0, 100]: (1 - Levenshtein(pred segment labels, true segment labels) /
    max(len)) * 100 (MS-TCN). It punishes over-segmentation whatever the timing. 100 when both are empty."""
    p = [s[2] for s in segments_from_labels(y_pred_frames, ignore)]
    t = [s[2] for s in segments_from_labels(y_true_frames, ignore)]
    n = max(len(p), len(t))
    return 100.0 if n == 0 else (1.0 - levenshtein(p, t) / n) * 100.0
