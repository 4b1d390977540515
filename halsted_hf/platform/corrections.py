"""Surgeons' corrections of a result: a layer over the model's Timeline, never an overwrite.

A correction is one edit of the Timeline as it stands after the earlier corrections of the same result:
- "category":    set one tag of one segment to another category of that tag (taxonomy.py's categories only)
- "split":       cut one segment in two at a time strictly inside it
- "merge":       join a segment with the next segment of the same task that starts where it ends
                 (the merged segment keeps the first one's tags)
- "not-surgery": remove a stretch of time from every segment (it is not surgery: out of body, idle, ...)

Segments are named by their index in the corrected Timeline the surgeon sees; each change also records
the segment's start, end and task, and `apply` refuses an edit whose segment is not where the change
says (so a stored correction can never land on another segment). The result row keeps the model's
Timeline; `corrected()` replays the active (not undone) corrections on it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..core.errors import HalstedError
from ..core.clock import clock_precise
from .tables import CORRECTION_KINDS, Correction

EPS = 1e-3  # seconds: times closer than this are the same time (float sums of window steps drift)
SURGEON_SCORE = 1.0  # the "probability" of a tag the surgeon set: certain


class CorrectionError(HalstedError, ValueError):
    """A correction that cannot be applied; the message says what was wrong and what to do."""


@dataclass(frozen=True)
class CorrectionRecord:
    id: int
    result_id: int
    owner_id: int
    kind: str
    change: dict
    replaced: List[dict]  # the segments it replaced, as they were just before it
    created_at: dt.datetime
    undone_at: Optional[dt.datetime]

    @classmethod
    def of(cls, row: Correction) -> "CorrectionRecord":
        return cls(row.id, row.result_id, row.owner_id, row.kind, json.loads(row.change), json.loads(row.replaced),
                   row.created_at, row.undone_at)

    def describe(self) -> str:
        """One line for the page's list of corrections."""
        c = self.change
        span = f"{clock_precise(c.get('start_s', 0.0))}–{clock_precise(c.get('end_s', 0.0))}"
        if self.kind == "category":
            before = (self.replaced[0]["tags"].get(c["tag"]) if self.replaced else None) or "none"
            return f"{c['tag']} {span}: {before} → {c['category']}"
        if self.kind == "split":
            return f"split {c['task']} {span} at {clock_precise(c['at_s'])}"
        if self.kind == "merge":
            return f"merged {c['task']} {span} with the next segment"
        return f"not surgery {span}"


@dataclass
class CorrectedTimeline:
    """The Timeline a surgeon sees: the model's, with their active corrections applied.

    `marks[i]` belongs to `timeline.segments[i]`: {"tags": {tag: category the surgeon set}, "edited": bool
    (split, merged or cut)}; `not_surgery` lists the stretches marked not surgery."""

    original: object  # halsted_hf.mapping.timeline.Timeline as the model wrote it
    timeline: object
    corrections: List[CorrectionRecord] = field(default_factory=list)
    marks: List[dict] = field(default_factory=list)
    not_surgery: List[Tuple[float, float]] = field(default_factory=list)

    @property
    def is_corrected(self) -> bool:
        return bool(self.corrections)

    def corrected_spans(self) -> List[Tuple[float, float, List[str]]]:
        """(start_s, end_s, tags) of every segment a correction touched: the tags the surgeon set, or all of
        the segment's tags when it was split, merged or cut. Not-surgery stretches are in `not_surgery`."""
        return [(seg.start_s, seg.end_s, sorted(mark["tags"]) if mark["tags"] else sorted(seg.tags))
                for seg, mark in zip(self.timeline.segments, self.marks) if mark["tags"] or mark["edited"]]


def begin(original) -> CorrectedTimeline:
    tl = copy.deepcopy(original)
    return CorrectedTimeline(original=original, timeline=tl,
                             marks=[{"tags": {}, "edited": False} for _ in tl.segments])


def _segment(ct: CorrectedTimeline, change: dict):
    """The segment a change names, checked against the start, end and task it recorded."""
    segs = ct.timeline.segments
    i = change.get("index")
    if not isinstance(i, int) or not 0 <= i < len(segs):
        raise CorrectionError(f"There is no segment {i!r} in this result (it has {len(segs)}): pick a segment "
                              f"from the list on the Review page.")
    seg = segs[i]
    if (abs(seg.start_s - float(change.get("start_s", seg.start_s))) > EPS
            or abs(seg.end_s - float(change.get("end_s", seg.end_s))) > EPS
            or change.get("task", seg.task) != seg.task):
        raise CorrectionError("The segment changed since the page showed it (another tab corrected it): reload the "
                              "Review page and correct it again.")
    return i, seg


def with_segment(ct: CorrectedTimeline, index: int, **fields) -> dict:
    """A change dict for segment `index` of `ct` (records its start, end and task)."""
    segs = ct.timeline.segments
    if not 0 <= index < len(segs):
        raise CorrectionError(f"There is no segment {index} in this result (it has {len(segs)}): pick a segment "
                              f"from the list on the Review page.")
    seg = segs[index]
    return {"index": index, "start_s": seg.start_s, "end_s": seg.end_s, "task": seg.task, **fields}


def segment_key(seg) -> str:
    """A segment's name that does not move when other segments are split, merged or cut (an index does):
    its task, stage and span. A page keeps the surgeon's pick by this key, never by position."""
    return f"{seg.task}|{seg.stage}|{seg.start_s:.3f}|{seg.end_s:.3f}"


def index_of(ct: CorrectedTimeline, key: Optional[str]) -> Optional[int]:
    """Where the segment named `key` is now; a segment that a correction replaced (merged, split, cut) is
    followed to the one of the same task that now covers its start. None when nothing does."""
    segs = ct.timeline.segments
    keys = [segment_key(s) for s in segs]
    if key in keys:
        return keys.index(key)
    try:
        task, stage, start, _end = key.split("|")
        start_s, stage_n = float(start), int(stage)
    except (AttributeError, ValueError):
        return None
    return next((k for k, s in enumerate(segs) if s.task == task and s.stage == stage_n
                 and s.start_s - EPS <= start_s < s.end_s - EPS), None)


def preview(ct: CorrectedTimeline, kind: str, change: dict) -> Tuple[List[dict], List[dict]]:
    """(the segments a change would replace, the segments that would take their place), computed on a copy;
    CorrectionError, as `apply` would raise it, when it cannot apply. Shown before the surgeon commits."""
    trial = copy.deepcopy(ct)
    before = {segment_key(s) for s in trial.timeline.segments}
    replaced = apply(trial, kind, dict(change))
    added = [s.to_dict() for s in trial.timeline.segments if segment_key(s) not in before]
    if kind == "category":  # same span, new tags: the key does not change
        added = [trial.timeline.segments[change["index"]].to_dict()]
    return replaced, added


def apply(ct: CorrectedTimeline, kind: str, change: dict, taxonomy=None, stored: bool = False) -> List[dict]:
    """Apply one change to `ct` in place; returns the segments it replaced (dicts, as they were).
    Raises CorrectionError, leaving `ct` unchanged, when the change cannot apply. `taxonomy`: whose categories
    a category may be set to (default: the Halsted taxonomy); `stored`: a change checked when it was made (a
    replay), whose category is not checked again."""
    if kind not in CORRECTION_KINDS:
        raise CorrectionError(f"Unknown correction {kind!r}: it is one of {', '.join(CORRECTION_KINDS)}.")
    segs, marks = ct.timeline.segments, ct.marks
    if kind == "not-surgery":
        return _not_surgery(ct, change)
    i, seg = _segment(ct, change)
    if kind == "category":
        tag, category = change.get("tag"), change.get("category")
        allowed = () if stored else _categories(seg.task, tag, taxonomy)
        if not stored and category not in allowed:
            raise CorrectionError(f"{category!r} is not a category of {tag!r} in the model's taxonomy: choose one of "
                                  f"{', '.join(allowed)}.")
        if seg.tags.get(tag) == category:
            raise CorrectionError(f"This segment's {tag} is already {category!r}: nothing to correct.")
        replaced = [seg.to_dict()]
        seg.tags[tag] = category
        seg.scores[tag] = SURGEON_SCORE
        marks[i]["tags"][tag] = category
        return replaced
    if kind == "split":
        at = change.get("at_s")
        if not isinstance(at, (int, float)) or not seg.start_s + EPS < at < seg.end_s - EPS:
            span = f"{clock_precise(seg.start_s)}–{clock_precise(seg.end_s)}"
            raise CorrectionError(f"A split must fall inside the segment ({span}), "
                                  f"not at {at!r} s: pick a time between its start and end.")
        replaced = [seg.to_dict()]
        second = copy.deepcopy(seg)
        seg.end_s, second.start_s = float(at), float(at)
        segs.insert(i + 1, second)
        marks[i]["edited"] = True
        marks.insert(i + 1, copy.deepcopy(marks[i]))
        return replaced
    # merge
    j = next((k for k in range(i + 1, len(segs)) if segs[k].task == seg.task and segs[k].stage == seg.stage), None)
    if j is None or abs(segs[j].start_s - seg.end_s) > EPS:
        raise CorrectionError("This segment has no adjacent next segment of the same task to merge with: pick a "
                              "segment whose neighbour starts where it ends.")
    replaced = [seg.to_dict(), segs[j].to_dict()]
    seg.end_s = segs[j].end_s
    for tag, score in segs[j].scores.items():  # the merged segment is as uncertain as its least certain part
        if tag in seg.scores and seg.tags.get(tag) == segs[j].tags.get(tag):
            seg.scores[tag] = min(seg.scores[tag], score)
    marks[i]["edited"] = True
    del segs[j], marks[j]
    return replaced


def _categories(task_name: str, tag, taxonomy) -> Tuple[str, ...]:
    from ..model.taxonomy import HALSTED_TAXONOMY

    taxonomy = taxonomy or HALSTED_TAXONOMY
    try:
        task = taxonomy.task(task_name)
    except KeyError:
        raise CorrectionError(f"The segment's task {task_name!r} is not in the model's taxonomy: it cannot be "
                              f"corrected here.") from None
    if tag not in task.tags:
        raise CorrectionError(f"{tag!r} is not a tag of task {task_name!r}: choose one of {', '.join(task.tags)}.")
    return task.tags[tag]


def _not_surgery(ct: CorrectedTimeline, change: dict) -> List[dict]:
    a, b = change.get("start_s"), change.get("end_s")
    duration = max(ct.timeline.duration_s, max((s.end_s for s in ct.timeline.segments), default=0.0))
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and 0 <= a < b - EPS and b <= duration + EPS):
        raise CorrectionError(f"A not-surgery stretch runs from a start to a later end inside the video "
                              f"(0:00.0–{clock_precise(duration)}), not {a!r}–{b!r} s: pick both times again.")
    segs, marks = ct.timeline.segments, ct.marks
    hit = [k for k, s in enumerate(segs) if s.start_s < b - EPS and s.end_s > a + EPS]
    if not hit:
        raise CorrectionError("Nothing is mapped in that stretch: there is nothing to mark as not surgery.")
    replaced = [segs[k].to_dict() for k in hit]
    new_segs, new_marks = [], []
    for k, (s, m) in enumerate(zip(segs, marks)):
        if k not in hit:
            new_segs.append(s)
            new_marks.append(m)
            continue
        for lo, hi in ((s.start_s, min(s.end_s, a)), (max(s.start_s, b), s.end_s)):
            if hi - lo > EPS:  # what is left of the segment on either side of the stretch
                part = copy.deepcopy(s)
                part.start_s, part.end_s = lo, hi
                new_segs.append(part)
                new_marks.append(dict(copy.deepcopy(m), edited=True))
    segs[:], marks[:] = new_segs, new_marks
    ct.not_surgery.append((float(a), float(b)))
    return replaced


def replay(original, records: List[CorrectionRecord]) -> CorrectedTimeline:
    """The model's Timeline with the active corrections applied in order."""
    ct = begin(original)
    for rec in records:
        if rec.undone_at is not None:
            continue
        apply(ct, rec.kind, rec.change, stored=True)
        ct.corrections.append(rec)
    if ct.corrections:
        ct.timeline.extra["corrections"] = [
            {"id": r.id, "kind": r.kind, "change": r.change, "replaced": r.replaced,
             "at": r.created_at.isoformat(timespec="seconds") + "Z"} for r in ct.corrections]
        if ct.not_surgery:
            ct.timeline.extra["not_surgery"] = [list(span) for span in ct.not_surgery]
    return ct


def labelled_segments(ct: CorrectedTimeline) -> List[Tuple[object, Dict[str, str], bool]]:
    """(segment, {tag: category the surgeon set}, whether the surgeon set its span) for every segment a correction
    touched: a category, a split, a merge, or a cut by a not-surgery stretch. What export-labels turns into
    training rows (tags the surgeon did not touch stay the model's, as the surgeon saw and kept them)."""
    return [(seg, dict(mark["tags"]), bool(mark["edited"])) for seg, mark in zip(ct.timeline.segments, ct.marks)
            if mark["tags"] or mark["edited"]]
