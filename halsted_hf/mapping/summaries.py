"""What the dashboard shows of a Timeline: stitches, suturing, dissection and procedure summaries, and any
taxonomy's tag times. Pure functions of a Timeline; tags are found by name (phase, proficiency, anatomy, ...),
so a custom taxonomy with the same tag names gets the same summaries."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Tuple

from ..model.taxonomy import HALSTED_TAXONOMY, Taxonomy
from .segment import TOUCH_EPS, Segment, overlap, subtract_spans, union_spans  # noqa: F401

if TYPE_CHECKING:
    from .timeline import Timeline

# the longest stretch of another phase inside one needle drive: one stage-2 mapping window (video/windows.py)
INTERRUPTION_S = 2.5


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
            st[tag] = _weighted_majority((s.tags.get(tag), overlap(a, b, s.start_s, s.end_s))
                                         for s in context if overlap(a, b, s.start_s, s.end_s) > 0)
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
    return {"dissection_time_s": sum(b - a for a, b in union_spans([(s.start_s, s.end_s) for s in segs])),
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
        "mapped_s": sum(b - a for a, b in union_spans([(s.start_s, s.end_s) for s in segs])),
        "duration_s": timeline.duration_s,
    }


def _categories(taxonomy: Taxonomy, tag: str) -> Tuple[str, ...]:
    try:
        return taxonomy.task_of_tag(tag).tags[tag]
    except KeyError:
        return ()
