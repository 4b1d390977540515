"""`halsted export-labels`: a surgeon's dashboard correction becomes exactly the training rows of its clip
windows (annotation_source "surgeon"), and `halsted train --model` fine-tuned on them changes the tiny model's
answer on that window to the surgeon's."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from halsted_hf.data.atlas import read_atlas
from halsted_hf.data.windows import read_windows

from helpers import make_timeline, run_cli

LOW_DRIVING = 5  # make_timeline: the second stitch's driving, 1.2-1.5 s, proficiency low
SMALL_VISION = dict(num_frames=8, image_size=32, patch_size=16, hidden_size=48, intermediate_size=96,
                    num_attention_heads=2, num_hidden_layers=1)


@pytest.fixture
def corrected(platform, alice, bob, videos, monkeypatch):
    """Alice corrects one segment; Bob corrects his own copy and undoes it (undone: never exported)."""
    monkeypatch.setenv("HALSTED_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.delenv("HALSTED_DATABASE_URL", raising=False)
    res = alice.add_result(alice.upload_video(videos["a"]).id, make_timeline(), "suturing")
    alice.set_category(res.id, LOW_DRIVING, "proficiency", "high")
    theirs = bob.add_result(bob.upload_video(videos["b"]).id, make_timeline(duration_s=2.0), "suturing")
    bob.set_category(theirs.id, 2, "proficiency", "low")
    bob.undo_correction(theirs.id)
    return alice, res


def export(capsys, *args):
    """`halsted export-labels ARGS` in this process (the child-process run is the first test's): (code, stderr)."""
    from halsted_hf.cli import main

    code = main(["export-labels", *args])
    return code, capsys.readouterr().err


def predictions(model_dir, df, cache):
    from halsted_hf.model.registry import create
    from halsted_hf.training.cv import run_data
    from halsted_hf.training.trainer import generate_all

    model, processor = create(model_dir)
    data = run_data(df, cache, model, processor, "features", log=lambda m: None)
    tags, _, _ = generate_all(model, processor, data.video, data.instruction_ids, data.instruction_mask)
    return tags


def test_export_holds_exactly_the_correction_as_training_windows(corrected, tmp_path):
    alice, res = corrected
    out = tmp_path / "labels"
    done = run_cli("export-labels", "--surgeon", "Alice@Example.org", "--out", str(out))
    assert done.returncode == 0, done.stderr
    df = read_atlas(str(out))
    assert len(df) == 1  # the 0.3-s segment: one 2.5-s stage-2 window centred on it, inside the 3-s video
    row = df.iloc[0]
    assert (row.start_s, row.end_s) == pytest.approx((0.1, 2.6)) and row.task == "proficiency"
    assert json.loads(row.tags) == {"phase": "driving", "proficiency": "high"}
    assert row.annotation_source == "surgeon" and row.surgeon == "alice@example.org"
    assert json.loads(row.surgeon_tags) == ["proficiency"]
    assert row.video_path == str(alice.get_video(res.video_id).path)
    # training reads these rows as they are: they already are the workflow's windows
    assert read_windows(str(out))[["start_s", "end_s", "task", "tags"]].to_dict("records") == \
        df[["start_s", "end_s", "task", "tags"]].to_dict("records")



def test_export_all_and_refusals(corrected, tmp_path, capsys):
    assert export(capsys, "--all", "--out", str(tmp_path / "all.csv"))[0] == 0
    assert len(read_atlas(str(tmp_path / "all.csv"))) == 1  # Bob's correction was undone: only Alice's
    code, err = export(capsys, "--surgeon", "carol@example.org", "--out", str(tmp_path / "x"))
    assert code == 2 and "No surgeon has the e-mail 'carol@example.org'" in err
    code, err = export(capsys, "--surgeon", "bob@example.org", "--out", str(tmp_path / "y"))
    assert code == 2 and "No corrections by bob@example.org to export" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_fine_tuning_on_the_export_changes_the_answer_on_that_window(corrected, tmp_path, capsys):
    from halsted_hf.model.hub import build_model, save_hub_layout

    model, processor = build_model("tiny", seed=0, vision_config=SMALL_VISION, hidden_size=64, intermediate_size=128)
    start = save_hub_layout(model, processor, str(tmp_path / "start"))
    out = tmp_path / "labels"
    assert export(capsys, "--surgeon", "alice@example.org", "--out", str(out))[0] == 0
    df = read_windows(str(out))
    before = predictions(start, df, str(tmp_path / "cache"))[0]
    assert before != {"phase": "driving", "proficiency": "high"}  # the random model does not know it yet

    done = run_cli("train", "--model", start, "--atlas", str(out), "--out", str(tmp_path / "run"), "--folds", "1",
                   "--val-videos", "0", "--test-videos", "0", "--epochs", "15", "--batch-size", "1", "--lr", "5e-3",
                   "--warmup-epochs", "1", "--cache", str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    after = predictions(str(tmp_path / "run" / "fold-0" / "best"), df, str(tmp_path / "cache"))[0]
    assert after == {"phase": "driving", "proficiency": "high"}


def test_splits_merges_and_not_surgery_marks_are_exported_too(platform, alice, videos, monkeypatch, tmp_path, capsys):
    """Only category changes used to reach the export ("No corrections to export" for the rest)."""
    monkeypatch.setenv("HALSTED_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.delenv("HALSTED_DATABASE_URL", raising=False)
    res = alice.add_result(alice.upload_video(videos["a"]).id, make_timeline(), "suturing")
    alice.merge_with_next(res.id, 1)  # needle handling 0.0-0.3 + driving 0.3-0.6
    alice.split_segment(res.id, 3, 1.05)  # needle handling 0.9-1.2, the second stitch
    alice.mark_not_surgery(res.id, 2.5, 3.0)  # cuts the macro-activity segment 0-3 s
    code, err = export(capsys, "--surgeon", "alice@example.org", "--out", str(tmp_path / "labels"))
    assert code == 0, err
    df = read_atlas(str(tmp_path / "labels"))
    spans = {(r.task, round(r.start_s, 2), round(r.end_s, 2)) for r in df.itertuples()}
    by_segment = df.groupby("result_id").size()
    assert by_segment[res.id] == len(df) and bool(df["surgeon_span"].all())
    assert all(json.loads(t) == [] for t in df["surgeon_tags"])  # no category was set: the spans are the surgeon's
    assert {t for t, _, _ in spans} == {"proficiency", "macro-activity"}
    # the cut stretch is no row of its own; it is listed beside the atlas (a 30-s window of the 2.5-s remnant of
    # a 3-s video still reaches the video's end, as every export's windows are the workflow's)
    stretches = pd.read_csv(tmp_path / "labels" / "not_surgery.csv")
    assert stretches[["start_s", "end_s", "surgeon"]].values.tolist() == [[2.5, 3.0, "alice@example.org"]]
