"""Real-data check: train a tiny Halsted on CholecT50 mini (5 real laparoscopic videos) with whole videos held out,
then evaluate it (accuracy per tag beside chance and the SAIS-style baseline).

    .venv/bin/python benchmarks/cholect50_check.py [--data ../shared/data/cholect50-val-mini] [--out /tmp/c50]

The frames are read where they lie (never copied); the atlas, cache, run and report go to --out. The tiny
model's encoder is random and frozen (no pretrained VideoMAE weights on these machines), so this checks the
pipeline on real data and measures what a random frozen encoder's features carry; it is not the paper's number.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                            "cholect50-val-mini")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default="/tmp/halsted-cholect50-check")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--window-s", type=int, default=8, help="clip length in seconds (1 fps frames)")
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()

    from halsted_hf.data.atlas import write_atlas
    from halsted_hf.data.loaders import load_cholect50
    from halsted_hf.evaluation.end_to_end import evaluate_runs
    from halsted_hf.training.cv import run_cv
    from halsted_hf.training.trainer import TrainConfig

    os.makedirs(args.out, exist_ok=True)
    df = load_cholect50(args.data, window_s=args.window_s)
    atlas = write_atlas(df, os.path.join(args.out, "atlas.parquet"))
    print(f"atlas: {len(df)} clips, {df['video_id'].nunique()} videos, tasks {df['task'].value_counts().to_dict()}")
    run = os.path.join(args.out, "run")
    t0 = time.time()
    from halsted_hf.data.loaders.cholect50 import cholect50_taxonomy
    from halsted_hf.model.hub import build_model, save_hub_layout

    # a tiny random model whose vocabulary is CholecT50's taxonomy (phases; instrument, verb, target)
    init = os.path.join(args.out, "init-model")
    model, processor = build_model("tiny", seed=0, taxonomy=cholect50_taxonomy().to_dict())
    save_hub_layout(model, processor, init)
    run_cv(atlas, run, model_path=init, folds=args.folds, val_videos=1, test_videos=1,
           cfg=TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=32))
    t_train = time.time() - t0
    report = evaluate_runs([run], os.path.join(args.out, "evaluation"), atlas_path=atlas, n_boot=args.n_boot,
                           baseline_kwargs={"epochs": 60, "lr": 1e-3})
    pooled = report["runs"]["run"]["pooled"]
    print(f"trained {args.folds} folds in {t_train:.0f} s; test videos {pooled['test_videos']} "
          f"(CI unit {pooled['ci_unit']})")
    print("| tag | n | Halsted accuracy % (95% CI) | chance 1/K % | majority % | SAIS-style % |")
    print("| --- | --- | --- | --- | --- | --- |")
    pct = lambda ci: "-" if not ci or ci[0] is None else f"{100 * ci[0]:.1f} ({100 * ci[1]:.1f}-{100 * ci[2]:.1f})"  # noqa: E731
    for r in pooled["tags"]:
        print(f"| {r['tag']} | {r['n']} | {pct(r['accuracy'])} | {100 * r['chance_uniform']:.1f} | "
              f"{pct(r.get('majority_accuracy'))} | {pct(r.get('sais_accuracy'))} |")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"train_s": t_train, "pooled_tags": pooled["tags"]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
