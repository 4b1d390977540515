"""Fit the demo model's calibration and measure it (docs/evaluation.md, "Calibration").

Reads `benchmarks/build_demo_model.py`'s folder WORK: the demo model's validation videos (named in its
training_record.json, rendered in WORK/train-s*) and its held-out test videos (WORK/heldout-s77). Predicts every
mapping window of both, fits one temperature per task on the validation windows, and reports the expected
calibration error per task on the held-out windows before and after scaling.

    python benchmarks/calibrate_demo.py WORK [--save]   # --save writes calibration.json into the demo model
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--heldout", default=None, help="held-out atlas (default WORK/heldout-s77)")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()

    import pandas as pd

    from halsted_hf.data.windows import read_windows
    from halsted_hf.evaluation.calibration import (calibration_markdown, calibration_rows, fit_task_temperatures,
                                                   plot_reliability, save_calibration)
    from halsted_hf.evaluation.predictions import clip_embeddings, halsted_predictions
    from halsted_hf.model.registry import DEMO_MODEL_PATH, create
    from halsted_hf.training.record import read_training_record

    work = os.path.abspath(args.work)
    val_videos = read_training_record(DEMO_MODEL_PATH)["val_videos"]
    train = pd.concat([read_windows(a) for a in sorted(glob.glob(os.path.join(work, "train-s*")))])
    val_df = train[train["video_id"].isin(val_videos)].reset_index(drop=True)
    test_df = read_windows(args.heldout or os.path.join(work, "heldout-s77")).reset_index(drop=True)
    model, processor = create(DEMO_MODEL_PATH)
    val = halsted_predictions(model, processor, val_df, clip_embeddings(model, processor, val_df))
    test = halsted_predictions(model, processor, test_df, clip_embeddings(model, processor, test_df))
    temps = fit_task_temperatures(val)
    rows = calibration_rows(temps, test)
    plot_reliability(rows, os.path.join(work, "reliability.png"))
    print(calibration_markdown(rows, "reliability.png"))
    print(json.dumps({"validation_videos": val_videos, "validation_rows": len(val), "test_rows": len(test),
                      "temperatures": temps}))
    if args.save:
        print(save_calibration(DEMO_MODEL_PATH, temps, f"validation videos {', '.join(val_videos)} of the demo's "
                                                     f"synthetic atlas (benchmarks/build_demo_model.py): "
                                                     f"benchmarks/calibrate_demo.py"))


if __name__ == "__main__":
    main()
