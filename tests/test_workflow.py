"""The multi-stage workflow on real (tiny) videos with a real (tiny, random) model."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from halsted_hf.core.errors import TaskError, VideoError
from halsted_hf.mapping.segment import TOUCH_EPS, Segment
from halsted_hf.mapping.timeline import Timeline
from helpers import make_video
from halsted_hf.mapping.workflow import (MappingCancelled, MappingStats, load_model, map_video, map_videos,
                                 plan_stage1, plan_stage2)
from halsted_hf.model.taxonomy import HALSTED_TAXONOMY

PLANS = HALSTED_TAXONOMY.mapping_plans()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("wf") / "case.mp4", 70, gop=20, faststart=True, preset="medium")


@pytest.fixture(scope="module")
def full_run(video, tiny_model_dir):
    calls, stats = [], MappingStats()
    tl = map_video(video, mapping="full", model=tiny_model_dir, batch_size=8,
                   progress=lambda d, t: calls.append((d, t)), stats=stats)
    return tl, calls, stats


def _spans(segments):
    return sorted((s.start_s, s.end_s) for s in segments)


def _assert_tiles(spans, start, end):
    assert spans, "no segments"
    assert abs(spans[0][0] - start) < TOUCH_EPS and abs(spans[-1][1] - end) < TOUCH_EPS
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert abs(a1 - b0) < TOUCH_EPS, f"gap or overlap between {a0}..{a1} and {b0}..{b1}"


# ---- planning (pure) ---------------------------------------------------------------------------
COARSE = [Segment(0, 60, 1, "macro-activity", {"step": "suturing"}),
          Segment(60, 90, 1, "macro-activity", {"step": "dissection"}),
          Segment(90, 100, 1, "macro-activity", {"step": "suturing"})]


@pytest.mark.parametrize("mapping,inside", [("suturing", [(0, 60), (90, 100)]), ("dissection", [(60, 90)]),
                                            ("full", [(0, 100)]), ("procedure", [])])
def test_stage2_windows_lie_only_inside_needed_segments(mapping, inside):
    windows = plan_stage2(COARSE, PLANS[mapping], window_s=2.5)
    spans = [(a, b) for a, b, _ in windows]
    covered = sum(b - a for a, b in spans)
    assert covered == pytest.approx(sum(b - a for a, b in inside))
    for a, b, step in windows:
        seg = next(s for s in COARSE if s.start_s <= a and b <= s.end_s)  # inside one segment
        assert step == seg.tags["step"] and PLANS[mapping].opens(step)
        assert b - a == pytest.approx(2.5)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 >= a1 - TOUCH_EPS  # no overlap


def test_stage2_plan_does_not_depend_on_how_stage1_merged():
    merged = plan_stage2([Segment(0, 70, 1, "macro-activity", {"step": "suturing"})], PLANS["suturing"], 4.0)
    split = plan_stage2([Segment(a, b, 1, "macro-activity", {"step": "suturing"}) for a, b in plan_stage1(70)],
                        PLANS["suturing"], 4.0)
    assert merged == split and all(b <= 30 or a >= 30 for a, b, _ in merged)  # never straddles 30 s


def test_stage1_plan_maps_short_tail():
    assert plan_stage1(70.0) == [(0, 30), (30, 60), (60, 70)]
    assert plan_stage1(3.0) == [(0, 3.0)]


@pytest.mark.parametrize("duration", [30.4, 60.001, 62.0, 61.2, 92.5])
def test_stage1_covers_a_tail_shorter_than_any_window(duration):
    """A 62-s video was mapped to 60 s. The tail is covered; the model sees it through a
    full-length window ending at the video's end, overlapping the previous one (as in training)."""
    from halsted_hf.video.windows import full_length_window

    spans = plan_stage1(duration)
    _assert_tiles(spans, 0.0, duration)
    assert len(spans) == math.ceil(duration / 30.0 - 1e-9)
    for a, b in spans:
        clip = full_length_window(a, b, 30.0)
        assert clip[1] == b and clip[1] - clip[0] == pytest.approx(30.0) and clip[0] <= a


@pytest.mark.parametrize("end", [2.6, 30.4, 33.7, 62.0])
def test_stage2_covers_the_tail_of_each_stage1_window(end):
    from halsted_hf.video.windows import full_length_window

    coarse = [Segment(a, b, 1, "macro-activity", {"step": "suturing"}) for a, b in plan_stage1(end)]
    windows = plan_stage2(coarse, PLANS["suturing"], window_s=2.5)
    _assert_tiles([(a, b) for a, b, _ in windows], 0.0, end)
    for a, b, _ in windows:
        clip = full_length_window(a, b, 2.5)
        assert clip[1] == b and clip[1] - clip[0] == pytest.approx(2.5)
    assert full_length_window(0.0, 1.0, 2.5) == (0.0, 1.0)  # never before the video's start


def test_map_reaches_the_end_of_a_video_just_over_a_window_multiple(tmp_path, tiny_model_dir):
    """A real 62-s video: stage 1 ends at 62 s, and stage 2 (in a 2-s stage-1 tail, shorter than one
    stage-2 window) too. Every clip the model saw was of full length."""
    from halsted_hf.mapping.workflow import _make_job

    video = make_video(tmp_path / "v62.mp4", 62, size="64x48", gop=20, faststart=True, preset="medium")
    tl = map_video(video, mapping="full", model=tiny_model_dir, batch_size=8)
    _assert_tiles(_spans(tl.select(stage=1)), 0.0, 62.0)
    need = plan_stage2(tl.select(stage=1), PLANS["full"])
    fine = [s for s in tl.select(stage=2) if s.task in ("proficiency", "micro-activity")]
    assert sum(s.duration_s for s in fine) == pytest.approx(sum(b - a for a, b, _ in need))
    assert need and max(b for _, b, _ in need) == pytest.approx(62.0)  # the tail needed stage 2 here
    assert max(s.end_s for s in fine) == pytest.approx(62.0)
    job = _make_job(video, PLANS["full"], 30.0, 2.5)
    lengths = [round(b - a, 6) for a, b in job.clip_windows()]
    assert set(lengths) == {30.0, 2.5} and len(lengths) == 3 + 25


# ---- a real run ----------------------------------------------------------------------------------
def test_full_map_tiles_video_and_stage2_inside_stage1(full_run, video):
    tl, _, stats = full_run
    tl.validate()
    assert tl.workflow == "full" and tl.video["duration_s"] == pytest.approx(70.0)
    stage1 = tl.select(stage=1)
    _assert_tiles(_spans(stage1), 0.0, 70.0)
    allowed = plan_stage2(stage1, PLANS["full"])
    for task in ("proficiency", "micro-activity"):
        segs = tl.select(stage=2, task=task)
        for s in segs:  # each stage-2 segment is a union of planned windows inside a needed stage-1 segment
            assert any(p0 - TOUCH_EPS <= s.start_s and s.end_s <= s1.end_s + TOUCH_EPS and s1.start_s <= p0
                       for p0, _, _ in allowed for s1 in stage1)
            assert any(abs(p0 - s.start_s) < TOUCH_EPS for p0, _, _ in allowed)
            assert any(abs(p1 - s.end_s) < TOUCH_EPS for _, p1, _ in allowed)
    # every stage-1 step was mapped by its fine task, tiling exactly that step's time
    for step, task in (("suturing", "proficiency"), ("dissection", "micro-activity")):
        spans = _spans(tl.select(stage=2, task=task))
        need = sum(b - a for a, b, st in allowed if st == step)
        assert sum(b - a for a, b in spans) == pytest.approx(need)
    for s in tl.select(stage=2, task="context"):  # context only during needle driving
        assert any(p.tags.get("phase") == "driving" and p.start_s <= s.start_s + TOUCH_EPS
                   and s.end_s <= p.end_s + TOUCH_EPS for p in tl.select(task="proficiency"))
    for s in tl.segments:
        assert all(0.0 <= v <= 1.0 for v in s.scores.values())
    assert stats.windows_stage1 == 3 and stats.windows_stage2 == 28 and stats.encoder_s > 0 and stats.decoder_s > 0


def test_json_round_trip(full_run, tmp_path):
    tl = full_run[0]
    path = tl.save(str(tmp_path / "t.json"))
    assert Timeline.load(path).to_dict() == tl.to_dict()


def test_progress_reaches_total(full_run):
    calls = full_run[1]
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] == 31
    assert all(d <= t for d, t in calls)


def test_mapping_filters_by_step(video, tiny_model_dir, full_run):
    steps = {s.tags.get("step") for s in full_run[0].select(stage=1)}
    for mapping in ("suturing", "dissection"):
        tl = map_video(video, mapping=mapping, model=tiny_model_dir)
        fine = tl.select(stage=2)
        assert bool(fine) == (mapping in steps)
        assert {s.task for s in fine} <= {"suturing": {"proficiency", "context"},
                                           "dissection": {"micro-activity"}}[mapping]
        # same stage 1 whatever the mapping (scores up to float noise: batches are cut differently)
        for x, y in zip(tl.select(stage=1), full_run[0].select(stage=1), strict=True):
            assert (x.start_s, x.end_s, x.tags) == (y.start_s, y.end_s, y.tags)
            assert x.scores == pytest.approx(y.scores, abs=1e-4)
    assert not map_video(video, mapping="procedure", model=tiny_model_dir).select(stage=2)


def test_many_videos_batch_together(video, tiny_model_dir, tmp_path, full_run):
    other = make_video(tmp_path / "b.mp4", 12, size="64x48", gop=20, faststart=True, preset="medium")
    a, b = map_videos([video, other], mapping="full", model=tiny_model_dir, batch_size=16)
    assert [(s.start_s, s.end_s, s.task, s.tags) for s in a.segments] == \
           [(s.start_s, s.end_s, s.task, s.tags) for s in full_run[0].segments]
    _assert_tiles(_spans(b.select(stage=1)), 0.0, 12.0)
    assert b.video["id"] == "b"


def test_cancel_stops_and_raises(video, tiny_model_dir):
    polls = []
    with pytest.raises(MappingCancelled, match="cancelled"):
        map_video(video, mapping="full", model=tiny_model_dir, cancel=lambda: polls.append(1) or len(polls) > 2)
    assert not [t for t in threading.enumerate() if t.name == "halsted-decode"]


def test_truncated_video_maps_what_decodes(tmp_path, tiny_model_dir):
    src = make_video(tmp_path / "whole.mp4", 40, gop=20, faststart=True, preset="medium")
    data = open(src, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="truncated"):
        tl = map_video(str(cut), mapping="suturing", model=tiny_model_dir)
    assert tl.decoded_until_s is not None and 5.0 < tl.decoded_until_s < 35.0
    assert tl.warnings and "truncated" in tl.warnings[0]
    _assert_tiles(_spans(tl.select(stage=1)), 0.0, tl.decoded_until_s)
    assert max(s.end_s for s in tl.segments) <= tl.decoded_until_s + TOUCH_EPS


def test_bad_inputs_raise_clear_errors(tmp_path, tiny_model_dir, video):
    with pytest.raises(TaskError,
                       match="Unknown mapping .stitching.: this model maps suturing, dissection, full, procedure"):
        map_video(video, mapping="stitching", model=tiny_model_dir)
    short = make_video(tmp_path / "short.mp4", 1, gop=20, faststart=True, preset="medium")
    with pytest.raises(VideoError, match="shorter than one"):
        map_video(short, model=tiny_model_dir)
    with pytest.raises(VideoError, match="no such file"):
        map_video(str(tmp_path / "missing.mp4"), model=tiny_model_dir)


def test_loaded_models_are_cached(tiny_model_dir):
    assert load_model(tiny_model_dir) is load_model(tiny_model_dir)
    engine = load_model(tiny_model_dir)
    assert load_model(engine) is engine
    assert load_model((engine.model, engine.processor)).model is engine.model


def test_overlay_draws_tags_on_every_frame(video, full_run, tmp_path):
    import av

    from halsted_hf.mapping.overlay import overlay_lines, render_overlay

    out = str(tmp_path / "overlay.mp4")
    seen = []
    render_overlay(video, full_run[0], out, progress=lambda d, t: seen.append(d))
    with av.open(video) as a, av.open(out) as b:
        fa = [f.to_ndarray(format="rgb24") for f in a.decode(video=0)]
        fb = [f.to_ndarray(format="rgb24") for f in b.decode(video=0)]
    assert len(fa) == len(fb) == seen[-1] == 700
    band = slice(fa[0].shape[0] - 12, None)  # bottom rows: the band darkens them
    assert np.mean(fb[100][band]) < np.mean(fa[100][band]) - 20
    assert np.abs(fb[100][:40].astype(int) - fa[100][:40]).mean() < 6  # the top is untouched (codec noise only)
    coarse, fine = overlay_lines(full_run[0].tags_at(10.0))
    assert full_run[0].tags_at(10.0)["step"] in coarse and fine
