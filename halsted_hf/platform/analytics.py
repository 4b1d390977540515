"""Every number the dashboard's pages show, computed from one surgeon's rows.

All functions take a SurgeonSession, so they see only that surgeon's data. The timeline
breakdowns themselves (stitches, phases, shares) come from halsted_hf.mapping.timeline; this module
picks which ones apply and gathers them across videos.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import HalstedError
from ..mapping.registry import DISSECTION_MAPPINGS, SUTURING_MAPPINGS
from .records import JobRecord, ResultRecord, VideoRecord

NOT_MAPPED = "not mapped"
LIBRARY_SORTS = ("uploaded_at", "name", "duration", "procedure", "status")


# -- library --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LibraryRow:
    """One video as the Library page lists it."""

    video: VideoRecord
    status: str  # the latest job's status, or "not mapped"
    latest_job: Optional[JobRecord]
    mappings_done: Tuple[str, ...]  # mappings with at least one result
    latest_result_id: Optional[int]
    ood_warning: Optional[str] = None  # the latest result's out-of-distribution warning (mapping/ood.py)

    @property
    def id(self) -> int:
        return self.video.id

    @property
    def progress(self) -> float:
        return self.latest_job.fraction if self.latest_job else 0.0


def _ood_warning(timeline_json: str) -> Optional[str]:
    """The stored timeline's out-of-distribution warning (None for timelines made before the check)."""
    from ..mapping.timeline import ood_warning

    try:
        data = json.loads(timeline_json)
    except ValueError:
        return None
    return ood_warning(data.get("ood")) if isinstance(data, dict) else None


def library_rows(session, sort: str = "uploaded_at", descending: bool = True, procedure: Optional[str] = None,
                 status: Optional[str] = None, search: Optional[str] = None) -> List[LibraryRow]:
    """The surgeon's videos with thumbnail, duration, date, procedure and latest job status.

    sort: one of LIBRARY_SORTS; procedure / status: keep only rows equal to it (status may be
    "not mapped"); search: case-insensitive substring of the original file name."""
    if sort not in LIBRARY_SORTS:
        raise HalstedError(f"Unknown sort '{sort}': choose one of {', '.join(LIBRARY_SORTS)}.")
    videos = session.list_videos()
    latest_job: Dict[int, JobRecord] = {}
    for job in session.list_jobs():  # newest first: the first seen per video is the latest
        latest_job.setdefault(job.video_id, job)
    done: Dict[int, set] = {}
    latest_result: Dict[int, int] = {}
    warning: Dict[int, Optional[str]] = {}
    for res in session.list_results():
        done.setdefault(res.video_id, set()).add(res.mapping)
        if res.video_id not in latest_result:
            latest_result[res.video_id] = res.id
            warning[res.video_id] = _ood_warning(res.timeline_json)
    rows = [
        LibraryRow(v, latest_job[v.id].status if v.id in latest_job else NOT_MAPPED, latest_job.get(v.id),
                   tuple(sorted(done.get(v.id, ()))), latest_result.get(v.id), warning.get(v.id))
        for v in videos
    ]
    if procedure:
        rows = [r for r in rows if r.video.procedure == procedure]
    if status:
        rows = [r for r in rows if r.status == status]
    if search:
        needle = search.lower()
        rows = [r for r in rows if needle in r.video.original_filename.lower()]
    key = {
        "uploaded_at": lambda r: (r.video.uploaded_at, r.video.id),
        "name": lambda r: r.video.original_filename.lower(),
        "duration": lambda r: r.video.duration_s,
        "procedure": lambda r: r.video.procedure or "",
        "status": lambda r: r.status,
    }[sort]
    return sorted(rows, key=key, reverse=descending)


def library_frame(rows: List[LibraryRow]):
    """The rows as a DataFrame for st.dataframe (thumbnail as a path; the page may show it with an
    ImageColumn after turning it into a data URL)."""
    import pandas as pd

    return pd.DataFrame(
        [{"id": r.video.id, "thumbnail": str(r.video.thumbnail) if r.video.thumbnail else None,
          "video": r.video.original_filename, "duration_s": r.video.duration_s,
          "uploaded_at": r.video.uploaded_at, "procedure": r.video.procedure, "status": r.status,
          "progress": r.progress, "mapped": ", ".join(r.mappings_done)} for r in rows],
        columns=["id", "thumbnail", "video", "duration_s", "uploaded_at", "procedure", "status", "progress", "mapped"],
    )


# -- summary --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProficiencyPoint:
    """One mapped video on the proficiency-over-time chart (its newest suturing result)."""

    date: dt.datetime  # the video's upload date (the operation date is not known)
    video_id: int
    video: str
    result_id: int
    stitches: int
    high_share: Optional[float]  # share of rated stitches with high proficiency; None if none rated


@dataclass(frozen=True)
class RecentResult:
    result_id: int
    video_id: int
    video: str
    mapping: str
    created_at: dt.datetime
    procedure: Optional[str]
    stitches: Optional[int]  # for suturing/full mappings
    high_share: Optional[float]


@dataclass(frozen=True)
class SurgeonSummary:
    name: str
    email: str
    videos: int
    mapped_videos: int
    hours_uploaded: float
    hours_mapped: float  # duration of the videos with at least one result
    procedures: Dict[str, int]  # procedure -> number of videos, most frequent first
    jobs: Dict[str, int]  # status -> count
    stitches: int  # over the newest suturing result of each video
    high_share: Optional[float]  # pooled over those stitches
    proficiency: List[ProficiencyPoint] = field(default_factory=list)  # oldest first
    recent: List[RecentResult] = field(default_factory=list)  # newest first
    # the models behind the surgeon's results ({name, revision} as Timelines record them) -> results
    models: List[Tuple[Dict[str, str], int]] = field(default_factory=list)
    # how many of the results counted above carry the surgeon's corrections (their numbers are the corrected ones)
    corrected_results: int = 0

    def proficiency_frame(self):
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.proficiency],
                            columns=["date", "video_id", "video", "result_id", "stitches", "high_share"])


def _suturing_numbers(timeline) -> Tuple[int, int, Optional[float]]:
    """(stitches, rated stitches, high share) of a timeline."""
    s = timeline.suturing_summary()
    return s["stitches"], s["stitches_with_proficiency"], s["high_proficiency_share"]


def surgeon_summary(session, recent: int = 5) -> SurgeonSummary:
    videos = {v.id: v for v in session.list_videos()}
    results = session.list_results()  # newest first
    jobs = Counter(j.status for j in session.list_jobs())
    mapped = {r.video_id for r in results}
    procedures = Counter(v.procedure for v in videos.values() if v.procedure)

    points: List[ProficiencyPoint] = []
    stitches = rated = high = 0
    seen = set()
    parsed: Dict[int, Any] = {}
    corrected = 0
    suturing = []
    for res in results:
        if res.mapping in SUTURING_MAPPINGS and res.video_id not in seen:
            seen.add(res.video_id)
            suturing.append(res)
    # the surgeon's corrections (platform/corrections.py) replace the model's values in every number
    for rid, ct in session.corrected_many(suturing).items():
        parsed[rid] = ct.timeline
        corrected += ct.is_corrected
    for res in suturing:
        tl = parsed[res.id]
        n, n_rated, share = _suturing_numbers(tl)
        stitches, rated = stitches + n, rated + n_rated
        high += round((share or 0.0) * n_rated)
        v = videos[res.video_id]
        points.append(ProficiencyPoint(v.uploaded_at, v.id, v.original_filename, res.id, n, share))
    points.sort(key=lambda p: (p.date, p.video_id))

    recents = []
    older = [r for r in results[:recent] if r.mapping in SUTURING_MAPPINGS and r.id not in parsed]
    parsed.update({rid: ct.timeline for rid, ct in session.corrected_many(older).items()})
    for res in results[:recent]:
        v = videos[res.video_id]
        n = share = None
        if res.mapping in SUTURING_MAPPINGS:
            n, _, share = _suturing_numbers(parsed[res.id])
        recents.append(RecentResult(res.id, v.id, v.original_filename, res.mapping, res.created_at, v.procedure, n, share))

    models: Counter = Counter()
    for res in results:
        model = (parsed[res.id].model if res.id in parsed else _model_of(res.timeline_json))
        models[(str(model.get("name") or "unknown"), str(model.get("revision") or "unknown"))] += 1

    return SurgeonSummary(
        name=session.surgeon.name, email=session.surgeon.email,
        videos=len(videos), mapped_videos=len(mapped),
        hours_uploaded=sum(v.duration_s for v in videos.values()) / 3600.0,
        hours_mapped=sum(videos[i].duration_s for i in mapped) / 3600.0,
        procedures=dict(procedures.most_common()), jobs=dict(jobs),
        stitches=stitches, high_share=(high / rated) if rated else None,
        proficiency=points, recent=recents,
        models=[({"name": n, "revision": r}, k) for (n, r), k in models.most_common()],
        corrected_results=corrected,
    )


def _model_of(timeline_json: str) -> dict:
    """A Timeline's model ({name, revision}) without parsing its segments."""
    try:
        model = json.loads(timeline_json).get("model")
    except (ValueError, AttributeError):
        return {}
    return model if isinstance(model, dict) else {}


# -- review ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Review:
    """Everything the Review page shows for one result."""

    result: ResultRecord
    video: VideoRecord
    timeline: Any  # halsted_hf.mapping.timeline.Timeline
    procedure: Optional[dict]  # Timeline.procedure_summary()
    suturing: Optional[dict]  # Timeline.suturing_summary(), for suturing / full mappings
    dissection: Optional[dict]  # Timeline.dissection_summary(), for dissection / full mappings
    # the model's Timeline, and the surgeon's layer over it (`timeline` above is the corrected one)
    original: Any = None
    corrected: Any = None  # platform.corrections.CorrectedTimeline

    @property
    def is_corrected(self) -> bool:
        return self.corrected is not None and self.corrected.is_corrected

    def segments_frame(self):
        return self.timeline.to_dataframe()

    def webvtt(self) -> str:
        return self.timeline.to_webvtt()

    def csv(self) -> str:
        return self.timeline.to_csv()

    def json(self) -> str:
        """The Timeline shown: the model's JSON as stored, or, once corrected, the corrected Timeline
        (with the corrections and the segments they replaced under "corrections")."""
        return self.timeline.to_json() if self.is_corrected else self.result.timeline_json


def review(session, result_id: int) -> Review:
    """The breakdown of one of the surgeon's results (NotFoundError for anyone else's)."""
    res = session.get_result(result_id)
    video = session.get_video(res.video_id)
    ct = session.corrected_many([res])[res.id]
    tl = ct.timeline
    has_stage1 = bool(tl.select(stage=1))
    return Review(
        result=res, video=video, timeline=tl,
        procedure=tl.procedure_summary() if has_stage1 else None,
        suturing=tl.suturing_summary() if res.mapping in SUTURING_MAPPINGS else None,
        dissection=tl.dissection_summary() if res.mapping in DISSECTION_MAPPINGS else None,
        original=ct.original, corrected=ct,
    )
