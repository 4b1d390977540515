"""Shared helpers and fixtures for the platform tests (imported by tests/test_platform_*.py).

Everything is real: tiny H.264 videos made by ffmpeg, a SQLite file migrated by Alembic, argon2
hashes. The `make_timeline` helper writes Timelines by hand so the numbers tests expect can be
worked out on paper.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from halsted_hf.platform import Platform, Settings
from halsted_hf.mapping.timeline import Segment, Timeline

PASSWORD = "correct horse battery"


def ffmpeg_video(path: Path, seconds: float = 3.0, size: str = "160x120", rate: int = 10, pattern: str = "testsrc") -> Path:
    """A tiny CFR H.264 MP4 from lavfi (`pattern` testsrc / testsrc2 / a colour: different bytes)."""
    ffmpeg = shutil.which("ffmpeg") or __import__("imageio_ffmpeg").get_ffmpeg_exe()
    src = f"{pattern}=size={size}:rate={rate}" if "src" in pattern else f"color=c={pattern}:size={size}:rate={rate}"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", src, "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    """Two different tiny videos, and files that are not videos."""
    d = tmp_path_factory.mktemp("platform-videos")
    text = d / "notes.mp4"
    text.write_text("this is a text file named .mp4\n")
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "a": ffmpeg_video(d / "case-a.mp4", 3.0, pattern="testsrc"),
        "b": ffmpeg_video(d / "case-b.mp4", 2.0, pattern="testsrc2"),
        "text": text,
        "empty": empty,
    }


def cheap_argon2():
    """Still argon2id, with the smallest cost: the suite signs up and in dozens of times on 2 cores.
    (Production keeps argon2-cffi's recommended parameters.)"""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def new_platform(data_dir: Path) -> Platform:
    return Platform(Settings(data_dir=data_dir, model=str(data_dir / "no-model")))


@pytest.fixture
def platform(tmp_path, monkeypatch):
    monkeypatch.setattr("halsted_hf.platform.accounts._hasher", cheap_argon2())
    p = new_platform(tmp_path / "data")
    yield p
    p.dispose()


@pytest.fixture
def alice(platform):
    return platform.sign_up("alice@example.org", "Alice", PASSWORD)


@pytest.fixture
def bob(platform):
    return platform.sign_up("bob@example.org", "Bob", PASSWORD)


def seg(a, b, stage, task, tags, scores=None):
    return Segment(start_s=a, end_s=b, stage=stage, task=task, tags=tags,
                   scores=scores or {k: 0.9 for k in tags})


def make_timeline(duration_s=3.0, procedure="prostatectomy", proficiencies=("high", "low"), workflow="suturing") -> Timeline:
    """A hand-made suturing timeline: one stage-1 segment, then per stitch three 0.3 s phases
    (needle handling, driving, withdrawal) whose driving carries the given proficiency."""
    segments = [seg(0.0, duration_s, 1, "macro-activity",
                    {"specialty": "urology", "procedure": procedure, "step": "suturing"})]
    t = 0.0
    for prof in proficiencies:
        for phase in ("needle handling", "driving", "withdrawal"):
            tags = {"phase": phase, "proficiency": prof} if phase == "driving" else {"phase": phase}
            segments.append(seg(t, t + 0.3, 2, "proficiency", tags))
            t += 0.3
    return Timeline(video={"id": "v", "duration_s": duration_s, "fps": 10.0}, model={"name": "hand", "revision": "0"},
                    workflow=workflow, segments=segments)


class TimelineBackend:
    """An inference backend that returns a fixed Timeline after reporting `steps` of progress:
    it exercises the worker's contract (progress, cancel, failure) without a model."""

    name = "fixed"

    def __init__(self, timeline=None, steps=3, fail=None, on_step=None):
        self.timeline = timeline or make_timeline()
        self.steps, self.fail, self.on_step = steps, fail, on_step
        self.calls = []

    def map_video(self, path, mapping, progress, cancel):
        from halsted_hf.platform.errors import JobCancelled

        self.calls.append((path, mapping))
        for i in range(self.steps):
            if self.on_step:
                self.on_step(i)
            if cancel():
                raise JobCancelled("cancelled")
            progress(i + 1, self.steps)
        if self.fail is not None:
            raise self.fail
        return self.timeline


def hard_to_play_videos(d: Path) -> dict:
    """Real uploads Chromium does not play as they are (issue 13): a Cinepak AVI, and H.264 High with an
    MP3 track in MP4; made by ffmpeg, with a tone so the audio track is real."""
    ffmpeg = shutil.which("ffmpeg") or __import__("imageio_ffmpeg").get_ffmpeg_exe()
    d.mkdir(parents=True, exist_ok=True)
    common = [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
              "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "3"]
    cinepak, mp3 = d / "tree.avi", d / "high-mp3.mp4"
    subprocess.run(common + ["-c:v", "cinepak", "-an", str(cinepak)], check=True)
    subprocess.run(common + ["-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame",
                             "-shortest", str(mp3)], check=True)
    return {"cinepak": cinepak, "mp3": mp3}
