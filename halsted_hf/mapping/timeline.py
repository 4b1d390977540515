"""The Timeline: what a mapped video is, for every front end (dashboard, Space, CLI, SDK).

A Timeline is a list of `Segment`s (a time span, the workflow stage that produced it, the task, the
tags the model gave it and one probability per tag) plus what was mapped (video, model, workflow).
Its JSON format, the one every front end reads and writes:

    {"video": {"id": "...", "duration_s": 3600.0, "fps": 30.0},
     "model": {"name": "...", "revision": "..."}, "workflow": "suturing",
     "segments": [{"start_s": 0.0, "end_s": 30.0, "stage": 1, "task": "macro-activity",
                   "tags": {"procedure": "prostatectomy", "step": "suturing"},
                   "scores": {"procedure": 0.93, "step": 0.99}}]}

with optional top-level `decoded_until_s` (a truncated video was mapped up to there), `warnings`
(strings), `ood` (the out-of-distribution check, halsted_hf/mapping/ood.py: {"flagged": bool, "message",
"score", "threshold", "false_alarm_rate", "stretches": [{start_s, end_s, score}], "windows": [...]};
absent when the model folder has no OOD description or the timeline predates the check), `reliability`
(the model folder's record of which tags beat their majority rate on held-out videos,
halsted_hf/mapping/reliability.py; in `extra`, absent when the model has none) and any other keys a producer
adds (kept in `extra`, written back as they came).

Times are seconds from the start of the video; a segment covers [start_s, end_s). Within one
(stage, task), segments never overlap; the fine tasks of stage 2 (e.g. proficiency and context) may
cover the same time. Everything here is pure Python; pandas is imported only for `to_dataframe`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..core.clock import clock
from ..core.confidence import confidence_word
from ..core.errors import HalstedError
from ..core.io import atomic_write_text
from .outputs import check_output_path, same_file, write_atomically  # noqa: F401  (re-exported)
from .reliability import NOT_RELIABLE, of_timeline
from ..model.taxonomy import HALSTED_TAXONOMY, Taxonomy

# Windows whose boundaries differ by less than this (seconds) touch: float sums of 2.5 s steps drift.
TOUCH_EPS = 1e-6
# the longest stretch of another phase inside one needle drive: one stage-2 mapping window (video/windows.py)
INTERRUPTION_S = 2.5


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


def _weighted_majority(pairs: Iterable[Tuple[Optional[str], float]], tie: Optional[str] = None) -> Optional[str]:
    """The category with the most time among (category, seconds) pairs; `tie` wins ties when it is tied."""
    total: Dict[str, float] = defaultdict(float)
    for cat, seconds in pairs:
        if cat is not None:
            total[cat] += seconds
    if not total:
        return None
    best = max(total.values())
    leaders = [c for c, t in total.items() if t >= best - TOUCH_EPS]
    if tie in leaders:
        return tie
    return sorted(leaders)[0]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _fmt_vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _csv_cell(value):
    """A CSV cell that a spreadsheet shows as text: a string starting with = + - @ (or a tab / CR) would
    be run as a formula (OWASP CSV injection), so it gets a leading apostrophe. Numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@dataclass
class Timeline:
    """A mapped video. `video` = {id, duration_s, fps, ...}; `model` = {name, revision}; `workflow` is
    the mapping plan's name (the Halsted taxonomy's: "procedure", "suturing", "dissection", "full"); `tasks`
    the tasks that plan asks (`mapped_tasks`); `segments` as from `merge_windows`.
    `decoded_until_s` is set when decoding stopped early (truncated file); `warnings` are for the user."""

    video: Dict[str, Any]
    model: Dict[str, Any]
    workflow: str
    segments: List[Segment] = field(default_factory=list)
    decoded_until_s: Optional[float] = None
    warnings: List[str] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)
    ood: Optional[Dict[str, Any]] = None  # the out-of-distribution check (see the module docstring)
    tasks: List[str] = field(default_factory=list)  # the tasks the mapping plan asks, stage 1 first

    def mapped_tasks(self) -> List[str]:
        """The tasks this mapping asked (so a breakdown without segments is known to be empty, not unmapped);
        a Timeline written before plans were recorded: its Halsted mapping's."""
        if self.tasks:
            return list(self.tasks)
        from ..model.plans import halsted_plans

        plan = halsted_plans().get(self.workflow)
        return list(plan.tasks) if plan is not None else sorted({s.task for s in self.segments})

    # ---- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = {"video": dict(self.video), "model": dict(self.model), "workflow": self.workflow,
                "segments": [s.to_dict() for s in self.segments]}
        if self.tasks:
            data["tasks"] = list(self.tasks)
        if self.decoded_until_s is not None:
            data["decoded_until_s"] = self.decoded_until_s
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.ood is not None:
            data["ood"] = dict(self.ood)
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Timeline":
        if not isinstance(data, dict):
            raise HalstedError("not a Halsted timeline: expected a JSON object with video, model, workflow, segments")
        missing = [k for k in ("video", "model", "workflow", "segments") if k not in data]
        if missing:
            raise HalstedError(f"not a Halsted timeline: missing {missing}; "
                               f"a timeline has video, model, workflow and segments (see `halsted map`)")
        if not isinstance(data["video"], dict) or not isinstance(data["model"], dict):
            raise HalstedError("not a Halsted timeline: video and model must be objects")
        if not isinstance(data["segments"], list):
            raise HalstedError("not a Halsted timeline: segments must be a list")
        segments = [Segment.from_dict(s, f"segment {i}") for i, s in enumerate(data["segments"])]
        decoded = data.get("decoded_until_s")
        if decoded is not None and not isinstance(decoded, (int, float)):
            raise HalstedError(f"not a Halsted timeline: decoded_until_s must be seconds, got {decoded!r}")
        ood = data.get("ood")
        if ood is not None and not isinstance(ood, dict):
            raise HalstedError(f"not a Halsted timeline: ood must be an object, got {type(ood).__name__}")
        tasks = data.get("tasks") or []
        if not isinstance(tasks, list):
            raise HalstedError(f"not a Halsted timeline: tasks must be a list, got {type(tasks).__name__}")
        known = {"video", "model", "workflow", "segments", "decoded_until_s", "warnings", "ood", "tasks"}
        return cls(video=dict(data["video"]), model=dict(data["model"]), workflow=str(data["workflow"]),
                   segments=segments, decoded_until_s=None if decoded is None else float(decoded),
                   warnings=[str(w) for w in data.get("warnings") or []], ood=None if ood is None else dict(ood),
                   tasks=[str(t) for t in tasks], extra={k: v for k, v in data.items() if k not in known})

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Timeline":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise HalstedError(f"not a Halsted timeline: invalid JSON ({err})") from err
        return cls.from_dict(data)

    def save(self, path: str) -> str:
        """Write JSON atomically: a temp file in the same folder, then os.replace."""
        atomic_write_text(path, self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: str) -> "Timeline":
        if not os.path.isfile(path):
            raise HalstedError(f"timeline file {path!r} does not exist; map the video first (`halsted map`)")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as err:  # a video, an image, a zip: anything but JSON text
            raise HalstedError(f"{path}: not a Halsted timeline: binary data, not JSON text; "
                               f"pass the .json file `halsted map` wrote") from err
        except OSError as err:
            raise HalstedError(f"cannot read timeline {path}: {err.strerror or err}") from err
        try:
            return cls.from_json(text)
        except HalstedError as err:
            raise HalstedError(f"{path}: {err}") from err

    # ---- queries ------------------------------------------------------------------------------
    def ood_warning(self) -> Optional[str]:
        """The sentence every front end shows when the video (or a stretch of it) lies outside what the
        model was trained on; None when it does not, or when no check was made."""
        return ood_warning(self.ood)

    @property
    def duration_s(self) -> float:
        """The video's duration, or the end of the last segment when the video does not say."""
        d = self.video.get("duration_s")
        return float(d) if d is not None else max((s.end_s for s in self.segments), default=0.0)

    def select(self, stage: Optional[int] = None, task: Optional[str] = None,
               tag: Optional[str] = None) -> List[Segment]:
        """Segments of a stage and/or task, or those carrying a tag, in time order."""
        segs = [s for s in self.segments if (stage is None or s.stage == stage) and (task is None or s.task == task)
                and (tag is None or tag in s.tags)]
        return sorted(segs, key=lambda s: (s.start_s, s.stage, s.task))

    def tags_at(self, t: float) -> Dict[str, str]:
        """All tags active at time t (seconds): stage-1 tags, overridden by finer stage-2 ones."""
        out: Dict[str, str] = {}
        for seg in sorted(self.segments, key=lambda s: s.stage):
            if seg.start_s <= t < seg.end_s:
                out.update(seg.tags)
        return out

    def validate(self) -> None:
        """Raise HalstedError if segments of one (stage, task) overlap or a segment is empty or reversed."""
        by_key: Dict[Tuple[int, str], List[Segment]] = defaultdict(list)
        for seg in self.segments:
            if seg.end_s <= seg.start_s:
                raise HalstedError(f"segment {seg.start_s}..{seg.end_s} s of {seg.task!r} is empty or reversed")
            by_key[(seg.stage, seg.task)].append(seg)
        for (stage, task), segs in by_key.items():
            segs.sort(key=lambda s: s.start_s)
            for a, b in zip(segs, segs[1:]):
                if b.start_s < a.end_s - TOUCH_EPS:
                    raise HalstedError(f"stage-{stage} {task!r} segments overlap at {b.start_s} s")

    # ---- exports ------------------------------------------------------------------------------
    def _tag_columns(self, taxonomy: Taxonomy) -> List[str]:
        present = {t for s in self.segments for t in (*s.tags, *s.scores)}
        ordered = [t for t in taxonomy.all_tags if t in present]
        return ordered + sorted(present - set(ordered))

    def rows(self, taxonomy: Optional[Taxonomy] = None) -> Tuple[List[str], List[list]]:
        """Flat table: video_id, start_s, end_s, duration_s, stage, task, then <tag>, <tag>_score per tag
        (tags in taxonomy order; empty where a segment lacks the tag); when the Timeline carries a reliability
        record, a last column `not_reliable` with the row's tags the record marks not reliable (";"-joined)."""
        tags = self._tag_columns(taxonomy or HALSTED_TAXONOMY)
        columns = ["video_id", "start_s", "end_s", "duration_s", "stage", "task"]
        for t in tags:
            columns += [t, f"{t}_score"]
        rel = of_timeline(self)
        if rel.recorded:
            columns.append("not_reliable")
        rows = []
        for s in sorted(self.segments, key=lambda s: (s.stage, s.start_s, s.task)):
            row = [self.video.get("id"), s.start_s, s.end_s, s.duration_s, s.stage, s.task]
            for t in tags:
                row += [s.tags.get(t), s.scores.get(t)]
            if rel.recorded:
                row.append(";".join(t for t in tags if t in s.tags and not rel.is_reliable(t)))
            rows.append(row)
        return columns, rows

    def to_dataframe(self, taxonomy: Optional[Taxonomy] = None):
        """A pandas DataFrame with the columns of `rows()`; missing tags are None/NaN."""
        import pandas as pd

        columns, rows = self.rows(taxonomy)
        df = pd.DataFrame(rows, columns=columns)
        for c in (c for c in columns if c.endswith("_score")):  # score columns stay numeric even when all empty
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        return df

    def to_csv(self, path: Optional[str] = None, taxonomy: Optional[Taxonomy] = None) -> str:
        """CSV text of `rows()` (empty cells for missing tags); also written atomically to `path` if given."""
        columns, rows = self.rows(taxonomy)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_cell(v) for v in r] for r in rows])
        text = buf.getvalue()
        if path:
            atomic_write_text(path, text)
        return text

    def cues(self) -> List[Tuple[float, float, str]]:
        """(start_s, end_s, text) captions in start order: one per stage-2 segment, and stage-1 segments
        for the time no stage-2 segment covers (split around the covered parts). Text is the categories
        in tag order joined by " · ", then the lowest tag score in parentheses (the weakest link a
        viewer should know about) in words: "needle handling · high (high confidence)". A category of a
        tag the Timeline's reliability record marks not reliable reads "high (not reliable)"."""
        rel = of_timeline(self)
        fine = [s for s in self.segments if s.stage == 2]
        covered = _union([(s.start_s, s.end_s) for s in fine])
        cues = [(s.start_s, s.end_s, _cue_text(s, rel)) for s in fine]
        for seg in (s for s in self.segments if s.stage == 1):
            for a, b in _subtract((seg.start_s, seg.end_s), covered):
                cues.append((a, b, _cue_text(seg, rel)))
        cues = [c for c in cues if round(c[1] * 1000) > round(c[0] * 1000) and c[2]]
        return sorted(cues, key=lambda c: (c[0], c[1]))

    def to_webvtt(self, path: Optional[str] = None) -> str:
        """WebVTT subtitles of `cues()` (players overlay them on the video); written atomically to `path` if given."""
        lines = ["WEBVTT", ""]
        for i, (a, b, text) in enumerate(self.cues(), 1):
            lines += [str(i), f"{_fmt_vtt_time(a)} --> {_fmt_vtt_time(b)}", _vtt_escape(text), ""]
        text = "\n".join(lines)
        if path:
            atomic_write_text(path, text)
        return text

    # ---- summaries (what the dashboard shows) --------------------------------------------------
    def suturing_summary(self, taxonomy: Optional[Taxonomy] = None) -> dict:
        return suturing_summary(self, taxonomy)

    def dissection_summary(self) -> dict:
        return dissection_summary(self)

    def procedure_summary(self, taxonomy: Optional[Taxonomy] = None) -> dict:
        return procedure_summary(self, taxonomy)


def _cue_text(seg: Segment, rel) -> str:
    if not seg.tags:
        return ""
    order = {t: i for i, t in enumerate(HALSTED_TAXONOMY.all_tags)}
    tags = sorted(seg.tags, key=lambda t: (order.get(t, len(order)), t))
    text = " · ".join(seg.tags[t] if rel.is_reliable(t) else f"{seg.tags[t]} ({NOT_RELIABLE})" for t in tags)
    scores = [seg.scores[t] for t in tags if t in seg.scores]
    # in words (halsted_hf/core/confidence.py): a bare "(0.39)" on the video meant nothing to a surgeon
    return f"{text} ({confidence_word(min(scores))} confidence)" if scores else text


def _union(spans: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    out: List[Tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + TOUCH_EPS:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(span: Tuple[float, float], covered: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
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




# ------------------------------------------------------------------------------------------------
# Summaries. Pure functions of a Timeline; tags are found by name (phase, proficiency, anatomy, ...),
# so a custom taxonomy with the same tag names gets the same summaries.
# ------------------------------------------------------------------------------------------------
def _time_by_category(segments: Sequence[Segment], tag: str) -> Dict[str, float]:
    total: Dict[str, float] = defaultdict(float)
    for s in segments:
        if tag in s.tags:
            total[s.tags[tag]] += s.duration_s
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _shares(seconds: Dict[str, float]) -> Dict[str, float]:
    total = sum(seconds.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in seconds.items()}


def stitches(timeline: Timeline) -> List[dict]:
    """The stitches of a timeline, one dict each: start_s, end_s (of its needle driving), proficiency,
    anatomy, extent, direction.

    Rule: a stitch is one needle handling -> driving -> withdrawal cycle, and every cycle has exactly
    one driving, so we count maximal runs of "driving" time: driving segments form one stitch whatever their
    other tags (a proficiency change in mid-drive does not make two stitches) while they touch or while what
    separates them is one segment of one other phase of at most `INTERRUPTION_S`, one mapping window: a single
    window read as another phase in mid-drive does not split a stitch, while between two real drives lie a
    withdrawal and a needle handling (at least 4.4 s in the synthetic procedures). A stitch's proficiency,
    anatomy, extent and direction are the duration-weighted majority over its driving time (the context
    segments overlapping it for the last three); on a proficiency tie we say "low", so a summary never
    overstates a surgeon; None where the tag was never mapped.
    """
    phase_segs = timeline.select(tag="phase")
    runs: List[List[Segment]] = []
    between: List[Segment] = []  # the phase segments since the last driving one
    for seg in phase_segs:
        if seg.tags["phase"] != "driving":
            between.append(seg)
            continue
        if runs and _one_interruption(runs[-1][-1], between, seg):
            runs[-1].append(seg)
        else:
            runs.append([seg])
        between = []
    context = [s for s in timeline.segments if {"anatomy", "extent", "direction"} & set(s.tags)]
    out = []
    for run in runs:
        a, b = run[0].start_s, max(s.end_s for s in run)
        st = {"start_s": a, "end_s": b,
              "proficiency": _weighted_majority(((s.tags.get("proficiency"), s.duration_s) for s in run), tie="low")}
        for tag in ("anatomy", "extent", "direction"):
            st[tag] = _weighted_majority((s.tags.get(tag), _overlap(a, b, s.start_s, s.end_s))
                                         for s in context if _overlap(a, b, s.start_s, s.end_s) > 0)
        out.append(st)
    return out


def _one_interruption(last: Segment, between: List[Segment], seg: Segment) -> bool:
    """Does driving segment `seg` continue the drive that `last` ended? Yes when they touch, or when what lies
    between is one segment of one other phase lasting at most INTERRUPTION_S (a real cycle between two drives
    has a withdrawal and then a needle handling)."""
    gap = seg.start_s - last.end_s
    if gap <= TOUCH_EPS:
        return True
    return (len(between) == 1 and gap <= INTERRUPTION_S + TOUCH_EPS
            and abs(between[0].start_s - last.end_s) <= TOUCH_EPS and abs(between[0].end_s - seg.start_s) <= TOUCH_EPS)


def suturing_summary(timeline: Timeline, taxonomy: Optional[Taxonomy] = None) -> dict:
    """What the dashboard shows for suturing.

    Returns {"stitches": count (see `stitches` for the rule), "stitches_with_proficiency",
    "high_proficiency_stitches", "high_proficiency_share" (of stitches with a proficiency; None if none),
    "suturing_time_s" (time with a mapped phase), "phase_time_s": {phase: s} (every phase of the
    taxonomy, 0 if absent), "anatomy" / "extent" / "direction": {category: {"time_s", "stitches"}}
    (time = mapped context time, stitches = stitches whose majority is that category; categories that
    occur, most time first), "stitch_list": the stitches}.
    """
    taxonomy = taxonomy or HALSTED_TAXONOMY
    sts = stitches(timeline)
    rated = [s for s in sts if s["proficiency"] is not None]
    high = sum(1 for s in rated if s["proficiency"] == "high")
    phase_segs = timeline.select(tag="phase")
    phase_time = {p: 0.0 for p in _categories(taxonomy, "phase")}
    phase_time.update(_time_by_category(phase_segs, "phase"))
    summary = {
        "stitches": len(sts),
        "stitches_with_proficiency": len(rated),
        "high_proficiency_stitches": high,
        "high_proficiency_share": high / len(rated) if rated else None,
        "suturing_time_s": sum(s.duration_s for s in phase_segs),
        "phase_time_s": phase_time,
    }
    for tag in ("anatomy", "extent", "direction"):
        times = _time_by_category(timeline.select(tag=tag), tag)
        counts: Dict[str, int] = defaultdict(int)
        for st in sts:
            if st[tag] is not None:
                counts[st[tag]] += 1
        cats = list(times) + sorted(set(counts) - set(times))
        summary[tag] = {c: {"time_s": times.get(c, 0.0), "stitches": counts.get(c, 0)} for c in cats}
    summary["stitch_list"] = sts
    return summary


def dissection_summary(timeline: Timeline) -> dict:
    """Time shares of actions, instruments and arms over the time each tag was mapped.

    Returns {"dissection_time_s": time of segments carrying any of the three tags,
    "time_s": {"action": {category: s}, "instrument": ..., "arm": ...},
    "share": {"action": {category: fraction}, ...}} (each tag's shares sum to 1; most time first).
    """
    segs = [s for s in timeline.segments if {"action", "instrument", "arm"} & set(s.tags)]
    # stage-1 and stage-2 never both carry these tags, but count each time span once anyway
    times = {tag: _time_by_category(segs, tag) for tag in ("action", "instrument", "arm")}
    return {"dissection_time_s": sum(b - a for a, b in _union([(s.start_s, s.end_s) for s in segs])),
            "time_s": times, "share": {tag: _shares(t) for tag, t in times.items()}}


def tag_times(timeline: Timeline, tasks: Iterable[str]) -> Dict[str, Dict[str, float]]:
    """{tag: {category: seconds}} for every tag the segments of `tasks` carry, in the order met: the breakdown of
    any taxonomy's tasks (CholecT50's phase, instrument, verb, target), where the suturing and dissection
    summaries know Halsted's only."""
    out: Dict[str, Dict[str, float]] = {}
    for task in tasks:
        segs = [s for s in timeline.segments if s.task == task]
        for tag in dict.fromkeys(t for s in segs for t in s.tags):
            out[tag] = _time_by_category(segs, tag)
    return out


def tag_shares(timeline: Timeline, tasks: Iterable[str]) -> Dict[str, Dict[str, float]]:
    """`tag_times` as shares of the time each tag was mapped (most time first within a tag)."""
    return {tag: _shares(times) for tag, times in tag_times(timeline, tasks).items()}


def procedure_summary(timeline: Timeline, taxonomy: Optional[Taxonomy] = None) -> dict:
    """Procedure, specialty and time per step, from the stage-1 (macro-activity) segments.

    procedure / specialty: the duration-weighted majority category (ties: alphabetical); the specialty
    falls back to the taxonomy's specialty of the procedure when the model gave none.
    Returns {"procedure", "procedure_share" (its share of the time with a procedure), "procedure_score"
    (its duration-weighted mean score), "specialty", "step_time_s": {step: s} (every step of the
    taxonomy), "mapped_s" (time covered by stage 1), "duration_s" (the video's)}.
    """
    taxonomy = taxonomy or HALSTED_TAXONOMY
    segs = timeline.select(stage=1)
    procedure = _weighted_majority((s.tags.get("procedure"), s.duration_s) for s in segs)
    proc_time = _time_by_category(segs, "procedure")
    specialty = _weighted_majority((s.tags.get("specialty"), s.duration_s) for s in segs)
    if specialty is None and procedure is not None:
        specialty = taxonomy.specialty_of_procedure.get(procedure)
    chosen = [s for s in segs
              if procedure is not None and s.tags.get("procedure") == procedure and "procedure" in s.scores]
    weight = sum(s.duration_s for s in chosen)
    step_time = {step: 0.0 for step in _categories(taxonomy, "step")}
    step_time.update(_time_by_category(segs, "step"))
    return {
        "procedure": procedure,
        "procedure_share": (proc_time[procedure] / sum(proc_time.values())
                            if procedure and sum(proc_time.values()) > 0 else None),
        "procedure_score": sum(s.scores["procedure"] * s.duration_s for s in chosen) / weight if weight > 0 else None,
        "specialty": specialty,
        "step_time_s": step_time,
        "mapped_s": sum(b - a for a, b in _union([(s.start_s, s.end_s) for s in segs])),
        "duration_s": timeline.duration_s,
    }


def _categories(taxonomy: Taxonomy, tag: str) -> Tuple[str, ...]:
    try:
        return taxonomy.task_of_tag(tag).tags[tag]
    except KeyError:
        return ()


def ood_warning(ood: Optional[Dict[str, Any]]) -> Optional[str]:
    """The warning sentence for a Timeline's `ood` field (a dict as stored); None when nothing is flagged."""
    if not isinstance(ood, dict):
        return None
    if ood.get("flagged"):
        return ("This video does not look like the surgery this model was trained on: its tags are "
                "unreliable. Check that it is the right video and the right model.")
    spans = [s for s in ood.get("stretches") or [] if isinstance(s, dict) and "start_s" in s and "end_s" in s]
    if spans:
        where = ", ".join(f"{clock(float(s['start_s']))}-{clock(float(s['end_s']))}" for s in spans[:3])
        more = f" and {len(spans) - 3} more" if len(spans) > 3 else ""
        return (f"Parts of this video ({where}{more}) do not look like the surgery this model was trained "
                f"on: tags there are unreliable.")
    if ood.get("borderline"):
        return ("This video is borderline: it is close to the line between the surgery this model was trained on "
                "and other footage. Treat its tags with care.")
    return None
