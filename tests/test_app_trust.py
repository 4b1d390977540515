"""The dashboard's pages (AppTest, real SQLite) with results a surgeon should not take at face value: tags the
model's card marks not reliable (a tiny model folder whose reliability.json says so) are marked on Review,
Summary and the Library and left out of the headline numbers; results the out-of-distribution check flags are
labelled and left out of Summary's totals and trends until the toggle puts them back; the header's procedure
is the majority with its share, or "mixed"."""

from __future__ import annotations

import json

import numpy as np
import pytest
from apptest import app_as, full_timeline, texts
from helpers import PASSWORD, RELIABILITY_RECORD as RECORD, make_timeline, make_video, seg

from halsted_hf.mapping import reliability

UNRELIABLE = tuple(t for t, e in RECORD["tags"].items() if not e["reliable"])


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust-videos")
    return [make_video(d / f"case-{i}.mp4", 3.0, tint=c) for i, c in enumerate(("red", "green", "blue"))]


def read(at) -> str:
    """The page's text without Markdown's bold marks."""
    return texts(at).replace("**", "")


def metric(at, label):
    return next(m for m in at.metric if m.label == label)


def chart_specs(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def flagged(tl):
    """The timeline as the out-of-distribution check leaves it for footage far from the training windows."""
    tl.ood = {"flagged": True, "score": 9.0, "threshold": 1.0, "message": "does not look like surgery",
              "stretches": [{"start_s": 0.0, "end_s": tl.duration_s, "score": 9.0}]}
    return tl


def test_every_page_marks_the_unreliable_tags_and_headlines_leave_them_out(app_platform, clips, unreliable_model):
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    # a result by a model without a record (its proficiency counts), then one by the model with the record
    me.add_result(me.upload_video(str(clips[1])).id, make_timeline(proficiencies=("high", "high", "low")))
    marked = reliability.stamp(full_timeline(), reliability.load(unreliable_model))  # proficiency high, low
    res = me.add_result(me.upload_video(str(clips[0])).id, marked, mapping="full")  # the newest: Review opens it

    review = app_as(me, "views/review.py")
    page = read(review)
    assert "Not reliable on this model's held-out videos: proficiency, extent, procedure, instrument" in page
    for tag in UNRELIABLE:  # the reason, one click away (the expander)
        assert f"{tag}: {RECORD['tags'][tag]['reason']}" in page
    assert metric(review, "Stitches").value == "2"  # phase is reliable: counted, and says so
    assert metric(review, "Stitches").proto.help == "From the phase tag only."
    left_out = metric(review, "High proficiency (not reliable)")
    assert left_out.value == "–" and RECORD["tags"]["proficiency"]["reason"] in left_out.proto.help
    assert metric(review, "Rated stitches (not reliable)").value == "–"
    assert not [m for m in review.metric if m.label == "High proficiency"]
    assert f"prostatectomy, 100% of the video (not reliable: {RECORD['tags']['procedure']['reason']})" in page
    specs = chart_specs(review)
    [timeline] = [s for s in specs if s["layout"].get("yaxis", {}).get("ticktext")]
    labels = dict(zip(timeline["layout"]["yaxis"]["tickvals"], timeline["layout"]["yaxis"]["ticktext"]))
    present = {t for s in marked.segments for t in s.tags}
    assert {t for t, label in labels.items() if label.endswith("(not reliable)")} == set(UNRELIABLE) & present
    assert any(s["layout"]["title"]["text"] == "Time share of instruments (not reliable)" for s in specs
               if "title" in s["layout"])
    # the exports the page offers
    rv = me.review(res.id)
    assert "not_reliable" in rv.csv().splitlines()[0]
    assert json.loads(rv.json())["reliability"]["tags"] == RECORD["tags"]
    assert "high (not reliable)" in rv.webvtt()

    summary = app_as(me, "views/summary.py")
    page = read(summary)
    assert metric(summary, "Stitches").value == "5"  # 2 + 3: phase is reliable for both
    assert metric(summary, "High proficiency").value == "67%"  # 2 of 3, the unreliable proficiency left out (3/5 with)
    assert "1 result left out of high proficiency" in page and RECORD["tags"]["proficiency"]["reason"] in page
    assert "1 result left out of procedures" in page
    [procedures] = [t.value for t in summary.dataframe]  # the other video's procedure only
    assert list(procedures["procedure"]) == ["prostatectomy"] and list(procedures["videos"]) == [1]
    assert "proficiency not reliable" in page and "prostatectomy (not reliable)" in page  # its recent-results row

    library = app_as(me, "views/library.py")
    assert f"Procedure: prostatectomy (not reliable: {RECORD['tags']['procedure']['reason']})" in read(library)


def test_a_summary_of_unreliable_tags_only_says_why_its_trend_and_procedures_are_empty(app_platform, clips,
                                                                                        unreliable_model):
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    marked = reliability.stamp(full_timeline(), reliability.load(unreliable_model))
    me.add_result(me.upload_video(str(clips[0])).id, marked, mapping="full")
    at = app_as(me, "views/summary.py")
    page = read(at)
    assert metric(at, "Stitches").value == "2" and metric(at, "High proficiency").value == "–"
    assert "No proficiency to plot: the tag is not reliable for these results" in page
    assert "No procedure to count: the tag is not reliable for these results" in page
    assert "No suturing has been mapped yet" not in page and not at.dataframe


def test_out_of_distribution_results_are_labelled_and_kept_out_of_the_totals_until_put_back(app_platform, clips):
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    me.add_result(me.upload_video(str(clips[0])).id, make_timeline(proficiencies=("high", "low")))
    before = app_as(me, "views/summary.py")
    numbers = {m.label: m.value for m in before.metric}
    assert numbers["Stitches"] == "2" and numbers["High proficiency"] == "50%"

    cartoon = me.upload_video(str(clips[1]))
    me.add_result(cartoon.id, flagged(make_timeline(procedure="gastric bypass", proficiencies=("high",))))
    after = app_as(me, "views/summary.py")
    assert {m.label: m.value for m in after.metric} == numbers  # nothing of the flagged result counts
    page = read(after)
    assert "Out of distribution: 1 video left out of these totals and trends" in page
    assert "Out of distribution: not in the totals" in page  # its row among the recent results
    [chart] = [s for s in chart_specs(after) if "proficiency" in json.dumps(s["layout"])]
    assert len(chart["data"][0]["x"]) == 1  # the trend has the in-distribution video only
    assert "gastric bypass" not in str([t.value for t in after.dataframe])

    after.toggle(key="summary_include_ood").set_value(True).run()
    put_back = {m.label: m.value for m in after.metric}
    assert put_back["Stitches"] == "3" and put_back["High proficiency"] == "67%" and put_back["Videos"] == "2"
    assert "Out of distribution included" in read(after)
    assert "Out of distribution: counted above, as asked" in read(after)
    assert "gastric bypass" in str([t.value for t in after.dataframe])

    for page in ("views/library.py", "views/review.py"):
        at = app_as(me, page)
        assert "Out of distribution" in " ".join(w.value for w in at.warning), page


def test_a_video_with_no_procedure_holding_most_of_it_reads_mixed(app_platform, clips):
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    tl = make_timeline(duration_s=3.0)
    tl.segments[0:1] = [seg(0.0, 1.0, 1, "macro-activity", {"procedure": "prostatectomy", "step": "suturing"}),
                        seg(1.0, 2.0, 1, "macro-activity", {"procedure": "gastric bypass", "step": "suturing"}),
                        seg(2.0, 3.0, 1, "macro-activity", {"procedure": "hysterectomy", "step": "suturing"})]
    me.add_result(me.upload_video(str(clips[2])).id, tl)
    review = read(app_as(me, "views/review.py"))
    assert "mixed: no procedure holds most of the video (gastric bypass 33% at most)" in review
    assert "Procedure: mixed" in read(app_as(me, "views/library.py"))
    assert np.isclose(tl.procedure_summary()["procedure_share"], 1 / 3)
