"""The self-labelling experiment: does atlas v2 = v1 + a model's confident self-labels train a
better model than v1 alone?

    PYTHONPATH=. python benchmarks/self_label_experiment.py --out /tmp/self-label-exp

(defaults: 14 synthetic videos of 2 min at 112x84, v1 and v2 from the pretrained frozen EfficientNet-Lite0 at
8 frames x 192 px, 5 epochs; about 2 min on the quiet 2-core CPU box, docs/benchmarks.md)

On a synthetic atlas (`halsted synth`, exact ground truth), the videos are split three ways:
- labelled (atlas v1): `--labelled` videos, `--val` of them validate (and calibrate the thresholds);
- unlabelled: `--unlabelled` videos whose ground truth is held back: it only measures the self-labels;
- test: `--test` human-labelled videos that neither model trains or validates on.
v1 trains on v1; `halsted self-label` (the same code) labels the unlabelled videos at `--precision`; v2 trains
on v1 + self-labels with the same settings, seed and validation videos. Both are scored on the same test
clips; the table gives accuracy per task with 95% CIs and the paired bootstrap CI of v2 - v1
(halsted_hf/evaluation/bootstrap.py). Writes OUT/RESULTS.md and OUT/results.json. Rerunning reuses the
rendered videos, the trained runs and the self-labels (each step resumes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read_clips(path: str):
    """Test clips as training and evaluation read them: the mapping workflow's windows (data/windows.py)."""
    from halsted_hf.data.windows import read_windows

    return read_windows(path)


def _predict(model_dir: str, df, name: str, batch_size: int = 16):
    from halsted_hf.evaluation.predictions import clip_embeddings, halsted_predictions
    from halsted_hf.model.registry import create

    model, processor = create(model_dir)
    embeddings = clip_embeddings(model, processor, df, batch_size)
    return halsted_predictions(model, processor, df, embeddings, fold="test", system=name)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="working folder (synthetic videos, atlases, runs, RESULTS.md)")
    p.add_argument("--labelled", type=int, default=5, help="videos with human labels in atlas v1 (default 5)")
    p.add_argument("--val", type=int, default=2, help="of those, validation videos (default 2)")
    p.add_argument("--unlabelled", type=int, default=6, help="videos to self-label (default 6)")
    p.add_argument("--test", type=int, default=3, help="held-out human-labelled test videos (default 3)")
    p.add_argument("--minutes", type=float, default=2.0, help="length of each synthetic video (default 2)")
    p.add_argument("--size", default="112x84", help="frame size WxH of the synthetic videos (default 112x84)")
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--backbone", default="efficientnet-lite0",
                   help="start v1 and v2 from `halsted convert-backbone BACKBONE` (pretrained, frozen; default "
                        "efficientnet-lite0), or 'tiny' for the random tiny preset")
    p.add_argument("--num-frames", type=int, default=8, help="frames per clip of the backbone start (default 8)")
    p.add_argument("--image-size", type=int, default=192, help="frame side of the backbone start (default 192)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--precision", type=float, default=0.8, help="self-label precision target (default 0.8)")
    p.add_argument("--self-label-weight", type=float, default=1.0, help="loss weight of self-label rows in v2")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not (0 < args.val < args.labelled and args.unlabelled >= 1 and args.test >= 1):
        p.error("need 0 < --val < --labelled, --unlabelled >= 1 and --test >= 1")
    return args


def run(args) -> dict:
    from common import machine
    from halsted_hf.commands.self_label import mapper_for
    from halsted_hf.data.atlas import read_atlas, write_atlas
    from halsted_hf.data.synthetic import render_atlas
    from halsted_hf.evaluation.evaluate import compare_systems
    from halsted_hf.training.cv import run_cv
    from halsted_hf.training.self_label import measured_precision, output_paths, self_label
    from halsted_hf.training.trainer import TrainConfig

    t0 = time.time()
    load_start = os.getloadavg()[0]  # the box is shared: the timings mean little without the load
    os.makedirs(args.out, exist_ok=True)
    n = args.labelled + args.unlabelled + args.test
    w, h = (int(v) for v in args.size.split("x"))
    synth = os.path.join(args.out, "synth")
    atlas_path = os.path.join(synth, "atlas.parquet")
    if not os.path.exists(atlas_path):
        render_atlas(synth, n, args.minutes, seed=args.seed, size=(w, h), fps=args.fps)
    truth = read_atlas(atlas_path)
    ids = sorted(truth["video_id"].unique())
    labelled = ids[:args.labelled]
    unlabelled, test = ids[args.labelled:args.labelled + args.unlabelled], ids[-args.test:]
    part = lambda vs: truth[truth["video_id"].isin(vs)]  # noqa: E731
    v1 = write_atlas(part(labelled), os.path.join(args.out, "atlas-v1.parquet"))
    test_atlas = write_atlas(part(test), os.path.join(args.out, "atlas-test.parquet"))
    videos = os.path.join(args.out, "unlabelled.txt")
    with open(videos, "w") as f:
        f.write("\n".join(part([v])["video_path"].iloc[0] for v in unlabelled) + "\n")
    timings = {"render_s": round(time.time() - t0, 1)}

    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, warmup_epochs=1, seed=args.seed)
    cache = os.path.join(args.out, "cache")  # v1 and v2 share the frozen encoder: one feature cache
    if args.backbone == "tiny":
        start = dict(preset="tiny")
    else:
        from halsted_hf.model.convert_backbone import convert_backbone

        start_dir = os.path.join(args.out, "start")
        if not os.path.exists(os.path.join(start_dir, "config.json")):
            convert_backbone(args.backbone, start_dir, seed=args.seed,
                             vision_config={"num_frames": args.num_frames, "image_size": args.image_size})
        start = dict(model_path=start_dir, preset=None)
    common = dict(**start, cache=cache, folds=1, val_videos=args.val, test_videos=0, cfg=cfg, log=lambda m: None)
    t = time.time()
    run_cv(v1, os.path.join(args.out, "run-v1"), **common)
    timings["train_v1_s"] = round(time.time() - t, 1)
    v1_model = os.path.join(args.out, "run-v1", "fold-0", "best")

    t = time.time()
    out = os.path.join(args.out, "atlas-v2")
    record = self_label(v1_model, [videos], out, mapper_for(v1_model, "full"), base=v1, precision=args.precision,
                        log=lambda m: print(m, flush=True))
    timings["self_label_s"] = round(time.time() - t, 1)
    v2_atlas = read_atlas(output_paths(out)[0])
    rows = v2_atlas[v2_atlas["annotation_source"] == "self-label"]
    precision = measured_precision(rows, part(unlabelled))
    windows = _read_clips(output_paths(out)[0])  # what training reads: the rows cut into the workflow's windows
    self_windows = int((windows["annotation_source"] == "self-label").sum())

    t = time.time()
    weights = {"self-label": args.self_label_weight} if args.self_label_weight != 1.0 else None
    run_cv(output_paths(out)[0], os.path.join(args.out, "run-v2"), source_weights=weights, **common)
    timings["train_v2_s"] = round(time.time() - t, 1)
    v2_model = os.path.join(args.out, "run-v2", "fold-0", "best")

    t = time.time()
    clips = _read_clips(test_atlas)
    p1, p2 = _predict(v1_model, clips, "v1"), _predict(v2_model, clips, "v2")
    unit = "video" if args.test >= 5 else "clip"
    by_task = compare_systems(p2, p1, "task", args.n_boot, unit, args.seed)
    overall = compare_systems(p2.assign(all="all"), p1.assign(all="all"), "all", args.n_boot, unit, args.seed)
    timings["evaluate_s"] = round(time.time() - t, 1)
    timings["total_s"] = round(time.time() - t0, 1)
    cal = next(iter(record["calibrations"].values()))
    result = {"args": vars(args), "machine": machine(), "videos": {"labelled": labelled, "unlabelled": unlabelled,
              "test": test}, "self_label_rows": int(len(rows)), "v1_rows": int(len(read_atlas(v1))),
              "calibration": cal, "measured_precision": precision, "by_task": by_task, "overall": overall,
              "ci_unit": unit, "timings": timings, "self_label_windows": self_windows,
              "v1_windows": int(len(windows) - self_windows),
              "load_average": [round(load_start, 1), round(os.getloadavg()[0], 1)],
              "v2_rows_by_task": {k: int(v) for k, v in rows.groupby("task").size().items()} if len(rows) else {}}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
        f.write(markdown(result))
    return result


def _pct(ci) -> str:
    if not ci or ci[0] is None:
        return "-"
    return f"{100 * ci[0]:.1f}" if ci[1] is None else f"{100 * ci[0]:.1f} ({100 * ci[1]:.1f} to {100 * ci[2]:.1f})"


def markdown(r: dict) -> str:
    a = r["args"]
    lines = [f"Self-labelling experiment, {r['machine']['date']}, {r['machine']['host_cpu']} "
             f"({r['machine']['cores']} cores).",
             "", f"Videos: {a['labelled']} labelled ({a['val']} validation), {a['unlabelled']} self-labelled, "
             f"{a['test']} test; {a['minutes']} min each, {a['size']} at {a['fps']} fps; "
             f"start {a.get('backbone', 'tiny')} ({a.get('num_frames')} frames at {a.get('image_size')} px); "
             f"{a['epochs']} epochs, precision target {a['precision']}, self-label weight {a['self_label_weight']}. "
             f"Atlas v1: {r['v1_rows']} rows; self-labels: {r['self_label_rows']} rows {r['v2_rows_by_task']}"
             + (f"; training windows: v1 {r['v1_windows']}, self-labels {r['self_label_windows']}"
                if "v1_windows" in r else "")
             + f". 95% CIs by bootstrap over {r['ci_unit']}s.",
             "", "| task | n | v1 accuracy % | v2 accuracy % | v2 - v1 (paired) |", "| --- | --- | --- | --- | --- |"]
    for row in r["by_task"] + r["overall"]:
        name = row.get("task", row.get("all"))
        lines.append(f"| {name} | {row['n']} | {_pct(row['b'])} | {_pct(row['a'])} | {_pct(row['difference'])} |")
    lines += ["", "Self-labels against the held-back truth (precision in seconds) and the thresholds chosen on the "
              "validation videos:", "",
              "| tag | threshold | precision on validation | measured precision | self-label rows |",
              "| --- | --- | --- | --- | --- |"]
    for tag, c in r["calibration"]["tags"].items():
        m = r["measured_precision"].get(tag, {})
        th = "none" if c["threshold"] is None else f"{c['threshold']:.3f}"
        val = "-" if c["precision"] is None else f"{c['precision']:.3f}"
        got = "-" if m.get("precision") is None else f"{m['precision']:.3f}"
        lines.append(f"| {tag} | {th} | {val} | {got} | {m.get('rows', 0)} |")
    allp = r["measured_precision"].get("all", {}).get("precision")
    better = [row for row in r["overall"] if row["difference_excludes_0"] and row["difference"][0] > 0]
    lines += ["", f"All tags: measured precision {allp if allp is not None else '-'}. "
              + ("v2 is better than v1 overall (the paired CI excludes 0)." if better else
                 "**v2 is not better than v1**: the paired CI of the overall difference includes 0 (or is below it)."),
              "", f"Timings (s): {r['timings']}; load average at start and end: {r.get('load_average')}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
