"""The de-identification report: what was removed from a video, as JSON and as one line for people.

It never repeats what it removed: metadata keys, not values; times of stretches, not their pictures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

from ..core.clock import clock

REPORT_VERSION = 1


@dataclass
class DeidReport:
    duration_s: float
    removed_stretches: List[Tuple[float, float]] = field(default_factory=list)
    replaced_with: str = "black"  # black | blur
    faces_per_second: Dict[str, int] = field(default_factory=dict)  # second (as text, JSON keys) -> faces seen
    metadata_removed: List[str] = field(default_factory=list)
    audio_removed: bool = False
    masks: List[str] = field(default_factory=list)  # x,y,w,h
    out_of_body: Dict[str, object] = field(default_factory=dict)  # classifier name, folder, threshold, samples
    face_detector: Dict[str, str] = field(default_factory=dict)  # name, version
    frames_written: int = 0
    version: int = REPORT_VERSION

    @property
    def removed_s(self) -> float:
        return float(sum(e - s for s, e in self.removed_stretches))

    @property
    def seconds_with_faces(self) -> int:
        return sum(1 for n in self.faces_per_second.values() if n)

    def summary(self) -> str:
        """'2 out-of-body stretches removed: 0:00-0:41, 58:10-59:02; faces blurred in 3 s of video; 7 metadata
        entries and the audio removed'."""
        n = len(self.removed_stretches)
        parts = [f"{n} out-of-body stretch{'es' if n != 1 else ''} removed"
                 + (": " + ", ".join(f"{clock(s)}-{clock(e)}" for s, e in self.removed_stretches) if n else "")]
        seconds = self.seconds_with_faces
        parts.append(f"faces blurred in {seconds} s of video (at most {max(self.faces_per_second.values())} at once)"
                     if seconds else "no face found")
        removed = [f"{len(self.metadata_removed)} metadata entr{'ies' if len(self.metadata_removed) != 1 else 'y'}"]
        if self.audio_removed:
            removed.append("the audio")
        if self.masks:
            removed.append(f"{len(self.masks)} masked area{'s' if len(self.masks) != 1 else ''}")
        parts.append(" and ".join([", ".join(removed[:-1]), removed[-1]] if len(removed) > 1 else removed)
                     + " removed")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {**asdict(self), "removed_stretches": [list(s) for s in self.removed_stretches],
                "summary": self.summary()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "DeidReport":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["removed_stretches"] = [tuple(map(float, s)) for s in known.get("removed_stretches", [])]
        return cls(**known)

    @classmethod
    def load(cls, path: str) -> Optional["DeidReport"]:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
