"""Small things on an ML engineer's first hour: `halsted self-label --model demo` (a registered name means its
folder; a model whose training record names its validation videos but whose run folder is not here is told
exactly what to pass, not that it has no record) and `convert-backbone --taxonomy NAME` (a shipped taxonomy by
name, not a path inside the package)."""

from __future__ import annotations

import json

from halsted_hf.cli import main


def test_self_label_on_the_demo_asks_for_the_atlas_of_its_recorded_validation_videos(tmp_path, make_video, capsys):
    make_video(tmp_path / "videos" / "case.mp4", 2.0, size="96x72", rate=10)
    code = main(["self-label", "--model", "demo", "--videos", str(tmp_path / "videos"), "--out", str(tmp_path / "v2")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "training_record.json names the model's validation videos (synth-" in err
    assert "--calibration-atlas ATLAS" in err


def test_convert_backbone_takes_a_shipped_taxonomy_by_name(tmp_path):
    out = tmp_path / "cholect50-start"
    assert main(["convert-backbone", "efficientnet-lite0", str(out), "--taxonomy", "cholect50", "--num-frames", "2",
                 "--image-size", "32"]) == 0
    config = json.load(open(out / "config.json"))
    assert config["taxonomy"]["name"] == "cholect50"
