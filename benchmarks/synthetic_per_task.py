"""The SAIS comparison on synthetic data: one Halsted model for the four tasks against four per-task models, on the
same frozen pretrained encoder, the same training videos and the same held-out videos.

    python benchmarks/synthetic_per_task.py WORK [--epochs 15] [--width 512]

WORK is `benchmarks/build_demo_model.py`'s folder: its per-frame cache (WORK/cache), its start model (WORK/start:
pretrained EfficientNet-Lite0 frozen, random temporal module and decoder), its training videos (WORK/run/fold-0's
split, validation videos left out) and its held-out videos (WORK/heldout-s77). Every model starts from WORK/start
and trains with the same recipe (AdamW, warm-up then cosine, a fixed number of epochs, the last one scored: no
validation-based selection, so neither side gets a luckier checkpoint); a per-task model sees only its task's
windows. Scored on the held-out windows: per-task component accuracy (a clip's tags each right or wrong), 95%
bootstrap CIs over clips (a clip's components resampled together), and the paired difference Halsted - per-task
on the same components. The bar is non-inferiority: the difference's lower CI end above -5 points. The difference's
CI is also given with whole test videos resampled (a video's clips are not independent), the stricter of the two.

`--width N` gives Halsted a wider temporal module and decoder (N wide, N / 64 heads, 4N feed-forward; the same
frozen encoder, written once to WORK/start-wN) while the per-task models keep the start's: at 512 against 256 the
one model holds about as many trainable parameters as the four per-task models together. The per-task models'
answers are kept in WORK/per_task_answers-*.json, named by everything that makes them (start, held-out set,
recipe, training videos), and reused by a later run with the same settings: only Halsted is trained again.
Halsted's answers are kept beside them (WORK/halsted_answers-*.json), and the summary gives each side's accuracy
per tag as well as per task. `--score-only` scores the answers kept by an earlier run with the same settings
again, without training (a new statistic on an old run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cholect50_real import decode, train  # noqa: E402  (the same fixed-epoch recipe as the CholecT50 comparison)
from common import machine  # noqa: E402

TASKS = ("macro-activity", "micro-activity", "proficiency", "context")


def task_balanced_batches(tasks: np.ndarray, batch_size: int, seed: int, how: str = "equal"):
    """Epoch -> row batches in which task t has len(tasks) * w_t rows, w_t proportional to 1 ("equal") or to the
    square root of t's share ("sqrt"): joint training otherwise sees macro-activity in 7% of its windows (one 30-s
    window per 12 of 2.5 s), which may starve it."""
    names = sorted(set(tasks))
    rows = {t: np.flatnonzero(tasks == t) for t in names}
    weight = {t: 1.0 if how == "equal" else np.sqrt(len(rows[t])) for t in names}
    share = {t: int(len(tasks) * weight[t] / sum(weight.values())) for t in names}

    def batches(epoch: int):
        rng = np.random.default_rng(seed * 1000 + epoch)
        picked = np.concatenate([rng.choice(rows[t], share[t], replace=len(rows[t]) < share[t]) for t in names])
        return torch.from_numpy(rng.permutation(picked)).split(batch_size)
    return batches


def wide_start(work: str, start: str, width: int) -> str:
    """WORK/start-wN: the start's frozen EfficientNet-Lite0 and settings with an N-wide temporal module and decoder."""
    from halsted_hf.model.convert_backbone import convert_backbone

    out = os.path.join(work, f"start-w{width}")
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    with open(os.path.join(start, "config.json")) as f:
        cfg = json.load(f)
    vision = cfg["vision_config"]
    if vision.get("model_type") != "efficientnet_lite" or vision.get("width_coefficient") != 1.0:
        raise SystemExit(f"--width rebuilds an EfficientNet-Lite0 start; {start} holds another encoder")
    if width % 64:
        raise SystemExit(f"--width must be a multiple of 64 (64-wide attention heads), got {width}")
    convert_backbone("lite0", out, seed=0, vision_config={"num_frames": vision["num_frames"],
                                                         "image_size": vision["image_size"]},
                     temporal_motion_size=cfg["temporal_motion_size"], hidden_size=width, temporal_hidden_size=width,
                     num_attention_heads=width // 64, temporal_num_heads=width // 64, intermediate_size=4 * width,
                     num_hidden_layers=cfg["num_hidden_layers"], temporal_num_layers=cfg["temporal_num_layers"])
    return out


def halsted_settings(args, unbalanced: str) -> str:
    """The file-name part of Halsted's own settings: its task balance (`unbalanced` when none) and width."""
    return (f"-{args.balance_tasks}" if args.balance_tasks else unbalanced) + (f"-w{args.width}" if args.width else "")


def answers_file(work: str, start: str, heldout: str, train_videos: list[str], args, system: str = "per_task") -> str:
    """Where one side's answers for these settings are kept (a hash of everything that makes them: the training
    videos too, since a rebuilt WORK with more videos keeps the same start, held-out set and recipe); Halsted's
    name adds its own settings (task balance, width), which the per-task models do not have."""
    made_of = []
    for name in ("config.json", "model.safetensors"):
        with open(os.path.join(start, name), "rb") as f:
            made_of.append(hashlib.sha256(f.read()).hexdigest())
    key = json.dumps([*made_of, os.path.abspath(heldout), args.epochs, args.lr, args.batch_size, args.seed,
                      sorted(train_videos)])
    own = "" if system == "per_task" else halsted_settings(args, unbalanced="-shuffle")
    return os.path.join(work, f"{system}_answers{own}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json")


def by_tag(comp: list[tuple[int, str]], hit: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Each system's accuracy (%) per tag of one task: where within a task the two sides differ."""
    tags = sorted({tag for _, tag in comp})
    return {tag: {s: round(100 * float(h[[t == tag for _, t in comp]].mean()), 1) for s, h in hit.items()}
            for tag in tags}


def score(test_df, preds: dict[str, list[dict]], n_boot: int) -> tuple[dict, list[str]]:
    """Per task: each side's component accuracy with its CI over clips, the paired difference Halsted - per-task
    with clips and with whole videos resampled, and per-tag accuracy. -> (summary per task, Markdown table rows)."""
    from halsted_hf.data.atlas import tags_of
    from halsted_hf.evaluation.bootstrap import bootstrap_ci

    def paired(a, b):
        return np.mean(a - b)

    def pct(ci):
        return [round(100 * v, 1) for v in ci]

    def verdict(ci):
        return "yes" if ci[1] > -0.05 else "no"

    truth = [tags_of(t) for t in test_df["tags"]]
    tasks = {}
    lines = ["| task | components | Halsted % | per-task models % | Halsted - per-task (95% CI) | non-inferior | "
             "difference, videos resampled | non-inferior |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for task in TASKS:
        comp = [(i, tag) for i in np.flatnonzero((test_df["task"] == task).to_numpy()) for tag in truth[i]]
        if not comp:
            continue
        hit = {s: np.array([float(preds[s][i].get(tag) == truth[i][tag]) for i, tag in comp]) for s in preds}
        clips = [i for i, _ in comp]
        # a video's clips share its surgeon, tissue and lighting: resampling whole videos is the stricter CI
        videos = list(test_df["video_id"].iloc[clips])
        ci = {s: bootstrap_ci(np.mean, hit[s], n_boot=n_boot, groups=clips) for s in preds}
        diff, by_video = (bootstrap_ci(paired, hit["halsted"], hit["per-task"], n_boot=n_boot, groups=g)
                          for g in (clips, videos))
        tasks[task] = {"n": len(comp), "clips": len(set(clips)), **{s: pct(ci[s]) for s in ci},
                       "difference": pct(diff), "difference_by_video": pct(by_video), "by_tag": by_tag(comp, hit)}
        f = lambda c: f"{100 * c[0]:.1f} ({100 * c[1]:.1f}-{100 * c[2]:.1f})"  # noqa: E731
        lines.append(f"| {task} | {len(comp)} | {f(ci['halsted'])} | {f(ci['per-task'])} | "
                     f"{100 * diff[0]:+.1f} ({100 * diff[1]:.1f} to {100 * diff[2]:.1f}) | {verdict(diff)} | "
                     f"{100 * by_video[1]:.1f} to {100 * by_video[2]:.1f} | {verdict(by_video)} |")
    return tasks, lines


def answer(args, start: str, joint_start: str, cache: str, train_df, test_df, kept: str) -> dict[str, list[dict]]:
    """Train the four per-task models (unless their answers are kept in `kept`) and Halsted, all from the cached
    frozen features; -> each side's answers (tags per test window), the per-task ones written to `kept`."""
    from halsted_hf.data.feature_cache import load_cached
    from halsted_hf.model.registry import create
    from halsted_hf.training.data import encode_atlas

    model, processor = create(start)
    train_video = load_cached(train_df, cache, model=model, processor=processor, kind="features")
    test_video = load_cached(test_df, cache, model=model, processor=processor, kind="features")
    print(f"train {len(train_df)} windows of {train_df['video_id'].nunique()} videos, test {len(test_df)} windows of "
          f"{test_df['video_id'].nunique()} videos", flush=True)

    t0 = time.time()
    preds = {"halsted": [None] * len(test_df), "per-task": [None] * len(test_df)}
    runs = [("per-task", t) for t in TASKS] + [("halsted", None)]
    if os.path.exists(kept):
        with open(kept) as f:
            preds["per-task"] = json.load(f)
        runs = runs[-1:]
        print(f"per-task models' answers reused from {kept}", flush=True)
    for system, only in runs:
        # every per-task model starts from the same weights; Halsted too unless --width gives it a wider start
        model, processor = create(joint_start if only is None else start)
        model.train()
        keep = np.ones(len(train_df), bool) if only is None else (train_df["task"] == only).to_numpy()
        data = encode_atlas(train_df[keep], processor, train_video[torch.from_numpy(keep)],
                            model.config.max_tag_length)
        balanced = task_balanced_batches(train_df["task"].to_numpy(), args.batch_size, args.seed, args.balance_tasks) \
            if (only is None and args.balance_tasks) else None
        loss = train(model, data, args, batches=balanced)
        rows = np.arange(len(test_df)) if only is None else np.flatnonzero((test_df["task"] == only).to_numpy())
        tags, _ = decode(model, processor, test_video[torch.from_numpy(rows)], list(test_df["task"].iloc[rows]))
        for i, t in zip(rows, tags):
            preds[system][i] = t
        print(f"{system}{'' if only is None else '/' + only}: {len(data)} windows, last loss {loss:.3f}, "
              f"{time.time() - t0:.0f} s so far", flush=True)
        if only == TASKS[-1]:  # the last per-task model: keep their answers before Halsted trains
            with open(kept, "w") as f:
                json.dump(preds["per-task"], f)

    return preds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work")
    ap.add_argument("--heldout", default=None, help="held-out atlas (default WORK/heldout-s77)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=None,
                    help="Halsted's temporal module and decoder width (default: the start's; per-task models keep it)")
    ap.add_argument("--out", default=None, help="summary JSON (default WORK/per_task_summary[-BALANCE].json)")
    ap.add_argument("--score-only", action="store_true",
                    help="score the answers kept by an earlier run with these settings (no training)")
    ap.add_argument("--balance-tasks", nargs="?", const="equal", choices=("equal", "sqrt"), default=None,
                    help="Halsted's epochs draw each task's windows in proportion to 1 (equal) or to the square root "
                         "of its share (sqrt), small tasks with replacement, the same total per epoch; per-task "
                         "models unchanged")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from halsted_hf.data.windows import read_windows

    work = os.path.abspath(args.work)
    start, cache = os.path.join(work, "start"), os.path.join(work, "cache")
    with open(os.path.join(work, "run", "fold-0", "split.json")) as f:
        train_videos = json.load(f)["train"]
    train_df = read_windows(os.path.join(work, "run", "atlas.parquet"))
    train_df = train_df[train_df["video_id"].isin(train_videos)].reset_index(drop=True)
    heldout = args.heldout or os.path.join(work, "heldout-s77")
    test_df = read_windows(heldout).reset_index(drop=True)
    kept = answers_file(work, start, heldout, train_videos, args)
    halsted_kept = answers_file(work, start, heldout, train_videos, args, system="halsted")
    t0 = time.time()
    if args.score_only:
        missing = [p for p in (kept, halsted_kept) if not os.path.exists(p)]
        if missing:
            raise SystemExit(f"--score-only: no kept answers for these settings ({', '.join(missing)}); run once "
                             "without --score-only")
        preds = {}
        for system, path in (("halsted", halsted_kept), ("per-task", kept)):
            with open(path) as f:
                preds[system] = json.load(f)
    else:
        joint_start = wide_start(work, start, args.width) if args.width else start
        preds = answer(args, start, joint_start, cache, train_df, test_df, kept)
        with open(halsted_kept, "w") as f:
            json.dump(preds["halsted"], f)
    result = {"command": " ".join(sys.argv), "machine": machine(), "args": vars(args), "ci_unit": "clip",
              "train_videos": train_videos, "test_videos": sorted(test_df["video_id"].unique()),
              "seconds": round(time.time() - t0, 1)}
    result["tasks"], lines = score(test_df, preds, args.n_boot)
    print("\n".join(lines))
    out = args.out or os.path.join(work, f"per_task_summary{halsted_settings(args, unbalanced='')}.json")
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({"seconds": result["seconds"], "machine": result["machine"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
