"""The dashboard's own HTTP routes (halsted_hf/platform/web.py) on a real Starlette app over a real
SQLite database: the session cookie (HttpOnly, SameSite, expiring, revoked server-side) and videos
served only to their owner (OWASP ASVS V3)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from halsted_hf.platform import web, web_sessions
from halsted_hf.platform.tables import WebSession



@pytest.fixture
def site(platform, monkeypatch):
    """web.py's routes and middleware, reading the same data dir as `platform`."""
    monkeypatch.setenv("HALSTED_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.delenv("HALSTED_DATABASE_URL", raising=False)
    app = Starlette(routes=web.routes, middleware=[Middleware(web.MediaNeedsSession)])
    return lambda: TestClient(app, base_url="http://127.0.0.1:8501")


def signed_in_browser(site, platform, who):
    """A browser that signed in as `who` on the page and traded the grant for its cookie."""
    client = site()
    _, grant = platform.start_web_session(who)
    r = client.post("/api/session", content=grant)
    assert r.status_code == 204
    return client, r


def test_the_grant_becomes_an_httponly_expiring_cookie_once(site, platform, alice):
    client, r = signed_in_browser(site, platform, alice)
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    session = cookies[web_sessions.SESSION_COOKIE]
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    max_age = int(session.split("max-age=", 1)[1].split(";", 1)[0])
    assert web_sessions.SESSION_TTL.total_seconds() - 60 < max_age <= web_sessions.SESSION_TTL.total_seconds()
    assert "httponly" in cookies[web_sessions.DEVICE_COOKIE]
    token = client.cookies[web_sessions.SESSION_COOKIE]
    assert platform.session_from_cookie(token)[0].id == alice.id
    # the database keeps only hashes: a copy of it opens no session
    with platform.Session() as db:
        row = db.query(WebSession).one()
        assert row.token_hash == web_sessions.digest(token) and token not in (row.token_hash, row.device_hash)
    # a grant works once, and a cross-site page cannot trade one
    _, grant = platform.start_web_session(alice)
    assert site().post("/api/session", content=grant, headers={"Origin": "https://evil.example"}).status_code == 403
    assert site().post("/api/session", content=grant).status_code == 204
    assert site().post("/api/session", content=grant).status_code == 403


def test_sign_out_revokes_the_cookie_server_side_and_sessions_expire(site, platform, alice):
    client, _ = signed_in_browser(site, platform, alice)
    token = client.cookies[web_sessions.SESSION_COOKIE]
    _, session_id = platform.session_from_cookie(token)
    platform.end_web_session(session_id)  # what the Sign out button does
    assert platform.session_from_cookie(token) is None  # a copy of the cookie kept elsewhere is dead too
    client, _ = signed_in_browser(site, platform, alice)
    token = client.cookies[web_sessions.SESSION_COOKIE]
    with platform.Session.begin() as db:
        db.execute(update(WebSession).values(expires_at=dt.datetime(2000, 1, 1)))
    assert platform.session_from_cookie(token) is None
    # an expired grant is refused too
    _, grant = platform.start_web_session(alice)
    with platform.Session.begin() as db:
        db.execute(update(WebSession).values(grant_expires_at=dt.datetime(2000, 1, 1)))
    assert site().post("/api/session", content=grant).status_code == 403


def test_a_video_is_served_only_to_its_owner(site, platform, alice, bob, videos):
    video = alice.upload_video(videos["a"])
    url = f"/api/videos/{video.id}"
    owner, _ = signed_in_browser(site, platform, alice)
    r = owner.get(url, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == video.path.read_bytes()[:100]  # ranges: the player seeks
    assert "no-store" in r.headers["cache-control"]
    assert site().get(url).status_code == 401  # no session cookie: nothing
    other, _ = signed_in_browser(site, platform, bob)
    assert other.get(url).status_code == 404  # another surgeon: as if it did not exist
    assert other.get("/api/videos/999").status_code == 404
    token = owner.cookies[web_sessions.SESSION_COOKIE]
    platform.end_web_session(platform.session_from_cookie(token)[1])
    assert owner.get(url).status_code == 401  # signed out: the same cookie fetches nothing


def test_streamlit_media_needs_a_live_session(site, platform, alice):
    assert site().get("/media/0123456789abcdef.mp4").status_code == 401
    client, _ = signed_in_browser(site, platform, alice)
    # past the guard: this app has no /media/ route of its own, so 404 means "let through"
    assert client.get("/media/0123456789abcdef.mp4").status_code == 404


def test_each_sign_in_prunes_stale_grants_and_old_sessions_but_keeps_live_ones(site, platform, alice, bob):
    live_client, _ = signed_in_browser(site, platform, alice)
    live_token = live_client.cookies[web_sessions.SESSION_COOKIE]
    old_client, _ = signed_in_browser(site, platform, bob)
    _, stale_grant = platform.start_web_session(bob)  # never claimed
    with platform.Session() as db:
        ids = {row.surgeon_id: row.id for row in db.query(WebSession).filter(WebSession.token_hash.is_not(None))}
    long_ago = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - web_sessions.TRUSTED_FOR - dt.timedelta(days=1)
    with platform.Session.begin() as db:
        db.execute(update(WebSession).where(WebSession.id == ids[bob.id]).values(created_at=long_ago))
        db.execute(update(WebSession).where(WebSession.token_hash.is_(None))
                   .values(grant_expires_at=dt.datetime(2000, 1, 1)))
        before = db.query(WebSession).count()
    platform.start_web_session(alice)  # the next sign-in
    with platform.Session() as db:
        left = db.query(WebSession).all()
    assert before == 3 and len(left) == 2  # bob's 90-day-old session and the stale grant are gone
    assert {row.surgeon_id for row in left} == {alice.id}  # (SQLite may reuse a deleted row's id)
    assert platform.session_from_cookie(live_token) is not None


def test_a_results_files_and_thumbnail_are_served_only_to_their_owner(site, platform, alice, bob, videos):
    """The exports, subtitles, overlay and thumbnail went through Streamlit's /media/, which any signed-in surgeon
    holding the URL could fetch (200); now they are owner-only routes, like the video."""
    from helpers import make_timeline

    from halsted_hf.platform import exports

    evil = 'case "7"\r\nSet-Cookie: x=1.mp4'  # a hostile upload name must not break the header
    v = alice.upload_video(videos["a"], filename=evil)
    res = alice.add_result(v.id, make_timeline(), "suturing")
    owner, _ = signed_in_browser(site, platform, alice)
    other, _ = signed_in_browser(site, platform, bob)
    nobody = site()
    rv = alice.review(res.id)
    overlay = exports.overlay_path(platform.settings, rv)
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.write_bytes(b"rendered overlay")  # as the Review page's render leaves it
    paths = {f"/api/results/{res.id}/{k}": k for k in ("csv", "json", "vtt", "overlay")}
    paths[f"/api/videos/{v.id}/thumbnail"] = "thumbnail"
    for path, kind in paths.items():
        mine = owner.get(path)
        assert mine.status_code == 200 and mine.headers["cache-control"] == "private, no-store", path
        assert other.get(path).status_code == 404 and nobody.get(path).status_code == 401, path
        if kind in ("csv", "json", "vtt"):
            assert mine.text == exports.content(rv, kind)[0]
        if kind in ("csv", "json", "overlay"):
            disposition = mine.headers["content-disposition"]
            # a pseudonymous id of the stored video, never the name it was uploaded under
            assert "\r" not in disposition and "\n" not in disposition and disposition.startswith("attachment; ")
            assert f"video-{rv.video.sha256[:12]}" in disposition and rv.video.original_filename not in disposition
    assert owner.get(f"/api/results/{res.id}/overlay").content == b"rendered overlay"
    assert owner.get(f"/api/results/{res.id}/secrets").status_code == 404
    assert owner.get("/api/results/999999/csv").status_code == 404
    overlay.unlink()
    assert "render the overlay" in owner.get(f"/api/results/{res.id}/overlay").text
