"""De-identification on upload: only the de-identified copy reaches the data folder (searched for the original's
bytes and hash), its report travels with the video record, mapping results skip the removed stretches, a failed
de-identification stores nothing, and the deployment switch turns it off."""

from __future__ import annotations

import hashlib

import pytest

import deid_video as case


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return case.make_case(tmp_path_factory.mktemp("deid-upload"))


def deid_platform(data_dir, monkeypatch, **settings):
    from helpers import cheap_argon2

    from halsted_hf.platform import Platform, Settings

    monkeypatch.setattr("halsted_hf.platform.accounts._hasher", cheap_argon2())
    return Platform(Settings(data_dir=data_dir, model=str(data_dir / "no-model"), **settings))


def test_only_the_deidentified_copy_is_stored(original, tmp_path, monkeypatch, oob_classifier):
    from helpers import PASSWORD

    platform = deid_platform(tmp_path / "data", monkeypatch, out_of_body=oob_classifier)
    try:
        me = platform.sign_up("deid@example.org", "Dr. Deid", PASSWORD)
        with open(original, "rb") as f:  # as Streamlit hands it over: a file object
            video = me.upload_video(f, "Roe_Jane_2024-01-02.mp4")
        data = original.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        probe = data[len(data) // 2: len(data) // 2 + 4096]  # a stretch of the original's coded frames
        files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
        assert video.path in files and video.path.suffix == ".mp4"
        for path in files:
            content = path.read_bytes()
            assert hashlib.sha256(content).hexdigest() != sha, f"{path} is the original"
            assert probe not in content and sha.encode() not in content, f"{path} holds the original's bytes or hash"
            for secret in case.SECRETS.values():
                assert secret.encode() not in content, f"{path} holds {secret!r}"
        assert video.sha256 == hashlib.sha256(video.path.read_bytes()).hexdigest() != sha
        assert video.original_filename == "Roe_Jane_2024-01-02.mp4"  # shown to its surgeon only
        report = me.get_video(video.id).deidentification
        lo, hi = case.OUT_OF_BODY
        assert any(s <= lo + 0.25 and e >= hi - 0.25 for s, e in report.removed_stretches), report.removed_stretches
        assert report.audio_removed and report.seconds_with_faces >= 1
        assert list((tmp_path / "data" / "tmp").iterdir()) == []  # nothing of the upload left in tmp/
        me.delete_video(video.id)
        assert not list((tmp_path / "data" / "deid").rglob("*.json"))  # the report goes with the file
    finally:
        platform.dispose()


def test_mapping_skips_removed_stretches():
    from helpers import seg

    from halsted_hf.deid.timeline_mask import without_stretches
    from halsted_hf.mapping.timeline import Timeline

    tl = Timeline(video={"id": "x", "duration_s": 10.0}, model={}, workflow="procedure",
                  segments=[seg(0.0, 10.0, 1, "macro-activity", {"step": "suturing"}),
                            seg(2.9, 3.1, 2, "proficiency", {"phase": "driving"})])
    out = without_stretches(tl, [(3.0, 5.0)])
    assert [(s.start_s, s.end_s) for s in out.segments] == [(0.0, 3.0), (5.0, 10.0)]  # the 0.1-s slivers go
    assert out.to_dict()["removed_stretches"] == [[3.0, 5.0]] and "0:03-0:05" in out.warnings[-1]
    assert Timeline.from_json(out.to_json()).to_dict()["removed_stretches"] == [[3.0, 5.0]]


def test_a_failed_deidentification_stores_nothing(original, tmp_path, monkeypatch):
    monkeypatch.delenv("HALSTED_OUT_OF_BODY", raising=False)
    from helpers import PASSWORD

    from halsted_hf.core.errors import VideoError

    platform = deid_platform(tmp_path / "data", monkeypatch, out_of_body=str(tmp_path / "no-classifier"))
    try:
        me = platform.sign_up("deid2@example.org", "Dr. Deid", PASSWORD)
        with pytest.raises(VideoError,
                           match="de-identification failed, nothing was stored.*no out-of-body classifier"):
            me.upload_video(str(original), "case.mp4")
        assert me.list_videos() == []
        assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and not p.name.startswith("halsted.db")]
    finally:
        platform.dispose()


def test_switched_off_the_upload_is_stored_as_it_is(original, tmp_path, monkeypatch):
    from helpers import PASSWORD

    from halsted_hf.platform import Settings

    monkeypatch.setenv("HALSTED_DEIDENTIFY", "0")
    assert Settings.from_env().deidentify is False
    monkeypatch.setenv("HALSTED_DEIDENTIFY", "1")
    assert Settings.from_env().deidentify is True
    platform = deid_platform(tmp_path / "data", monkeypatch, deidentify=False)
    try:
        video = platform.sign_up("plain@example.org", "Dr. Plain", PASSWORD).upload_video(str(original), "case.mp4")
        assert video.path.read_bytes() == original.read_bytes() and video.deidentification is None
    finally:
        platform.dispose()
