"""A Timeline's unit: a `Segment` (a span of video, the stage and task that mapped it, its tags and scores), and
the arithmetic of spans [start_s, end_s) that merging, the summaries and the figures share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from ..core.errors import HalstedError

# Windows whose boundaries differ by less than this (seconds) touch: float sums of 2.5 s steps drift.
TOUCH_EPS = 1e-6


@dataclass
class Segment:
    """One span of a timeline: [start_s, end_s) seconds, mapped by `task` in workflow `stage` (1 or 2).

    `tags` maps tag -> category ({"phase": "driving", "proficiency": "high"}); a clip may carry only
    some of its task's tags. `scores` maps tag -> the model's probability of that category, in [0, 1].
    """

    start_s: float
    end_s: float
    stage: int
    task: str
    tags: Dict[str, str] = field(default_factory=dict)
    scores: Dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "stage": self.stage, "task": self.task,
                "tags": dict(self.tags), "scores": dict(self.scores)}

    @classmethod
    def from_dict(cls, data: dict, where: str = "segment") -> "Segment":
        if not isinstance(data, dict):
            raise HalstedError(f"not a Halsted timeline: {where} is not an object; re-export the timeline")
        missing = [k for k in ("start_s", "end_s", "stage", "task") if k not in data]
        if missing:
            raise HalstedError(f"not a Halsted timeline: {where} has no {missing}; "
                               f"each segment needs start_s, end_s, stage, task, tags, scores")
        try:
            seg = cls(start_s=float(data["start_s"]), end_s=float(data["end_s"]), stage=int(data["stage"]),
                      task=str(data["task"]), tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
                      scores={str(k): float(v) for k, v in (data.get("scores") or {}).items()})
        except (TypeError, ValueError, AttributeError) as err:
            raise HalstedError(f"not a Halsted timeline: {where} has a malformed field ({err})") from err
        if not (math.isfinite(seg.start_s) and math.isfinite(seg.end_s)) or seg.end_s < seg.start_s:
            raise HalstedError(f"not a Halsted timeline: {where} spans {seg.start_s}..{seg.end_s} s; "
                               f"end_s must be >= start_s")
        if seg.stage not in (1, 2):
            raise HalstedError(f"not a Halsted timeline: {where} has stage {seg.stage}; stages are 1 and 2")
        return seg


Window = Tuple[float, float, int, str, Dict[str, str], Dict[str, float]]


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def union_spans(spans: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """The sorted, disjoint spans that cover `spans` (touching ones joined)."""
    out: List[Tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + TOUCH_EPS:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract_spans(span: Tuple[float, float], covered: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """Parts of `span` outside the sorted, disjoint `covered` spans."""
    a, b = span
    out = []
    for c0, c1 in covered:
        if c1 <= a or c0 >= b:
            continue
        if c0 > a + TOUCH_EPS:
            out.append((a, c0))
        a = max(a, c1)
    if b > a + TOUCH_EPS:
        out.append((a, b))
    return out
