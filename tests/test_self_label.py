"""`halsted self-label` end to end on a tiny model and four tiny synthetic videos, training on several
atlases by source, and the parts (thresholds, truth in seconds, weighted loss, human-only headline)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from halsted_hf.cli import main
from halsted_hf.data.atlas import make_row, read_atlas, tags_of, to_frame, write_atlas
from halsted_hf.training.self_label import VideoTruth, choose_threshold, output_paths


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir):
    """4 synthetic videos (30 s). v000: human labels in the base atlas; v001: the calibration video, its
    "human" labels being the tiny model's own mapping (so every threshold is reachable); v002, v003: unlabelled."""
    from halsted_hf.data.synthetic import render_atlas
    from halsted_hf.mapping.workflow import map_video

    root = tmp_path_factory.mktemp("selflabel")
    truth = read_atlas(render_atlas(str(root / "synth"), 4, 0.5, seed=3, size=(64, 48), fps=4, workers=1))
    ids = sorted(truth["video_id"].unique())
    path = {v: truth[truth["video_id"] == v]["video_path"].iloc[0] for v in ids}
    base = write_atlas(truth[truth["video_id"] == ids[0]], str(root / "v1.parquet"))
    tl = map_video(path[ids[1]], mapping="full", model=tiny_model_dir)
    calib = write_atlas(to_frame([make_row(ids[1], path[ids[1]], s.start_s, s.end_s, s.task, s.task, s.tags)
                                  for s in tl.segments]), str(root / "calibration.parquet"))
    return {"root": root, "ids": ids, "path": path, "base": base, "calib": calib, "truth": truth,
            "videos": str(root / "synth" / "videos")}


@pytest.fixture(scope="module")
def labelled(world, tiny_model_dir):
    out = str(world["root"] / "v2")
    argv = ["self-label", "--model", tiny_model_dir, "--videos", world["videos"], "--out", out,
            "--base", world["base"], "--calibration-atlas", world["calib"], "--precision", "0.9"]
    assert main(argv) == 0
    return out, argv


def test_rows_carry_source_model_threshold_and_probability(world, labelled, tiny_model_dir):
    from halsted_hf.model.hub import model_revision

    out, _ = labelled
    table, record_path = output_paths(out)
    df = read_atlas(table)
    ids = world["ids"]
    rows = df[df["annotation_source"] == "self-label"]
    assert set(rows["video_id"]) == {ids[1], ids[2], ids[3]}  # v000 has human labels in --base
    assert len(df[df["annotation_source"] == "manual"]) == len(read_atlas(world["base"]))  # base copied as is
    assert set(rows["model_id"]) == {model_revision(tiny_model_dir)}
    assert set(rows["task"]) >= {"macro-activity"}
    for r in rows.itertuples():
        threshold, prob = json.loads(r.threshold), json.loads(r.probability)
        assert set(threshold) == set(prob) == set(tags_of(r.tags))
        assert all(prob[t] >= threshold[t] for t in prob) and r.confidence == pytest.approx(min(prob.values()))
    record = json.load(open(record_path))
    (cal,) = record["calibrations"].values()
    assert cal["videos"] == [ids[1]] and cal["precision_target"] == 0.9
    # the calibration video's labels are the model's own outputs: every tag reaches precision 1
    assert cal["tags"] and all(c["precision"] == 1.0 and c["threshold"] is not None for c in cal["tags"].values())
    assert sum(v["status"] == "labelled" for v in record["videos"].values()) == 3


def test_rerun_skips_done_videos_and_human_videos_stay_unlabelled(world, labelled, capsys):
    out, argv = labelled
    before = read_atlas(output_paths(out)[0])
    capsys.readouterr()
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "0 video(s) to label, 4 already done or skipped" in text and "calibrating" not in text
    after = read_atlas(output_paths(out)[0])
    pd.testing.assert_frame_equal(before, after)
    assert set(after[after["video_id"] == world["ids"][0]]["annotation_source"]) == {"manual"}


def test_train_on_two_atlases_by_source_with_weights(world, labelled, tmp_path):
    out, _ = labelled
    run = str(tmp_path / "run")
    # OUT holds the base rows already: given twice (comma list), they train once
    assert main(["train", "--atlas", f"{out},{world['base']}", "--atlas", world["calib"],
                 "--sources", "human,self-label", "--source-weight", "self-label=0.5", "--out", run, "--folds", "1",
                 "--val-videos", "1", "--test-videos", "0", "--epochs", "1", "--batch-size", "64"]) == 0
    info = json.load(open(os.path.join(run, "run.json")))
    assert info["source_weights"] == {"self-label": 0.5}
    combined = read_atlas(info["atlas"])
    assert set(combined["annotation_source"]) == {"manual", "self-label"}
    assert len(combined) == len(read_atlas(output_paths(out)[0])) + len(read_atlas(world["calib"]))
    split = json.load(open(os.path.join(run, "fold-0", "split.json")))
    ids = world["ids"]
    # validation is drawn from human-labelled videos; self-labelled-only videos always train
    assert split["val"][0] in (ids[0], ids[1]) and {ids[2], ids[3]} <= set(split["train"])
    assert json.load(open(os.path.join(run, "fold-0", "metrics.json")))["done"]


@pytest.mark.parametrize("argv, text", [
    (["--model", "/nonexistent/model"], "no saved model there"),
    (["--precision", "1.5"], "must be in (0, 1]"),
    (["--precision", "0"], "must be in (0, 1]"),
    (["--videos", "EMPTY"], "no video found"),
    (["--no-calibration"], "--calibration-atlas"),
])
def test_bad_inputs_get_one_clear_line(world, tiny_model_dir, tmp_path, capsys, argv, text):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = {"--model": tiny_model_dir, "--videos": world["videos"], "--out": str(tmp_path / "out"),
            "--calibration-atlas": world["calib"]}
    if argv == ["--no-calibration"]:
        del args["--calibration-atlas"]  # a bare model folder: no record of its validation videos
    else:
        args[argv[0]] = str(empty) if argv[1] == "EMPTY" else argv[1]
    capsys.readouterr()
    assert main(["self-label", *[x for kv in args.items() for x in kv]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err
    assert not os.path.exists(tmp_path / "out" / "atlas.parquet")


def test_threshold_is_the_lowest_reaching_the_precision():
    items = [{"score": s, "right_s": r, "counted_s": 1.0} for s, r in
             [(0.95, 1), (0.9, 1), (0.8, 1), (0.7, 0), (0.6, 1), (0.5, 0), (0.4, 0)]]
    assert choose_threshold(items, 1.0)["threshold"] == 0.8
    got = choose_threshold(items, 0.8)  # 4 of 5 right from 0.6 up
    assert got["threshold"] == 0.6 and got["precision"] == 0.8 and got["kept_s"] == 5.0
    none = choose_threshold([{"score": 0.9, "right_s": 0.0, "counted_s": 2.0}], 0.5)
    assert none["threshold"] is None and none["precision"] == 0.0
    assert choose_threshold([], 0.9)["threshold"] is None


def test_truth_counts_seconds_and_a_label_where_truth_has_none_is_wrong():
    rows = to_frame([make_row("v", "v.mp4", 0, 10, "proficiency", "p", {"phase": "driving", "proficiency": "high"}),
                     make_row("v", "v.mp4", 20, 30, "proficiency", "p", {"phase": "driving", "proficiency": "low"}),
                     make_row("v", "v.mp4", 0, 30, "macro-activity", "m", {"step": "suturing"})])
    truth = VideoTruth(rows)
    assert truth.score("proficiency", "high", 5, 15) == (5.0, 10.0)  # 10-15 s: no proficiency label there
    assert truth.score("proficiency", "low", 25, 40) == (5.0, 5.0)  # past the annotated span: not counted
    assert truth.score("anatomy", "urethra", 0, 10) == (0.0, 0.0)  # never annotated: unknown


def test_weighted_loss_equals_the_model_loss_with_unit_weights():
    import torch

    from halsted_hf.model.hub import build_model
    from halsted_hf.training.trainer import weighted_loss

    model, processor = build_model("tiny", seed=0)
    enc = processor(text=["proficiency", "macro-activity"], tags=[{"phase": "driving", "proficiency": "low"},
                                                                   {"step": "suturing"}], max_tag_length=24)
    hidden = (model.config.video_hidden_size if hasattr(model.config, "video_hidden_size")
              else model.video_encoder.config.hidden_size)
    out = model(video_embeds=torch.randn(2, hidden),
                instruction_ids=enc["instruction_ids"], instruction_mask=enc["instruction_mask"], labels=enc["labels"])
    assert weighted_loss(out.logits, enc["labels"], torch.ones(2)).item() == pytest.approx(out.loss.item(), rel=1e-5)
    only_first = weighted_loss(out.logits, enc["labels"], torch.tensor([1.0, 0.0]))
    assert only_first.item() != pytest.approx(out.loss.item(), rel=1e-3)


def test_headline_counts_only_human_rows():
    from halsted_hf.evaluation.evaluate import headline_rows

    t = pd.DataFrame({"annotation_source": ["manual", "self-label", "ai"], "pred": ["a", "b", "c"]})
    assert headline_rows({"halsted": t})["halsted"]["pred"].tolist() == ["a"]
    machine = t[t["annotation_source"] != "manual"]
    assert len(headline_rows({"halsted": machine})["halsted"]) == 2  # nothing human: scored as is, and said so


def test_the_experiment_runs_end_to_end_at_a_tiny_size(tmp_path):
    """benchmarks/self_label_experiment.py with 4 videos of 30 s and one epoch, from the pretrained Lite0 start
    at 2 frames of 64 px: every step runs and the results name v1, v2, their paired difference and the self-labels'
    measured precision."""
    import subprocess
    import sys

    out = tmp_path / "exp"
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "self_label_experiment.py")
    res = subprocess.run([sys.executable, script, "--out", str(out), "--labelled", "2", "--val", "1",
                          "--unlabelled", "1", "--test", "1", "--minutes", "0.5", "--size", "64x48", "--fps", "4",
                          "--epochs", "1", "--n-boot", "20", "--precision", "0.05",
                          "--num-frames", "2", "--image-size", "64"], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.load(open(out / "results.json"))
    assert r["videos"]["test"]
    assert not set(r["videos"]["test"]) & set(r["videos"]["labelled"] + r["videos"]["unlabelled"])
    overall = r["overall"][0]
    assert overall["n"] > 0 and len(overall["difference"]) == 3 and len(overall["a"]) == 3
    assert {row["task"] for row in r["by_task"]} <= {"macro-activity", "micro-activity", "proficiency", "context"}
    assert set(r["calibration"]["tags"]) and "v2 - v1 (paired)" in (out / "RESULTS.md").read_text()
    # the v2 run trained on v1's rows plus the self-labels, with the same validation videos as v1
    splits = [json.load(open(out / f"run-{v}" / "fold-0" / "split.json")) for v in ("v1", "v2")]
    assert splits[0]["val"] == splits[1]["val"]
    assert set(splits[1]["train"]) == set(splits[0]["train"]) | {v for v in r["videos"]["unlabelled"]
                                                                   if r["self_label_rows"]}
