"""What Summary's totals count: results the out-of-distribution check flags are set apart (left out unless the
surgeon asks for them), and each headline number adds up only results whose tags for it are reliable
(halsted_hf/mapping/headline.py), with a tally of what was left out and why."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Optional, Set

from ..mapping.headline import Headline, is_out_of_distribution
from ..mapping.reliability import of_timeline


def _data(timeline_json: str) -> dict:
    try:
        data = json.loads(timeline_json)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Apart:
    """Per video, its latest result's stored Timeline (as a JSON object), and the videos whose latest result the
    out-of-distribution check flagged (the Library labels the same ones)."""

    latest: Dict[int, dict]
    flagged: Set[int]

    @classmethod
    def of(cls, results) -> "Apart":
        latest: Dict[int, dict] = {}
        for res in results:  # newest first: the first seen per video is its latest
            if res.video_id not in latest:
                latest[res.video_id] = _data(res.timeline_json)
        return cls(latest, {vid for vid, data in latest.items() if is_out_of_distribution(data.get("ood"))})


def left_out_of(timeline_json: str) -> tuple:
    """The headline numbers a stored result without suturing leaves out: its procedure, when that tag is not
    reliable (the headline of a suturing result says the rest: mapping/headline.py)."""
    return () if of_timeline(_data(timeline_json)).is_reliable("procedure") else ("procedure",)


def procedures(videos, apart: Apart) -> "Tally":
    """Procedure -> videos over `videos` (VideoRecords), leaving out each video whose latest result's procedure
    tag is not reliable (noted in the tally)."""
    tally = Tally()
    for v in videos:
        if not v.procedure:
            continue
        rel = of_timeline(apart.latest.get(v.id, {}))
        if rel.is_reliable("procedure"):
            tally.procedures[v.procedure] += 1
        else:
            tally.leave_out("procedure", ("procedure",), rel)
    return tally


@dataclass
class Tally:
    """Sums of headline numbers over results, and what was left out: headline number -> results, tag -> reason."""

    stitches: int = 0
    rated: int = 0
    high: int = 0
    procedures: Counter = field(default_factory=Counter)
    left_out: Counter = field(default_factory=Counter)
    reasons: Dict[str, str] = field(default_factory=dict)

    def leave_out(self, number: str, tags, rel) -> None:
        self.left_out[number] += 1
        for tag in tags:
            self.reasons.setdefault(tag, rel.reason(tag))

    def add(self, hl: Headline) -> None:
        for number, tags in hl.left_out.items():
            if number != "procedure":  # the Procedures table counts videos (`procedures`), not results
                self.leave_out(number, tags, hl.reliability)
        if hl.stitches is not None:
            self.stitches += hl.stitches
        if hl.rated is not None:
            self.rated += hl.rated
            self.high += hl.high

    @property
    def high_share(self) -> Optional[float]:
        return self.high / self.rated if self.rated else None

    def note(self) -> Optional[str]:
        """One sentence: which numbers left results out, for which tags, and why."""
        words = {"stitches": "stitches", "high_share": "high proficiency", "procedure": "procedures"}
        if not self.left_out:
            return None
        parts = [f"{n} result{'s' if n != 1 else ''} left out of {words[k]}" for k, n in self.left_out.items()]
        why = "; ".join(f"{tag}: {reason}" for tag, reason in self.reasons.items())
        return (f"Only reliable tags count: {', '.join(parts)}; the model's card marks a tag each rests on not "
                f"reliable ({why}).")
