"""The bundled demo checkpoint: it loads by default, generates valid tags, says what it is, and its copy of
the model code (for trust_remote_code users) is the package's own."""

from __future__ import annotations

import filecmp
import os

import numpy as np

from halsted_hf import HALSTED_TAXONOMY
from halsted_hf.model.hub import DEMO_MODEL_PATH, load_pretrained

MODEL_FILES = ["configuration_halsted.py", "modeling_halsted.py", "processing_halsted.py", "taxonomy.py",
               "configuration_efficientnet_lite.py", "modeling_efficientnet_lite.py",
               "tokenization_halsted.py", "pipeline_halsted.py"]


def test_demo_checkpoint_is_small_and_labelled_synthetic():
    weights = [f for f in os.listdir(DEMO_MODEL_PATH) if f.endswith(".safetensors")]
    assert weights and sum(os.path.getsize(os.path.join(DEMO_MODEL_PATH, f)) for f in weights) < 20e6
    card = open(os.path.join(DEMO_MODEL_PATH, "README.md"), encoding="utf-8").read().lower()
    assert "synthetic" in card and "not for clinical" in card


def test_demo_checkpoint_code_is_the_package_code():
    package = os.path.join(os.path.dirname(os.path.dirname(DEMO_MODEL_PATH)), "model")
    for name in MODEL_FILES:
        assert filecmp.cmp(os.path.join(DEMO_MODEL_PATH, name), os.path.join(package, name), shallow=False), (
            f"{name} in the demo checkpoint differs from halsted_hf/model/{name}: re-save the demo model")


def test_demo_checkpoint_loads_by_default_and_generates_valid_tags():
    model, processor = load_pretrained(None)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (16, 120, 160, 3), dtype=np.uint8) for _ in HALSTED_TAXONOMY.tasks]
    out = model.generate(**processor(videos=frames, text=[t.instruction for t in HALSTED_TAXONOMY.tasks]))
    for task, tags in zip(HALSTED_TAXONOMY.tasks, out.tags):
        assert tags and all(category in task.tags[tag] for tag, category in tags.items())
