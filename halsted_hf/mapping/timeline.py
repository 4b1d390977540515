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
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..core.clock import clock
from ..core.confidence import confidence_word
from ..core.errors import HalstedError
from ..core.io import atomic_write_text
from .reliability import NOT_RELIABLE, of_timeline
from .segment import TOUCH_EPS, Segment, subtract_spans, union_spans
from .summaries import dissection_summary, procedure_summary, suturing_summary
from ..model.taxonomy import HALSTED_TAXONOMY, Taxonomy

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
        """The tasks this mapping asked (so a breakdown without segments is known to be empty, not unmapped)."""
        return asked_tasks(self.workflow, self.tasks, self.segments)

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
        covered = union_spans([(s.start_s, s.end_s) for s in fine])
        cues = [(s.start_s, s.end_s, _cue_text(s, rel)) for s in fine]
        for seg in (s for s in self.segments if s.stage == 1):
            for a, b in subtract_spans((seg.start_s, seg.end_s), covered):
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


def asked_tasks(workflow: str, tasks: List[str], segments=()) -> List[str]:
    """The tasks a mapping asked: those its Timeline records; for a Timeline written before plans were recorded,
    its Halsted mapping's (else the tasks its segments carry)."""
    if tasks:
        return list(tasks)
    from ..model.plans import halsted_plans

    plan = halsted_plans().get(workflow)
    return list(plan.tasks) if plan is not None else sorted({s.task for s in segments})


def _cue_text(seg: Segment, rel) -> str:
    if not seg.tags:
        return ""
    order = {t: i for i, t in enumerate(HALSTED_TAXONOMY.all_tags)}
    tags = sorted(seg.tags, key=lambda t: (order.get(t, len(order)), t))
    text = " · ".join(seg.tags[t] if rel.is_reliable(t) else f"{seg.tags[t]} ({NOT_RELIABLE})" for t in tags)
    scores = [seg.scores[t] for t in tags if t in seg.scores]
    # in words (halsted_hf/core/confidence.py): a bare "(0.39)" on the video meant nothing to a surgeon
    return f"{text} ({confidence_word(min(scores))} confidence)" if scores else text


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
