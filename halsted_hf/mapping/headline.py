"""The headline numbers of one Timeline as a surgeon reads them: stitches, high-proficiency share and the
procedure, each only where the tags it rests on are reliable (halsted_hf/mapping/reliability.py), and the
procedure as the timeline supports it (the majority with its share, or "mixed").

Stitches are counted from the phase tag; the high-proficiency share needs phase (which stitches) and
proficiency (how each was rated); the procedure is the procedure tag's majority. A number whose tag is not
reliable is None here, and `left_out` says which tag kept it out, so a page can say why instead of showing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .reliability import Reliability, of_timeline

MIXED = "mixed"
OUT_OF_DISTRIBUTION = "Out of distribution"  # the label pages put on a result the OOD check flags
# the tags each headline number rests on
RESTS_ON = {"stitches": ("phase",), "high_share": ("phase", "proficiency"), "procedure": ("procedure",)}


def procedure_label(summary: Optional[dict]) -> Optional[str]:
    """The procedure a timeline supports: its majority procedure when that holds more than half of the time
    with a procedure, "mixed" when none does; None when no procedure was mapped. `summary` is
    `Timeline.procedure_summary()`."""
    if not summary or not summary.get("procedure"):
        return None
    share = summary.get("procedure_share")
    return summary["procedure"] if share is not None and share > 0.5 else MIXED


def procedure_header(summary: Optional[dict]) -> Optional[str]:
    """The header's words: "gastric bypass, 83% of the video" or "mixed: no procedure holds most of the video
    (gastric bypass 40%)"."""
    label = procedure_label(summary)
    if label is None:
        return None
    share = summary.get("procedure_share") or 0.0
    if label == MIXED:
        return f"{MIXED}: no procedure holds most of the video ({summary['procedure']} {share:.0%} at most)"
    return f"{label}, {share:.0%} of the video"


@dataclass(frozen=True)
class Headline:
    """One result's headline numbers; None where a tag they rest on is not reliable (or nothing was mapped)."""

    stitches: Optional[int]
    rated: Optional[int]  # stitches with a proficiency
    high: Optional[int]
    procedure: Optional[str]  # `procedure_label`
    left_out: Dict[str, Tuple[str, ...]]  # headline number -> the unreliable tags that kept it out
    reliability: Reliability

    @property
    def high_share(self) -> Optional[float]:
        return self.high / self.rated if self.rated else None


def headline(timeline) -> Headline:
    """The headline of `timeline`; the reliability record it carries decides what is left out."""
    rel = of_timeline(timeline)
    left_out = {k: tuple(t for t in tags if not rel.is_reliable(t)) for k, tags in RESTS_ON.items()}
    left_out = {k: v for k, v in left_out.items() if v}
    s = timeline.suturing_summary()
    stitches = None if "stitches" in left_out else s["stitches"]
    rated = high = None
    if "high_share" not in left_out:
        rated, high = s["stitches_with_proficiency"], s["high_proficiency_stitches"]
    label = None
    if "procedure" not in left_out:
        label = procedure_label(timeline.procedure_summary())
    return Headline(stitches, rated, high, label, left_out, rel)


def is_out_of_distribution(ood) -> bool:
    """Did the out-of-distribution check (halsted_hf/mapping/ood.py) flag the whole video? `ood`: a Timeline's
    `ood` field (a stretch flagged inside an in-distribution video is a warning, not this)."""
    return isinstance(ood, dict) and bool(ood.get("flagged"))
