"""Surgeons' corrections of a result (platform/corrections.py): a layer over the model's Timeline, stored per
surgeon with who, when and what it replaced; the Summary and Review use the corrected values; bad input is
refused with a clear message and nothing stored; another surgeon's data is never reached."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from halsted_hf.platform import NotFoundError
from halsted_hf.platform.corrections import CorrectionError
from halsted_hf.platform.tables import Correction

from helpers import corrections_round_trip, make_timeline

LOW_DRIVING = 5  # make_timeline's segments: 0 stage-1, then per stitch needle handling, driving, withdrawal


@pytest.fixture
def alice_result(alice, videos):
    v = alice.upload_video(videos["a"])
    return alice.add_result(v.id, make_timeline(), "suturing")


def stored(platform) -> int:
    with platform.Session() as db:
        return db.scalar(select(func.count()).select_from(Correction))


def test_category_correction_is_a_layer_with_who_when_and_what_it_replaced(platform, alice, alice_result):
    assert alice.summary().high_share == 0.5
    seg = alice.review(alice_result.id).timeline.segments[LOW_DRIVING]
    assert seg.tags == {"phase": "driving", "proficiency": "low"}

    rec = alice.set_category(alice_result.id, LOW_DRIVING, "proficiency", "high")
    assert rec.owner_id == alice.id and rec.kind == "category" and rec.created_at is not None
    assert rec.replaced == [seg.to_dict()]  # the model's output it replaced
    assert "low → high" in rec.describe()

    rv = alice.review(alice_result.id)
    assert rv.is_corrected and rv.timeline.segments[LOW_DRIVING].tags["proficiency"] == "high"
    assert rv.original.segments[LOW_DRIVING].tags["proficiency"] == "low"  # the model's Timeline is kept
    assert alice.get_result(alice_result.id).timeline_json == alice_result.timeline_json
    assert rv.suturing["high_proficiency_share"] == 1.0
    assert '"corrections"' in rv.json()
    summary = alice.summary()
    assert summary.high_share == 1.0 and summary.corrected_results == 1
    assert rv.corrected.corrected_spans() == [(seg.start_s, seg.end_s, ["proficiency"])]


def test_undo_takes_back_the_latest_and_keeps_it(platform, alice, alice_result):
    alice.set_category(alice_result.id, LOW_DRIVING, "proficiency", "high")
    alice.split_segment(alice_result.id, 0, 1.5)
    assert len(alice.review(alice_result.id).timeline.segments) == 8
    undone = alice.undo_correction(alice_result.id)
    assert undone.kind == "split" and undone.undone_at is not None
    rv = alice.review(alice_result.id)
    assert len(rv.timeline.segments) == 7 and rv.timeline.segments[LOW_DRIVING].tags["proficiency"] == "high"
    assert [r.kind for r in alice.list_corrections(alice_result.id, include_undone=True)] == ["category", "split"]
    alice.undo_correction(alice_result.id)
    assert not alice.review(alice_result.id).is_corrected and alice.summary().high_share == 0.5
    with pytest.raises(CorrectionError, match="no correction of this result to undo"):
        alice.undo_correction(alice_result.id)


def test_split_merge_and_not_surgery(alice, alice_result):
    rid = alice_result.id
    alice.split_segment(rid, 0, 1.0)
    segs = alice.review(rid).timeline.segments
    assert [(s.start_s, s.end_s) for s in segs[:2]] == [(0.0, 1.0), (1.0, 3.0)]
    alice.set_category(rid, 1, "step", "dissection")
    alice.merge_with_next(rid, 0)
    merged = alice.review(rid).timeline.segments[0]
    assert (merged.start_s, merged.end_s, merged.tags["step"]) == (0.0, 3.0, "suturing")  # the first's tags
    assert alice.review(rid).suturing["stitches"] == 2
    alice.mark_not_surgery(rid, 0.85, 2.0)  # the second stitch's driving is not surgery
    rv = alice.review(rid)
    assert rv.suturing["stitches"] == 1
    assert rv.corrected.not_surgery == [(0.85, 2.0)]
    assert not any(s.start_s < 2.0 - 1e-6 and s.end_s > 0.85 + 1e-6 for s in rv.timeline.segments)


@pytest.mark.parametrize("call, message", [
    (lambda me, rid: me.set_category(rid, LOW_DRIVING, "proficiency", "superb"), "not a category of 'proficiency'"),
    (lambda me, rid: me.set_category(rid, LOW_DRIVING, "action", "hook"), "not a tag of task 'proficiency'"),
    (lambda me, rid: me.set_category(rid, LOW_DRIVING, "proficiency", "low"), "already 'low'"),
    (lambda me, rid: me.split_segment(rid, LOW_DRIVING, 2.5), "must fall inside the segment"),
    (lambda me, rid: me.split_segment(rid, LOW_DRIVING, 0.9), "must fall inside the segment"),  # its very start
    (lambda me, rid: me.merge_with_next(rid, 6), "no adjacent next segment"),
    (lambda me, rid: me.mark_not_surgery(rid, 2.0, 1.0), "later end inside the video"),
    (lambda me, rid: me.set_category(rid, 99, "proficiency", "high"), "no segment 99"),
    (lambda me, rid: me.correct(rid, "category", {"index": LOW_DRIVING, "start_s": 0.0, "end_s": 0.3,
                                                  "task": "proficiency", "tag": "proficiency", "category": "high"}),
     "changed since the page showed it"),
    (lambda me, rid: me.correct(rid, "recolour", {}), "Unknown correction"),
])
def test_bad_corrections_are_refused_and_nothing_is_stored(platform, alice, alice_result, call, message):
    with pytest.raises(CorrectionError, match=message):
        call(alice, alice_result.id)
    assert stored(platform) == 0
    assert not alice.review(alice_result.id).is_corrected


def test_another_surgeons_result_is_refused_like_a_missing_one(platform, alice, bob, alice_result):
    def refused(rid):
        with pytest.raises(NotFoundError) as info:
            bob.set_category(rid, LOW_DRIVING, "proficiency", "high")
        return str(info.value).replace(str(rid), "<id>")

    assert refused(alice_result.id) == refused(999_999)
    for call in (bob.undo_correction, bob.list_corrections, bob.corrected):
        with pytest.raises(NotFoundError):
            call(alice_result.id)
    assert stored(platform) == 0


def test_corrections_never_reach_another_surgeons_data(platform, alice, bob, videos):
    """Both upload the same bytes and hold the same Timeline; Alice's corrections change nothing of Bob's."""
    a = alice.add_result(alice.upload_video(videos["a"]).id, make_timeline(), "suturing")
    b = bob.add_result(bob.upload_video(videos["a"]).id, make_timeline(), "suturing")
    alice.set_category(a.id, LOW_DRIVING, "proficiency", "high")
    assert bob.list_corrections(b.id) == [] and not bob.review(b.id).is_corrected
    assert bob.summary().high_share == 0.5 and bob.summary().corrected_results == 0
    bob.set_category(b.id, 2, "proficiency", "low")  # Bob's own correction stays his too
    assert alice.review(a.id).timeline.segments[2].tags["proficiency"] == "high"
    assert [c.owner_id for c in alice.list_corrections(a.id)] == [alice.id]


def test_a_deleted_video_takes_its_corrections_and_refuses_new_ones(platform, alice, alice_result):
    alice.set_category(alice_result.id, LOW_DRIVING, "proficiency", "high")
    alice.delete_video(alice_result.video_id)
    assert stored(platform) == 0
    with pytest.raises(NotFoundError, match="not one of your results"):
        alice.set_category(alice_result.id, LOW_DRIVING, "proficiency", "high")
    assert stored(platform) == 0


def test_migration_0003_on_sqlite(platform, videos):
    corrections_round_trip(platform, videos)
