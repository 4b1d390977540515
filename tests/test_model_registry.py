"""The model registry: one table of names, one create(); every front end resolves names the same way."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from halsted_hf.core.errors import CheckpointError
from halsted_hf.model import registry


def test_names_resolve_without_loading_and_unknown_ones_list_the_names(tmp_path, monkeypatch):
    monkeypatch.delenv("HALSTED_MODEL", raising=False)
    assert registry.resolve("demo") == registry.resolve(None) == registry.DEMO_MODEL_PATH
    assert registry.resolve("tiny") == "tiny" and registry.resolve("org/name") == "org/name"
    assert registry.resolve(str(tmp_path)) == str(tmp_path)
    monkeypatch.setenv("HALSTED_MODEL", "lite0")
    assert registry.resolve(None) == "lite0"
    with pytest.raises(CheckpointError) as info:
        registry.resolve("tinyy")
    message = str(info.value)
    assert "\n" not in message and all(name in message for name in registry.MODELS)
    with pytest.raises(CheckpointError, match="no model folder"):
        registry.resolve(str(tmp_path / "missing"))


def test_create_builds_presets_and_loads_folders(tiny_model_dir):
    model, processor = registry.create("tiny", seed=3)
    again, _ = registry.create("tiny", seed=3)
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert processor.num_frames == model.config.vision_config.num_frames
    lite, _ = registry.create("lite0", vision_config={"num_frames": 4, "image_size": 64})
    assert lite.config.vision_kind == "frame"
    loaded, _ = registry.create(tiny_model_dir)
    assert loaded.config.hidden_size == model.config.hidden_size
    with pytest.raises(CheckpointError, match="saved model"):
        registry.create(tiny_model_dir, taxonomy={})


def test_the_imagenet_start_holds_the_pretrained_encoder():
    from halsted_hf.model.convert_backbone import encoder_state

    model, _ = registry.create("lite0-imagenet", vision_config={"num_frames": 4, "image_size": 64})
    want = encoder_state("lite0")
    got = model.video_encoder.state_dict()
    assert all(torch_equal(got[k], v) for k, v in want.items())


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


def test_every_front_end_resolves_through_the_registry(tmp_path, monkeypatch):
    from halsted_hf.mapping.workflow_engine import load_model
    from halsted_hf.platform.settings import Settings

    assert Settings(data_dir=tmp_path, model="demo").model == registry.DEMO_MODEL_PATH
    assert Settings(data_dir=tmp_path).model == registry.DEMO_MODEL_PATH
    engine = load_model("tiny")
    assert engine.name == "tiny" and engine.revision == "random"
    assert load_model("tiny") is engine  # loaded once per name
    with pytest.raises(CheckpointError, match="unknown model 'bogus'"):
        load_model("bogus")


def test_cli_presets_and_names_come_from_the_registry(tmp_path):
    cli = [sys.executable, "-m", "halsted_hf.cli"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    helped = subprocess.run(cli + ["init-model", "--help"], capture_output=True, text=True, env=env)
    assert all(name in helped.stdout for name in registry.BUILDABLE)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00" * 10)
    refused = subprocess.run(cli + ["map", str(video), "--model", "bogus"], capture_output=True, text=True, env=env)
    assert refused.returncode != 0 and "unknown model 'bogus'" in refused.stderr
    assert "Traceback" not in refused.stderr and "demo, tiny, paper" in refused.stderr
