"""Merging the model's per-window outputs into a Timeline's segments."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, Iterable, List, Tuple

from .segment import TOUCH_EPS, Segment


def _as_segment(w: Any) -> Segment:
    if isinstance(w, Segment):
        return Segment(w.start_s, w.end_s, w.stage, w.task, dict(w.tags), dict(w.scores))
    if isinstance(w, dict):
        return Segment.from_dict(w, "window")
    start, end, stage, task, tags, scores = w
    return Segment(float(start), float(end), int(stage), str(task), dict(tags), dict(scores or {}))


def merge_windows(windows: Iterable[Any]) -> List[Segment]:
    """Merge the model's per-window outputs into segments.

    `windows`: (start_s, end_s, stage, task, tags, scores) tuples, dicts or `Segment`s, in any order.
    Windows of the same stage and task whose spans touch (within TOUCH_EPS) and whose tags are
    identical become one segment; its score per tag is the duration-weighted mean of the windows'
    scores (tags absent from a window's scores do not count for it). A gap or a change of tags
    starts a new segment, so merged segments tile exactly what the windows covered.
    Raises ValueError if two windows of one (stage, task) overlap: the workflow never makes those.
    Returns segments sorted by (stage, start_s, task).
    """
    groups: Dict[Tuple[int, str], List[Segment]] = defaultdict(list)
    for w in windows:
        seg = _as_segment(w)
        groups[(seg.stage, seg.task)].append(seg)
    out: List[Segment] = []
    for (stage, task), segs in groups.items():
        segs.sort(key=lambda s: s.start_s)
        runs: List[List[Segment]] = []
        for seg in segs:
            prev = runs[-1][-1] if runs else None
            if prev is not None and seg.start_s < prev.end_s - TOUCH_EPS:
                raise ValueError(f"windows overlap in stage {stage}, task {task!r}: "
                                 f"[{prev.start_s}, {prev.end_s}) and [{seg.start_s}, {seg.end_s})")
            if prev is not None and seg.start_s - prev.end_s <= TOUCH_EPS and seg.tags == prev.tags:
                runs[-1].append(seg)
            else:
                runs.append([seg])
        out.extend(_merge_run(run) for run in runs)
    out.sort(key=lambda s: (s.stage, s.start_s, s.task))
    return out


def _merge_run(run: List[Segment]) -> Segment:
    weighted: Dict[str, float] = defaultdict(float)
    weight: Dict[str, float] = defaultdict(float)
    for seg in run:
        for tag, score in seg.scores.items():
            weighted[tag] += score * seg.duration_s
            weight[tag] += seg.duration_s
    scores = {}
    for tag in run[0].scores.keys() | weighted.keys():
        if weight[tag] > 0:
            scores[tag] = weighted[tag] / weight[tag]
        else:  # zero-length windows only: plain mean
            vals = [s.scores[tag] for s in run if tag in s.scores]
            scores[tag] = sum(vals) / len(vals)
    first = run[0]
    return Segment(first.start_s, run[-1].end_s, first.stage, first.task, dict(first.tags), scores)
