"""The dashboard's pages (app.py, views/*.py) run by streamlit.testing.v1.AppTest against a real
SQLite database in a temp data dir; data is put in place through the platform's own API (the
same one the worker uses), and the numbers the pages show are checked against Timeline summaries."""

from __future__ import annotations

import os
import re

import pytest
from streamlit.testing.v1 import AppTest

from halsted_hf.platform import jobs, presence
from apptest import APP, TIMEOUT, app_as, full_timeline, texts, unescape
from helpers import PASSWORD, make_timeline, make_video



@pytest.fixture
def data(app_platform):
    return app_platform


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("app-videos") / "case-12.mp4", 3.0)


def rendered(at) -> str:
    """The HTML a CommonMark renderer makes of every Markdown string the page wrote."""
    from markdown_it import MarkdownIt

    sources = [e.value for e in at.markdown] + [e.value for e in at.caption] + [e.value for e in at.title]
    sources += [e.value for kind in ("error", "info", "success", "warning") for e in getattr(at, kind)]
    return "\n".join(MarkdownIt("commonmark").render(str(s)) for s in sources)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# -- signed out ------------------------------------------------------------------------------
def test_signed_out_shows_only_the_sign_in_form(data):
    at = app_as()
    assert [t.value for t in at.title] == ["Halsted"]
    assert {"signin_email", "signin_password", "signup_email", "signup_password"} <= {w.key for w in at.text_input}
    assert not any(b.key == "signout" for b in at.button)
    # The pages are not even registered for a signed-out visitor: every address is the sign-in form.
    with pytest.raises(ValueError, match="Could not find a navigation page for .*views/library.py"):
        at.switch_page("views/library.py")


def test_sign_up_signs_in_and_sign_out_signs_out(data):
    at = app_as()
    at.text_input(key="signup_name").input("Ann Surgeon")
    at.text_input(key="signup_email").input("ann@example.org")
    at.text_input(key="signup_password").input(PASSWORD)
    next(b for b in at.button if b.label == "Create account").click()
    at.run()
    assert not at.exception
    assert "Welcome, Ann Surgeon" in [t.value for t in at.title]
    assert at.session_state["surgeon_id"] == data.sign_in("ann@example.org", PASSWORD).id
    at.button(key="signout").click()
    at.run()
    assert [t.value for t in at.title] == ["Halsted"] and "surgeon_id" not in at.session_state


def test_bad_sign_up_and_sign_in_show_the_reason(data):
    data.sign_up("bob@example.org", "Bob", PASSWORD)
    at = app_as()
    at.text_input(key="signup_email").input("not-an-email")
    at.text_input(key="signup_password").input(PASSWORD)
    next(b for b in at.button if b.label == "Create account").click()
    at.run()
    assert "not a valid e-mail address" in texts(at)
    for attempt in range(12):  # three free failures, then growing delays: soon one is refused
        at.text_input(key="signin_email").input("bob@example.org")
        at.text_input(key="signin_password").input(f"wrong password {attempt}")
        next(b for b in at.button if b.label == "Sign in").click()
        at.run()
        if "Too many failed sign-ins" in texts(at):
            break
    assert "Too many failed sign-ins" in texts(at) and attempt >= 3
    assert "surgeon_id" not in at.session_state


# -- signed in, empty ------------------------------------------------------------------------
@pytest.mark.parametrize("page, message", [
    ("views/summary.py", "Your library is empty"),
    ("views/library.py", "No videos yet"),
    ("views/map.py", "Your library is empty"),
    ("views/review.py", "No results yet"),
])
def test_empty_library_pages(data, page, message):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    at = app_as(me, page)
    assert message in texts(at)


# -- jobs ------------------------------------------------------------------------------------
def test_library_lists_uploads_and_deletes(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    at = app_as(me, "views/library.py")
    page = texts(at)
    assert "case-12.mp4" in page and "0:03" in page and "not mapped" in page
    assert len(at.get("image")) == 1  # the thumbnail
    at.button(key=f"delete_{v.id}").click()
    at.run()
    assert me.list_videos() == [] and "No videos yet" in texts(at)
    assert not v.path.exists()


def test_map_button_queues_a_job_and_cancel_cancels_it(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    at = app_as(me, "views/map.py")
    at.button(key="enqueue_suturing").click()
    at.run()
    [job] = me.list_jobs(v.id)
    assert (job.mapping, job.status) == ("suturing", "queued")  # queued for the worker, not run here
    # no worker is running here: said in a surgeon's words (it used to read "waiting for a worker (`halsted worker`)")
    assert "Mapping is paused: the mapping service is not running at the moment" in texts(at)
    assert "halsted worker" not in texts(at)
    presence.touch(data.settings.data_dir, "test-worker")  # a worker is alive
    at.run()
    assert "Queued: mapping starts when the jobs before it are done." in texts(at) and "paused" not in texts(at)
    at.button(key=f"cancel_{job.id}").click()
    at.run()
    assert me.get_job(job.id).status == "cancelled"


def test_running_job_shows_its_progress(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    job = me.enqueue_job(v.id, "dissection")
    claimed = jobs.claim_next(data.Session, "test-worker")
    assert claimed.id == job.id
    assert jobs.set_progress(data.Session, job.id, "test-worker", 3, 12)
    at = app_as(me, "views/map.py")
    [bar] = at.get("progress")
    assert bar.value == 25 and bar.text == "3 of 12 windows"
    assert "**running**" in texts(at)


def test_failed_job_shows_its_message_and_can_be_retried(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    job = me.enqueue_job(v.id, "full")
    jobs.claim_next(data.Session, "test-worker")
    message = "The Space x/y is asleep or starting up: it wakes on request, so retry the job in a minute or two."
    assert jobs.finish(data.Session, job.id, "test-worker", "failed", message)
    at = app_as(me, "views/map.py")
    assert message in [unescape(e.value) for e in at.error]
    at.button(key=f"retry_{job.id}").click()
    at.run()
    assert me.get_job(job.id).status == "queued"
    at.run()
    assert message not in texts(at) and "Mapping is paused" in texts(at)


# -- results ---------------------------------------------------------------------------------
def test_review_numbers_match_the_timeline_summaries(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    tl = full_timeline()
    res = me.add_result(v.id, tl, mapping="full")
    at = app_as(me, "views/review.py")
    s, d = tl.suturing_summary(), tl.dissection_summary()
    assert metric(at, "Stitches") == str(s["stitches"]) == "2"
    assert metric(at, "High proficiency") == f"{s['high_proficiency_share']:.0%}" == "50%"
    assert metric(at, "Rated stitches") == str(s["stitches_with_proficiency"])
    assert metric(at, "Suturing time") == "0:01.8"
    assert metric(at, "Dissection time") == "0:01.2" and d["dissection_time_s"] == pytest.approx(1.2)
    assert "prostatectomy" in texts(at)
    # the timeline chart, the video with WebVTT subtitles, and the exports
    charts = at.get("plotly_chart")
    timeline_chart = [c for c in charts if '"name":"driving"' in c.proto.spec.replace(" ", "")]
    assert len(timeline_chart) == 1 and '"name":"cut"' in timeline_chart[0].proto.spec.replace(" ", "")
    [video] = at.get("video")
    assert video.proto.start_time == 0 and len(video.proto.subtitles) == 1
    downloads = {b.proto.label for b in at.get("download_button")}
    assert {"Timeline CSV", "Timeline JSON"} <= downloads
    assert at.session_state["review_result_id"] == res.id


def test_an_empty_chart_is_a_sentence_not_a_bare_axis(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    tl = full_timeline()
    tl.segments = [s for s in tl.segments if "phase" not in s.tags]  # a full mapping that found no suturing
    me.add_result(v.id, tl, mapping="full")
    at = app_as(me, "views/review.py")
    assert "No suturing phase was mapped in this video, so there is no time per phase." in texts(at)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert not [s for s in specs if "Time per phase" in s]
    assert len([s for s in specs if "Time share of" in s]) == 3  # dissection was mapped: its charts stay


def test_summary_shows_the_record_across_videos(data, video_file, tmp_path):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    a = me.upload_video(str(video_file))
    b = me.upload_video(str(make_video(tmp_path / "case-13.mp4", 2.0, pattern="testsrc2")))
    me.add_result(a.id, make_timeline(proficiencies=("high", "low")))
    me.add_result(b.id, make_timeline(duration_s=2.0, proficiencies=("high", "high", "low")))
    at = app_as(me, "views/summary.py")
    summary = me.summary()
    assert metric(at, "Videos") == "2" and metric(at, "Mapped videos") == "2"
    assert metric(at, "Stitches") == str(summary.stitches) == "5"
    assert metric(at, "High proficiency") == f"{summary.high_share:.0%}" == "60%"
    assert len(at.get("plotly_chart")) == 1  # proficiency over time
    page = texts(at)
    assert "case-12.mp4" in page and "case-13.mp4" in page and "67% high proficiency" in page


def test_a_surgeon_never_sees_another_surgeons_results(data, video_file):
    ann = data.sign_up("ann@example.org", "Ann", PASSWORD)
    bob = data.sign_up("bob@example.org", "Bob", PASSWORD)
    res = ann.add_result(ann.upload_video(str(video_file)).id, make_timeline())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["surgeon_id"] = bob.id
    at.session_state["review_result_id"] = res.id  # as if taken from a URL or a stale widget
    at.run()
    at.switch_page("views/review.py").run()
    assert not at.exception and "No results yet" in texts(at)
    at.switch_page("views/library.py").run()
    assert "case-12.mp4" not in texts(at)


def test_overlay_video_is_rendered_once_and_offered_for_download(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    me.add_result(me.upload_video(str(video_file)).id, make_timeline())
    at = app_as(me, "views/review.py")
    assert "Overlay video (MP4)" not in {b.proto.label for b in at.get("download_button")}
    at.button(key="overlay_render").click()
    at.run()
    assert not at.exception
    [overlay] = list((data.settings.data_dir / "overlays").glob("*.mp4"))
    assert overlay.stat().st_size > 1000
    assert "Overlay video (MP4)" in {b.proto.label for b in at.get("download_button")}
    at.run()  # cached: offered again without a render button
    assert not any(b.key == "overlay_render" for b in at.button)


# -- hostile and repeated uploads ------------------------------------------------------------
EVIL = "[click me](https://evil.example) **bold**.mp4"  # its upload name keeps what follows the last /
EVIL_NO_SLASH = "[click me](mailto:a@evil.example) **bold** <b>x</b> :red[y] www.evil.example.mp4"


def upload(at, *files) -> AppTest:
    at.file_uploader(key="uploader").set_value([(name, path.read_bytes(), "video/mp4") for name, path in files])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.parametrize("name", [EVIL, EVIL_NO_SLASH])
def test_a_file_name_with_markdown_is_shown_literally_everywhere(data, video_file, name):
    from halsted_hf.platform.storage import safe_filename

    me = data.sign_up("ann@example.org", "Ann [x](https://evil.example) **B**", PASSWORD)
    upload(app_as(me, "views/library.py"), (name, video_file))
    [video] = me.list_videos()
    assert video.original_filename == safe_filename(name)
    me.add_result(video.id, make_timeline())
    for page in ("views/library.py", "views/summary.py"):
        at = app_as(me, page)
        html = rendered(at)
        assert video.original_filename in texts(at)  # shown, as typed
        assert "<a " not in html and "<strong>bold" not in html and "<strong>B" not in html
        assert "<b>" not in html and ":red[" in texts(at) or name == EVIL


def test_the_same_bytes_under_several_names_say_already_in_your_library(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    at = upload(app_as(me, "views/library.py"), ("case-12.mp4", video_file), ("copy.mp4", video_file),
                ("again.mov", video_file))
    assert [v.original_filename for v in me.list_videos()] == ["case-12.mp4"]
    assert [unescape(e.value) for e in at.success] == ["Stored case-12.mp4 (3 s, 160x120)."]
    assert [unescape(e.value) for e in at.info] == ["copy.mp4 is already in your library as case-12.mp4.",
                                                    "again.mov is already in your library as case-12.mp4."]


def test_review_warns_when_a_video_has_no_playable_copy_yet(data, tmp_path):
    from helpers import hard_to_play_videos

    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(hard_to_play_videos(tmp_path / "hard")["cinepak"])
    me.add_result(v.id, make_timeline())  # mapped elsewhere: no worker made its proxy
    assert "Browsers may not play this file's format" in texts(app_as(me, "views/review.py"))


@pytest.mark.parametrize("text", ["www.evil.example", "WWW.evil.example", "see https://evil.example/x",
                                  "http://evil.example", "a@evil.example", "mailto:x@y.org", EVIL_NO_SLASH])
def test_escaped_text_has_no_bare_autolink_left(text):
    """Streamlit's GFM finds bare links in the text after escapes are resolved (Chromium showed e-mails as
    mailto: links): what md() leaves must match none of GFM's autolink-literal starts."""
    import sys

    sys.path.insert(0, os.path.dirname(APP))
    from views.markup import md

    resolved = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", md(text))  # escapes resolved, joiners kept
    assert resolved.replace("\u2060", "") == text
    assert not re.search(r"(?i)www\.|https?://|mailto:\w|[\w.+-]@\w", resolved)


def test_a_session_signed_out_elsewhere_or_expired_ends_here_too(data):
    """Sign-in starts a server-side browser session (web_sessions.py); once it is revoked (Sign out in
    another tab) or past its 12 h, the open page signs out on its next run (OWASP ASVS 3.3.1, 3.3.2)."""
    import datetime as dt

    from sqlalchemy import update

    from halsted_hf.platform.tables import WebSession

    data.sign_up("ann@example.org", "Ann", PASSWORD)
    for end in ("revoked", "expired"):
        at = app_as()
        at.text_input(key="signin_email").input("ann@example.org")
        at.text_input(key="signin_password").input(PASSWORD)
        next(b for b in at.button if b.label == "Sign in").click()
        at.run()
        assert "Welcome, Ann" in [t.value for t in at.title]
        web_session_id = at.session_state["web_session_id"]
        if end == "revoked":
            data.end_web_session(web_session_id)
        else:
            with data.Session.begin() as db:
                db.execute(update(WebSession).where(WebSession.id == web_session_id)
                           .values(expires_at=dt.datetime(2000, 1, 1)))
        at.run()
        assert [t.value for t in at.title] == ["Halsted"] and "surgeon_id" not in at.session_state


def test_review_and_summary_name_the_model_its_training_data_accuracy_and_the_synthetic_label(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    v = me.upload_video(str(video_file))
    tl = make_timeline()
    tl.model = {"name": "demo-model", "revision": "0123abcd"}  # the bundled demo model, as the worker records it
    me.add_result(v.id, tl)
    # the task accuracies as the card's table states them (written by `halsted evaluate`, never typed)
    import re

    from halsted_hf.model.registry import DEMO_MODEL_PATH

    card = open(os.path.join(DEMO_MODEL_PATH, "README.md"), encoding="utf-8").read()
    found = re.findall(r"^\| (context|macro-activity|micro-activity|proficiency) \| \d+ \| ([\d.]+) \(", card, re.M)
    # the task table comes first (the tag table has a proficiency row)
    rows = list(dict(reversed(found)).items())[::-1]
    accuracies = ", ".join(f"{task} {float(acc):.0f}%" for task, acc in rows)
    for page in ("views/review.py", "views/summary.py"):
        at = app_as(me, page)
        page_text = texts(at).replace("**", "")
        assert "demo-model (revision 0123abcd)" in page_text, page
        assert "trained on 432 synthetic videos x 2 min, the mapping windows." in page_text, page
        assert len(rows) == 4 and f"{accuracies} on 12 held-out test videos" in page_text, page
        assert any("Trained on synthetic video, not real surgery" in w.value for w in at.warning), page
        [card] = [e for e in at.expander if e.label == "Model card"]
        assert "Demo checkpoint" in " ".join(m.value for m in card.markdown)


def test_a_model_this_machine_does_not_have_is_named_without_a_card(data, video_file):
    me = data.sign_up("ann@example.org", "Ann", PASSWORD)
    me.add_result(me.upload_video(str(video_file)).id, make_timeline())  # model "hand", not here
    at = app_as(me, "views/review.py")
    assert "hand (revision 0) · trained on not known here" in texts(at).replace("**", "")
    assert not at.warning and not [e for e in at.expander if e.label == "Model card"]
