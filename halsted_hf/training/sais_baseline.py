"""The SAIS-style baseline trained the way Halsted is: a separate model per task, with its own parameters.

The paper compares Halsted with SAIS, "separate parameters per task". With a frozen encoder (`halsted train`
without --train-encoder) that is a classifier per task on the same clip embeddings, and `halsted evaluate`
trains those heads itself. When Halsted trains its encoder (--train-encoder), heads on *Halsted's* trained
encoder would inherit what joint training taught that encoder: that measures the decoder against heads on
a shared encoder, not joint training against separate models. The counterpart is then one model per task
that trains its own copy of the same starting encoder. `halsted baseline --run RUN` trains these for every
fold with the run's own settings: same starting weights, training videos, cache, optimiser, schedule,
epochs and batch size; the checkpoint kept is the epoch with the best validation accuracy of the task
(then the lowest validation loss).

    RUN/fold-K/sais/TASK/model.safetensors   the task model's weights (encoder copy, if trained, and head)
    RUN/fold-K/sais/TASK/meta.json           task, tags, best epoch, history, training videos, done

Running it again skips finished task models; an interrupted one starts again from its first epoch.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..data.feature_cache import normalise
from ..evaluation.baselines import TaskHead, head_loss, task_targets
from .data import ClipData
from .trainer import TrainConfig, _write_json, make_optimizer


class TaskModel(nn.Module):
    """One task's model: its own video encoder (None: the inputs are frozen clip embeddings), mean-pooled
    like Halsted's, then a per-task MLP with one softmax head per tag."""

    def __init__(self, encoder: Optional[nn.Module], dim: int, tags: Dict[str, Sequence[str]],
                 mean: Sequence[float], std: Sequence[float], hidden: int = 256):
        super().__init__()
        self.encoder = encoder
        self.head = TaskHead(dim, tags, hidden)
        self.tags = self.head.tags
        self.mean, self.std = list(mean), list(std)

    def forward(self, video: torch.Tensor) -> Dict[str, torch.Tensor]:
        if video.dtype == torch.uint8:  # pixels: this model's own encoder
            x = normalise(video, self.mean, self.std)
            video = self.encoder(pixel_values=x.to(next(self.encoder.parameters()).dtype)).last_hidden_state.mean(1)
        return self.head(video.float())

    @torch.no_grad()
    def logits(self, video: torch.Tensor, batch_size: int = 64, device="cpu") -> Dict[str, torch.Tensor]:
        self.eval()
        parts = [self(video[i:i + batch_size].to(device)) for i in range(0, len(video), batch_size)]
        return {t: torch.cat([p[t] for p in parts]).cpu() for t in self.tags}


def task_dir(fold_dir: str, task: str) -> str:
    return os.path.join(fold_dir, "sais", re.sub(r"[^A-Za-z0-9_.-]+", "-", task))


def new_task_model(start_model, processor, task_tags: Dict[str, Sequence[str]], pixels: bool) -> TaskModel:
    """A task model from the run's starting model: a fresh copy of its encoder when it trains on pixels."""
    encoder = copy.deepcopy(start_model.video_encoder) if pixels else None
    if encoder is not None:
        encoder.requires_grad_(True)
    dim = start_model.config.vision_config.hidden_size
    return TaskModel(encoder, dim, task_tags, processor.image_mean, processor.image_std)


def _accuracy_and_loss(model: TaskModel, data: ClipData, y: Dict[str, torch.Tensor], batch_size: int, device):
    logits = model.logits(data.video, batch_size, device)
    hits = [(logits[t].argmax(-1) == y[t])[y[t] != -100] for t in logits]
    hits = torch.cat(hits) if hits else torch.zeros(0)
    loss = head_loss(logits, y)
    return (float(hits.float().mean()) if len(hits) else 0.0), (float(loss) if loss is not None else 0.0)


def train_task(model: TaskModel, task: str, train: ClipData, val: ClipData, out_dir: str, cfg: TrainConfig,
               log: Callable[[str], None] = print) -> dict:
    """Train one task's model on its training clips; keep the best epoch on its validation clips."""
    from safetensors.torch import save_file

    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model.to(device)
    y_train, y_val = task_targets(train.tags, model.tags), task_targets(val.tags, model.tags)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(params, cfg, len(train))
    os.makedirs(out_dir, exist_ok=True)
    meta = {"task": task, "tags": model.tags, "hidden": model.head.body[1].out_features,
            "encoder": model.encoder is not None, "train_videos": sorted(set(train.video_ids)),
            "val_videos": sorted(set(val.video_ids)), "config": cfg.__dict__, "history": [], "best": None, "done": False}
    best_key = (-float("inf"),)
    for epoch in range(cfg.epochs):
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        losses = []
        for idx in torch.randperm(len(train), generator=gen).split(cfg.batch_size):
            loss = head_loss(model(train.video[idx].to(device)), {t: v[idx].to(device) for t, v in y_train.items()})
            if loss is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        # no validation clip of this task (a dissection-only validation video): lowest training loss, as Halsted
        val_acc, val_loss = _accuracy_and_loss(model, val, y_val, cfg.eval_batch_size, device) if len(val) else (None, None)
        key = (val_acc, -val_loss) if len(val) else (-float(np.mean(losses)),)
        saved = key > best_key
        if saved:
            best_key = key
            meta["best"] = {"epoch": epoch + 1, "val_accuracy": val_acc, "val_loss": val_loss}
            tmp = os.path.join(out_dir, f"model.safetensors.tmp-{os.getpid()}")
            save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, tmp)
            os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
        meta["history"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None,
                                "val_accuracy": val_acc, "val_loss": val_loss, "saved": saved})
        log(f"  {task} epoch {epoch + 1}/{cfg.epochs} loss {meta['history'][-1]['loss']:.4f} val "
            f"{'-' if val_acc is None else f'{val_acc:.3f}'}{' *saved' if saved else ''}")
    meta["done"] = True
    _write_json(os.path.join(out_dir, "meta.json"), meta)
    return meta


def train_sais_run(run_path: str, log: Callable[[str], None] = print) -> dict:
    """Train the per-task models of every fold of a `halsted train` run. Returns {fold: {task: best}}."""
    from ..data.windows import read_windows
    from ..errors import HalstedError
    from ..evaluation.predict import load_run
    from .cv import load_model, run_data

    run = load_run(run_path)
    info = run.info
    if not info.get("atlas") or not info.get("cache"):
        raise HalstedError(f"{run_path}/run.json names no atlas or cache; was it written by `halsted train`?")
    cfg = TrainConfig(**info["config"])
    pixels = bool(info.get("train_encoder"))
    start, processor = load_model(info.get("model"), info.get("preset"), cfg.seed, pixels)
    data = run_data(read_windows(info["atlas"]), info["cache"], start, processor, info.get("cache_kind", "features"),
                    cfg.device, log)
    out: Dict[str, dict] = {}
    for fold in run.folds:
        train, val = data.of_videos(fold.split["train"]), data.of_videos(fold.split.get("val", []))
        out[fold.name] = {}
        for task in start.taxonomy.tasks:
            tdir = task_dir(fold.path, task.name)
            meta_path = os.path.join(tdir, "meta.json")
            if os.path.exists(meta_path):
                with open(meta_path) as f:
                    out[fold.name][task.name] = json.load(f)["best"]
                log(f"{fold.name} {task.name}: already trained")
                continue
            rows = [i for i, t in enumerate(train.tasks) if t == task.name]
            if not rows:
                continue
            log(f"{fold.name} {task.name}: {len(rows)} training clips")
            vrows = [i for i, t in enumerate(val.tasks) if t == task.name]
            model = new_task_model(start, processor, task.tags, pixels)
            meta = train_task(model, task.name, train.subset(rows), val.subset(vrows), tdir, cfg, log)
            out[fold.name][task.name] = meta["best"]
    return out


def load_task_models(fold_dir: str, encoder_template: Optional[nn.Module], processor) -> Dict[str, TaskModel]:
    """{task: TaskModel} for every finished task model of a fold ({} when `halsted baseline` has not run).
    `encoder_template`: any encoder of the run's architecture (its weights are replaced)."""
    from safetensors.torch import load_file

    root, models = os.path.join(fold_dir, "sais"), {}
    if not os.path.isdir(root):
        return models
    for name in sorted(os.listdir(root)):
        meta_path = os.path.join(root, name, "meta.json")
        if not os.path.exists(meta_path):
            continue
        with open(meta_path) as f:
            meta = json.load(f)
        if not meta.get("done") or meta.get("best") is None:
            continue
        encoder = copy.deepcopy(encoder_template) if meta["encoder"] else None
        dim = encoder_template.config.hidden_size
        model = TaskModel(encoder, dim, meta["tags"], processor.image_mean, processor.image_std, meta["hidden"])
        model.load_state_dict(load_file(os.path.join(root, name, "model.safetensors")))
        model.train_videos = meta["train_videos"]  # checked against the test videos by the evaluation
        models[meta["task"]] = model.eval()
    return models


def test_pixels(run, df, processor) -> torch.Tensor:
    """(len(df), T, S, S, 3) uint8 clips of `df`'s rows: from the run's pixel cache, else decoded."""
    from ..data.feature_cache import CacheError, decode_clips, load_cached

    cache = run.info.get("cache")
    if cache and run.info.get("cache_kind") == "pixels" and os.path.isdir(cache):
        try:
            return load_cached(df, cache, processor=processor, kind="pixels")
        except CacheError:  # clips the cache never held: decode them
            pass
    windows = list(zip(df["video_path"], df["start_s"], df["end_s"]))
    return torch.from_numpy(decode_clips(windows, processor.num_frames, processor.image_size))
