"""`halsted evaluate` end to end on a tiny RUN (real videos, real model), and the baselines' contracts."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from halsted_hf.data.atlas import make_row, to_frame, write_atlas
from halsted_hf.model.taxonomy import HALSTED_TAXONOMY as TAX
from helpers import make_video

VIDEOS = ["v0", "v1", "v2", "v3"]
PROCS = {"v0": ("prostatectomy", "urology"), "v1": ("hysterectomy", "gynecology"),
         "v2": ("prostatectomy", "urology"), "v3": ("hysterectomy", "gynecology")}
CLIP_TAGS = {  # per task, tags for window k (cycled), so every task and tag has clips
    "macro-activity": lambda v, k: {"specialty": PROCS[v][1], "procedure": PROCS[v][0],
                                    "step": ["suturing", "dissection"][k % 2]},
    "micro-activity": lambda v, k: {"action": ["hook", "tug", "idle"][k % 3], "arm": ["left", "right"][k % 2],
                                    "instrument": "needle driver"},
    "proficiency": lambda v, k: {"phase": ["driving", "withdrawal"][k % 2],
                                 "proficiency": ["low", "high"][(k + 1) // 2 % 2]},
    "context": lambda v, k: {"anatomy": "urethra", "extent": "single", "direction": ["in", "out"][k % 2]},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir):
    """4 videos x 3 two-second windows x 4 tasks; fold-0: train v0,v1, val v2, test v3; fold-1 the reverse."""
    import shutil

    root = tmp_path_factory.mktemp("eval")
    rows = []
    for v, colour in zip(VIDEOS, ["red", "blue", "green", "white"]):
        path = str(root / f"{v}.mp4")
        make_video(path, 6, size="64x48", rate=8, pattern="testsrc", tint=colour)
        for k in range(3):
            for task in TAX.tasks:
                rows.append(make_row(v, path, 2 * k, 2 * k + 2, task.name, task.instruction,
                                     CLIP_TAGS[task.name](v, k), specialty=PROCS[v][1], procedure=PROCS[v][0],
                                     annotation_source="manual" if k < 2 else "ai"))
    atlas = write_atlas(to_frame(rows), str(root / "atlas.parquet"))
    run = root / "run"
    for k, split in enumerate([{"train": ["v0", "v1"], "val": ["v2"], "test": ["v3"]},
                               {"train": ["v2", "v3"], "val": ["v1"], "test": ["v0"]}]):
        os.makedirs(run / f"fold-{k}")
        (run / f"fold-{k}" / "split.json").write_text(json.dumps(split))
        shutil.copytree(tiny_model_dir, run / f"fold-{k}" / "best")
    (run / "run.json").write_text(json.dumps({"args": {}, "atlas": atlas, "cache": str(root / "no-cache")}))
    return str(run), atlas


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory):
    from halsted_hf.cli import main

    run, _ = tiny_run
    out = str(tmp_path_factory.mktemp("report"))
    assert main(["evaluate", "--run", run, "--out", out, "--n-boot", "100", "--baseline-epochs", "20",
                 "--repr-points", "5", "--compare", run]) == 0
    with open(os.path.join(out, "report.json")) as f:
        return out, json.load(f)


def test_report_files_cover_every_task_and_tag(report):
    out, rep = report
    md = open(os.path.join(out, "REPORT.md")).read()
    for task in TAX.task_names:
        assert task in md
    for name in ("accuracy_by_tag.png", "confusion_procedure.png", "representation_run.png"):
        assert os.path.getsize(os.path.join(out, "figures", name)) > 1000
    pooled = rep["runs"]["run"]["pooled"]
    assert {t["task"] for t in pooled["tasks"]} == set(TAX.task_names)
    assert {t["tag"] for t in pooled["tags"]} == set(TAX.all_tags)
    assert set(rep["runs"]) == {"run", "run-1"}  # --compare: the second run is reported beside the first
    assert set(rep["runs"]["run"]["folds"]) == {"fold-0", "fold-1"}
    assert pooled["test_videos"] == ["v0", "v3"]
    assert {r["annotation_source"] for r in pooled["annotation_source"]} == {"manual", "ai"}
    assert pooled["headline_sources"] == ["manual"]  # machine labels are shown by source, not in the headline
    assert {r["specialty"] for r in pooled["specialty"]} == {"urology", "gynecology"}
    preds = pd.read_csv(os.path.join(out, "predictions.csv"))
    assert set(preds["system"]) == {"halsted", "sais", "majority"}
    # this run.json predates the mapping windows (no clip_windows_s): the report says what it was trained on
    assert "whole ground-truth segments" in rep["runs"]["run"]["warnings"][0] and "whole ground-truth segments" in md


def test_intervals_contain_point_estimates(report):
    _, rep = report
    pooled = rep["runs"]["run"]["pooled"]
    cis = [r["accuracy"] for r in pooled["tasks"] + pooled["tags"] + pooled["specialty"]]
    cis += [r[k] for r in pooled["tags"] for k in ("temporal_f1", "f1@10", "f1@50", "edit", "sais_accuracy")]
    cis += [r["auroc"] for r in pooled["tags"] if r.get("auroc") and r["auroc"][0] is not None]
    assert len(cis) > 40
    for point, low, high in cis:
        assert low - 1e-9 <= point <= high + 1e-9
    prof = next(r for r in pooled["tags"] if r["tag"] == "proficiency")
    assert prof["auroc_positive"] == "high" and 0.0 <= prof["auroc"][0] <= 1.0
    assert {r["task"] for r in pooled["halsted_vs_sais"]} == set(TAX.task_names)
    for task in pooled["tasks"]:  # the paired difference to the majority baseline, on the same tag answers
        point, low, high = task["minus_majority"]
        assert low - 1e-9 <= point <= high + 1e-9
        # each rounded to 6 places
        assert point == pytest.approx(task["accuracy"][0] - task["chance_majority"][0], abs=2e-6)


def test_baselines_never_train_on_test_videos(report):
    _, rep = report
    run = rep["runs"]["run"]
    for fold, s in run["folds"].items():
        trained = set(run["baseline_train_videos"][fold])
        assert trained == set(s["split"]["train"])
        assert not trained & set(s["split"]["test"])
        assert s["test_videos"] == s["split"]["test"]


def test_chance_matches_hand_computed_values(report):
    _, rep = report
    tags = {r["tag"]: r for r in rep["runs"]["run"]["pooled"]["tags"]}
    assert tags["step"]["chance_uniform"] == pytest.approx(1 / 2)
    assert tags["action"]["chance_uniform"] == pytest.approx(1 / 19)
    assert tags["instrument"]["chance_uniform"] == pytest.approx(1 / 27)
    acc = tags["action"]["accuracy"][0]
    assert tags["action"]["relative_improvement"] == pytest.approx(acc * 19, abs=1e-3)
    # majority: fold-0 trains on v0,v1 (windows 0,1,2 -> hook,tug,idle each twice: alphabetical tie -> "hook");
    # headline numbers count human-labelled test windows only (0 and 1; window 2 is "ai"): v3 has one hook
    # in them; fold-1 the same: pooled 2 of 4
    assert tags["action"]["majority_accuracy"][0] == pytest.approx(2 / 4)
    # arm: left (k=0,2) beats right -> of the human-labelled test windows 0 (left) and 1 (right): 2 of 4
    assert tags["arm"]["majority_accuracy"][0] == pytest.approx(2 / 4)


def test_sais_baseline_learns_separable_features():
    from halsted_hf.evaluation.baselines import frozen_heads_predictions
    from halsted_hf.training.per_task import FrozenTaskHeads

    rng = np.random.default_rng(0)
    steps = ["suturing", "dissection"]
    rows, feats = [], []
    task = TAX.task("macro-activity")
    for i in range(80):
        k = i % 2
        rows.append(make_row(f"v{i % 8}", "x.mp4", i, i + 1, task.name, task.instruction,
                             {"step": steps[k], "procedure": "prostatectomy"}))
        feats.append(rng.normal(size=16) + (4.0 if k else -4.0) * np.eye(16)[0])
    df = to_frame(rows)
    x = np.stack(feats).astype(np.float32)
    train = df["video_id"].isin([f"v{j}" for j in range(6)]).to_numpy()
    base = FrozenTaskHeads(TAX, epochs=40, seed=0).fit(df[train], x[train])
    assert base.train_videos == [f"v{j}" for j in range(6)]
    preds = frozen_heads_predictions(base, df[~train], x[~train])
    step = preds[preds["tag"] == "step"]
    assert len(step) == 20 and (step["true"] == step["pred"]).mean() == 1.0


def test_temporal_segments_and_bad_run(tmp_path):
    from halsted_hf.cli import main
    from halsted_hf.evaluation.evaluate import temporal_metrics, time_segments

    assert time_segments([0, 2, 4, 6], [2, 4, 6, 8], ["a", "a", "b", "<none>"]) == [(0.0, 4.0, "a"), (4.0, 6.0, "b")]
    preds = pd.DataFrame({"video_id": ["v"] * 4, "start_s": [0, 2, 4, 6], "end_s": [2, 4, 6, 8],
                          "true": ["a", "a", "b", "b"], "pred": ["a", "a", "b", None]})
    m = temporal_metrics(preds, n_boot=20)
    assert m["temporal_f1"][0] == pytest.approx(1.0)  # b [4,8) vs [4,6): IoU 0.5 >= 0.1
    assert m["f1@50"][0] == pytest.approx(100.0) and m["edit"][0] == pytest.approx(100.0)
    assert main(["evaluate", "--run", str(tmp_path / "missing")]) == 2
    os.makedirs(tmp_path / "r" / "fold-0" / "best")
    (tmp_path / "r" / "fold-0" / "split.json").write_text(json.dumps({"train": ["a"], "val": [], "test": ["a"]}))
    (tmp_path / "r" / "fold-0" / "best" / "config.json").write_text("{}")
    assert main(["evaluate", "--run", str(tmp_path / "r")]) == 2  # test video also in train: refused


# ---- `halsted evaluate --model DIR --atlas ATLAS` and the model card written from it -----------------
@pytest.fixture(scope="module")
def synth_atlas(tmp_path_factory):
    """Two 30-s synthetic procedures: every task and the mapping windows of real H.264 videos."""
    from halsted_hf.data.synthetic import render_atlas

    return render_atlas(str(tmp_path_factory.mktemp("synth")), videos=2, minutes=0.5, seed=7, size=(64, 48), fps=8,
                        workers=1)


def _evaluate_model(model_dir, atlas, out):
    from halsted_hf.cli import main

    assert main(["evaluate", "--model", model_dir, "--atlas", atlas, "--out", out, "--n-boot", "100",
                 "--repr-points", "0"]) == 0
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def test_evaluate_model_scores_every_atlas_video_on_the_mapping_windows(tiny_model_dir, synth_atlas, tmp_path, capsys):
    from halsted_hf.cli import main
    from halsted_hf.data.windows import read_windows, window_lengths

    rep = _evaluate_model(tiny_model_dir, synth_atlas, str(tmp_path / "a"))
    (name, r), = rep["runs"].items()
    clips = read_windows(synth_atlas)
    assert r["kind"] == "model" and r["pooled"]["test_videos"] == sorted(clips.video_id.unique())
    assert r["pooled"]["n_clips"] == len(clips)
    preds = pd.read_csv(tmp_path / "a" / "predictions.csv")
    assert set(preds.system) == {"halsted"}  # no training record: no majority baseline, and it says so
    durations = (preds.end_s - preds.start_s).groupby(preds.task).agg(["min", "max"])
    for task, (lo, hi) in durations.iterrows():  # the windows `halsted map` feeds, one length per task
        assert lo == pytest.approx(window_lengths()[task]) and hi == pytest.approx(lo)
    assert r["majority_source"] is None and "training_record.json" in r["pooled"]["majority_note"]
    md = open(tmp_path / "a" / "REPORT.md").read()
    assert "Majority baseline: not available" in md and "| n/a |" in md
    capsys.readouterr()
    assert main(["evaluate", "--model", tiny_model_dir]) == 2
    assert "--model needs --atlas" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one or the other (argparse's usage error)
        main(["evaluate", "--model", tiny_model_dir, "--run", "x", "--atlas", synth_atlas])


def test_majority_comes_from_the_training_record_and_the_card_is_written_from_the_evaluation(
        tiny_model_dir, synth_atlas, tmp_path):
    import shutil

    from halsted_hf.data.atlas import tags_of
    from halsted_hf.data.windows import read_windows
    from halsted_hf.evaluation.card import card_mismatches, write_card_results
    from halsted_hf.training.record import training_record, write_training_record

    model = str(tmp_path / "model")
    shutil.copytree(tiny_model_dir, model)
    clips = read_windows(synth_atlas)
    first = sorted(clips.video_id.unique())[0]
    trained = clips[clips.video_id == first]  # as if the model had trained on the first video's windows
    write_training_record(model, training_record([tags_of(t) for t in trained.tags], list(trained.task), [first]))
    rep = _evaluate_model(model, synth_atlas, str(tmp_path / "b"))
    r = rep["runs"]["model"]
    assert r["majority_source"] == "training_record.json"
    assert len(r["warnings"]) == 1 and first in r["warnings"][0]  # a training video is not a held-out result
    tags = {t["tag"]: t for t in r["pooled"]["tags"]}
    for tag in ("step", "proficiency", "action"):
        seen = [tags_of(t)[tag] for t in trained.tags if tags_of(t).get(tag)]
        major = sorted(set(seen), key=lambda c: (-seen.count(c), c))[0]
        truth = [tags_of(t)[tag] for t in clips.tags if tags_of(t).get(tag)]
        assert tags[tag]["majority_accuracy"][0] == pytest.approx(truth.count(major) / len(truth))
    assert "Majority baseline: not available" not in open(tmp_path / "b" / "REPORT.md").read()

    # the card's results come from the report (no hand-typed figure) and a fresh evaluation reproduces them
    card = write_card_results(os.path.join(model, "README.md"), rep,
                              command=f"halsted evaluate --model MODEL --atlas {os.path.basename(synth_atlas)}")
    text = open(card, encoding="utf-8").read()
    assert text.startswith("---") and text.count("halsted-evaluate: begin") == 1  # the card is kept, block appended
    step = next(t for t in r["pooled"]["tasks"] if t["task"] == "macro-activity")
    assert f"| macro-activity | {step['n']} | {100 * step['accuracy'][0]:.1f} (" in text
    fresh = _evaluate_model(model, synth_atlas, str(tmp_path / "c"))
    assert card_mismatches(text, fresh) == []
    write_card_results(card, fresh)  # writing again replaces the block
    assert open(card, encoding="utf-8").read().count("halsted-evaluate: begin") == 1
    acc = f"{100 * step['accuracy'][0]:.1f} ("
    wrong = f"{100 * step['accuracy'][0] + 0.3:.1f} ("
    tampered = text.replace(f"| macro-activity | {step['n']} | {acc}", f"| macro-activity | {step['n']} | {wrong}")
    assert tampered != text and len(card_mismatches(tampered, fresh)) == 1
    assert card_mismatches("# a card without results", fresh) != []

    # within the card's CIs: a fresh figure inside the interval holds, one outside it does not, and a card from
    # another machine is told apart from a card that is wrong
    from halsted_hf.evaluation.card import PRODUCED_ON, card_outside_ci

    assert PRODUCED_ON in text and card_outside_ci(text, fresh) == []
    narrow = re.sub(r"\| macro-activity \| (\d+) \| ([\d.]+) \([\d.]+-[\d.]+\)",
                    lambda m: f"| macro-activity | {m.group(1)} | {m.group(2)} (0.0-0.1)", text)
    assert narrow != text and [line for line in card_outside_ci(narrow, fresh) if "macro-activity" in line]
    elsewhere = re.sub(rf"^{PRODUCED_ON} .*$", f"{PRODUCED_ON} another CPU.", text, flags=re.MULTILINE)
    assert card_outside_ci(elsewhere, fresh) == []
    assert any("not the card's" in line for line in card_mismatches(elsewhere, fresh))


def test_evaluate_model_calibrate_writes_temperatures_and_reports_ece(tiny_model_dir, synth_atlas, tmp_path, capsys):
    """`--calibrate`: temperatures fitted on the training record's validation video, calibration.json in the
    model folder (what mapping then applies), ECE before/after on the other video in the report."""
    import shutil

    from halsted_hf.cli import main
    from halsted_hf.core.confidence import load_calibration
    from halsted_hf.data.windows import read_windows
    from halsted_hf.training.record import training_record, write_training_record

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    ids = sorted(read_windows(synth_atlas).video_id.unique())
    assert main(["evaluate", "--model", str(model), "--atlas", synth_atlas, "--out", str(tmp_path / "x"),
                 "--n-boot", "100", "--repr-points", "0", "--calibrate"]) == 2  # no record: which videos validate?
    assert "training_record.json names them" in capsys.readouterr().err
    write_training_record(str(model), training_record([{"step": "suturing"}], ["macro-activity"], [], [ids[0]]))
    assert main(["evaluate", "--model", str(model), "--atlas", synth_atlas, "--out", str(tmp_path / "e"),
                 "--n-boot", "100", "--repr-points", "0", "--calibrate"]) == 0
    temps = load_calibration(str(model))
    rep = json.load(open(tmp_path / "e" / "report.json"))
    assert set(temps) == {r["task"] for r in rep["calibration"]} and all(t > 0 for t in temps.values())
    assert all(0 <= r["ece_after"] <= 1 and r["n"] > 0 for r in rep["calibration"])
    md = open(tmp_path / "e" / "REPORT.md").read()
    assert "ECE before" in md and os.path.isfile(tmp_path / "e" / "figures" / "reliability.png")
    assert "ECE measured on the atlas's other videos" in md and "| task | tag answers |" in md


def test_an_ece_on_the_videos_it_was_fitted_on_says_so():
    """With no other videos, the report measured ECE on the fitting videos without a word; now it says so."""
    import pandas as pd

    from halsted_hf.evaluation.calibration import calibrate_model, calibration_markdown

    preds = pd.DataFrame({"task": ["proficiency"] * 6, "score": [0.9, 0.8, 0.7, 0.95, 0.6, 0.85],
                          "pred": ["high", "low", "high", "high", "low", "low"],
                          "true": ["high", "high", "high", "low", "low", "low"]})
    import tempfile

    with tempfile.TemporaryDirectory() as model:
        rows = calibrate_model(model, preds, None, fitted_on="validation video(s) v0")
    md = calibration_markdown(rows)
    assert "the validation video(s) v0 the temperatures were fitted on" in md and "optimistic" in md


def test_the_representation_figure_takes_a_frame_encoders_per_frame_embeddings():
    """`halsted evaluate --model` on a frame-encoder model hands (N, T, D) embeddings to the figure; UMAP
    refused them (the demo card had to be written with --repr-points 0)."""
    from halsted_hf.evaluation.representation import embed_2d

    rng = np.random.default_rng(0)
    frames = rng.normal(size=(12, 8, 16)).astype(np.float32)
    coords, method = embed_2d(frames)
    assert coords.shape == (12, 2) and np.isfinite(coords).all()
    np.testing.assert_allclose(embed_2d(frames.mean(axis=1))[0], coords, rtol=1e-4, atol=1e-4)
