"""Calibration (halsted_hf/evaluation/calibration.py): temperatures fitted per task on validation
predictions lower the expected calibration error on held-out ones; the model folder's calibration.json
is applied at mapping time; the report shows ECE before/after and a reliability diagram."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from halsted_hf.evaluation.calibration import (calibration_markdown, calibration_rows, expected_calibration_error,
                                               fit_task_temperatures, plot_reliability, save_calibration, scale)


def toy_predictions(n: int, seed: int) -> pd.DataFrame:
    """A deliberately miscalibrated toy classifier: per clip a true probability q of being right; the
    "model" reports q sharpened by T = 3 (overconfident) for one task and softened by T = 0.5
    (underconfident) for another, as evaluation/predictions.py's rows (task, true, pred, score)."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, t_true in (("proficiency", 3.0), ("context", 0.5)):
        q = rng.uniform(0.35, 0.95, n)
        right = rng.random(n) < q
        reported = scale(q, 1.0 / t_true)  # logit(q) * t_true
        for ok, p in zip(right, reported):
            rows.append({"task": task, "tag": "phase", "true": "driving", "pred": "driving" if ok else "withdrawal",
                         "score": float(p)})
    return pd.DataFrame(rows)


def test_temperature_scaling_lowers_ece_on_held_out_predictions():
    validation, held_out = toy_predictions(2000, seed=0), toy_predictions(2000, seed=1)
    temps = fit_task_temperatures(validation)
    assert temps["proficiency"] == pytest.approx(3.0, rel=0.2)  # overconfident: softened
    assert temps["context"] == pytest.approx(0.5, rel=0.2)  # underconfident: sharpened
    rows = {r["task"]: r for r in calibration_rows(temps, held_out)}
    for task in ("proficiency", "context"):
        assert rows[task]["ece_after"] < rows[task]["ece_before"] / 2, rows[task]
        assert rows[task]["ece_after"] < 0.05


def test_a_task_without_a_validation_error_keeps_its_scores():
    """A task right on every validation window (the 432-video demo's macro-activity) gives no finite optimum:
    the NLL keeps falling as T -> 0. The fit leaves T at 1 instead of sharpening every score to certainty;
    a task with errors is still fitted."""
    scores = np.linspace(0.6, 0.99, 200)
    validation = pd.DataFrame({"task": ["macro-activity"] * 200, "tag": "step", "true": "suturing",
                               "pred": "suturing", "score": scores})
    wrong = validation.assign(task="context", pred="dissection")
    mixed = validation.assign(task="proficiency", pred=np.where(np.arange(200) % 4 == 0, "dissection", "suturing"))
    temps = fit_task_temperatures(pd.concat([validation, wrong, mixed]))
    assert temps["macro-activity"] == 1.0 and temps["context"] == 1.0
    assert temps["proficiency"] != 1.0


def test_ece_is_zero_for_a_calibrated_model_and_large_for_a_sure_wrong_one():
    assert expected_calibration_error([1.0] * 10, [1] * 10) == 0.0
    assert expected_calibration_error([0.95] * 10, [0] * 10) == pytest.approx(0.95)


def test_the_report_section_and_reliability_diagram(tmp_path):
    rows = calibration_rows(fit_task_temperatures(toy_predictions(500, 0)), toy_predictions(500, 1))
    png = plot_reliability(rows, str(tmp_path / "reliability.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    text = calibration_markdown(rows, "figures/reliability.png")
    assert "| proficiency |" in text and "ECE before" in text and "![reliability diagram]" in text
    from halsted_hf.evaluation.report import markdown

    report = {"runs": {}, "calibration": rows, "calibration_figure": "figures/reliability.png"}
    assert "## Calibration" in markdown(report, {})
    json.dumps(rows)  # report.json can hold it


def test_mapping_applies_the_model_folders_temperatures(tiny_model_dir, tmp_path):
    from halsted_hf.mapping.workflow_engine import load_model

    calibrated = tmp_path / "calibrated"
    shutil.copytree(tiny_model_dir, calibrated)
    save_calibration(str(calibrated), {"macro-activity": 3.0}, fitted_on="toy")
    raw, cal = load_model(tiny_model_dir), load_model(str(calibrated))
    assert cal.temperatures == {"macro-activity": 3.0} and raw.temperatures == {}
    clip = np.random.default_rng(0).integers(0, 255, (raw.num_frames, raw.image_size, raw.image_size, 3), np.uint8)
    embeds = raw.encode([clip, np.ascontiguousarray(clip[::-1])])
    tags_raw, scores_raw = raw.generate(embeds, "macro-activity")
    tags_cal, scores_cal = cal.generate(embeds.to(cal.device), "macro-activity")
    assert tags_cal == tags_raw  # scaling never changes what was emitted
    for s_raw, s_cal in zip(scores_raw, scores_cal):
        assert s_raw and all(s_cal[k] == pytest.approx(float(scale(v, 3.0))) for k, v in s_raw.items())
