"""Real-data model: Halsted with the pretrained EfficientNet-Lite frame encoder frozen, on CholecT50 mini, leaving
each of the five videos out in turn; against the training videos' majority class, the same model with a randomly
initialised encoder, and per-task models (same encoder, temporal module, decoder and recipe, one task each).

    python benchmarks/cholect50_real.py [--data ../shared/data/cholect50-val-mini] [--out /tmp/c50-real]

1. Per-frame cache: the package's feature cache (halsted_hf/data/feature_cache.py, what `halsted features`
   writes) in OUT/frames/pretrained and OUT/frames/random: every frame instant a clip shows is encoded once per
   encoder and image size, keyed by content (shards are written as they fill, so an interrupted run resumes).
   A window of W seconds shows W frames at `clip_timestamps` instants (second N's frame at N + 0.5 s), so no
   pixel is decoded twice.
2. Per fold (test video v): the temporal module and decoder train from the cached features of the other four
   videos for a fixed number of epochs (no validation video: with five videos every one is a test video once);
   the last epoch is scored. The encoder's weights never change.
3. Scores, pooled over the five test folds: phase, instrument, verb, target accuracy with 95% bootstrap CIs over
   clips (five videos are too few for a video-level bootstrap to mean much) and the paired differences against
   each comparator; instrument presence mean AUROC from the model's per-category probabilities of the
   instrument tag (`generate(...).distributions`), on every window, a window's instruments being all those in
   its triplets.

The frames are CC BY-NC-SA: they are read where they lie, and nothing trained on them is written outside OUT.
Prints the markdown tables and writes OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import machine  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                            "cholect50-val-mini")
TAGS = ("phase", "instrument", "verb", "target")


# ---- 1. the per-frame cache ----------------------------------------------------------------------------------
def frame_cache(model, processor, df, cache_dir: str) -> str:
    """Fill the package's per-frame feature cache (data/feature_cache.py) for every clip of `df`; one cache
    folder per encoder (a cache holds one encoder's features)."""
    from halsted_hf.data.feature_cache import build_cache

    summary = build_cache(df, cache_dir, model=model, processor=processor, kind="features")
    print(f"  {cache_dir}: {summary['cached']} frames cached, {summary['computed']} computed", flush=True)
    return cache_dir


def clip_tensor(df, model, processor, cache_dir: str) -> torch.Tensor:
    """(N, T, Df): each row's window as T cached frame features (`clip_timestamps` instants)."""
    from halsted_hf.data.feature_cache import load_cached

    return load_cached(df, cache_dir, model=model, processor=processor, kind="features")


# ---- 2. training from the cache ------------------------------------------------------------------------------
def new_model(args, pretrained: bool):
    from halsted_hf.data.loaders.cholect50 import cholect50_taxonomy
    from halsted_hf.model.convert_backbone import load_frame_encoder_weights
    from halsted_hf.model.hub import build_model

    # the decoder is narrower than the preset's (512) so that 5 folds x 3 models train in minutes on 2 shared cores
    model, processor = build_model(args.variant, seed=args.seed, taxonomy=cholect50_taxonomy().to_dict(),
                                   vision_config={"num_frames": args.window_s, "image_size": args.size},
                                   hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_attention_heads=4)
    if pretrained:
        load_frame_encoder_weights(model, args.variant)
    return model.eval(), processor


def train(model, data, args, batches=None) -> float:
    """Fixed-epoch AdamW with the trainer's schedule on cached per-frame features (the package's training loop,
    training/loop.py); returns the last epoch's loss. `batches`: epoch -> row batches (default: a shuffle)."""
    from halsted_hf.training.loop import fit, make_optimizer, shuffled_batches
    from halsted_hf.training.trainer import TrainConfig

    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, warmup_epochs=1.0, seed=args.seed)
    torch.manual_seed(args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(params, cfg, len(data))

    def batch_loss(idx):
        return model(video_embeds=data.video[idx], instruction_ids=data.instruction_ids[idx],
                     instruction_mask=data.instruction_mask[idx], labels=data.labels[idx]).loss

    epochs = fit(model, optimizer, scheduler, batches or shuffled_batches(len(data), cfg.batch_size, cfg.seed),
                 batch_loss, cfg.epochs)
    return epochs[-1].mean_loss if epochs else float("nan")


def decode(model, processor, video, task_names):
    from halsted_hf.training.trainer import generate_all

    enc = processor.encode_instructions(task_names)
    tags, _, dists = generate_all(model, processor, video, enc["instruction_ids"], enc["instruction_mask"])
    return tags, dists


# ---- 3. scores ------------------------------------------------------------------------------------------------
def ci(fn, *arrays, n_boot):
    from halsted_hf.evaluation.bootstrap import bootstrap_ci

    return [round(100 * v, 1) for v in bootstrap_ci(fn, *arrays, n_boot=n_boot, seed=0)]


def mean_auroc(y, p):
    from halsted_hf.evaluation.metrics import auroc

    vals = [auroc(y[:, c], p[:, c]) for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
    vals = [v for v in vals if not np.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default="/tmp/halsted-cholect50-real")
    ap.add_argument("--variant", default="lite0")
    ap.add_argument("--size", type=int, default=224, help="frame side fed to the encoder (native 224 for Lite0)")
    ap.add_argument("--window-s", type=int, default=8, help="clip length in seconds = frames per clip (1 fps)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256, help="decoder width (the lite0 preset's is 512)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--no-per-task", action="store_true", help="skip the per-task models (half the training time)")
    ap.add_argument("--no-random", action="store_true", help="skip the random-encoder model")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from halsted_hf.data.atlas import tags_of
    from halsted_hf.data.loaders import load_cholect50
    from halsted_hf.data.loaders.cholect50 import cholect50_taxonomy
    from halsted_hf.evaluation.bootstrap import bootstrap_ci
    from halsted_hf.training.data import encode_atlas

    t_start = time.time()
    df = load_cholect50(args.data, window_s=args.window_s).reset_index(drop=True)
    windows = df[df["task"] == "phase"].reset_index(drop=True)  # every labelled window (each has a phase)
    # a window's instruments: every instrument of every triplet on its frames
    present = defaultdict(set)
    for _, r in load_cholect50(args.data, window_s=args.window_s, triplets="all").iterrows():
        if r["task"] == "action-triplet":
            present[(r["video_id"], r["start_s"])].add(tags_of(r["tags"])["instrument"])
    instruments = cholect50_taxonomy().task("action-triplet").tags["instrument"]
    videos = sorted(df["video_id"].unique())
    print(f"{len(df)} clips ({dict(Counter(df['task']))}), {len(windows)} windows of {args.window_s} s, "
          f"videos {videos}", flush=True)

    arms = {"pretrained": True, "random": False}
    caches, timings = {}, {}
    for arm, pretrained in arms.items():
        t0 = time.time()
        model, processor = new_model(args, pretrained)
        caches[arm] = frame_cache(model, processor, df, os.path.join(args.out, "frames", arm))
        timings[f"features_{arm}_s"] = round(time.time() - t0, 1)
        print(f"frame features ({arm}): {timings[f'features_{arm}_s']} s", flush=True)

    preds = defaultdict(list)   # system -> per test row {tag: category}
    truth, inst_y, inst_p = [], [], defaultdict(list)
    t_train = time.time()
    for v in videos:
        tr, te = df[df["video_id"] != v], df[df["video_id"] == v]
        te_win = windows[windows["video_id"] == v]
        truth += [tags_of(t) for t in te["tags"]]
        inst_y += [[c in present[(v, s)] for c in instruments] for s in te_win["start_s"]]
        # majority class of the training videos, per tag
        counts = defaultdict(Counter)
        for t in tr["tags"]:
            for tag, cat in tags_of(t).items():
                counts[tag][cat] += 1
        preds["majority"] += [{tag: counts[tag].most_common(1)[0][0] for tag in tags_of(t)} for t in te["tags"]]
        systems = [("halsted", "pretrained", None)] + ([] if args.no_random else [("random", "random", None)])
        if not args.no_per_task:
            systems += [("per-task", "pretrained", "phase"), ("per-task", "pretrained", "action-triplet")]
        for system, arm, only in systems:
            model, processor = new_model(args, arms[arm])
            rows = tr if only is None else tr[tr["task"] == only]
            data = encode_atlas(rows, processor, clip_tensor(rows, model, processor, caches[arm]),
                                model.config.max_tag_length)
            loss = train(model, data, args)
            test = te if only is None else te[te["task"] == only]
            tags, _ = decode(model, processor, clip_tensor(test, model, processor, caches[arm]), list(test["task"]))
            if only is None:
                preds[system] += tags
            else:  # per-task: two models fill the rows of their own task
                preds.setdefault(f"_{v}", [None] * len(te))
                for i, t in zip(np.flatnonzero((te["task"] == only).to_numpy()), tags):
                    preds[f"_{v}"][i] = t
            if only in (None, "action-triplet"):  # instrument presence from the instrument tag's distribution
                _, dists = decode(model, processor, clip_tensor(te_win, model, processor, caches[arm]),
                                  ["action-triplet"] * len(te_win))
                inst_p[system] += [[d.get("instrument", {}).get(c, 0.0) for c in instruments] for d in dists]
            print(f"fold {v}: {system}{'' if only is None else '/' + only} trained ({len(rows)} clips, "
                  f"last loss {loss:.3f}, {time.time() - t_train:.0f} s so far)", flush=True)
        if not args.no_per_task:
            preds["per-task"] += preds.pop(f"_{v}")
    timings["train_and_decode_s"] = round(time.time() - t_train, 1)

    # ---- tables
    systems = (["halsted"] + ([] if args.no_random else ["random"]) + ["majority"]
               + ([] if args.no_per_task else ["per-task"]))
    result = {"command": " ".join(sys.argv), "machine": machine(), "args": vars(args), "timings": timings,
              "ci_unit": "clip", "videos": videos, "tags": {}, "instrument_presence": {}}
    lines = ["| tag | n | Halsted (pretrained, frozen) | same, random encoder | majority (training videos) | "
             "per-task models | Halsted - random | Halsted - majority | Halsted - per-task |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    fmt = lambda c: f"{c[0]:.1f} ({c[1]:.1f} to {c[2]:.1f})"  # noqa: E731
    for tag in TAGS:
        idx = [i for i, t in enumerate(truth) if tag in t]
        hits = {s: np.array([float(preds[s][i].get(tag) == truth[i][tag]) for i in idx]) for s in systems}
        entry = {"n": len(idx), **{s: ci(np.mean, hits[s], n_boot=args.n_boot) for s in systems}}
        for other in systems[1:]:
            entry[f"halsted_minus_{other}"] = ci(lambda a, b: np.mean(a - b), hits["halsted"], hits[other],
                                                 n_boot=args.n_boot)
        result["tags"][tag] = entry
        cell = lambda k: fmt(entry[k]) if k in entry else "not run"  # noqa: E731
        lines.append(f"| {tag} | {len(idx)} | {cell('halsted')} | {cell('random')} | {cell('majority')} | "
                     f"{cell('per-task')} | {cell('halsted_minus_random')} | {cell('halsted_minus_majority')} | "
                     f"{cell('halsted_minus_per-task')} |")
    lines += ["", "| instrument presence, mean AUROC over instruments | n windows | value (95% CI) |",
              "| --- | --- | --- |"]
    inst_y = np.array(inst_y, dtype=float)
    for s in [x for x in systems if x != "majority"]:
        p = np.array(inst_p[s])
        val = [round(x, 3) for x in bootstrap_ci(mean_auroc, inst_y, p, n_boot=args.n_boot // 4, seed=0)]
        result["instrument_presence"][s] = {"n": len(p), "mean_auroc": val}
        lines.append(f"| {s} | {len(p)} | {val[0]:.3f} ({val[1]:.3f} to {val[2]:.3f}) |")
    timings["total_s"] = round(time.time() - t_start, 1)
    print("\n".join(lines))
    print(json.dumps({"timings": timings, "machine": result["machine"]}))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
