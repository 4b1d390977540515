"""The out-of-distribution check (halsted_hf/mapping/ood.py): scores, the model folder's files, the
Timeline field, `halsted fit-ood` and `halsted map` end to end, and the bundled demo model on real
non-surgical footage (sample photos shipped by matplotlib and scikit-learn, as short zooming videos)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from halsted_hf.mapping.ood import OodCheck, OodModel, colour_descriptor, load_ood, video_verdict
from halsted_hf.mapping.timeline import Timeline

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import ood_footage  # noqa: E402

HALSTED = [sys.executable, "-m", "halsted_hf.cli"]


def _halsted(*args, **kw):
    return subprocess.run([*HALSTED, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


def test_scores_grow_with_distance_and_survive_the_folder_files(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 32)) * np.linspace(3, 0.1, 32)  # an elongated cloud
    model = OodModel.fit(train, max_components=8)
    near = rng.normal(size=(50, 32)) * np.linspace(3, 0.1, 32)
    far = near + 2.0  # a shift along directions the cloud barely moves in
    assert np.median(model.scores(near)) < 2 < np.median(model.scores(far))
    model.threshold = float(np.quantile(model.scores(near), 0.99))
    clips = rng.integers(0, 256, size=(50, 4, 8, 8, 3), dtype=np.uint8)
    colour = OodModel.fit(colour_descriptor(clips))
    colour.threshold = 3.0
    OodCheck({"embedding": model, "colour": colour}).save(str(tmp_path), {"false_alarm_rate": 0.01})
    again = load_ood(str(tmp_path))
    assert again.threshold == 1.0 and again.parts["embedding"].threshold == pytest.approx(model.threshold)
    assert json.load(open(tmp_path / "ood.json"))["parts"]["colour"] == {"threshold": 3.0, "dimension": 8,
                                                                        "components": 8}
    # a window's score: the larger part score in units of its part's threshold
    want = np.maximum(model.scores(far) / model.threshold, colour.scores(colour_descriptor(clips)) / 3.0)
    np.testing.assert_allclose(again.scores(far, clips), want, rtol=1e-4)
    with pytest.raises(ValueError, match="needs the windows' decoded frames"):
        again.scores(far)
    assert load_ood(str(tmp_path / "missing")) is None  # no file: mapping says nothing


def test_a_description_written_before_the_colour_part_loads_as_its_embedding_alone(tmp_path):
    model = OodModel.fit(np.random.default_rng(1).normal(size=(40, 6)))
    np.savez(tmp_path / "ood.npz", mean=model.mean, components=model.components, variances=model.variances,
             residual_variance=np.float32(model.residual_variance))
    (tmp_path / "ood.json").write_text(json.dumps({"threshold": 2.0, "false_alarm_rate": 0.01}))
    old = load_ood(str(tmp_path))
    assert list(old.parts) == ["embedding"]
    x = np.random.default_rng(2).normal(size=(5, 6)) * 3
    np.testing.assert_allclose(old.scores(x), model.scores(x) / 2.0, rtol=1e-4)  # no frames needed


def test_colour_descriptor_is_the_channels_and_saturations_mean_and_spread():
    grey = np.full((2, 4, 4, 3), 128, np.uint8)
    red = np.zeros((2, 4, 4, 3), np.uint8)
    red[..., 0] = 255
    d = colour_descriptor([grey, red])
    np.testing.assert_allclose(d[0], [128 / 255] * 3 + [0, 0, 0] + [0, 0], atol=1e-6)
    np.testing.assert_allclose(d[1], [1, 0, 0, 0, 0, 0, 1, 0], atol=1e-6)


def test_a_broken_ood_file_is_a_one_line_error(tmp_path):
    from halsted_hf.core.errors import CheckpointError

    (tmp_path / "ood.json").write_text('{"threshold": 1.0}')
    with pytest.raises(CheckpointError, match="refit it with `halsted fit-ood"):
        load_ood(str(tmp_path))


def test_verdict_flags_a_video_by_its_median_and_reports_stretches():
    model = OodModel(np.zeros(2), np.zeros((0, 2)), np.zeros(0), 1.0, threshold=1.0, info={"false_alarm_rate": 0.01})
    calm = video_verdict([(0, 30, 0.2), (30, 60, 3.0), (60, 90, 0.4)], model)
    assert not calm["flagged"] and calm["stretches"] == [{"start_s": 30, "end_s": 60, "score": 3.0}]
    far = video_verdict([(0, 30, 2.0), (30, 60, 3.0), (60, 90, 0.4)], model)
    assert far["flagged"] and far["stretches"][0] == {"start_s": 0, "end_s": 60, "score": 3.0}
    tl = Timeline(video={"id": "v", "duration_s": 90.0}, model={"name": "m"}, workflow="procedure", ood=calm)
    assert "(0:30-1:00)" in tl.ood_warning()
    back = Timeline.from_json(tl.to_json())
    assert back.ood == calm and back.to_dict()["ood"] == calm
    tl.ood = far
    assert "does not look like the surgery this model was trained on" in tl.ood_warning()


def test_timelines_without_the_field_still_load_and_warn_of_nothing():
    old = {"video": {"id": "v", "duration_s": 30.0}, "model": {"name": "m", "revision": "r"}, "workflow": "procedure",
           "segments": []}
    tl = Timeline.from_dict(old)
    assert tl.ood is None and tl.ood_warning() is None and "ood" not in tl.to_dict()
    with pytest.raises(Exception, match="ood must be an object"):
        Timeline.from_dict(dict(old, ood=[1, 2]))


@pytest.fixture(scope="module")
def synth_atlas(tmp_path_factory):
    out = tmp_path_factory.mktemp("ood-synth")
    r = _halsted("synth", out, "--videos", 4, "--minutes", 0.75, "--seed", 3, "--workers", 1)
    assert r.returncode == 0, r.stderr
    return out


def test_fit_ood_then_map_records_window_scores(tmp_path, tiny_model_dir, synth_atlas):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    bare = _halsted("map", synth_atlas / "videos" / "synth-s3-v000.mp4", "--model", model, "--mapping", "procedure",
                    "--out", tmp_path / "bare.json", "--no-progress")
    assert bare.returncode == 0, bare.stderr
    assert "ood" not in json.load(open(tmp_path / "bare.json"))  # no description: no check, no claim
    r = _halsted("fit-ood", "--model", model, "--atlas", synth_atlas, "--rate", 0.05, "--stride", 15)
    assert r.returncode == 0, r.stderr
    info = json.load(open(model / "ood.json"))
    assert info["false_alarm_rate"] == 0.05 and info["threshold_from"]["videos"] == ["synth-s3-v003"]
    assert info["fitted_on"]["videos"] == ["synth-s3-v000", "synth-s3-v001", "synth-s3-v002"]
    assert info["fitted_on"]["windows"] == 3 * 2  # 45-s videos: windows at 0 and 15 s
    assert set(info["parts"]) == {"embedding", "colour"} and all(p["threshold"] > 0 for p in info["parts"].values())
    photo = ood_footage.still_to_video(ood_footage.development_stills()[0], str(tmp_path / "photo.mp4"), seconds=8)
    r = _halsted("map", photo, "--model", model, "--mapping", "procedure", "--out", tmp_path / "photo.json",
                 "--no-progress")
    assert r.returncode == 0, r.stderr
    ood = json.load(open(tmp_path / "photo.json"))["ood"]
    assert len(ood["windows"]) == 1 and ood["threshold"] == 1.0
    assert ood["flagged"] == (ood["score"] > ood["threshold"])
    assert ("does not look like the surgery" in r.stderr) == ood["flagged"]


def test_fit_ood_refuses_an_atlas_too_small_to_hold_videos_out(tmp_path, tiny_model_dir, synth_atlas):
    r = _halsted("fit-ood", "--model", tiny_model_dir, "--atlas", synth_atlas, "--held-out-every", 5)
    assert r.returncode != 0 and "needs at least 5" in r.stderr
    assert not os.path.exists(os.path.join(tiny_model_dir, "ood.json"))


def test_the_demo_model_flags_a_photo_but_not_held_out_synthetic_surgery(tmp_path, synth_atlas):
    """The shipped description (halsted_hf/assets/demo-model/ood.json, fitted on 12 training videos of seed 1):
    a zooming photo of a street in China is flagged with a warning line; a synthetic video of seed 3 (never
    trained on) is not."""
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    stills = {os.path.basename(p): p for p in ood_footage.development_stills()}
    photo = ood_footage.still_to_video(stills["china.jpg"], str(tmp_path / "china.mp4"), seconds=12)
    outs = {}
    for name, video in {"photo": photo, "surgery": synth_atlas / "videos" / "synth-s3-v001.mp4"}.items():
        r = _halsted("map", video, "--model", DEMO_MODEL_PATH, "--mapping", "procedure", "--out",
                     tmp_path / f"{name}.json", "--no-progress")
        assert r.returncode == 0, r.stderr
        outs[name] = (json.load(open(tmp_path / f"{name}.json"))["ood"], r.stderr)
    assert outs["photo"][0]["flagged"] and "warning: This video does not look like the surgery" in outs["photo"][1]
    assert not outs["surgery"][0]["flagged"] and "does not look like" not in outs["surgery"][1]


def test_the_demo_model_flags_surgery_with_its_colours_wrong_which_its_embedding_alone_passes(tmp_path, synth_atlas):
    """A grey (monochrome camera) or red/blue-swapped (an RGB/BGR mix-up) copy of held-out synthetic surgery:
    the frozen ImageNet embedding barely moves, so the embedding part alone lets both through (the check
    before the colour part did); the colour part flags them, and the untouched video still passes."""
    from halsted_hf.core.io import ffmpeg_exe
    from halsted_hf.mapping.ood_fit import score_video
    from halsted_hf.mapping.workflow import load_model
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    source = str(synth_atlas / "videos" / "synth-s3-v001.mp4")
    videos = {"original": source}
    for name, vf in {"grey": "hue=s=0", "swapped": "colorchannelmixer=rr=0:rb=1:br=1:bb=0"}.items():
        videos[name] = str(tmp_path / f"{name}.mp4")
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", source, "-vf", vf, videos[name]], check=True)
    engine = load_model(DEMO_MODEL_PATH)
    score = {name: float(np.median(score_video(engine, v))) for name, v in videos.items()}
    embedding_only = OodCheck({"embedding": engine.ood.parts["embedding"]})
    engine.ood, full = embedding_only, engine.ood
    try:
        before = {name: float(np.median(score_video(engine, v))) for name, v in videos.items()}
    finally:
        engine.ood = full
    assert score["original"] < 1 and score["grey"] > 1 and score["swapped"] > 1, score
    assert all(s < 1 for s in before.values()), before


def test_review_and_library_show_the_stored_timelines_warning_and_old_timelines_none(app_platform, tmp_path):
    """Streamlit's AppTest on the real pages: the banner is read from the stored Timeline (no DB column)."""
    from apptest import app_as, full_timeline, texts
    from helpers import PASSWORD, make_video

    me = app_platform.sign_up("ood@example.org", "Ood", PASSWORD)
    old = me.upload_video(str(make_video(tmp_path / "old.mp4", 3.0)))
    far = me.upload_video(str(make_video(tmp_path / "far.mp4", 3.0, pattern="testsrc2")))
    me.add_result(old.id, full_timeline(), mapping="full")
    at = app_as(me, "views/library.py")
    assert "does not look like the surgery" not in texts(at)
    tl = full_timeline()
    tl.ood = video_verdict([(0.0, 3.0, 9.0)], OodModel(np.zeros(1), np.zeros((0, 1)), np.zeros(0), 1.0, 1.0))
    me.add_result(far.id, tl, mapping="full")
    for page in ("views/review.py", "views/library.py"):
        at = app_as(me, page)
        shown = [w.value for w in at.warning if "does not look like the surgery this model was trained on" in w.value]
        assert len(shown) == 1, (page, [w.value for w in at.warning])


def test_a_description_of_another_encoder_is_refused_with_the_refit_command(tmp_path, tiny_model_dir):
    """A stale ood.json (the model's encoder was retrained after the fit) must not score silently."""
    import shutil

    from halsted_hf.core.errors import CheckpointError
    from halsted_hf.mapping.ood import encoder_fingerprint
    from halsted_hf.mapping.workflow_engine import load_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    ood = OodCheck({"embedding": OodModel.fit(np.random.default_rng(0).normal(size=(20, 4)))})
    ood.save(str(model), {"encoder": encoder_fingerprint(str(model))})
    assert load_model(str(model)).ood is not None
    ood.save(str(model), {"encoder": "0123456789ab"})
    with pytest.raises(CheckpointError, match="describes another vision encoder.*halsted fit-ood --model"):
        load_model(str(model) + os.sep)  # another spelling of the folder: not the engine cached above


def test_the_embedding_part_leaves_a_motion_streams_thumbnails_out():
    """Per-frame features of a model with a motion stream end with grey thumbnails; the embedding part describes
    the tower's features only, so appending thumbnails changes no score."""
    rng = np.random.default_rng(3)
    embedding = OodModel.fit(rng.normal(size=(60, 12)))
    embedding.threshold = 2.0
    check = OodCheck({"embedding": embedding})
    frames = rng.normal(size=(5, 4, 12))  # (B, T, D) per-frame features
    with_thumbs = np.concatenate([frames, rng.normal(size=(5, 4, 16))], axis=-1)
    np.testing.assert_allclose(check.scores(with_thumbs), check.scores(frames))


def test_a_score_just_under_the_line_reads_as_borderline_not_as_a_pass():
    """A video's median score of 0.95 (the line is 1) was a plain pass; it reads as borderline now, with a
    sentence, while a clear pass stays silent and a score over the line is flagged."""
    from halsted_hf.mapping.ood import BORDERLINE, video_verdict
    from halsted_hf.mapping.timeline import ood_warning

    class Line:  # what video_verdict reads of a fitted check: its line and its record
        threshold, info = 1.0, {"false_alarm_rate": 0.01}

    def verdict(score):
        return video_verdict([(0.0, 30.0, score), (30.0, 60.0, score), (60.0, 90.0, score)], Line())

    near, clear, over = verdict(0.95), verdict(BORDERLINE / 2), verdict(1.2)
    assert near["borderline"] and not near["flagged"] and "borderline" in ood_warning(near)
    assert not clear["borderline"] and ood_warning(clear) is None
    assert over["flagged"] and not over["borderline"]


def test_wilson_interval_is_sound_at_zero_false_alarms():
    from halsted_hf.mapping.ood_fit import wilson

    share, low, high = wilson(0, 24)
    assert share == 0.0 and low == 0.0 and 0.10 < high < 0.16  # 0 of 24 still allows up to ~14%
    assert wilson(12, 24)[1] < 0.5 < wilson(12, 24)[2]
