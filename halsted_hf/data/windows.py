"""Training and evaluation clips are the mapping workflow's windows: fixed length per task, drawn inside
ground-truth segments.

Why: `halsted map` feeds the model fixed windows (stage 1: 30 s for macro-activity; stage 2: 2.5 s for the
fine tasks; the same frame count for both). Training on whole ground-truth segments of varying length,
resampled to the same frame count, teaches the model an input it never sees when mapping, and leaks
labels through duration (on the synthetic atlas clip duration alone predicted proficiency, AUROC 0.99:
low-proficiency phases are slower). With one length per task, duration tells nothing.

How an atlas (ground-truth rows of any length) becomes clips, per video and task:
1. Rows with the same labels that touch or overlap are merged into one segment (atlases often tile a
   segment with shorter clips, as the synthetic atlas does for steps).
2. A segment at least one window long is covered by windows of the task's length every `stride` (half a
   window by default), centred in the segment; every window lies inside its segment, so its labels are exact.
3. A shorter segment gets one window centred on it, moved (not shortened) to stay inside the video's
   annotated span [0, last annotated end]; it carries that segment's labels: the window holds the whole
   segment at its centre, which is what the model is asked about. Neighbouring time fills the rest, as
   it does when mapping.
4. A video whose annotated span is shorter than a window gets windows of the whole span (mapping does the
   same: a video shorter than 30 s is one shorter stage-1 window).

Tasks the mapping workflow does not map (other taxonomies: CholecT50's loader already cuts fixed 16-s
windows) keep their rows as they are.
"""

from __future__ import annotations

import json
import math
from typing import Dict, List, Optional

import pandas as pd

from ..model.taxonomy import HALSTED_TAXONOMY, Taxonomy

STRIDE_FRACTION = 0.5  # windows inside a long segment overlap by half: twice the samples of a tiling
_EPS = 1e-6
_KEEP_OUT = ("start_s", "end_s", "confidence")  # columns that may differ between rows of one segment


def window_lengths(taxonomy: Optional[Taxonomy] = None) -> Dict[str, float]:
    """{task: window seconds} for every task the taxonomy's mapping plans map (default: the Halsted taxonomy's):
    a clip is trained on the window length it is mapped with."""
    out: Dict[str, float] = {}
    for plan in (taxonomy or HALSTED_TAXONOMY).mapping_plans().values():
        out.setdefault(plan.stage1_task, plan.stage1_window_s)
        for task in plan.tasks[1:]:
            out.setdefault(task, plan.stage2_window_s)
    return out


def _task_name(task: str) -> str:
    from ..model.taxonomy import HALSTED_TAXONOMY

    try:
        return HALSTED_TAXONOMY.task(task).name
    except (KeyError, ValueError):
        return task


def merge_segments(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one video, task and labels that touch or overlap -> one row spanning them (min confidence)."""
    if df.empty:
        return df.copy()
    keys = [c for c in df.columns if c not in _KEEP_OUT]
    # normalised labels: the same tags written in another key order are the same labels
    work = df.assign(_tags=[json.dumps(json.loads(t) if isinstance(t, str) else t, sort_keys=True)
                            for t in df["tags"]])
    keys = [("_tags" if c == "tags" else c) for c in keys]
    out = []
    for _, g in work.sort_values("start_s", kind="stable").groupby(keys, sort=False, dropna=False):
        rows = g.to_dict("records")
        cur = dict(rows[0])
        for r in rows[1:]:
            if r["start_s"] <= cur["end_s"] + _EPS:
                cur["end_s"] = max(cur["end_s"], r["end_s"])
                if "confidence" in cur:
                    cur["confidence"] = min(cur["confidence"], r["confidence"])
            else:
                out.append(cur)
                cur = dict(r)
        out.append(cur)
    merged = pd.DataFrame(out).drop(columns="_tags")
    return merged[list(df.columns)].sort_values(["video_id", "start_s", "task"], kind="stable").reset_index(drop=True)


def segment_windows(start_s: float, end_s: float, window_s: float, span_end_s: float,
                    stride_s: Optional[float] = None) -> List[tuple]:
    """Windows (start_s, end_s) of `window_s` for one segment [start_s, end_s) of a video annotated over
    [0, span_end_s) (rules 2-4 of the module doc)."""
    stride = window_s * STRIDE_FRACTION if stride_s is None else stride_s
    if window_s >= span_end_s - _EPS:  # the whole annotated video is shorter than one window
        return [(0.0, round(span_end_s, 6))]
    length = end_s - start_s
    if length + _EPS >= window_s:
        n = int(math.floor((length - window_s) / stride + _EPS)) + 1
        offset = (length - window_s - (n - 1) * stride) / 2  # centre the windows in the segment
        starts = [start_s + offset + k * stride for k in range(n)]
    else:
        centre = (start_s + end_s) / 2
        starts = [min(max(centre - window_s / 2, 0.0), span_end_s - window_s)]
    return [(round(a, 6), round(a + window_s, 6)) for a in starts]


def mapping_windows(df: pd.DataFrame, lengths: Optional[Dict[str, float]] = None,
                    stride_fraction: float = STRIDE_FRACTION) -> pd.DataFrame:
    """The atlas `df` (ground-truth rows) as the mapping workflow's fixed windows, one row per window,
    same columns. `lengths` ({task: seconds}) defaults to `window_lengths()`; other tasks are unchanged."""
    if not 0 < stride_fraction <= 1:
        raise ValueError(f"stride_fraction must be in (0, 1], got {stride_fraction}")
    lengths = window_lengths() if lengths is None else lengths
    if df.empty:
        return df.copy()
    span_end = df.groupby("video_id")["end_s"].max().to_dict()
    names = {t: _task_name(t) for t in set(df["task"])}  # an atlas may name a task by its instruction
    mapped = df["task"].map(names).isin(list(lengths))
    out = [r for r in df[~mapped].to_dict("records")]
    for r in merge_segments(df[mapped]).to_dict("records"):
        w = lengths[names[r["task"]]]
        for a, b in segment_windows(r["start_s"], r["end_s"], w, span_end[r["video_id"]], w * stride_fraction):
            out.append(dict(r, start_s=a, end_s=b))
    res = pd.DataFrame(out, columns=list(df.columns))
    return res.sort_values(["video_id", "start_s", "task"], kind="stable").reset_index(drop=True)


def read_windows(path: str) -> pd.DataFrame:
    """An atlas file or folder read as training/evaluation clips: `mapping_windows(read_atlas(path))`.
    Training, the feature cache command, the baselines and evaluation all read atlases through this, so
    they see the same windows (and the same cache keys)."""
    from .atlas import read_atlas

    return mapping_windows(read_atlas(path))
