"""Joint multitask training of one fold, resumable, with the paper's optimiser and schedule (the loop
itself: loop.py's `fit`, shared with the per-task baseline).

All tasks train together: every batch mixes clips of every task, and the loss is next-token cross-entropy
on tag tokens only (the model computes it). AdamW; the learning rate rises linearly from 0.1 x lr to lr
over the warm-up epochs, then decays to 0 along a cosine (stepped per batch). After each epoch the model
decodes the validation clips (greedy, grammar-constrained); the checkpoint is saved to fold/best/ only
when the *worst* task's validation accuracy improves, so no task is sacrificed for the others. Ties on the
worst task (common with one validation video: a task with 3 clips sits at 1/3 for many epochs) go to the
epoch with the higher mean accuracy over tasks; without that rule a run froze at epoch 2 of 10.

Resuming: after every epoch fold/last/state.pt holds the model, optimiser, scheduler, epoch counter, RNG
states, best score and history (written to a temporary file and renamed). Running the fold again starts
after the last finished epoch; an interruption loses at most the epoch in progress.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from ..data.feature_cache import normalise
from ..core.io import atomic_dir, atomic_path, atomic_write_json
from .data import ClipData
from .loop import Epoch, fit, make_optimizer


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 1e-2
    warmup_epochs: float = 2.0
    device: str = "cpu"
    seed: int = 0
    eval_batch_size: int = 256


def component_accuracy(pred: List[Dict[str, str]], true: List[Dict[str, str]], tasks: List[str]) -> Dict[str, float]:
    """Per task: share of (clip, tag) components whose generated category matches exactly."""
    hits: Dict[str, List[int]] = {}
    for p, t, task in zip(pred, true, tasks):
        for tag, cat in t.items():
            hits.setdefault(task, []).append(int(p.get(tag) == cat))
    return {task: float(np.mean(h)) for task, h in sorted(hits.items())}


def selection_key(val_acc: Dict[str, float], train_loss: float) -> tuple:
    """What "better on validation" means: the worst task's accuracy, then the mean over tasks. Without a
    validation set: the lowest training loss."""
    if not val_acc:
        return (-train_loss, -train_loss)
    return (min(val_acc.values()), float(np.mean(list(val_acc.values()))))


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The model's loss (mean cross-entropy over tag tokens) with each row's tokens weighted by its row's
    weight (annotation source, training/sources.py); equal to the model's loss when all weights are 1."""
    ce = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
    w = weights[:, None].float() * (labels != -100).float()
    return (ce * w).sum() / w.sum().clamp_min(1e-12)


def _accelerator(device: str):
    """An `accelerate.Accelerator` when the package is there (several GPUs under `accelerate launch`,
    unchanged on one device), else None and plain torch."""
    try:
        from accelerate import Accelerator
    except ImportError:
        return None
    return Accelerator(cpu=device == "cpu")


def _video_input(model, batch_video: torch.Tensor, processor, device):
    if batch_video.dtype == torch.uint8:  # pixel cache: normalise on the fly, the encoder trains
        return {"pixel_values": normalise(batch_video.to(device), processor.image_mean, processor.image_std)}
    return {"video_embeds": batch_video.to(device)}


@torch.no_grad()
def generate_all(model, processor, video: torch.Tensor, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor,
                 batch_size: int = 256, device="cpu"):
    """Greedy constrained decoding of every row, in batches -> (tags, scores, distributions) per row.
    `video`: (N, Dv) clip embeddings or (N, T, S, S, 3) uint8 clips (encoded here). Validation during
    training and evaluation reports both decode through this one loop."""
    model.eval()
    tags, scores, dists = [], [], []
    for s in range(0, len(video), batch_size):
        inputs = _video_input(model, video[s:s + batch_size], processor, device)
        if "pixel_values" in inputs:
            inputs = {"video_embeds": model.get_video_features(inputs["pixel_values"])}
        out = model.generate(instruction_ids=instruction_ids[s:s + batch_size].to(device),
                             instruction_mask=instruction_mask[s:s + batch_size].to(device), **inputs)
        tags += out.tags
        scores += out.scores
        dists += out.distributions
    return tags, scores, dists


def evaluate(model, processor, data: ClipData, batch_size: int = 256, device="cpu") -> Dict[str, float]:
    """Per task: the component accuracy of greedy constrained decoding on every clip of `data`."""
    pred, _, _ = generate_all(model, processor, data.video, data.instruction_ids, data.instruction_mask, batch_size,
                              device)
    return component_accuracy(pred, data.tags, data.tasks)


def _write_json(path: str, obj) -> None:
    atomic_write_json(path, obj, indent=1)


def _save_best(path: str, write: Callable[[str], None]) -> None:
    """Write the folder through io.atomic_dir: a reader never sees half a checkpoint."""
    with atomic_dir(path) as tmp:
        write(tmp)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_fold(model, processor, train: ClipData, val: ClipData, out_dir: str, cfg: TrainConfig,
               log: Callable[[str], None] = print, on_epoch_end: Optional[Callable[[dict], None]] = None,
               card: Optional[str] = None) -> dict:
    """Train one fold into `out_dir` (best/, last/, metrics.json). Returns the metrics dict:
    {"config", "history": [{"epoch", "loss", "lr", "val": {task: acc}, "worst", "mean", "saved",
     "seconds"}], "best": {"epoch", "worst", "mean", "key", "val"}, "done": bool}. `on_epoch_end(record)` runs
    after each epoch is saved (raising there simulates an interruption)."""
    from ..model.hub import save_hub_layout
    from .record import training_record, write_training_record

    trained_on = training_record(train.tags, train.tasks, train.video_ids, val.video_ids)

    def save_best(d: str) -> None:  # the weights and, beside them, what trained them (training/record.py)
        os.makedirs(d, exist_ok=True)
        write_training_record(d, trained_on)  # first: the card's data statement reads it
        save_hub_layout(unwrapped, processor, d, card=card)

    os.makedirs(out_dir, exist_ok=True)
    metrics_path, last_dir = os.path.join(out_dir, "metrics.json"), os.path.join(out_dir, "last")
    torch.manual_seed(cfg.seed)
    acc = _accelerator(cfg.device)
    device = acc.device if acc is not None else torch.device(cfg.device)
    if train.pixels:  # training from pixels means training the encoder too
        model.config.freeze_encoder = False
        model.video_encoder.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(params, cfg, len(train))
    loader = torch.utils.data.DataLoader(torch.arange(len(train)), batch_size=cfg.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    model.to(device)
    if acc is not None:
        model, optimizer, loader, scheduler = acc.prepare(model, optimizer, loader, scheduler)
    unwrapped = acc.unwrap_model(model) if acc is not None else model

    metrics = {"config": asdict(cfg), "history": [], "best": None, "done": False,
               "train_videos": sorted(set(train.video_ids)), "val_videos": sorted(set(val.video_ids))}
    start_epoch = 0
    state_path = os.path.join(last_dir, "state.pt")
    if os.path.exists(state_path):
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        unwrapped.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        metrics = state["metrics"]
        start_epoch = state["epoch"]
        log(f"resuming after epoch {start_epoch} from {last_dir}")
    best_key = tuple(metrics["best"].get("key", [metrics["best"]["worst"]])) if metrics["best"] else (-float("inf"),)

    def batches(epoch: int):
        # A per-epoch shuffle seed makes a resumed epoch see the same batches as an uninterrupted run.
        if hasattr(loader, "generator") and loader.generator is not None:
            loader.generator.manual_seed(cfg.seed * 1000 + epoch)
        elif hasattr(getattr(loader, "sampler", None), "generator") and loader.sampler.generator is not None:
            loader.sampler.generator.manual_seed(cfg.seed * 1000 + epoch)
        return loader

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        idx = idx.cpu()
        batch = dict(instruction_ids=train.instruction_ids[idx].to(device),
                     instruction_mask=train.instruction_mask[idx].to(device), labels=train.labels[idx].to(device),
                     **_video_input(unwrapped, train.video[idx], processor, device))
        out = model(**batch)
        if train.weights is None:
            return out.loss
        return weighted_loss(out.logits, batch["labels"], train.weights[idx].to(device))

    def end_of_epoch(epoch: Epoch) -> None:
        nonlocal best_key
        loss = float(np.mean(epoch.losses))
        val_acc = evaluate(unwrapped, processor, val, cfg.eval_batch_size, device) if len(val) else {}
        key = selection_key(val_acc, loss)
        worst = key[0]
        saved = key > best_key
        if saved and (acc is None or acc.is_main_process):
            best_key = key
            metrics["best"] = {"epoch": epoch.number, "worst": worst, "mean": key[1], "key": list(key), "val": val_acc}
            _save_best(os.path.join(out_dir, "best"), save_best)
        record = {"epoch": epoch.number, "loss": loss, "lr": scheduler.get_last_lr()[0], "val": val_acc,
                  "worst": worst, "mean": key[1], "saved": saved, "seconds": round(time.time() - epoch.started, 3)}
        metrics["history"].append(record)
        metrics["done"] = epoch.number == cfg.epochs
        if acc is None or acc.is_main_process:
            os.makedirs(last_dir, exist_ok=True)
            with atomic_path(state_path) as tmp:
                torch.save({"model": unwrapped.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch.number, "rng": _rng_state(),
                            "metrics": metrics}, tmp)
            _write_json(metrics_path, metrics)
        per_task = " ".join(f"{t}={a:.3f}" for t, a in val_acc.items())
        log(f"epoch {epoch.number}/{cfg.epochs} loss {record['loss']:.4f} lr {record['lr']:.2e} val {per_task} "
            f"worst {worst:.3f}{' *saved' if saved else ''} ({record['seconds']:.1f} s)")
        if on_epoch_end is not None:
            on_epoch_end(record)

    fit(model, optimizer, scheduler, batches, batch_loss, cfg.epochs, start_epoch=start_epoch,
        backward=acc.backward if acc is not None else None, on_epoch=end_of_epoch)
    if metrics["best"] is None and (acc is None or acc.is_main_process):  # zero epochs asked: keep the start
        _save_best(os.path.join(out_dir, "best"), save_best)
    metrics["done"] = True
    _write_json(metrics_path, metrics)
    return metrics
