"""The one training loop, with the paper's optimiser and schedule; Halsted (trainer.py), the per-task
baseline's models and heads (per_task.py) and the real-data benchmark all train through `fit`.

What differs between them stays with the caller: what a batch's loss is, which rows make the batches of an
epoch, how backward runs (plain torch or `accelerate`), and what happens after an epoch (validation, keeping
the best checkpoint, saving state to resume). What they share is here: zero the gradients, backward, clip,
step the optimiser and the per-batch schedule, and record the batch losses.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional

import torch


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base lr at optimiser step `step`: 0.1 -> 1 linearly, then cosine to 0."""
    if step < warmup_steps:
        return 0.1 + 0.9 * step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warmup_cosine(optimizer, n_train: int, batch_size: int, epochs: int, warmup_epochs: float):
    """The warm-up + cosine schedule of `lr_factor`, stepped per batch."""
    steps_per_epoch = math.ceil(n_train / batch_size)
    total, warmup = steps_per_epoch * epochs, int(round(steps_per_epoch * warmup_epochs))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))


def make_optimizer(params, cfg, n_train: int):
    """AdamW (no weight decay on norms and biases) and the warm-up + cosine schedule, stepped per batch.
    `cfg`: anything with lr, weight_decay, batch_size, epochs and warmup_epochs (trainer.TrainConfig)."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    return optimizer, warmup_cosine(optimizer, n_train, cfg.batch_size, cfg.epochs, cfg.warmup_epochs)


def shuffled_batches(n: int, batch_size: int, seed: int) -> Callable[[int], Iterable[torch.Tensor]]:
    """Epoch -> row batches of a permutation seeded by (seed, epoch): a resumed epoch sees the same batches
    as an uninterrupted run, and a run does not depend on what drew random numbers before it."""
    def batches(epoch: int):
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).split(batch_size)
    return batches


@dataclass
class Epoch:
    """What `fit` hands to `on_epoch` after each epoch: its index from 0, its batch losses, when it started."""
    index: int
    losses: List[float] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def mean_loss(self) -> Optional[float]:
        return sum(self.losses) / len(self.losses) if self.losses else None


def fit(model: torch.nn.Module, optimizer, scheduler, batches: Callable[[int], Iterable],
        batch_loss: Callable[[object], Optional[torch.Tensor]], epochs: int, *, start_epoch: int = 0,
        clip_norm: Optional[float] = 1.0, backward: Optional[Callable[[torch.Tensor], None]] = None,
        on_epoch: Optional[Callable[[Epoch], None]] = None) -> List[Epoch]:
    """Train `model` from epoch `start_epoch` to `epochs`. Per epoch: `batches(epoch)` gives the batches,
    `batch_loss(batch)` their loss (None: nothing to learn from this batch, skipped), then one optimiser and
    one scheduler step per batch; gradients are clipped to `clip_norm` (None: not clipped); `backward(loss)`
    replaces `loss.backward()` (accelerate). `on_epoch(epoch)` runs after each epoch (it may put the model in
    eval mode: the next epoch sets train mode again). Returns the epochs run."""
    params = [p for p in model.parameters() if p.requires_grad]
    done = []
    for index in range(start_epoch, epochs):
        epoch = Epoch(index)
        model.train()
        for batch in batches(index):
            loss = batch_loss(batch)
            if loss is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            if backward is not None:
                backward(loss)
            else:
                loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            optimizer.step()
            scheduler.step()
            epoch.losses.append(float(loss.detach()))
        if on_epoch is not None:
            on_epoch(epoch)
        done.append(epoch)
    return done
