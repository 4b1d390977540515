"""Uploads: content-addressed, validated before any row, deduplicated per surgeon, deleted cleanly."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from halsted_hf.core.errors import VideoError
from halsted_hf.platform import NotFoundError
from halsted_hf.platform import jobs
from halsted_hf.platform.tables import Job, Result, Video

from helpers import make_timeline


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def count(platform, model):
    with platform.Session() as db:
        return db.scalar(select(func.count()).select_from(model))


def test_upload_stores_by_content_hash_with_metadata_and_thumbnail(platform, alice, videos):
    v = alice.upload_video(videos["a"])
    sha = hashlib.sha256(videos["a"].read_bytes()).hexdigest()
    assert v.sha256 == sha
    assert v.path == platform.settings.data_dir / "videos" / sha[:2] / f"{sha}.mp4"
    assert v.path.read_bytes() == videos["a"].read_bytes()
    assert v.original_filename == "case-a.mp4" and v.size_bytes == videos["a"].stat().st_size
    assert v.duration_s == pytest.approx(3.0, abs=0.15) and v.fps == pytest.approx(10.0)
    assert (v.width, v.height) == (160, 120)
    with Image.open(v.thumbnail) as im:  # a real PNG, never upscaled past the video's width
        assert im.format == "PNG" and im.size == (160, 120)
    assert files_under(platform.settings.tmp_dir) == []


def test_upload_from_a_file_object_streams_it(platform, alice, videos):
    data = videos["b"].read_bytes()
    stream = io.BufferedReader(io.BytesIO(data), buffer_size=4096)
    stream.read(100)  # a page may have peeked at it: upload starts from the beginning anyway
    v = alice.upload_video(stream, filename="../../etc/Case B.MOV")
    assert v.original_filename == "Case B.MOV"  # folders never survive into names
    assert v.path.suffix == ".mov" and v.path.read_bytes() == data


@pytest.mark.parametrize("kind", ["text", "empty"])
def test_non_video_upload_leaves_no_file_and_no_row(platform, alice, videos, kind):
    with pytest.raises(VideoError) as info:
        alice.upload_video(videos[kind])
    message = str(info.value)
    assert videos[kind].name in message and "tmp" not in message  # names the user's file, not ours
    assert count(platform, Video) == 0
    data_files = [f for f in files_under(platform.settings.data_dir) if not f.startswith("halsted.db")]
    assert data_files == []


def test_missing_path_is_a_clear_error(platform, alice, tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        alice.upload_video(tmp_path / "nope.mp4")
    assert count(platform, Video) == 0


def test_same_bytes_twice_by_one_surgeon_is_one_video(platform, alice, videos):
    first = alice.upload_video(videos["a"])
    again = alice.upload_video(io.BytesIO(videos["a"].read_bytes()), filename="renamed.mp4")
    assert again.id == first.id and again.original_filename == "case-a.mp4"
    assert count(platform, Video) == 1
    assert len(files_under(platform.settings.videos_dir)) == 1


def test_two_surgeons_same_bytes_get_own_rows_sharing_one_file(platform, alice, bob, videos):
    va, vb = alice.upload_video(videos["a"]), bob.upload_video(videos["a"])
    assert va.id != vb.id and va.path == vb.path
    assert [v.id for v in alice.list_videos()] == [va.id]
    assert [v.id for v in bob.list_videos()] == [vb.id]
    alice.delete_video(va.id)
    assert vb.path.is_file() and vb.thumbnail.is_file()  # bob's row still references the content
    assert bob.get_video(vb.id).path.read_bytes() == videos["a"].read_bytes()
    bob.delete_video(vb.id)
    assert not vb.path.exists() and not vb.thumbnail.exists()


def test_delete_removes_file_thumbnail_jobs_and_results(platform, alice, videos):
    keep = alice.upload_video(videos["b"])
    v = alice.upload_video(videos["a"])
    job = alice.enqueue_job(v.id, "suturing")
    claimed = jobs.claim_next(platform.Session, "w1")
    assert claimed.id == job.id
    result_id = jobs.complete(platform.Session, job.id, "w1", make_timeline().to_json(), "prostatectomy")
    assert alice.get_result(result_id).video_id == v.id
    alice.enqueue_job(v.id, "dissection")

    alice.delete_video(v.id)
    assert not v.path.exists() and not v.thumbnail.exists()
    with pytest.raises(NotFoundError):
        alice.get_video(v.id)
    with pytest.raises(NotFoundError):
        alice.get_result(result_id)
    with platform.Session() as db:
        assert db.scalar(select(func.count()).select_from(Job).where(Job.video_id == v.id)) == 0
        assert db.scalar(select(func.count()).select_from(Result).where(Result.video_id == v.id)) == 0
    # the other video is untouched
    assert alice.get_video(keep.id).path.is_file()
    assert files_under(platform.settings.videos_dir) == [
        keep.path.relative_to(platform.settings.videos_dir).as_posix()]
    with pytest.raises(NotFoundError):
        alice.delete_video(v.id)  # twice: a clear "not found", not a crash


def test_upload_limit_is_checked_while_streaming(platform, alice, videos):
    platform.settings.max_upload_bytes = 1000
    with pytest.raises(VideoError, match="upload limit"):
        alice.upload_video(videos["a"])
    assert count(platform, Video) == 0 and files_under(platform.settings.tmp_dir) == []
