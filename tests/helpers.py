"""Plain helpers shared by the tests (fixtures live in conftest.py; no test module imports another).

Everything is real: videos are made by the project's ffmpeg, timelines are written by hand so the numbers the
tests expect can be worked out on paper, the CLI runs in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from halsted_hf.core.io import ffmpeg_exe
from halsted_hf.mapping.segment import Segment
from halsted_hf.mapping.timeline import Timeline

PASSWORD = "correct horse battery"


def make_video(path, seconds: float = 3.0, *, size: str = "160x120", rate: float = 10, pattern: str = "testsrc2",
               codec: str = "libx264", preset: str = "ultrafast", gop: int | None = None, faststart: bool = False,
               tint: str | None = None) -> Path:
    """The one video maker: `seconds` of a lavfi source encoded by ffmpeg. `pattern` is testsrc / testsrc2 (moving
    test cards: different bytes) or a colour name (a flat frame); `tint` blends a colour over the test card so
    videos of one pattern still differ in what they show; `codec` mpeg4 gives an MP4 without H.264; `gop` sets the
    keyframe interval in frames;
    `preset` "medium" gives B-frames (what cameras and phones write), "ultrafast" none (quick to make)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    source = f"{pattern}=size={size}:rate={rate}" if "src" in pattern else f"color=c={pattern}:size={size}:rate={rate}"
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source]
    if tint:
        cmd += ["-f", "lavfi", "-i", f"color=c={tint}:size={size}:rate={rate}",
                "-filter_complex", "[1][0]blend=all_mode=average"]
    cmd += ["-t", str(seconds), "-c:v", codec]
    cmd += ["-q:v", "10"] if codec == "mpeg4" else ["-pix_fmt", "yuv420p"]
    if codec == "libx264":
        cmd += ["-preset", preset]
    if gop:
        cmd += ["-g", str(gop)]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    subprocess.run(cmd + [str(path)], check=True)
    return Path(path)


def hard_to_play_videos(d: Path) -> dict:
    """Real uploads Chromium does not play as they are: a Cinepak AVI, and H.264 High with an
    MP3 track in MP4; made by ffmpeg, with a tone so the audio track is real."""
    ffmpeg = ffmpeg_exe()
    d.mkdir(parents=True, exist_ok=True)
    common = [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
              "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "3"]
    cinepak, mp3 = d / "tree.avi", d / "high-mp3.mp4"
    subprocess.run(common + ["-c:v", "cinepak", "-an", str(cinepak)], check=True)
    subprocess.run(common + ["-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame",
                             "-shortest", str(mp3)], check=True)
    return {"cinepak": cinepak, "mp3": mp3}


def cheap_argon2():
    """Still argon2id, with the smallest cost: the suite signs up and in dozens of times on 2 cores.
    (Production keeps argon2-cffi's recommended parameters.)"""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def new_platform(data_dir: Path):
    from halsted_hf.platform import Platform, Settings

    # uploads stored as they are, so tests can compare bytes; de-identification on upload: test_platform_deid.py
    return Platform(Settings(data_dir=data_dir, model=str(data_dir / "no-model"), deidentify=False))


def seg(a, b, stage, task, tags, scores=None):
    return Segment(start_s=a, end_s=b, stage=stage, task=task, tags=tags,
                   scores=scores or {k: 0.9 for k in tags})


def make_timeline(duration_s=3.0, procedure="prostatectomy", proficiencies=("high", "low"),
                  workflow="suturing") -> Timeline:
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


def two_steps_timeline() -> Timeline:
    """Dissection then suturing (two adjacent macro-activity segments, mergeable: the harm a stray merge does),
    and four adjacent suturing phases."""
    macro = [seg(0.0, 1.5, 1, "macro-activity", {"step": "dissection"}),
             seg(1.5, 3.0, 1, "macro-activity", {"step": "suturing"})]
    phases = [seg(1.5 + 0.3 * k, 1.8 + 0.3 * k, 2, "proficiency", {"phase": p})
              for k, p in enumerate(("needle handling", "driving", "withdrawal", "driving"))]
    return Timeline(video={"id": "v", "duration_s": 3.0, "fps": 10.0}, model={"name": "hand", "revision": "0"},
                    workflow="full", segments=macro + phases)


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


def start_cli(*args):
    """`halsted ARGS` in a child process (offline, quiet about FutureWarnings); finish it with `finish_cli`."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore::FutureWarning")
    return subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish_cli(proc):
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(*args):
    return finish_cli(start_cli(*args))


def claim_all_jobs(url, start, out):
    """Child process: claim jobs until the queue is empty; report the ids (several of these race in the tests)."""
    from halsted_hf.platform import jobs
    from halsted_hf.platform.db import make_engine, session_factory

    engine = make_engine(url)
    Session = session_factory(engine)
    worker = jobs.make_worker_id()
    start.wait()
    mine = []
    while (job := jobs.claim_next(Session, worker)) is not None:
        mine.append(job.id)
    out.put(mine)
    engine.dispose()


def descendants(pid: int) -> set:
    """Every live process below `pid` (children, grandchildren, ...), read from /proc: the package's own
    walk, which map-archive's watchdog uses."""
    from halsted_hf.archive.reaper import descendants as walk

    return walk(pid)


def alive(pids) -> set:
    """The pids that still run (zombies, which hold no memory, excluded)."""
    out = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.add(p)
        except OSError:
            pass
    return out


def migrate_down_to(engine, revision: str) -> None:
    """Alembic `downgrade` on the engine's database (platform/db.py only ever upgrades)."""
    from alembic import command

    from halsted_hf.platform.db import alembic_config

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def corrections_round_trip(platform, videos) -> None:
    """Migration 0003 on any back end: a correction is stored, refused input stores nothing, a deleted
    video takes its corrections along, and 0003 downgrades to 0002 and upgrades again."""
    import pytest
    from sqlalchemy import func, inspect, select

    from halsted_hf.platform.corrections import CorrectionError
    from halsted_hf.platform.db import current_revision, upgrade
    from halsted_hf.platform.tables import Correction

    def count():
        with platform.Session() as db:
            return db.scalar(select(func.count()).select_from(Correction))

    alice = platform.sign_up("alice@example.org", "Alice", PASSWORD)
    res = alice.add_result(alice.upload_video(videos["a"]).id, make_timeline(), "suturing")
    alice.set_category(res.id, 5, "proficiency", "high")
    with pytest.raises(CorrectionError):
        alice.set_category(res.id, 5, "proficiency", "superb")
    assert count() == 1 and alice.summary().high_share == 1.0
    alice.delete_video(res.video_id)
    assert count() == 0
    migrate_down_to(platform.engine, "0002")
    assert current_revision(platform.engine) == "0002"
    assert "corrections" not in inspect(platform.engine).get_table_names()
    upgrade(platform.engine)
    assert current_revision(platform.engine) == "0003" and "corrections" in inspect(platform.engine).get_table_names()


COLOURS = {"v0": (200, 60, 60), "v1": (60, 200, 60), "v2": (60, 60, 200)}
PROCEDURE = {"v0": ("urology", "prostatectomy"), "v1": ("cardiac", "atrial closure"),
             "v2": ("gynecology", "hysterectomy")}


def make_tiny_atlas(root: str, seconds: int = 6, fps: int = 8) -> str:
    """Three 64x48 videos, one colour each, with a moving bright square; 1-2 s clips of two tasks.
    The procedure is told by the colour, the proficiency by the square's motion (fast = high)."""
    import numpy as np

    from halsted_hf.data.atlas import make_row, to_frame, write_atlas
    from halsted_hf.video.writer import write_video

    rows = []
    for vid, colour in COLOURS.items():
        frames = []
        for i in range(seconds * fps):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:] = colour
            x = (i * (6 if i // fps % 2 else 1)) % 56
            img[20:28, x:x + 8] = 255
            frames.append(img)
        path = os.path.join(root, f"{vid}.mp4")
        write_video(path, frames, fps)
        spec, proc = PROCEDURE[vid]
        for s in range(seconds):
            rows.append(make_row(vid, f"{vid}.mp4", s, s + 1, "macro-activity", "map procedure type",
                                 {"specialty": spec, "procedure": proc, "step": "suturing"}, spec, proc))
            rows.append(make_row(vid, f"{vid}.mp4", s, s + 1, "proficiency", "map suturing activity",
                                 {"phase": "driving", "proficiency": "high" if s % 2 else "low"}, spec, proc))
    return write_atlas(to_frame(rows), os.path.join(root, "atlas.parquet"))


# A model folder's reliability.json (halsted_hf/mapping/reliability.py) in the shape the card's evaluation writes
# (difference = accuracy - majority rate, with its 95% CI): proficiency, extent, procedure and instrument are not
# above their majority rate, phase is.
RELIABILITY_RECORD = {
    "unit": "video", "videos": 12, "command": "halsted evaluate --model M --atlas A",
    "tags": {
        "phase": {"reliable": True, "accuracy": 0.957, "majority": 0.61, "difference": [0.347, 0.30, 0.39],
                  "reason": "above its majority rate: +34.7 points (30.0 to 39.0) on 12 held-out videos"},
        "proficiency": {"reliable": False, "accuracy": 0.63, "majority": 0.601, "difference": [0.029, -0.031, 0.088],
                        "reason": "not above its majority rate on 12 held-out videos: +2.9 points (-3.1 to 8.8)"},
        "extent": {"reliable": False, "accuracy": 0.407, "majority": 0.519, "difference": [-0.111, -0.203, -0.02],
                   "reason": "not above its majority rate on 12 held-out videos: -11.1 points (-20.3 to -2.0)"},
        "procedure": {"reliable": False, "accuracy": 0.2, "majority": 0.25, "difference": [-0.05, -0.2, 0.1],
                      "reason": "not above its majority rate on 12 held-out videos: -5.0 points (-20.0 to 10.0)"},
        "instrument": {"reliable": False, "accuracy": 0.3, "majority": 0.3, "difference": [0.0, -0.1, 0.1],
                       "reason": "not above its majority rate on 12 held-out videos: +0.0 points (-10.0 to 10.0)"},
    },
}


# A finder first on sys.meta_path that refuses halsted_hf: the package is installed (editable) in this venv, so
# taking it off PYTHONPATH alone would not hide it.
_BLOCK_HALSTED = """
import importlib.abc, sys

class NoHalsted(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "halsted_hf" or name.startswith("halsted_hf."):
            raise ImportError(f"{name} is blocked: this process stands for a machine without halsted_hf")
        return None

sys.meta_path.insert(0, NoHalsted())
"""


def run_without_halsted(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """`code` (dedented) in a fresh interpreter where importing halsted_hf fails, as on a machine with only
    transformers, torch, av and numpy; remote code is cached under `cwd`."""
    import textwrap

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(Path(cwd) / "hf-modules"), TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, "-c", _BLOCK_HALSTED + textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=str(cwd), env=env, timeout=600)
