"""Is there proficiency signal in pixel motion that the frozen frame features miss? Linear probes on the demo
build's windows: the proficiency and phase tags of the proficiency task, trained on the training
videos' windows, scored on the held-out videos' (or, with --score-on validation, the build's validation videos').

    python benchmarks/motion_probe.py WORK [--size 32] [--score-on heldout|validation] [--test ATLAS]
                                                  # WORK: benchmarks/build_demo_model.py's folder

Three inputs per window (8 frames of 128 px, as mapping samples them):
  pooled   the frozen EfficientNet-Lite0 features from WORK/cache: mean over frames and mean |frame difference|;
  motion   the motion stream's statistics (`pixel_motion` of 32 x 32 grey thumbnails), each sorted over time (a
           linear probe needs an order-free summary; the temporal module sees the sequence);
  both     the two side by side.
Each: standardised, logistic regression (C 0.05); accuracy, majority rate and (binary tags) AUROC; JSON in
WORK/motion_probe-SCORE_ON-SIZE.json. Score on the validation videos to choose something (the held-out ones
then stay unseen).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work")
    ap.add_argument("--size", type=int, default=32, help="thumbnail side")
    ap.add_argument("--score-on", choices=("heldout", "validation"), default="heldout",
                    help="score the probes on the held-out test videos (default) or on the build's validation videos "
                         "(use these to choose; the held-out ones then stay unseen)")
    ap.add_argument("--test", default=None,
                    help="with --score-on heldout: the held-out atlas (default WORK/heldout-s77), e.g. a larger one "
                         "from a seed never used in training")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from halsted_hf.data.feature_cache import decode_clips, load_cached, normalise
    from halsted_hf.data.windows import read_windows
    from halsted_hf.model.registry import create
    from halsted_hf.model.modeling_halsted import frame_thumbnails, pixel_motion

    work = os.path.abspath(args.work)
    with open(os.path.join(work, "run", "fold-0", "split.json")) as f:
        split = json.load(f)
    train_videos = split["train"]
    built = read_windows(os.path.join(work, "run", "atlas.parquet"))
    train = built[built["video_id"].isin(train_videos)]
    heldout = os.path.abspath(args.test or os.path.join(work, "heldout-s77"))
    test = (read_windows(heldout) if args.score_on == "heldout"
            else built[built["video_id"].isin(split["val"])])
    model, processor = create(os.path.join(work, "start"))
    tower = model.config.vision_config.hidden_size

    def inputs(df):
        df = df[df["task"] == "proficiency"].reset_index(drop=True)
        emb = load_cached(df, os.path.join(work, "cache"), model=model, processor=processor).float()[..., :tower]
        pooled = torch.cat([emb.mean(1), (emb[:, 1:] - emb[:, :-1]).abs().mean(1)], 1).numpy()
        clips = torch.from_numpy(decode_clips(list(zip(df["video_path"], df["start_s"], df["end_s"])),
                                              processor.num_frames, processor.image_size))
        px = normalise(clips, processor.image_mean, processor.image_std)
        b, t = px.shape[:2]
        thumbs = frame_thumbnails(px.flatten(0, 1), args.size).view(b, t, args.size, args.size)
        m = pixel_motion(thumbs)[:, 1:]  # frame 0 has no previous frame
        motion = m.sort(dim=1).values.flatten(1).numpy()
        return df, {"pooled": pooled, "motion": motion, "both": np.hstack([pooled, motion])}

    dtr, xtr = inputs(train)
    dte, xte = inputs(test)
    print(f"{len(dtr)} training windows ({len(train_videos)} videos), {len(dte)} {args.score_on} windows")
    rows = []
    for tag in ("proficiency", "phase"):
        ytr = np.array([json.loads(t)[tag] for t in dtr["tags"]])
        yte = np.array([json.loads(t)[tag] for t in dte["tags"]])
        values, counts = np.unique(ytr, return_counts=True)
        majority = float((yte == values[counts.argmax()]).mean())
        for name in ("pooled", "motion", "both"):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)).fit(xtr[name], ytr)
            acc = float((clf.predict(xte[name]) == yte).mean())
            auroc = (float(roc_auc_score(yte == clf.classes_[1], clf.predict_proba(xte[name])[:, 1]))
                     if len(clf.classes_) == 2 else None)
            rows.append({"tag": tag, "input": name, "accuracy": round(acc, 3), "majority": round(majority, 3),
                         "auroc": None if auroc is None else round(auroc, 3)})
            print(f"{tag:12s} {name:7s} accuracy {acc:.3f} (majority {majority:.3f})"
                  + (f" AUROC {auroc:.3f}" if auroc is not None else ""))
    scored = os.path.basename(heldout) if args.test and args.score_on == "heldout" else args.score_on
    with open(os.path.join(work, f"motion_probe-{scored}-{args.size}.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
