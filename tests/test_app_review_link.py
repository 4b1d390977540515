"""The Review page keeps its result in the URL (views/result_link.py): a reload or a link opens that result,
choosing another result updates the URL, and a link to another surgeon's result reads exactly like one to a
result that does not exist. (The signed-out deep link, which needs a browser: test_e2e_dashboard_faults.py.)"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest import APP, TIMEOUT, texts
from helpers import PASSWORD, make_timeline, make_video


@pytest.fixture
def two_results(app_platform, tmp_path):
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    older = me.add_result(me.upload_video(str(make_video(tmp_path / "older.mp4", 3.0))).id, make_timeline())
    newer = me.add_result(me.upload_video(str(make_video(tmp_path / "newer.mp4", 2.0, pattern="testsrc2"))).id,
                          make_timeline(duration_s=2.0))
    return app_platform, me, older, newer


def review_at(me, query=None):
    """A new browser session (a reload) of /review, with `query` in its URL."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["surgeon_id"] = me.id
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/review.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_reload_of_the_url_opens_its_result_and_a_choice_updates_the_url(two_results):
    _, me, older, newer = two_results
    at = review_at(me, {"result": str(older.id)})
    assert at.selectbox(key="review_result").value == older.id
    assert "older.mp4" in at.selectbox(key="review_result").format_func(older.id)
    assert at.query_params["result"] == str(older.id)
    at.selectbox(key="review_result").set_value(newer.id).run()
    assert at.query_params["result"] == str(newer.id)
    again = review_at(me, {"result": at.query_params["result"]})  # the reload of that URL
    assert again.selectbox(key="review_result").value == newer.id


def test_a_link_to_a_foreign_result_reads_like_a_missing_one(two_results):
    platform, me, older, newer = two_results
    bob = platform.sign_up("bob@example.org", "Bob", PASSWORD)
    mine = bob.add_result(bob.upload_video(str(make_video(platform.settings.data_dir / "bob.mp4", 2.0))).id,
                          make_timeline(duration_s=2.0))
    seen = {}
    for label, rid in (("foreign", older.id), ("missing", 999_999)):
        at = review_at(bob, {"result": str(rid)})
        seen[label] = [w.value.replace(str(rid), "N") for w in at.warning]
        assert at.selectbox(key="review_result").value == mine.id and "older.mp4" not in texts(at)
    assert seen["foreign"] == seen["missing"] == [
        "Result N is not one of your results: showing your newest result instead."]
    junk = review_at(bob, {"result": "x" * 100_000})  # never echoed back
    assert [w.value for w in junk.warning] == [
        "The link's result is not one of your results: showing your newest result instead."]


def test_one_stitch_is_one_stitch_and_copied_times_hold_no_invisible_characters(app_platform, tmp_path):
    """Singular counts on Summary, Review and Library; times on the page copy as they read (md() used to put a
    U+2060 word joiner after every colon, so a copied 0:01.2 was not 0:01.2)."""
    from apptest import app_as

    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    res = me.add_result(me.upload_video(str(make_video(tmp_path / "one.mp4", 3.0))).id,
                        make_timeline(proficiencies=("high",)))
    me.set_category(res.id, 2, "proficiency", "low")
    summary = app_as(me, "views/summary.py")
    assert "1 stitch" in texts(summary) and "1 stitches" not in texts(summary)
    [curve] = [c for c in summary.get("plotly_chart") if "high proficiency" in c.proto.spec]
    assert '"1 stitch"' in curve.proto.spec and "stitches<" not in curve.proto.spec
    review = app_as(me, "views/review.py")
    rated = next(m for m in review.metric if m.label == "High proficiency")
    assert rated.proto.help.startswith("0 of 1 rated stitch") and "stitches" not in rated.proto.help.split(".")[0]
    listed = [c.value for c in review.caption if "0\\:00\\.3" in c.value]  # the list of corrections
    assert listed and all("\u2060" not in c for c in listed)
    assert "1 of 1 video" in texts(app_as(me, "views/library.py")).replace("1 of 1 videos", "")
