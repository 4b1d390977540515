"""The per-task classifier heads: one small MLP per task with a softmax head per tag, their targets and
their loss. Trained by training/per_task.py: `TaskModel` (the per-task baseline with its own encoder) and
`FrozenTaskHeads` (on frozen embeddings); they live in training/ because evaluation may
import training, never the other way round."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import nn


class TaskHead(nn.Module):
    """One task's classifier: a shared hidden layer, then one linear softmax head per tag."""

    def __init__(self, dim: int, tags: Dict[str, Sequence[str]], hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.tags = {t: list(c) for t, c in tags.items()}
        self.body = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout))
        self.heads = nn.ModuleDict({_key(t): nn.Linear(hidden, len(c)) for t, c in self.tags.items()})

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        h = self.body(x)
        return {t: self.heads[_key(t)](h) for t in self.tags}


def _key(tag: str) -> str:
    return tag.replace(".", "_").replace(" ", "_")


def task_targets(tags: Sequence[Dict[str, str]], spec: Dict[str, Sequence[str]]) -> Dict[str, torch.Tensor]:
    """{tag: category index per row}, -100 where a row carries no such tag (ignored by the loss)."""
    return {tag: torch.tensor([list(cats).index(t[tag]) if t.get(tag) in cats else -100 for t in tags])
            for tag, cats in spec.items()}


def head_loss(logits: Dict[str, torch.Tensor], y: Dict[str, torch.Tensor]) -> Optional[torch.Tensor]:
    """Cross-entropy summed over every (row, tag) that has a target, divided by their number (None: none)."""
    n = sum(int((y[t] != -100).sum()) for t in logits)
    if n == 0:
        return None
    return sum(nn.functional.cross_entropy(logits[t], y[t], ignore_index=-100, reduction="sum") for t in logits) / n
