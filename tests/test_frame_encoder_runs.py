"""A run started from a frame encoder (`halsted convert-backbone efficientnet-lite0`, the start docs/training.md
recommends) goes through `halsted baseline --run` and `halsted evaluate --run` (frozen heads and trained
per-task models) like a video-tower run: per-frame features are pooled over the clip's frames first."""

from __future__ import annotations

import json
import os

from helpers import make_tiny_atlas

from halsted_hf.cli import main


def test_baseline_and_evaluate_run_on_a_frame_encoder_run(lite_model_dir, tmp_path):
    from halsted_hf.training.cv import run_cv
    from halsted_hf.training.trainer import TrainConfig

    atlas = make_tiny_atlas(str(tmp_path / "atlas"), seconds=4)
    run = str(tmp_path / "run")
    run_cv(atlas, run, model_path=lite_model_dir, folds=1, val_videos=1, test_videos=1,
           cfg=TrainConfig(epochs=1, batch_size=4, lr=3e-3, warmup_epochs=1, seed=0), log=lambda m: None)
    def evaluate(name, *extra):
        out = str(tmp_path / name)
        assert main(["evaluate", "--run", run, "--out", out, "--n-boot", "20", "--repr-points", "0", *extra]) == 0
        rep = json.load(open(os.path.join(out, "report.json")))["runs"]["run"]
        return rep, {t["task"] for t in rep["pooled"]["tasks"]}

    rep, tasks = evaluate("report", "--baseline-epochs", "3")
    assert rep["sais_kind"] == "heads" and {c["task"] for c in rep["pooled"]["halsted_vs_sais"]} == tasks

    rep, _ = evaluate("report-bare", "--no-baselines")  # skips the per-task models, not the majority counts
    assert not rep["pooled"].get("halsted_vs_sais")
    assert all(t.get("chance_majority") is not None for t in rep["pooled"]["tasks"])

    assert main(["baseline", "--run", run]) == 0
    trained = sorted(os.listdir(os.path.join(run, "fold-0", "sais")))
    assert trained and all(json.load(open(os.path.join(run, "fold-0", "sais", t, "meta.json")))["done"]
                           for t in trained)
    rep, tasks = evaluate("report-trained", "--sais", "trained")
    assert rep["sais_kind"] == "trained"
    assert {c["task"] for c in rep["pooled"]["halsted_vs_sais"]} == tasks
