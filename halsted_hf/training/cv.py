"""A training run: Monte-Carlo cross-validation folds over an atlas, in the RUN layout of docs/training.md.

    RUN/run.json                 args, atlas path, cache path, taxonomy, folds
    RUN/fold-K/split.json        {"train": [...], "val": [...], "test": [...]} video ids
    RUN/fold-K/best/             Hub-layout model (save_hub_layout) with the best worst-task val accuracy
    RUN/fold-K/last/state.pt     resume state (model, optimiser, scheduler, epoch, RNG, metrics)
    RUN/fold-K/metrics.json      config, per-epoch history, best epoch, done flag

Running the same command again skips finished folds and resumes an unfinished one after its last epoch.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Optional

from ..data.feature_cache import build_cache, load_cached
from ..data.windows import read_windows, window_lengths
from ..core.errors import HalstedError
from .data import encode_atlas
from .splits import monte_carlo_splits
from .trainer import TrainConfig, _write_json, train_fold


def fold_start_model(model_path: Optional[str], preset: Optional[str], seed: int, train_encoder: bool):
    """A fresh model for a fold: from a folder (pretrained or pretrain-encoder output) or a registered preset
    (halsted_hf.model.registry: random, or lite0|1|2-imagenet with the pretrained frame encoder)."""
    from ..model.registry import create

    model, processor = create(model_path or preset or "tiny", seed=seed)
    if train_encoder:
        model.config.freeze_encoder = False
        model.video_encoder.requires_grad_(True)
    return model, processor


def run_data(df, cache: str, model, processor, kind: str, device: str = "cpu", log: Callable[[str], None] = print):
    """Every atlas row as training tensors, its clips from the cache (filled first where clips are missing)."""
    summary = build_cache(df, cache, model=model, processor=processor, kind=kind, device=device)
    if summary["computed"]:
        log(f"cached {summary['computed']} {summary['unit']} ({kind}) in {cache}")
    video = load_cached(df, cache, model=model, processor=processor, kind=kind)
    return encode_atlas(df, processor, video, model.config.max_tag_length)


def run_cv(atlas: str, out: str, *, model_path: Optional[str] = None, preset: Optional[str] = "tiny",
           cache: Optional[str] = None, folds: int = 5, val_videos: int = 1, test_videos: int = 1,
           train_encoder: bool = False, cfg: TrainConfig = TrainConfig(), log: Callable[[str], None] = print,
           on_epoch_end: Optional[Callable[[dict], None]] = None, card: Optional[str] = None,
           args: Optional[dict] = None, source_weights: Optional[dict] = None) -> dict:
    """Train every fold; returns {"folds": [{"fold", "best", "test_videos"}]}. `source_weights`:
    {annotation source: loss weight} (training/sources.py). Validation and test videos are drawn from
    the human-labelled videos; videos with machine labels only always train."""
    from .sources import row_weights, split_videos

    df = read_windows(atlas)  # the mapping workflow's fixed windows (data/windows.py)
    if df.empty:
        raise HalstedError(f"{atlas}: the atlas has no rows; nothing to train on")
    kind = "pixels" if train_encoder else "features"
    cache = cache or os.path.join(out, "cache")
    model, processor = fold_start_model(model_path, preset, cfg.seed, train_encoder)
    from ..data.atlas import read_atlas
    from ..data.atlas_rows import check_rows, untrained_tasks

    check_rows(read_atlas(atlas), atlas, model.taxonomy)  # one line per bad row, before any clip is encoded
    os.makedirs(out, exist_ok=True)
    splits = monte_carlo_splits(split_videos(df), folds, val_videos, test_videos, cfg.seed)
    machine_only = sorted(set(map(str, df["video_id"])) - set(split_videos(df)))
    for k, split in enumerate(splits):
        split["train"] = sorted(split["train"] + machine_only)
        for task, held in untrained_tasks(df, split["train"]).items():
            log(f"warning: fold {k}: task {task} is labelled only in held-out video(s) {held}: this fold never "
                f"trains it; label it in more videos")
    run_info = {"args": args or {}, "atlas": os.path.abspath(atlas), "cache": os.path.abspath(cache),
                "cache_kind": kind, "preset": None if model_path else preset,
                "model": os.path.abspath(model_path) if model_path and os.path.isdir(model_path) else model_path,
                "train_encoder": train_encoder, "folds": folds, "taxonomy": processor.taxonomy,
                "clip_windows_s": window_lengths(),
                "config": cfg.__dict__, "source_weights": source_weights or {}}
    _write_json(os.path.join(out, "run.json"), run_info)

    data = run_data(df, cache, model, processor, kind, cfg.device, log)
    weights = row_weights(df, source_weights)
    if weights is not None:
        import torch

        data.weights = torch.tensor(weights, dtype=torch.float32)

    results = []
    for k, split in enumerate(splits):
        fold_dir = os.path.join(out, f"fold-{k}")
        os.makedirs(fold_dir, exist_ok=True)
        _write_json(os.path.join(fold_dir, "split.json"), split)
        metrics_path = os.path.join(fold_dir, "metrics.json")
        if os.path.exists(metrics_path):
            with open(metrics_path) as f:
                done = json.load(f)
            if done.get("done"):
                log(f"fold {k}: already finished (best epoch {done['best'] and done['best']['epoch']})")
                results.append({"fold": k, "best": done["best"], "test_videos": split["test"]})
                continue
        log(f"fold {k}: train {len(split['train'])} videos, val {split['val']}, test {split['test']}")
        if k > 0:  # every fold starts from the same initial weights
            model, processor = fold_start_model(model_path, preset, cfg.seed, train_encoder)
        metrics = train_fold(model, processor, data.of_videos(split["train"]), data.of_videos(split["val"]),
                             fold_dir, cfg, log=log, on_epoch_end=on_epoch_end, card=card)
        results.append({"fold": k, "best": metrics["best"], "test_videos": split["test"]})
    return {"folds": results}
