"""Fit the demo model's calibration and measure it (docs/evaluation.md, "Calibration").

Re-renders the demo model's validation video (synth-s0-v002) and held-out test video (synth-s0-v009)
from the plan it was trained on (`halsted synth --videos 12 --minutes 4.5 --seed 0`, see its card),
predicts every labelled clip, fits one temperature per task on the validation video, and reports the
expected calibration error per task on the test video before and after scaling.

    python benchmarks/calibrate_demo.py OUT_DIR [--save]   # --save writes calibration.json into the demo model
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()

    from halsted_hf.data.atlas import to_frame
    from halsted_hf.data.synthetic.build import DEFAULT_SIZE, render_videos
    from halsted_hf.data.synthetic.script import plan_atlas
    from halsted_hf.evaluation.calibration import (calibration_markdown, calibration_rows, fit_task_temperatures,
                                                   plot_reliability, save_calibration)
    from halsted_hf.evaluation.predictions import clip_embeddings, halsted_predictions
    from halsted_hf.model.hub import DEMO_MODEL_PATH, load_pretrained

    wanted = {"synth-s0-v002": "validation", "synth-s0-v009": "test"}
    scripts = [s for s in plan_atlas(12, 4.5, 0) if s.video_id in wanted]
    render_videos(scripts, args.out, DEFAULT_SIZE, workers=1)
    df = to_frame([r for s in scripts for r in s.atlas_rows(os.path.join(args.out, "videos", f"{s.video_id}.mp4"))])
    model, processor = load_pretrained(DEMO_MODEL_PATH)
    preds = halsted_predictions(model, processor, df, clip_embeddings(model, processor, df))
    val = preds[preds["video_id"] == "synth-s0-v002"]
    test = preds[preds["video_id"] == "synth-s0-v009"]
    temps = fit_task_temperatures(val)
    rows = calibration_rows(temps, test)
    plot_reliability(rows, os.path.join(args.out, "reliability.png"))
    print(calibration_markdown(rows, "reliability.png"))
    print(json.dumps({"validation_rows": len(val), "test_rows": len(test), "temperatures": temps}))
    if args.save:
        print(save_calibration(DEMO_MODEL_PATH, temps, "validation video synth-s0-v002 of the demo's synthetic "
                                                     "atlas (halsted synth --videos 12 --minutes 4.5 --seed 0)"))


if __name__ == "__main__":
    main()
