"""The Review page's corrections (views/corrections.py) run by Streamlit's AppTest against a real SQLite
database: correct a category, see the breakdown and the Summary change and say so, undo; a refused
correction shows its message and stores nothing."""

from __future__ import annotations

import os
import re

import pytest
from streamlit.testing.v1 import AppTest


from halsted_hf.platform.corrections import segment_key

from helpers import PASSWORD, make_timeline, make_video, two_steps_timeline

APP = os.path.join(os.path.dirname(__file__), "..", "app.py")
LOW_DRIVING = 5  # make_timeline: the second stitch's driving, proficiency low


@pytest.fixture
def data(app_platform):
    return app_platform


@pytest.fixture
def ann_result(data, tmp_path):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(make_video(tmp_path / "case-7.mp4", 3.0)))
    return me, me.add_result(v.id, make_timeline(), "suturing")


def open_page(me, page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["surgeon_id"] = me.id
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def shown(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "info", "success") for e in getattr(at, kind)]
    return unescaped(parts)


def unescaped(elements) -> str:
    """The elements' text as the surgeon reads it: md()'s escapes and joiners removed."""
    text = "\n".join(str(getattr(e, "value", e)) for e in elements)
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def test_correct_a_category_then_undo(ann_result):
    me, res = ann_result
    at = open_page(me, "views/review.py")
    assert metric(at, "High proficiency") == "50%" and "Corrected by you" not in shown(at)
    picked = segment_key(me.review(res.id).timeline.segments[LOW_DRIVING])
    at.selectbox(key=f"correct_segment_{res.id}").set_value(picked).run()
    at.selectbox(key=f"correct_tag_{res.id}").set_value("proficiency").run()
    # only the tag's categories in the model's taxonomy are offered
    assert at.selectbox(key=f"correct_category_{res.id}").options == ["low", "high"]
    at.selectbox(key=f"correct_category_{res.id}").set_value("high").run()
    at.button(key=f"correct_apply_category_{res.id}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert metric(at, "High proficiency") == "100%"
    text = shown(at)
    assert "Corrected by you: 1 correction" in text and "proficiency 0:01.2–0:01.5: low → high" in text
    assert "✎" in at.selectbox(key=f"correct_segment_{res.id}").format_func(picked)
    [timeline] = [c for c in at.get("plotly_chart") if f"timeline_{res.id}" in c.proto.id]
    assert "dashed red: corrected by you" in timeline.proto.spec
    assert '"dash":"dash"' in timeline.proto.spec.replace(" ", "")
    assert me.review(res.id).original.segments[LOW_DRIVING].tags["proficiency"] == "low"

    summary = open_page(me, "views/summary.py")
    assert metric(summary, "High proficiency") == "100%"
    assert "Using your corrections: 1 of your results" in shown(summary)

    at.button(key=f"correct_undo_{res.id}").click().run()
    assert metric(at, "High proficiency") == "50%" and "Undone." in shown(at)
    assert me.list_corrections(res.id) == []


def test_a_refused_correction_shows_why_and_stores_nothing(ann_result):
    me, res = ann_result
    at = open_page(me, "views/review.py")
    at.radio(key=f"correct_action_{res.id}").set_value("Mark a stretch not surgery").run()
    at.number_input(key=f"correct_ns_from_{res.id}").set_value(2.0).run()
    at.number_input(key=f"correct_ns_to_{res.id}").set_value(1.0).run()
    at.button(key=f"correct_apply_ns_{res.id}").click().run()
    assert any("later end inside the video" in e.value for e in at.error)
    assert me.list_corrections(res.id, include_undone=True) == []
    assert metric(at, "High proficiency") == "50%"


def test_a_second_merge_hits_the_segment_shown_never_the_first(data, tmp_path):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    res = me.add_result(me.upload_video(str(make_video(tmp_path / "case-7.mp4", 3.0))).id, two_steps_timeline(),
                        "full")
    at = open_page(me, "views/review.py")
    picker = f"correct_segment_{res.id}"
    at.selectbox(key=picker).set_value(segment_key(me.review(res.id).timeline.segments[3])).run()  # driving 1.8-2.1
    at.radio(key=f"correct_action_{res.id}").set_value("Merge with the next segment").run()
    assert "now: proficiency 0:01.8–0:02.1" in shown(at) and "after: proficiency 0:01.8–0:02.4" in shown(at)
    at.button(key=f"correct_apply_merge_{res.id}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    # the pick follows the merged segment, and the page shows what a second click would merge
    assert at.selectbox(key=picker).value == segment_key(me.review(res.id).timeline.segments[3])
    assert "after: proficiency 0:01.8–0:02.7" in shown(at)
    at.button(key=f"correct_apply_merge_{res.id}").click().run()
    segs = me.review(res.id).timeline.segments
    assert [(s.task, s.start_s, s.end_s, s.tags.get("step")) for s in segs[:2]] == [
        ("macro-activity", 0.0, 1.5, "dissection"), ("macro-activity", 1.5, 3.0, "suturing")]
    assert [(round(s.start_s, 3), round(s.end_s, 3)) for s in segs[2:]] == [(1.5, 1.8), (1.8, 2.7)]


def test_a_split_time_outside_the_segment_is_refused_not_moved(ann_result):
    me, res = ann_result
    at = open_page(me, "views/review.py")
    at.selectbox(key=f"correct_segment_{res.id}").set_value(segment_key(me.review(res.id).timeline.segments[2])).run()
    at.radio(key=f"correct_action_{res.id}").set_value("Split at a time").run()
    at.number_input(key=f"correct_split_{res.id}").set_value(50.0).run()
    assert "A split must fall inside the segment (0:00.3–0:00.6), not at 50.0 s" in unescaped(at.warning)
    at.button(key=f"correct_apply_split_{res.id}").click().run()
    assert "not at 50.0 s" in unescaped(at.error)
    assert me.list_corrections(res.id, include_undone=True) == []
