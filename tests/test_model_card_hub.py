"""A model card as the Hub reads it: metadata transformers and the Hub understand (no pipeline task this model
cannot run, metrics, a model-index from `halsted evaluate --model DIR --write-card`), a snippet that runs
without halsted_hf, and a data statement from the training record instead of a promise of an evaluation."""

from __future__ import annotations

import json
import os
import shutil

from huggingface_hub import ModelCard

from helpers import make_tiny_atlas

from halsted_hf.cli import main
from halsted_hf.model.model_card import NOT_EVALUATED, summarise_card, write_model_card


def test_a_fresh_card_has_hub_metadata_a_remote_code_snippet_and_says_it_is_unevaluated(tiny_model_dir, tmp_path):
    from halsted_hf.model.registry import create

    model, _ = create(tiny_model_dir)
    text = open(write_model_card(str(tmp_path), model.config, model=model), encoding="utf-8").read()
    meta = ModelCard(text).data.to_dict()
    assert meta["library_name"] == "transformers" and "pipeline_tag" not in meta
    assert {"accuracy", "roc_auc"} <= set(meta["metrics"])
    assert 'from_pretrained("path/to/this/folder", trust_remote_code=True)' in text
    assert 'AutoProcessor.from_pretrained("path/to/this/folder", trust_remote_code=True)' in text
    assert NOT_EVALUATED in text and "check the evaluation below" not in text
    assert summarise_card("m", "r", str(tmp_path)).trained_on.startswith("not recorded")


def test_evaluate_write_card_puts_the_results_and_a_model_index_in_the_card(tiny_model_dir, tmp_path):
    from halsted_hf.data.atlas import tags_of
    from halsted_hf.data.windows import read_windows
    from halsted_hf.training.record import training_record, write_training_record

    atlas = make_tiny_atlas(str(tmp_path / "atlas"), seconds=4)
    model = str(tmp_path / "model")
    shutil.copytree(tiny_model_dir, model)
    clips = read_windows(atlas)
    trained = clips[clips.video_id == "v0"]
    write_training_record(model, training_record([tags_of(t) for t in trained.tags], list(trained.task), ["v0"],
                                                 ["v1"]))
    os.remove(os.path.join(model, "README.md"))
    out = str(tmp_path / "eval")
    assert main(["evaluate", "--model", model, "--atlas", atlas, "--out", out, "--n-boot", "20", "--repr-points", "0",
                 "--write-card"]) == 0
    text = open(os.path.join(model, "README.md"), encoding="utf-8").read()
    card = ModelCard(text)
    report = json.load(open(os.path.join(out, "report.json")))
    pooled = {t["task"]: t["accuracy"][0] for t in report["runs"]["model"]["pooled"]["tasks"]}
    results = {r.task_name: r.metric_value for r in card.data.eval_results}
    assert results.keys() == pooled.keys()
    assert all(abs(results[t] - round(100 * pooled[t], 2)) < 1e-9 for t in pooled)
    assert "halsted-evaluate: begin" in text and NOT_EVALUATED not in text
    assert "check the evaluation below" in text
    summary = summarise_card("model", "r", model)
    assert summary.trained_on.startswith("1 training and 1 validation videos")
    assert summary.accuracy.startswith("accuracy ")
