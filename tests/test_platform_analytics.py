"""The numbers the pages show: summary, library rows (sort/filter), review; worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from halsted_hf.core.errors import HalstedError
from halsted_hf.platform import jobs
from halsted_hf.platform.analytics import library_frame
from halsted_hf.platform.tables import Video
from halsted_hf.mapping.timeline import Timeline

from helpers import make_timeline, seg


def finish(platform, session, video_id, mapping, timeline: Timeline, procedure=None):
    job = session.enqueue_job(video_id, mapping)
    assert jobs.claim_next(platform.Session, "w").id == job.id
    return jobs.complete(platform.Session, job.id, "w", timeline.to_json(), procedure)


def dissection_timeline():
    # 1 s cutting with left arm + 3 s retraction with both arms: shares 0.25 / 0.75
    return Timeline(video={"id": "v", "duration_s": 4.0, "fps": 10.0}, model={"name": "hand", "revision": "0"},
                    workflow="dissection", segments=[
                        seg(0.0, 4.0, 1, "macro-activity", {"procedure": "hysterectomy", "step": "dissection"}),
                        seg(0.0, 1.0, 2, "micro-activity",
                            {"action": "cold cut", "arm": "left", "instrument": "monopolar scissors"}),
                        seg(1.0, 4.0, 2, "micro-activity",
                            {"action": "retraction", "arm": "both", "instrument": "bipolar grasper"}),
                    ])


@pytest.fixture
def library(platform, alice, videos):
    """Alice: video a (3 s, suturing 2 stitches, 1 high; then a dissection), video b (2 s, full,
    3 high stitches), video c (1 s, not mapped). Uploaded a, b, c one day apart."""
    from helpers import make_video

    va = alice.upload_video(videos["a"])
    vb = alice.upload_video(videos["b"])
    vc = alice.upload_video(make_video(videos["a"].parent / "Zeta.mp4", 1.0, pattern="red"))
    with platform.Session.begin() as db:
        for i, v in enumerate((va, vb, vc)):
            db.execute(update(Video).where(Video.id == v.id).values(uploaded_at=dt.datetime(2026, 1, 1 + i)))
    ra = finish(platform, alice, va.id, "suturing", make_timeline(3.0, "prostatectomy", ("high", "low")),
                "prostatectomy")
    rd = finish(platform, alice, va.id, "dissection", dissection_timeline())
    rb = finish(platform, alice, vb.id, "full", make_timeline(2.0, "hysterectomy", ("high",) * 3, "full"),
                "hysterectomy")
    return {"a": va.id, "b": vb.id, "c": vc.id, "ra": ra, "rd": rd, "rb": rb}


def test_summary_numbers(alice, library):
    s = alice.summary(recent=2)
    assert (s.name, s.videos, s.mapped_videos) == ("Alice", 3, 2)
    assert s.hours_uploaded == pytest.approx((3 + 2 + 1) / 3600, abs=0.1 / 3600)
    assert s.hours_mapped == pytest.approx((3 + 2) / 3600, abs=0.1 / 3600)
    assert s.procedures == {"prostatectomy": 1, "hysterectomy": 1}
    assert s.jobs == {"done": 3}
    # newest suturing result per video: a -> 2 stitches (1 high), b -> 3 stitches (3 high): 4/5 pooled
    assert (s.stitches, s.high_share) == (5, pytest.approx(0.8))
    assert [(p.video_id, p.stitches, p.high_share) for p in s.proficiency] == [(library["a"], 2, 0.5),
                                                                              (library["b"], 3, 1.0)]
    assert [p.date.day for p in s.proficiency] == [1, 2]
    assert [(r.result_id, r.mapping, r.stitches) for r in s.recent] == [(library["rb"], "full", 3),
                                                                       (library["rd"], "dissection", None)]
    assert list(s.proficiency_frame()["high_share"]) == [0.5, 1.0]


def test_library_rows_sort_and_filter(alice, library):
    rows = alice.library()
    assert [r.id for r in rows] == [library["c"], library["b"], library["a"]]  # newest upload first
    by_id = {r.id: r for r in rows}
    assert by_id[library["a"]].status == "done" and by_id[library["a"]].mappings_done == ("dissection", "suturing")
    assert by_id[library["a"]].latest_job.mapping == "dissection"
    assert by_id[library["a"]].latest_result_id == library["rd"]
    assert by_id[library["c"]].status == "not mapped" and by_id[library["c"]].latest_job is None
    assert by_id[library["c"]].progress == 0.0 and by_id[library["b"]].progress == 1.0
    assert by_id[library["a"]].video.thumbnail.is_file()

    assert [r.id for r in alice.library(sort="duration", descending=False)] == [library["c"], library["b"],
                                                                               library["a"]]
    assert [r.video.original_filename for r in alice.library(sort="name", descending=False)] == [
        "case-a.mp4", "case-b.mp4", "Zeta.mp4"]
    assert [r.id for r in alice.library(procedure="hysterectomy")] == [library["b"]]
    assert [r.id for r in alice.library(status="not mapped")] == [library["c"]]
    assert [r.id for r in alice.library(search="CASE-")] == [library["b"], library["a"]]
    with pytest.raises(HalstedError, match="Unknown sort 'size'"):
        alice.library(sort="size")
    frame = library_frame(alice.library())
    assert list(frame["status"]) == ["not mapped", "done", "done"] and frame["thumbnail"].notna().all()

    # a queued job shows in the library at once
    alice.enqueue_job(library["c"], "procedure")
    assert alice.library(status="queued")[0].id == library["c"]


def test_review_picks_the_breakdowns_of_the_mapping(alice, library):
    r = alice.review(library["ra"])
    assert r.video.id == library["a"] and r.result.mapping == "suturing"
    assert r.suturing["stitches"] == 2 and r.suturing["high_proficiency_share"] == 0.5
    assert r.suturing["phase_time_s"]["driving"] == pytest.approx(0.6)
    assert r.dissection is None and r.procedure["procedure"] == "prostatectomy"
    assert r.webvtt().startswith("WEBVTT") and "start_s" in r.csv().splitlines()[0]
    assert Timeline.from_json(r.json()).to_json() == r.timeline.to_json()
    assert len(r.segments_frame()) == len(r.timeline.segments)

    d = alice.review(library["rd"])
    assert d.suturing is None
    assert d.dissection["share"]["action"] == {"retraction": 0.75, "cold cut": 0.25}
    assert d.dissection["share"]["arm"] == {"both": 0.75, "left": 0.25}
    full = alice.review(library["rb"])
    assert full.suturing["stitches"] == 3 and full.dissection is not None


def test_empty_library(alice):
    s = alice.summary()
    assert (s.videos, s.mapped_videos, s.hours_mapped, s.stitches, s.high_share, s.proficiency, s.recent) == \
        (0, 0, 0.0, 0, None, [], [])
    assert alice.library() == [] and library_frame([]).empty


def test_add_result_imports_a_timeline_as_done(platform, alice, videos):
    v = alice.upload_video(videos["a"])
    res = alice.add_result(v.id, make_timeline(procedure="myomectomy"))
    assert res.mapping == "suturing" and res.video_id == v.id
    assert alice.get_job(res.job_id).status == "done"
    assert alice.get_video(v.id).procedure == "myomectomy"
    assert alice.summary().stitches == 2 and alice.library()[0].status == "done"


def test_csv_export_keeps_spreadsheet_formulas_as_text(platform, alice, videos):
    """A video named like a formula (the timeline's video id is the file's stem) and a formula-like tag
    must not run in a spreadsheet: such cells start with an apostrophe; numbers, negative ones too, stay."""
    import csv
    import io

    tl = make_timeline(procedure="=HYPERLINK(\"https://evil.example\",\"x\")")
    tl.video["id"] = "@SUM(1+1)"
    tl.segments[1].tags["phase"] = "+cmd|' /C calc'!A0"
    tl.segments[1].scores["phase"] = -0.5
    v = alice.upload_video(videos["a"])
    rows = list(csv.DictReader(io.StringIO(alice.review(alice.add_result(v.id, tl).id).csv())))
    cells = [c for r in rows for c in r.values() if c]
    assert all(c[0] not in "=+@" for c in cells)
    assert rows[0]["video_id"] == "'@SUM(1+1)" and rows[0]["procedure"].startswith("'=HYPERLINK(")
    assert "'+cmd|' /C calc'!A0" in [r["phase"] for r in rows] and "-0.5" in [r["phase_score"] for r in rows]
