"""One answer per video whatever the CPU: mapping runs in float32 unless the caller asks for bfloat16, the Timeline
says which, and the two precisions disagree on few instants (the bound below; measured on more videos by
benchmarks/precision_agreement.py)."""

from __future__ import annotations

import glob
import os

import pytest

from halsted_hf.core.errors import CheckpointError
from halsted_hf.model.registry import DEMO_MODEL_PATH


@pytest.fixture(scope="module")
def surgery_video(tmp_path_factory):
    from halsted_hf.data.synthetic.build import render_atlas

    out = tmp_path_factory.mktemp("precision")
    render_atlas(str(out), videos=1, minutes=1.0, seed=61, workers=1)
    [video] = glob.glob(os.path.join(out, "videos", "*.mp4"))
    return video


def test_float32_is_the_default_on_every_cpu():
    from halsted_hf.mapping.workflow import load_model

    engine = load_model(DEMO_MODEL_PATH)
    # before, the backbone switched to bfloat16 by itself on CPUs with AVX512-BF16 (this machine's kind)
    assert engine.backbone_bf16 is False and engine.precision == "float32"
    assert load_model(DEMO_MODEL_PATH, precision="bfloat16").precision == "float32, backbone bfloat16"
    with pytest.raises(CheckpointError, match="precision must be one of float32, bfloat16"):
        load_model(DEMO_MODEL_PATH, precision="fp8")


def test_both_precisions_agree_on_most_instants_and_the_timeline_says_which(surgery_video):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
    from precision_agreement import agreement

    from halsted_hf.mapping.workflow import map_video

    fp32 = map_video(surgery_video, mapping="full", model=DEMO_MODEL_PATH)
    bf16 = map_video(surgery_video, mapping="full", model=DEMO_MODEL_PATH, precision="bfloat16")
    assert fp32.model["precision"] == "float32"
    assert bf16.model["precision"] == "float32, backbone bfloat16"
    shares = agreement(fp32, bf16)
    assert {"step", "procedure"} <= set(shares)
    # measured 0.90-1.00 per tag on three 2-min videos (docs/benchmarks.md); a tag below 0.75 would mean the
    # precisions no longer map the same surgery
    assert min(shares.values()) >= 0.75, shares
