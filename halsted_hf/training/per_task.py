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

`FrozenTaskHeads` is the same baseline when the encoder is frozen: one head per task on the fold's frozen clip
embeddings, trained by `halsted evaluate` itself (`--sais heads`, or when `halsted baseline` has not run).
Both train through loop.py's `fit`; evaluation/ turns their logits into prediction tables.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..data.feature_cache import normalise
from ..core.io import atomic_path
from .data import ClipData
from .heads import TaskHead, head_loss, task_targets
from .loop import Epoch, fit, make_optimizer, shuffled_batches, warmup_cosine
from .trainer import TrainConfig, _write_json


def clip_vectors(embeds, width: Optional[int] = None) -> torch.Tensor:
    """(N, D) float32 clip vectors for a head: clip embeddings as they are; a frame encoder's per-frame features
    (N, T, F) averaged over the clip's frames (what mapping's out-of-distribution check describes a window by),
    the first `width` features kept (a motion stream's thumbnails follow the tower's features)."""
    x = torch.as_tensor(np.asarray(embeds) if not isinstance(embeds, torch.Tensor) else embeds).float()
    if x.ndim == 3:
        x = x[..., :width].mean(dim=1) if width else x.mean(dim=1)
    return x


class TaskModel(nn.Module):
    """One task's model: its own video encoder (None: the inputs are frozen clip embeddings), mean-pooled
    like Halsted's, then a per-task MLP with one softmax head per tag."""

    def __init__(self, encoder: Optional[nn.Module], dim: int, tags: Dict[str, Sequence[str]],
                 mean: Sequence[float], std: Sequence[float], hidden: int = 256):
        super().__init__()
        self.encoder = encoder
        self.dim = dim
        self.head = TaskHead(dim, tags, hidden)
        self.tags = self.head.tags
        self.mean, self.std = list(mean), list(std)

    def forward(self, video: torch.Tensor) -> Dict[str, torch.Tensor]:
        if video.dtype == torch.uint8:  # pixels: this model's own encoder
            x = normalise(video, self.mean, self.std).to(next(self.encoder.parameters()).dtype)
            from ..model.configuration_halsted import VIDEO_TOWERS

            if getattr(self.encoder.config, "model_type", "") in VIDEO_TOWERS:
                video = self.encoder(pixel_values=x).last_hidden_state.mean(1)
            else:  # a frame encoder: each frame's pooled embedding, as Halsted's tower gives them
                video = self.encoder(pixel_values=x.flatten(0, 1)).pooler_output.view(x.shape[0], x.shape[1], -1)
        return self.head(clip_vectors(video, self.dim))

    @torch.no_grad()
    def logits(self, video: torch.Tensor, batch_size: int = 64, device="cpu") -> Dict[str, torch.Tensor]:
        self.eval()
        parts = [self(video[i:i + batch_size].to(device)) for i in range(0, len(video), batch_size)]
        return {t: torch.cat([p[t] for p in parts]).cpu() for t in self.tags}


class FrozenTaskHeads:
    """Per-task MLPs on frozen clip embeddings. `fit(train_df, train_embeds)`, then `logits(task, embeds)`.

    `train_videos` records exactly which videos the parameters saw, so callers can check that no test
    video leaked in. AdamW with weight decay on every parameter and no gradient clipping, one generator
    shuffling every epoch: how this baseline was trained when its numbers were published."""

    def __init__(self, taxonomy, hidden: int = 256, epochs: int = 60, lr: float = 1e-3, weight_decay: float = 1e-2,
                 batch_size: int = 128, warmup_epochs: int = 2, seed: int = 0):
        self.taxonomy = taxonomy
        self.hidden, self.epochs, self.lr, self.weight_decay = hidden, epochs, lr, weight_decay
        self.batch_size, self.warmup_epochs, self.seed = batch_size, warmup_epochs, seed
        self.heads: Dict[str, TaskHead] = {}
        self.train_videos: List[str] = []

    def settings(self) -> dict:
        """The hyperparameters, as the evaluation report records them."""
        return {k: getattr(self, k) for k in ("hidden", "epochs", "lr", "weight_decay", "batch_size",
                                              "warmup_epochs", "seed")}

    def fit(self, df, embeds) -> "FrozenTaskHeads":
        """`df`: atlas rows (task, tags, video_id); `embeds`: (len(df), D) frozen clip embeddings."""
        from ..data.atlas import tags_of

        torch.manual_seed(self.seed)
        self.train_videos = sorted(df["video_id"].unique().tolist())
        x_all = clip_vectors(embeds)
        for task in self.taxonomy.tasks:
            mask = (df["task"] == task.name).to_numpy()
            if not mask.any():
                continue
            head = TaskHead(x_all.shape[1], task.tags, self.hidden)
            y = task_targets([tags_of(t) for t in df.loc[mask, "tags"]], task.tags)
            self._train(head, x_all[torch.from_numpy(mask.copy())], y)
            self.heads[task.name] = head.eval()
        return self

    def _train(self, head: TaskHead, x: torch.Tensor, y: Dict[str, torch.Tensor]) -> None:
        optimizer = torch.optim.AdamW(head.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = warmup_cosine(optimizer, len(x), self.batch_size, self.epochs, self.warmup_epochs)
        gen = torch.Generator().manual_seed(self.seed)
        fit(head, optimizer, scheduler, lambda epoch: torch.randperm(len(x), generator=gen).split(self.batch_size),
            lambda idx: head_loss(head(x[idx]), {t: v[idx] for t, v in y.items()}), self.epochs, clip_norm=None)
        head.eval()

    @torch.no_grad()
    def logits(self, task: str, embeds) -> Dict[str, torch.Tensor]:
        """{tag: (N, categories) logits} of `task`'s head on (N, D) embeddings."""
        return self.heads[task](clip_vectors(embeds))


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


def train_task_model(model: TaskModel, task: str, train: ClipData, val: ClipData, out_dir: str, cfg: TrainConfig,
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
            "val_videos": sorted(set(val.video_ids)), "config": cfg.__dict__, "history": [], "best": None,
            "done": False}
    best_key = (-float("inf"),)

    def batch_loss(idx: torch.Tensor) -> Optional[torch.Tensor]:
        return head_loss(model(train.video[idx].to(device)), {t: v[idx].to(device) for t, v in y_train.items()})

    def end_of_epoch(epoch: Epoch) -> None:
        nonlocal best_key
        # no validation clip of this task (a dissection-only validation video): lowest training loss, as Halsted
        val_acc, val_loss = (_accuracy_and_loss(model, val, y_val, cfg.eval_batch_size, device) if len(val)
                             else (None, None))
        key = (val_acc, -val_loss) if len(val) else (-float(np.mean(epoch.losses)),)
        saved = key > best_key
        if saved:
            best_key = key
            meta["best"] = {"epoch": epoch.number, "val_accuracy": val_acc, "val_loss": val_loss}
            with atomic_path(os.path.join(out_dir, "model.safetensors")) as tmp:
                save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, tmp)
        meta["history"].append({"epoch": epoch.number, "loss": float(np.mean(epoch.losses)) if epoch.losses else None,
                                "val_accuracy": val_acc, "val_loss": val_loss, "saved": saved})
        log(f"  {task} epoch {epoch.number}/{cfg.epochs} loss {meta['history'][-1]['loss']:.4f} val "
            f"{'-' if val_acc is None else f'{val_acc:.3f}'}{' *saved' if saved else ''}")

    fit(model, optimizer, scheduler, shuffled_batches(len(train), cfg.batch_size, cfg.seed), batch_loss, cfg.epochs,
        on_epoch=end_of_epoch)
    meta["done"] = True
    _write_json(os.path.join(out_dir, "meta.json"), meta)
    return meta


def train_task_models_of_run(run_path: str, log: Callable[[str], None] = print) -> dict:
    """Train the per-task models of every fold of a `halsted train` run. Returns {fold: {task: best}}."""
    from ..data.windows import read_windows
    from ..core.errors import HalstedError
    from .cv import fold_start_model, run_data
    from .runs import load_run

    run = load_run(run_path)
    info = run.info
    if not info.get("atlas") or not info.get("cache"):
        raise HalstedError(f"{run_path}/run.json names no atlas or cache; was it written by `halsted train`?")
    cfg = TrainConfig(**info["config"])
    pixels = bool(info.get("train_encoder"))
    start, processor = fold_start_model(info.get("model"), info.get("preset"), cfg.seed, pixels)
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
            meta = train_task_model(model, task.name, train.subset(rows), val.subset(vrows), tdir, cfg, log)
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
