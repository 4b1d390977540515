"""Baselines on the same splits and the same frozen clip embeddings as Halsted.

Chance (the paper's Table 1 convention, e.g. RARP-50's 8 actions -> 12.5%):
  - `uniform`: 1 / K for a tag with K categories in the taxonomy, the accuracy of guessing uniformly at
    random; this is the denominator of the relative improvement ("5.5x" = accuracy / uniform chance);
  - `majority`: the accuracy on the test clips of always answering the training videos' most frequent
    category of that tag (a stronger, data-aware chance, reported beside it).

SAIS-style: what the paper compares against, a separate classifier with its own parameters per task.
Here one small MLP per task (LayerNorm, Linear, GELU, dropout) with one softmax head per tag, trained on
the training videos' frozen clip embeddings only (never a validation or test video) with the same
optimiser family as Halsted (AdamW, weight decay 1e-2, linear warm-up then cosine decay).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.atlas import tags_of
from ..training.record import category_counts, majority_of_counts
from ..training.trainer import lr_factor
from .predict import long_rows


def uniform_chance(taxonomy, tag: str) -> float:
    """1 / number of categories of `tag` in the taxonomy."""
    return 1.0 / len(taxonomy.task_of_tag(tag).tags[tag])


def majority_categories(train_df: pd.DataFrame) -> Dict[str, str]:
    """{tag: most frequent category among the training clips} (ties: alphabetical, for determinism)."""
    return majority_of_counts(category_counts(tags_of(t) for t in train_df["tags"]))


def majority_predictions(taxonomy, train_df: Optional[pd.DataFrame], test_df: pd.DataFrame, fold: str,
                         major: Optional[Dict[str, str]] = None) -> pd.DataFrame:
    """The majority baseline as a predictions table (same columns as Halsted's): the training clips' most
    frequent categories, from `train_df` or given as `major` (a model folder's training record)."""
    major = majority_categories(train_df) if major is None else major
    tags = [{tag: major.get(tag) for tag in taxonomy.task(task).tags if major.get(tag)} for task in test_df["task"]]
    scores = [{tag: 1.0 for tag in t} for t in tags]
    return long_rows(test_df, taxonomy, tags, scores, [{} for _ in tags], "majority", fold)


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


class SAISBaseline:
    """Per-task MLPs on frozen clip embeddings. `fit(train_df, train_embeds)`, then `predict(test_df, embeds)`.

    `train_videos` records exactly which videos the parameters saw, so callers can check that no test
    video leaked in."""

    def __init__(self, taxonomy, hidden: int = 256, epochs: int = 60, lr: float = 1e-3, weight_decay: float = 1e-2,
                 batch_size: int = 128, warmup_epochs: int = 2, seed: int = 0):
        self.taxonomy = taxonomy
        self.hidden, self.epochs, self.lr, self.weight_decay = hidden, epochs, lr, weight_decay
        self.batch_size, self.warmup_epochs, self.seed = batch_size, warmup_epochs, seed
        self.heads: Dict[str, TaskHead] = {}
        self.train_videos: List[str] = []

    def fit(self, df: pd.DataFrame, embeds: np.ndarray) -> "SAISBaseline":
        torch.manual_seed(self.seed)
        self.train_videos = sorted(df["video_id"].unique().tolist())
        x_all = torch.tensor(np.asarray(embeds), dtype=torch.float32)
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
        opt = torch.optim.AdamW(head.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps_per_epoch = math.ceil(len(x) / self.batch_size)
        total, warm = self.epochs * steps_per_epoch, self.warmup_epochs * steps_per_epoch
        # Halsted's schedule: warm-up from 0.1 x lr, then cosine
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, warm, total))
        gen = torch.Generator().manual_seed(self.seed)
        head.train()
        for _ in range(self.epochs):
            for idx in torch.randperm(len(x), generator=gen).split(self.batch_size):
                loss = head_loss(head(x[idx]), {t: v[idx] for t, v in y.items()})
                if loss is None:
                    continue
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()

    @torch.no_grad()
    def predict(self, df: pd.DataFrame, embeds: np.ndarray, fold: str = "fold-0", system: str = "sais") -> pd.DataFrame:
        x = torch.as_tensor(embeds, dtype=torch.float32)
        return heads_predictions(df, self.taxonomy, {task: (lambda rows, h=head: h(x[rows]), head.tags)
                                                     for task, head in self.heads.items()}, fold, system)


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


def heads_predictions(df: pd.DataFrame, taxonomy, heads, fold: str, system: str) -> pd.DataFrame:
    """Prediction table from per-task classifiers. `heads`: {task: (logits_of(row positions) -> {tag: logits},
    {tag: categories})}; each tag's answer is its most probable category."""
    tags: List[Dict[str, str]] = [{} for _ in range(len(df))]
    scores: List[Dict[str, float]] = [{} for _ in range(len(df))]
    dists: List[Dict[str, Dict[str, float]]] = [{} for _ in range(len(df))]
    for task, (logits_of, categories) in heads.items():
        rows = np.flatnonzero((df["task"] == task).to_numpy())
        if not len(rows):
            continue
        for tag, logits in logits_of(rows).items():
            p, cats = logits.float().softmax(-1), categories[tag]
            best = p.argmax(-1)
            for j, r in enumerate(rows):
                tags[r][tag] = cats[int(best[j])]
                scores[r][tag] = float(p[j, best[j]])
                dists[r][tag] = {c: float(p[j, k]) for k, c in enumerate(cats)}
    return long_rows(df, taxonomy, tags, scores, dists, system, fold)


def chance_table(taxonomy, preds: pd.DataFrame, majority: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Per tag: uniform chance (1/K) and, if given, majority-baseline accuracy on the same test rows."""
    out = []
    for tag in sorted(preds["tag"].unique()):
        row = {"tag": tag, "task": taxonomy.task_of_tag(tag).name, "categories": len(taxonomy.task_of_tag(tag).tags[tag]),
               "uniform": uniform_chance(taxonomy, tag)}
        if majority is not None:
            m = majority[majority["tag"] == tag]
            row["majority"] = float((m["true"] == m["pred"]).mean()) if len(m) else float("nan")
        out.append(row)
    return pd.DataFrame(out)
