"""The Review page's corrections (views/corrections.py) run by Streamlit's AppTest against a real SQLite
database: correct a category, see the breakdown and the Summary change and say so, undo; a refused
correction shows its message and stores nothing."""

from __future__ import annotations

import os
import re

import pytest
from streamlit.testing.v1 import AppTest


from helpers import PASSWORD, make_timeline, make_video

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
    text = "\n".join(str(p) for p in parts)  # as the surgeon reads it: md()'s escapes and joiners removed
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def test_correct_a_category_then_undo(ann_result):
    me, res = ann_result
    at = open_page(me, "views/review.py")
    assert metric(at, "High proficiency") == "50%" and "Corrected by you" not in shown(at)
    at.selectbox(key=f"correct_segment_{res.id}").set_value(LOW_DRIVING).run()
    at.selectbox(key=f"correct_tag_{res.id}").set_value("proficiency").run()
    # only the tag's categories in the model's taxonomy are offered
    assert at.selectbox(key=f"correct_category_{res.id}").options == ["low", "high"]
    at.selectbox(key=f"correct_category_{res.id}").set_value("high").run()
    at.button(key=f"correct_apply_category_{res.id}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert metric(at, "High proficiency") == "100%"
    text = shown(at)
    assert "Corrected by you: 1 correction" in text and "proficiency 0:01.2–0:01.5: low → high" in text
    assert "✎" in at.selectbox(key=f"correct_segment_{res.id}").format_func(LOW_DRIVING)
    [timeline] = [c for c in at.get("plotly_chart") if f"timeline_{res.id}" in c.proto.id]
    assert "dashed red: corrected by you" in timeline.proto.spec and '"dash":"dash"' in timeline.proto.spec.replace(" ", "")
    assert me.review(res.id).original.segments[LOW_DRIVING].tags["proficiency"] == "low"

    summary = open_page(me, "views/summary.py")
    assert metric(summary, "High proficiency") == "100%" and "Using your corrections: 1 of your results" in shown(summary)

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
