"""Baselines on the same splits and the same frozen clip embeddings as Halsted.

Chance (the paper's Table 1 convention, e.g. RARP-50's 8 actions -> 12.5%):
  - `uniform`: 1 / K for a tag with K categories in the taxonomy, the accuracy of guessing uniformly at
    random; this is the denominator of the relative improvement ("5.5x" = accuracy / uniform chance);
  - `majority`: the accuracy on the test clips of always answering the training videos' most frequent
    category of that tag (a stronger, data-aware chance, reported beside it).

SAIS-style: what the paper compares against, a separate classifier with its own parameters per task.
On frozen embeddings: one small MLP per task (LayerNorm, Linear, GELU, dropout) with one softmax head per
tag, trained on the training videos' frozen clip embeddings only (never a validation or test video) with
the same optimiser family as Halsted (AdamW, weight decay 1e-2, linear warm-up then cosine decay). The
model and its training live in training/per_task.py (`FrozenTaskHeads`); this module turns its logits,
and those of `halsted baseline`'s per-task models, into the prediction table every system shares.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from ..data.atlas import tags_of
from ..training.per_task import FrozenTaskHeads
from ..training.record import category_counts, majority_of_counts
from .predictions import long_rows


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


def frozen_heads_predictions(heads: FrozenTaskHeads, df: pd.DataFrame, embeds: np.ndarray, fold: str = "fold-0",
                             system: str = "sais") -> pd.DataFrame:
    """The prediction table of trained `FrozenTaskHeads` on the rows `df` and their (len(df), D) embeddings."""
    return heads_predictions(df, heads.taxonomy, {task: (lambda rows, t=task: heads.logits(t, embeds[rows]), head.tags)
                                                  for task, head in heads.heads.items()}, fold, system)


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
        row = {"tag": tag, "task": taxonomy.task_of_tag(tag).name,
               "categories": len(taxonomy.task_of_tag(tag).tags[tag]),
               "uniform": uniform_chance(taxonomy, tag)}
        if majority is not None:
            m = majority[majority["tag"] == tag]
            row["majority"] = float((m["true"] == m["pred"]).mean()) if len(m) else float("nan")
        out.append(row)
    return pd.DataFrame(out)
