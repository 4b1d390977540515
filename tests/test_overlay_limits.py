"""`halsted overlay` at its limits: a timeline of a million segments, SIGINT/SIGTERM from a script, and a
video too small for the band's text."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from halsted_hf.mapping.overlay import BAND_ALPHA, MIN_FONT_PX, _Band, overlay_parts, render_overlay
from halsted_hf.mapping.tag_lookup import TagLookup
from halsted_hf.mapping.segment import Segment
from halsted_hf.mapping.timeline import Timeline
from helpers import make_timeline, make_video

PHASES = ("needle handling", "driving", "withdrawal")


def test_the_lookup_answers_exactly_what_tags_at_answers():
    """Overlapping segments of both stages, touching ones, empty ones: every boundary and 3,000 random times."""
    rng = random.Random(0)
    segments = []
    for i in range(300):
        a = round(rng.uniform(0, 20), 1)
        b = round(a + rng.choice([0.0, 0.5, 1.0, 3.0]), 1)
        segments.append(Segment(a, b, rng.choice([1, 2]), rng.choice(["macro-activity", "proficiency"]),
                                {rng.choice(["phase", "step", "procedure"]): str(i)}, {}))
    timeline = Timeline(video={"id": "v", "duration_s": 25.0}, model={}, workflow="full", segments=segments)
    lookup = TagLookup(segments)
    times = [round(rng.uniform(-1, 26), 1) for _ in range(3000)] + [t for s in segments for t in (s.start_s, s.end_s)]
    assert [lookup.at(t) for t in times] == [timeline.tags_at(t) for t in times]


def test_an_overlay_of_a_million_segments_takes_seconds(tmp_path):
    """Each frame used to sort and scan every segment (0.35 s a frame here): 100 frames took a minute."""
    video = make_video(tmp_path / "v.mp4", 10, size="64x48", rate=10)
    n = 1_000_000
    segments = [Segment(i * 1e-5, (i + 1) * 1e-5, 2, "proficiency", {"phase": PHASES[i % 3]}, {"phase": 0.9})
                for i in range(n)]
    segments.append(Segment(0.0, 10.0, 1, "macro-activity", {"step": "suturing"}, {"step": 0.9}))
    segments.append(Segment(1.0, 10.0, 2, "proficiency", {"phase": "driving"}, {"phase": 0.9}))
    timeline = Timeline(video={"id": "v", "duration_s": 10.0}, model={}, workflow="suturing", segments=segments)
    t0 = time.monotonic()
    render_overlay(str(video), timeline, str(tmp_path / "o.mp4"), force=True)
    took = time.monotonic() - t0
    assert os.path.getsize(tmp_path / "o.mp4") > 0
    assert took < 25, f"{took:.1f} s for 100 frames"


@pytest.mark.parametrize("signum, ignore_sigint", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_a_signal_stops_the_overlay_and_removes_its_temp_video(tmp_path_factory, tmp_path, signum, ignore_sigint):
    src = tmp_path_factory.getbasetemp() / "overlay-long"
    video = src / "long.mp4"
    if not video.exists():
        make_video(video, 60, size="320x240", rate=25)
    timeline = tmp_path / "long.timeline.json"
    timeline.write_text(make_timeline(duration_s=60.0).to_json())
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONWARNINGS="ignore")

    def start():  # a script's child, or a background job: SIGINT arrives ignored
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "overlay", str(video), str(timeline),
                             str(out / "o.mp4"), "--force", "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=start)
    deadline = time.monotonic() + 60
    while not any(n.startswith(".tmp-") for n in os.listdir(out)):  # it is writing frames
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, (proc.returncode, err)
    assert err.strip().splitlines() == [f"halsted overlay: stopped by {name}; nothing was written"]
    assert os.listdir(out) == []


def _ink_columns(band: _Band, tags) -> np.ndarray:
    _, keep = band.get(tags)
    return np.nonzero((keep[..., 0] < 1.0 - BAND_ALPHA - 0.05).any(axis=0))[0]


def test_the_overlay_text_is_sized_to_a_small_frame():
    tags = {"procedure": "laparoscopic cholecystectomy", "step": "suturing", "phase": "needle handling",
            "proficiency": "high"}
    small, large = _Band(160, 120), _Band(1280, 720)
    ink = _ink_columns(small, tags)
    assert ink.max() < small.width - 1, "the text runs off the right edge"
    assert MIN_FONT_PX <= small.fit([[("", "x")]]) and small.fit([[("", "laparoscopic cholecystectomy")] * 2]) < 10
    assert small.fit(overlay_parts(tags)) < small.font_px  # drawn smaller than the band's size...
    assert large.fit(overlay_parts(tags)) == large.font_px  # ...where a frame is wide enough, at full size
    assert _ink_columns(large, tags).max() < large.width - 1
