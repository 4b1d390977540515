"""Uploads through dashboard.py's routes (platform/uploads.py, web.py) on a real Starlette app and SQLite: refused
from their first megabyte (not a video, over the limit, no room on the disk) before the rest is sent, streamed to
disk otherwise, and stored like any upload; each outcome is one line for the Library page."""

from __future__ import annotations

import shutil

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from halsted_hf.core.errors import VideoError
from halsted_hf.platform import uploads, web
from halsted_hf.platform.tables import Video

from helpers import make_video


@pytest.fixture
def browser_of(platform, monkeypatch):
    """A signed-in browser of `who` on web.py's routes (reading the same data dir as `platform`)."""
    monkeypatch.setenv("HALSTED_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.delenv("HALSTED_DATABASE_URL", raising=False)
    monkeypatch.setenv("HALSTED_DEIDENTIFY", "0")  # stored as uploaded, so the bytes can be compared
    monkeypatch.setattr(uploads, "notices", uploads.Notices())  # a new database reuses surgeon ids
    app = Starlette(routes=web.routes)

    def browser(who):
        client = TestClient(app, base_url="http://127.0.0.1:8501")
        _, grant = platform.start_web_session(who)
        assert client.post("/api/session", content=grant).status_code == 204
        return client
    return browser


def stored_files(platform):
    """Files an upload could leave: stored videos, thumbnails, temp files (not the database's own)."""
    return sorted(p.name for p in platform.settings.data_dir.rglob("*") if p.is_file() and "halsted.db" not in p.name)


def test_a_video_streams_to_disk_and_is_stored(platform, alice, browser_of, tmp_path):
    clip = make_video(tmp_path / "case 7.mp4", 3.0)
    client = browser_of(alice)
    data = clip.read_bytes()
    q = {"name": "case 7.mp4", "size": len(data)}
    assert client.post("/api/uploads/check", params=q, content=data[:uploads.HEAD_BYTES]).text == "ok"
    r = client.post("/api/uploads", params=q, content=data)
    assert r.status_code == 200 and r.text.startswith("Stored case 7.mp4 (3 s, ")
    [video] = alice.list_videos()
    assert video.original_filename == "case 7.mp4" and video.path.read_bytes() == data
    assert list(platform.settings.tmp_dir.iterdir()) == []  # the streamed temp file is gone
    assert uploads.notices.take(alice.id) == [("success", r.text)] and uploads.notices.take(alice.id) == []
    again = client.post("/api/uploads", params=dict(q, name="copy.mp4"), content=data)
    assert again.text == "copy.mp4 is already in your library as case 7.mp4."


def test_a_non_video_is_refused_from_its_first_megabyte(platform, alice, browser_of):
    client = browser_of(alice)
    text = b"meeting notes, not a video\n" * 100_000  # 2.7 MB named .mp4
    q = {"name": "notes.mp4", "size": len(text)}
    r = client.post("/api/uploads/check", params=q, content=text[:uploads.HEAD_BYTES])
    assert r.status_code == 422
    assert r.text == ("Refused: notes.mp4 is not a video: its first bytes are no video format FFmpeg reads. Upload "
                      "the video file itself (MP4, MOV, MKV, WebM, AVI...); nothing was stored.")
    # a client that skips the check is refused by the upload itself, with nothing left behind
    assert client.post("/api/uploads", params=q, content=text).status_code == 422
    assert stored_files(platform) == [] and alice.list_videos() == []
    assert [kind for kind, _ in uploads.notices.take(alice.id)] == ["error", "error"]


def test_too_large_or_too_big_for_the_disk_is_refused_before_any_byte(platform, alice, browser_of, tmp_path):
    client = browser_of(alice)
    head = make_video(tmp_path / "long.mp4", 3.0).read_bytes()[:uploads.HEAD_BYTES]
    limit = platform.settings.max_upload_bytes
    r = client.post("/api/uploads/check", params={"name": "long.mp4", "size": limit + 1}, content=head)
    assert r.status_code == 422 and "larger than the 10,000 MB upload limit" in r.text
    platform.settings.max_upload_bytes = 2**62  # as web.py reads it: the same environment, a new Platform
    free = shutil.disk_usage(platform.settings.data_dir).free
    with pytest.raises(VideoError, match="Not enough free disk space for long.mp4: it needs"):
        uploads.check(platform.settings, "long.mp4", free, head)
    assert stored_files(platform) == []


def test_a_refusal_names_the_file_once(platform):
    err = VideoError("notes.mp4: no frame could be decoded")
    assert uploads.outcome("notes.mp4", error=err) == ("error", "Refused: notes.mp4: no frame could be decoded")
    assert uploads.outcome("a.mp4", error=VideoError("the file is empty")) == (
        "error", "Refused a.mp4: the file is empty")


def test_uploads_need_a_session_and_the_dashboards_own_page(platform, alice, browser_of):
    nobody = TestClient(Starlette(routes=web.routes), base_url="http://127.0.0.1:8501")
    assert nobody.post("/api/uploads/check", params={"name": "a.mp4"}, content=b"x").status_code == 401
    client = browser_of(alice)
    cross = client.post("/api/uploads", params={"name": "a.mp4"}, content=b"x", headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and platform.Session().query(Video).count() == 0
