"""Synthetic surgery: the video writer, the (cheap) plans, and a tiny end-to-end rendered atlas."""

from __future__ import annotations

import json
import os
from collections import Counter

import av
import numpy as np
import pytest

from halsted_hf.cli import main
from halsted_hf.data.atlas import ATLAS_COLUMNS, read_atlas, tags_of
from halsted_hf.data.synthetic import VideoRenderer, missing_categories, plan_atlas, render_atlas
from halsted_hf.model.taxonomy import HALSTED_TAXONOMY, SPECIALTY_OF_PROCEDURE
from halsted_hf.video.writer import VideoWriter


def decode(path):
    """(number of frames, duration in seconds, stream) of a video, decoding every frame."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        return n, float(stream.duration * stream.time_base), stream.codec_context.name, stream.codec_context.pix_fmt


# ---- writer ---------------------------------------------------------------------------------------
def test_writer_encodes_h264_with_exact_frames(tmp_path):
    path = str(tmp_path / "out" / "a.mp4")
    with VideoWriter(path, fps=8, size=(64, 48)) as w:
        for i in range(20):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, (i * 3) % 64:(i * 3) % 64 + 8] = (200, 50, 50)
            w.write(frame)
    n, duration, codec, pix = decode(path)
    assert (n, codec, pix) == (20, "h264", "yuv420p")
    assert duration == pytest.approx(2.5, abs=0.01)
    assert os.listdir(tmp_path / "out") == ["a.mp4"]  # no temp file left behind


def test_writer_leaves_nothing_on_error_and_rejects_bad_input(tmp_path):
    path = str(tmp_path / "b.mp4")
    with pytest.raises(ValueError, match="even"):
        VideoWriter(path, fps=8, size=(63, 48))
    with pytest.raises(RuntimeError):
        with VideoWriter(path, fps=8, size=(64, 48)) as w:
            w.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("interrupted")
    with pytest.raises(ValueError, match="shape"):
        with VideoWriter(path, fps=8, size=(64, 48)) as w:
            w.write(np.zeros((48, 64, 4), np.uint8))
    assert os.listdir(tmp_path) == []


# ---- plans (no pixels) ----------------------------------------------------------------------------
def plan_json(scripts):
    return json.dumps([[s.to_timeline(), s.atlas_rows(f"videos/{s.video_id}.mp4")] for s in scripts])


def test_plan_is_deterministic_and_seed_dependent():
    assert plan_json(plan_atlas(4, 2, seed=3)) == plan_json(plan_atlas(4, 2, seed=3))
    assert plan_json(plan_atlas(4, 2, seed=3)) != plan_json(plan_atlas(4, 2, seed=4))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_twelve_videos_cover_every_category_with_imbalance(seed):
    scripts = plan_atlas(12, 3, seed=seed)
    assert missing_categories(scripts) == {}
    rows = [r for s in scripts for r in s.atlas_rows("v.mp4")]
    per_task = Counter(r["task"] for r in rows)
    assert per_task["micro-activity"] > per_task["proficiency"] > per_task["context"] > 0
    procs = Counter(r["procedure"] for r in rows)
    assert procs.most_common(1)[0][0] == "prostatectomy"
    actions = Counter(tags_of(r)["action"] for r in rows if r["task"] == "micro-activity")
    assert actions["retraction"] > 3 * actions["fluorescence"]


def test_plan_rows_are_valid_clips_of_their_task():
    scripts = plan_atlas(6, 2, seed=2)
    for s in scripts:
        for r in s.atlas_rows("v.mp4"):
            assert 1.0 <= r["end_s"] - r["start_s"] <= 20.0, r
            assert 0 <= r["start_s"] < r["end_s"] <= s.duration_s
            assert SPECIALTY_OF_PROCEDURE[r["procedure"]] == r["specialty"]
            task = HALSTED_TAXONOMY.task(r["task"])
            assert r["instruction"] == task.instruction
            task.format_target(tags_of(r))  # raises on a tag or category the task does not have
        drivings = {(st.driving.start, st.driving.end) for st in s.stitches}
        context = {(iv.start, iv.end) for iv in s.fine_intervals() if iv.task == "context"}
        assert context == drivings


def test_timeline_ground_truth_shape():
    script = plan_atlas(2, 2, seed=5)[1]
    tl = script.to_timeline()
    assert set(tl) >= {"video", "model", "workflow", "segments"}
    assert tl["video"]["id"] == script.video_id and tl["video"]["duration_s"] == 120.0
    stage1 = [s for s in tl["segments"] if s["stage"] == 1]
    assert stage1[0]["start_s"] == 0.0 and stage1[-1]["end_s"] == 120.0
    assert all(a["end_s"] == b["start_s"] for a, b in zip(stage1, stage1[1:]))  # steps tile the video
    assert {s["step"] for s in (x["tags"] for x in stage1)} <= {"dissection", "suturing"}
    for seg in tl["segments"]:
        assert set(seg) == {"start_s", "end_s", "stage", "task", "tags", "scores"}
        assert set(seg["scores"]) == set(seg["tags"])
        if seg["stage"] == 2:  # fine segments sit inside a step of the matching kind
            step = next(s for s in stage1 if s["start_s"] <= seg["start_s"] < s["end_s"])
            want = "dissection" if seg["task"] == "micro-activity" else "suturing"
            assert step["tags"]["step"] == want and seg["end_s"] <= step["end_s"]


def test_fluorescence_turns_the_field_green():
    scripts = plan_atlas(12, 3, seed=0)
    script, iv = next((s, a) for s in scripts for a in s.actions if a.tags["action"] == "fluorescence")
    renderer = VideoRenderer(script, (64, 48))
    mid = (iv.start + iv.end) // 2
    before = iv.start - 1 if iv.start > 0 else iv.end
    frames = {f: renderer.frame(f) for f in range(max(mid, before) + 1) if f in (before, mid)}
    green = frames[mid].astype(float)
    normal = frames[before].astype(float)
    assert green[..., 1].mean() > 1.3 * green[..., 0].mean()
    assert normal[..., 0].mean() > normal[..., 1].mean()  # tissue is red-dominant otherwise


# ---- end to end -----------------------------------------------------------------------------------
def test_render_atlas_end_to_end_and_deterministic(tmp_path):
    kw = dict(videos=2, minutes=0.5, size=(64, 48), fps=8, workers=2)
    atlas_a = render_atlas(str(tmp_path / "a"), seed=5, **kw)
    render_atlas(str(tmp_path / "b"), seed=5, **kw)
    render_atlas(str(tmp_path / "c"), seed=6, **kw)
    df = read_atlas(atlas_a)
    assert ATLAS_COLUMNS == list(df.columns[:len(ATLAS_COLUMNS)])
    assert set(df["task"]) == {"macro-activity", "micro-activity", "proficiency", "context"}
    assert set(df["annotation_source"]) == {"manual"}
    assert ((df.end_s - df.start_s).between(1, 20)).all()
    manifest = json.load(open(tmp_path / "a" / "manifest.json"))
    assert manifest["seed"] == 5 and len(manifest["videos"]) == 2
    for v in manifest["videos"]:
        path = os.path.join(tmp_path, "a", v["video"])
        assert path in set(df["video_path"])
        n, duration, codec, _ = decode(path)
        assert (n, codec) == (240, "h264") and duration == pytest.approx(30.0, abs=0.01)
        tl = json.load(open(os.path.join(tmp_path, "a", v["timeline"])))
        assert tl["video"] == {"id": v["id"], "duration_s": 30.0, "fps": 8.0, "frames": 240}

    def same(rel, other="b"):
        return open(tmp_path / "a" / rel, "rb").read() == open(tmp_path / other / rel, "rb").read()

    rels = ["atlas.parquet", "manifest.json"] + [v["timeline"] for v in manifest["videos"]] + \
           [v["video"] for v in manifest["videos"]]
    assert all(same(rel) for rel in rels)  # same seed: byte-identical tables, timelines and videos
    other = json.load(open(tmp_path / "c" / "manifest.json"))["videos"]
    for mine, theirs in zip(manifest["videos"], other):  # another seed: other videos
        assert mine["id"] != theirs["id"]
        assert open(tmp_path / "a" / mine["video"], "rb").read() != open(tmp_path / "c" / theirs["video"], "rb").read()


def test_cli_rejects_bad_arguments_with_one_line(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "x"), "--videos", "0"]) == 2
    assert main(["synth", str(tmp_path / "x"), "--size", "63x48", "--minutes", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "--videos must be at least 1" in err and "even" in err
    assert not os.path.exists(tmp_path / "x")


def test_sliding_windows_stay_inside_their_labelled_segment(tmp_path):
    from halsted_hf.data.synthetic.build import resample_atlas
    from halsted_hf.data.synthetic.script import WindowSpec

    spec = WindowSpec(fine=(3.0, 1.0), macro=(8.0, 8.0))
    s = plan_atlas(4, 2, seed=3)[1]
    plain = s.atlas_rows("v.mp4")
    dense = s.atlas_rows("v.mp4", windows=spec)

    def key(r):
        return r["task"], r["start_s"], r["end_s"], json.dumps(tags_of(r), sort_keys=True)

    assert {key(r) for r in plain} <= {key(r) for r in dense}  # the segments themselves are kept
    assert len(dense) > 2 * len(plain)
    segments = [(iv.task, iv.start / s.fps, iv.end / s.fps, iv.tags) for iv in s.fine_intervals()]
    segments += [("macro-activity", st.start / s.fps, st.end / s.fps,
                  {"specialty": st.specialty, "procedure": st.procedure, "step": st.step}) for st in s.steps]
    for r in dense:  # every window lies inside one segment of its task that carries exactly its labels
        assert any(t == r["task"] and a - 1e-6 <= r["start_s"] and r["end_s"] <= b + 1e-6 and tags == tags_of(r)
                   for t, a, b, tags in segments), r
    fine = [r for r in dense if r["task"] != "macro-activity" and key(r) not in {key(p) for p in plain}]
    assert fine and all(r["end_s"] - r["start_s"] == pytest.approx(3.0) for r in fine)
    # resampling a rendered folder re-plans from its manifest: same rows as planning with the windows
    folder = tmp_path / "synth"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"version": "1.0", "seed": 3, "args": {
        "videos": 4, "minutes": 2, "fps": 8.0}}))
    df = read_atlas(resample_atlas(str(folder), spec=spec))
    assert len(df[df.video_id == s.video_id]) == len(dense)
    with pytest.raises(Exception, match="no manifest"):
        resample_atlas(str(tmp_path))
