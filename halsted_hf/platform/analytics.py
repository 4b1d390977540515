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

from ..core.errors import HalstedError
from ..mapping.summaries import tag_shares, tag_times
from ..mapping.timeline import Timeline, asked_tasks, ood_warning
from .records import JobRecord, ResultRecord, VideoRecord

SUTURING_TASK, DISSECTION_TASK = "proficiency", "micro-activity"  # the tasks whose breakdowns Review shows
# the Halsted tasks Review's procedure, suturing and dissection panels show; any other task gets its tag shares
PANEL_TASKS = ("macro-activity", SUTURING_TASK, "context", DISSECTION_TASK)

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
    out_of_distribution: bool = False  # the check flagged the whole video (Summary leaves it out of its totals)
    procedure_reliable: bool = True  # the latest result's model reads the procedure tag reliably (its card says)
    procedure_reason: Optional[str] = None  # why not

    @property
    def id(self) -> int:
        return self.video.id

    @property
    def progress(self) -> float:
        return self.latest_job.fraction if self.latest_job else 0.0


def library_rows(session, sort: str = "uploaded_at", descending: bool = True, procedure: Optional[str] = None,
                 status: Optional[str] = None, search: Optional[str] = None) -> List[LibraryRow]:
    """The surgeon's videos with thumbnail, duration, date, procedure and latest job status.

    sort: one of LIBRARY_SORTS; procedure / status: keep only rows equal to it (status may be
    "not mapped"); search: case-insensitive substring of the original file name."""
    if sort not in LIBRARY_SORTS:
        raise HalstedError(f"Unknown sort '{sort}': choose one of {', '.join(LIBRARY_SORTS)}.")
    videos = session.list_videos()
    from ..mapping.reliability import of_timeline
    from .totals import Apart

    latest_job: Dict[int, JobRecord] = {}
    for job in session.list_jobs():  # newest first: the first seen per video is the latest
        latest_job.setdefault(job.video_id, job)
    done: Dict[int, set] = {}
    latest_result: Dict[int, int] = {}
    results = session.list_results()
    for res in results:
        done.setdefault(res.video_id, set()).add(res.mapping)
        latest_result.setdefault(res.video_id, res.id)
    apart = Apart.of(results)
    warning = {vid: ood_warning(data.get("ood")) for vid, data in apart.latest.items()}
    rel = {vid: of_timeline(data) for vid, data in apart.latest.items()}
    rows = [
        LibraryRow(v, latest_job[v.id].status if v.id in latest_job else NOT_MAPPED, latest_job.get(v.id),
                   tuple(sorted(done.get(v.id, ()))), latest_result.get(v.id), warning.get(v.id),
                   v.id in apart.flagged, rel[v.id].is_reliable("procedure") if v.id in rel else True,
                   rel[v.id].reason("procedure") if v.id in rel else None)
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
    stitches: Optional[int]  # None where the phase tag is not reliable (mapping/headline.py)
    high_share: Optional[float]  # share of rated stitches with high proficiency; None if none rated or not reliable


@dataclass(frozen=True)
class RecentResult:
    result_id: int
    video_id: int
    video: str
    mapping: str
    created_at: dt.datetime
    procedure: Optional[str]
    stitches: Optional[int]  # for suturing/full mappings, where the phase tag is reliable
    high_share: Optional[float]
    out_of_distribution: bool = False  # the OOD check flagged this result's video
    left_out: Tuple[str, ...] = ()  # headline numbers not shown: a tag they rest on is not reliable


@dataclass(frozen=True)
class SurgeonSummary:
    name: str
    email: str
    videos: int
    mapped_videos: int
    hours_uploaded: float
    hours_mapped: float  # duration of the videos with at least one result
    procedures: Dict[str, int]  # procedure -> number of videos, most frequent first (reliable procedure tags)
    jobs: Dict[str, int]  # status -> count
    stitches: int  # over the newest suturing result of each video (those whose phase tag is reliable)
    high_share: Optional[float]  # pooled over those stitches (results whose proficiency tag is reliable too)
    proficiency: List[ProficiencyPoint] = field(default_factory=list)  # oldest first
    recent: List[RecentResult] = field(default_factory=list)  # newest first
    # the models behind the surgeon's results ({name, revision} as Timelines record them) -> results
    models: List[Tuple[Dict[str, str], int]] = field(default_factory=list)
    # how many of the results counted above carry the surgeon's corrections (their numbers are the corrected ones)
    corrected_results: int = 0
    # videos whose latest result the out-of-distribution check flags; counted above only with include_ood
    ood_videos: int = 0
    include_ood: bool = False
    reliability_note: Optional[str] = None  # which numbers left results out for an unreliable tag, and why
    left_out: Dict[str, int] = field(default_factory=dict)  # headline number -> results left out (totals.Tally)
    # whether suturing numbers mean anything here: the platform's model, or one of the results, asks suturing
    suturing: bool = True
    # {tag: {category: seconds}} over the newest result of each video, for the tasks no suturing or dissection
    # number covers (another taxonomy's: CholecT50's phase, instrument, ...)
    tag_time_s: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def proficiency_frame(self):
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.proficiency],
                            columns=["date", "video_id", "video", "result_id", "stitches", "high_share"])


def surgeon_summary(session, recent: int = 5, include_ood: bool = False) -> SurgeonSummary:
    """The surgeon's record. Videos the out-of-distribution check flags are left out of every total and trend
    unless `include_ood`; headline numbers add up only results whose tags for them are reliable (totals.py)."""
    from ..mapping.headline import headline
    from .totals import Apart, left_out_of, procedures as count_procedures

    all_videos = {v.id: v for v in session.list_videos()}
    all_results = session.list_results()  # newest first
    apart = Apart.of(all_results)
    videos = {i: v for i, v in all_videos.items() if include_ood or i not in apart.flagged}
    results = [r for r in all_results if r.video_id in videos]
    jobs = Counter(j.status for j in session.list_jobs())
    mapped = {r.video_id for r in results}
    tally = count_procedures(videos.values(), apart)

    points: List[ProficiencyPoint] = []
    seen = set()
    parsed: Dict[int, Any] = {}
    corrected = 0
    suturing = []
    for res in results:
        if res.video_id not in seen and asks(res, SUTURING_TASK):
            seen.add(res.video_id)
            suturing.append(res)
    # the surgeon's corrections (platform/corrections.py) replace the model's values in every number
    for rid, ct in session.corrected_many(suturing).items():
        parsed[rid] = ct.timeline
        corrected += ct.is_corrected
    for res in suturing:
        hl = headline(parsed[res.id])
        tally.add(hl)
        v = videos[res.video_id]
        points.append(ProficiencyPoint(v.uploaded_at, v.id, v.original_filename, res.id, hl.stitches, hl.high_share))
    points.sort(key=lambda p: (p.date, p.video_id))

    # the latest results, flagged ones too (labelled): a list of results, not a total
    recents = []
    sutured = {r.id for r in all_results[:recent] if asks(r, SUTURING_TASK)}
    older = [r for r in all_results[:recent] if r.id in sutured and r.id not in parsed]
    parsed.update({rid: ct.timeline for rid, ct in session.corrected_many(older).items()})
    for res in all_results[:recent]:
        v = all_videos[res.video_id]
        hl = headline(parsed[res.id]) if res.id in sutured else None
        recents.append(RecentResult(res.id, v.id, v.original_filename, res.mapping, res.created_at, v.procedure,
                                    hl.stitches if hl else None, hl.high_share if hl else None,
                                    res.video_id in apart.flagged,
                                    tuple(hl.left_out) if hl else left_out_of(res.timeline_json)))

    models: Counter = Counter()
    for res in results:
        model = (parsed[res.id].model if res.id in parsed else _model_of(res.timeline_json))
        models[(str(model.get("name") or "unknown"), str(model.get("revision") or "unknown"))] += 1

    suturing_asked = bool(suturing) or SUTURING_TASK in session.platform.taxonomy().task_names
    return SurgeonSummary(
        suturing=suturing_asked, tag_time_s=_other_tag_times(results),
        name=session.surgeon.name, email=session.surgeon.email,
        videos=len(videos), mapped_videos=len(mapped),
        hours_uploaded=sum(v.duration_s for v in videos.values()) / 3600.0,
        hours_mapped=sum(videos[i].duration_s for i in mapped) / 3600.0,
        procedures=dict(tally.procedures.most_common()), jobs=dict(jobs),
        stitches=tally.stitches, high_share=tally.high_share,
        proficiency=points, recent=recents,
        models=[({"name": n, "revision": r}, k) for (n, r), k in models.most_common()],
        corrected_results=corrected, ood_videos=len(apart.flagged), include_ood=include_ood,
        reliability_note=tally.note(), left_out=dict(tally.left_out),
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
    # {tag: {category: time share}} of the tasks no panel above shows (any other taxonomy's: phase, instrument, ...)
    breakdown: Dict[str, Dict[str, float]] = field(default_factory=dict)
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




def asks(res: ResultRecord, task: str) -> bool:
    """Whether the result's mapping asked `task` (a suturing breakdown, even with no stitch, needs the proficiency
    task to have been asked: a CholecT50 model's results have none)."""
    try:
        data = json.loads(res.timeline_json)
        return task in asked_tasks(str(data.get("workflow", "")), [str(t) for t in data.get("tasks") or []])
    except (ValueError, TypeError, AttributeError):
        return False


def _other_tag_times(results: List[ResultRecord]) -> Dict[str, Dict[str, float]]:
    """Time per category of every tag outside the Halsted panels, over the newest result of each video."""
    out: Dict[str, Dict[str, float]] = {}
    seen = set()
    for res in results:  # newest first
        if res.video_id in seen:
            continue
        seen.add(res.video_id)
        try:
            tl = Timeline.from_json(res.timeline_json)
        except HalstedError:
            continue
        for tag, times in tag_times(tl, [t for t in tl.mapped_tasks() if t not in PANEL_TASKS]).items():
            for category, seconds in times.items():
                out.setdefault(tag, {})
                out[tag][category] = out[tag].get(category, 0.0) + seconds
    return {tag: dict(sorted(times.items(), key=lambda kv: -kv[1])) for tag, times in out.items()}


def review(session, result_id: int) -> Review:
    """The breakdown of one of the surgeon's results (NotFoundError for anyone else's)."""
    res = session.get_result(result_id)
    video = session.get_video(res.video_id)
    ct = session.corrected_many([res])[res.id]
    tl = ct.timeline
    asked = tl.mapped_tasks()
    has_stage1 = "macro-activity" in asked and bool(tl.select(stage=1))
    return Review(
        result=res, video=video, timeline=tl,
        procedure=tl.procedure_summary() if has_stage1 else None,
        suturing=tl.suturing_summary() if SUTURING_TASK in asked else None,
        dissection=tl.dissection_summary() if DISSECTION_TASK in asked else None,
        breakdown=tag_shares(tl, [t for t in asked if t not in PANEL_TASKS]),
        original=ct.original, corrected=ct,
    )
