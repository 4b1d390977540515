"""The clip cache: real H.264 files, a real tiny VideoMAE encoder, real safetensors shards."""

from __future__ import annotations

import json
import os

import pytest
import torch

from helpers import make_tiny_atlas

@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    return make_tiny_atlas(str(tmp_path_factory.mktemp("atlas")))


@pytest.fixture(scope="module")
def small():
    from halsted_hf.model.hub import build_model

    # 8 frames of 32x32 keep the test fast; the cache does not care about the encoder's size
    vision = dict(num_frames=8, image_size=32, patch_size=16, hidden_size=48, intermediate_size=96,
                  num_attention_heads=2, num_hidden_layers=1)
    return build_model("tiny", seed=0, vision_config=vision, hidden_size=64, intermediate_size=128)


def test_cache_computes_every_clip_once_and_loads_in_row_order(atlas, small, tmp_path):
    from halsted_hf.data.atlas import read_atlas
    from halsted_hf.data.feature_cache import build_cache, decode_clips, load_cached, normalise

    model, processor = small
    df = read_atlas(atlas)
    summary = build_cache(df, str(tmp_path / "c"), model=model, processor=processor, shard_size=8)
    assert summary["total"] == 18  # two tasks share each window: 3 videos x 6 windows
    assert summary["computed"] == 18 and summary["complete"]
    feats = load_cached(df, str(tmp_path / "c"), model=model, processor=processor)
    assert feats.shape == (len(df), 48) and feats.dtype == torch.float32
    # rows of the same window share one embedding; the embedding is the encoder's on that clip
    assert torch.equal(feats[0], feats[1])
    clip = torch.from_numpy(decode_clips([(df.video_path[0], 0.0, 1.0)], 8, 32))
    with torch.no_grad():
        ref = model.get_video_features(normalise(clip, processor.image_mean, processor.image_std))[0]
    torch.testing.assert_close(feats[0], ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(feats[0], feats[-1])


def test_cache_resumes_without_recomputing_finished_shards(atlas, small, tmp_path):
    from halsted_hf.data.atlas import read_atlas
    from halsted_hf.data.feature_cache import build_cache, load_cached

    model, processor = small
    df = read_atlas(atlas)
    out = str(tmp_path / "c")
    first = build_cache(df, out, model=model, processor=processor, shard_size=5, max_shards=2)  # "interrupted"
    assert first["shards"] == 2 and first["computed"] == 10 and not first["complete"]
    shards = {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in os.listdir(out) if f.endswith(".safetensors")}
    assert len(shards) == 2
    # an interruption mid-shard leaves at most a temporary file, which is never listed
    open(os.path.join(out, "shard-00002.safetensors.tmp-999"), "wb").close()
    seen = []
    second = build_cache(df, out, model=model, processor=processor, shard_size=5, progress=seen.append)
    assert second["cached"] == 10 and second["computed"] == 8 and second["complete"] and len(seen) == 2
    for f, mtime in shards.items():
        assert os.stat(os.path.join(out, f)).st_mtime_ns == mtime  # finished shards were not rewritten
    again = build_cache(df, out, model=model, processor=processor, shard_size=5)
    assert again["computed"] == 0 and again["cached"] == 18
    one_go = build_cache(df, str(tmp_path / "d"), model=model, processor=processor, shard_size=5)
    assert one_go["computed"] == 18
    torch.testing.assert_close(load_cached(df, out, model=model, processor=processor),
                               load_cached(df, str(tmp_path / "d"), model=model, processor=processor))


def test_new_encoder_weights_invalidate_the_cache(atlas, small, tmp_path):
    from halsted_hf.data.atlas import read_atlas
    from halsted_hf.data.feature_cache import CacheError, build_cache, encoder_hash, load_cached

    model, processor = small
    df = read_atlas(atlas)
    out = str(tmp_path / "c")
    build_cache(df, out, model=model, processor=processor)
    before = load_cached(df, out, model=model, processor=processor)
    h = encoder_hash(model.video_encoder)
    with torch.no_grad():
        model.video_encoder.embeddings.patch_embeddings.projection.weight.mul_(1.5)
    try:
        assert encoder_hash(model.video_encoder) != h
        with pytest.raises(CacheError, match="another encoder"):
            load_cached(df, out, model=model, processor=processor)
        summary = build_cache(df, out, model=model, processor=processor)
        assert summary["invalidated"] and summary["computed"] == 18 and summary["cached"] == 0
        after = load_cached(df, out, model=model, processor=processor)
        assert not torch.allclose(before, after)
        manifest = json.load(open(os.path.join(out, "manifest.json")))
        assert manifest["encoder"] == encoder_hash(model.video_encoder) and len(manifest["shards"]) == 1
    finally:
        with torch.no_grad():
            model.video_encoder.embeddings.patch_embeddings.projection.weight.div_(1.5)


def test_pixel_cache_holds_the_decoded_clips(atlas, small, tmp_path):
    from halsted_hf.data.atlas import read_atlas
    from halsted_hf.data.feature_cache import build_cache, load_cached

    model, processor = small
    df = read_atlas(atlas)
    build_cache(df, str(tmp_path / "p"), processor=processor, kind="pixels")
    clips = load_cached(df, str(tmp_path / "p"), processor=processor, kind="pixels")
    assert clips.shape == (len(df), 8, 32, 32, 3) and clips.dtype == torch.uint8
    red, green = clips[0].float().mean(dim=(0, 1, 2)), clips[-1].float().mean(dim=(0, 1, 2))
    assert red[0] > red[1] + 50 and green[2] > green[0] + 50  # v0 is red, v2 blue


def test_cli_features_and_clear_errors(atlas, tiny_model_dir, tmp_path, capsys):
    from halsted_hf.cli import main

    # the clips training uses, the mapping windows: per video one 6-s macro window (the whole video, shorter
    # than 30 s) and one 2.5-s window centred on each of the six 1-s proficiency segments
    assert main(["features", atlas, "--model", tiny_model_dir, "--out", str(tmp_path / "c"),
                 "--shard-size", "10"]) == 0
    assert "21 clips: 0 were cached, 21 computed" in capsys.readouterr().out
    assert main(["features", atlas, "--model", tiny_model_dir, "--out", str(tmp_path / "c")]) == 0
    assert "21 were cached, 0 computed" in capsys.readouterr().out
    assert main(["features", str(tmp_path / "nope.parquet"), "--model", tiny_model_dir,
                 "--out", str(tmp_path / "x")]) == 2
    assert "no such atlas file" in capsys.readouterr().err


def test_the_window_length_is_part_of_the_clip_key(atlas):
    """Windows of another length are other clips: a cache never answers a 2.5-s window with a 5-s one."""
    from halsted_hf.data.atlas import read_atlas
    from halsted_hf.data.feature_cache import atlas_keys, clip_key
    from halsted_hf.data.windows import mapping_windows

    assert clip_key("v", 1.0, 3.5, 16, 224, "e") != clip_key("v", 1.0, 6.0, 16, 224, "e")
    df = read_atlas(atlas)
    short = mapping_windows(df, lengths={"proficiency": 2.5})
    longer = mapping_windows(df, lengths={"proficiency": 4.0})
    fine = lambda d: d[d.task == "proficiency"]  # noqa: E731
    k_short, k_long = atlas_keys(fine(short), 8, 32, "e"), atlas_keys(fine(longer), 8, 32, "e")
    assert len(set(k_short)) == len(k_short) == 18 and not set(k_short) & set(k_long)


def test_encoder_hash_reads_batchnorm_counters():
    """Frame encoders (EfficientNet-Lite) carry 0-d BatchNorm counters; hashing must read them, and a change of
    running statistics is a change of encoder."""
    from halsted_hf.data.feature_cache import encoder_hash

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    h = encoder_hash(net)
    assert len(h) == 64 and encoder_hash(net) == h
    with torch.no_grad():
        net[1].running_mean.add_(0.5)
    assert encoder_hash(net) != h
