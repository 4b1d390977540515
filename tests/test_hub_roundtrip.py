"""A model folder as an ML engineer uses it with transformers alone (no halsted_hf): it loads in a precision that
runs well on a CPU, and a load-then-save round trip (`save_pretrained`, `halsted publish --dry-run`) keeps what
mapping needs beside the weights: the pipeline, the calibration, the out-of-distribution check and the
training record."""

from __future__ import annotations

import json
import os
import shutil

from helpers import run_without_halsted

from halsted_hf.model.registry import DEMO_MODEL_PATH

COMPANIONS = ["pipeline_halsted.py", "calibration.json", "ood.json", "ood.npz", "training_record.json"]


def test_the_demo_loads_in_float32_on_a_cpu_unless_asked_otherwise(tmp_path):
    """Its weights are stored in float16, which on a CPU runs ~10x slower than float32."""
    assert json.load(open(os.path.join(DEMO_MODEL_PATH, "config.json")))["dtype"] == "float16"
    res = run_without_halsted(f"""
        import torch
        from transformers import AutoModel, pipeline
        model = AutoModel.from_pretrained({DEMO_MODEL_PATH!r}, trust_remote_code=True)
        print("AUTO", model.dtype)
        mapper = pipeline("surgical-video-mapping", model={DEMO_MODEL_PATH!r}, trust_remote_code=True)
        print("PIPELINE", mapper.model.dtype)
        half = AutoModel.from_pretrained({DEMO_MODEL_PATH!r}, trust_remote_code=True, dtype=torch.float16)
        print("ASKED", half.dtype)
        print("TRAINABLE", model.num_parameters(only_trainable=True), model.num_parameters(),
              sum(p.numel() for p in model.video_encoder.parameters()))
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "AUTO torch.float32" in res.stdout and "PIPELINE torch.float32" in res.stdout
    assert "ASKED torch.float16" in res.stdout
    trainable, total, encoder = map(int, res.stdout.split("TRAINABLE ")[1].split())
    assert trainable == total - encoder  # the frozen encoder is not counted as trainable


def test_save_pretrained_keeps_the_companion_files_and_the_pipeline_runs(tmp_path, make_video):
    clip = make_video(tmp_path / "case.mp4", 4.0, size="96x72", rate=10)
    saved, tuned = tmp_path / "saved", tmp_path / "tuned"
    res = run_without_halsted(f"""
        import torch
        from transformers import AutoModel, AutoProcessor, pipeline
        model = AutoModel.from_pretrained({DEMO_MODEL_PATH!r}, trust_remote_code=True)
        model.save_pretrained({str(saved)!r})
        AutoProcessor.from_pretrained({DEMO_MODEL_PATH!r}, trust_remote_code=True).save_pretrained({str(saved)!r})
        mapper = pipeline("surgical-video-mapping", model={str(saved)!r}, trust_remote_code=True)
        print("SEGMENTS", len(mapper({str(clip)!r}, mapping="procedure")["segments"]))
        with torch.no_grad():
            model.lm_head.weight[0, 0] += 1.0  # a training step: the calibration and record no longer hold
        model.save_pretrained({str(tuned)!r})
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.split("SEGMENTS ")[1].split()[0]) >= 1
    for name in COMPANIONS:
        assert (saved / name).read_bytes() == open(os.path.join(DEMO_MODEL_PATH, name), "rb").read(), name
    assert (tuned / "pipeline_halsted.py").is_file()
    assert not [n for n in COMPANIONS[1:] if (tuned / n).exists()]


def test_publish_dry_run_carries_the_companion_files(tmp_path):
    from halsted_hf.publish import list_files, prepare_model

    source = tmp_path / "model"
    shutil.copytree(DEMO_MODEL_PATH, source)
    files = list_files(prepare_model(str(source), str(tmp_path / "repo"), "org/halsted-demo"))
    assert set(COMPANIONS) <= set(files), sorted(set(COMPANIONS) - set(files))


def test_the_stand_alone_pipeline_gives_the_scores_and_ood_of_halsted_map(tmp_path, make_video):
    """The demo folder carries a calibration and an out-of-distribution description: the pipeline applies both."""
    import halsted_hf

    clip = make_video(tmp_path / "case.mp4", 36.0, size="96x72", rate=10)
    res = run_without_halsted(f"""
        import json
        from transformers import pipeline
        mapper = pipeline("surgical-video-mapping", model={DEMO_MODEL_PATH!r}, trust_remote_code=True)
        print("TIMELINE", json.dumps(mapper({str(clip)!r}, mapping="suturing")))
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    alone = json.loads(res.stdout.split("TIMELINE ", 1)[1])
    from halsted_hf.mapping.workflow_engine import load_model

    engine = load_model(DEMO_MODEL_PATH)
    engine.backbone_bf16 = False  # the package's bf16 shortcut on CPUs that have it; the pipeline runs float32
    package = halsted_hf.map_video(str(clip), mapping="suturing", model=engine).to_dict()

    def rows(timeline):
        return [(s["start_s"], s["end_s"], s["task"], s["tags"]) for s in timeline["segments"]]

    assert rows(alone) == rows(package)
    for a, b in zip(alone["segments"], package["segments"]):
        assert a["scores"].keys() == b["scores"].keys()
        assert all(abs(a["scores"][t] - b["scores"][t]) < 1e-4 for t in a["scores"]), (a["scores"], b["scores"])
    assert "ood" in alone and alone["ood"]["flagged"] == package["ood"]["flagged"]
    assert [w["start_s"] for w in alone["ood"]["windows"]] == [w["start_s"] for w in package["ood"]["windows"]]
    for a, b in zip(alone["ood"]["windows"], package["ood"]["windows"]):
        assert abs(a["score"] - b["score"]) <= 1e-3 * max(1.0, b["score"])
