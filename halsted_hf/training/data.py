"""Training tensors for an atlas: instruction ids, target tag ids, and the clip inputs from a cache.

Everything is built once per run and kept in memory: the atlas of the paper (about 650k clips) is 650k x
1408 fp32 embeddings = 3.7 GB, which fits; a pixel cache is for small atlases only (see docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import pandas as pd
import torch

from ..data.atlas import AtlasError, tags_of


@dataclass
class ClipData:
    """Rows of an atlas as tensors. video: (N, Dv) float32 embeddings or (N, T, S, S, 3) uint8 clips;
    instruction_ids / instruction_mask: (N, M); labels: (N, L) tag ids ending in EOS, -100 padded;
    tasks / tags / video_ids: per row, for validation metrics; weights: (N,) loss weight per row (by
    annotation source, training/sources.py), None when every row weighs 1."""

    video: torch.Tensor
    instruction_ids: torch.Tensor
    instruction_mask: torch.Tensor
    labels: torch.Tensor
    tasks: List[str]
    tags: List[Dict[str, str]]
    video_ids: List[str]
    weights: Optional[torch.Tensor] = None

    @property
    def pixels(self) -> bool:
        return self.video.dtype == torch.uint8

    def __len__(self) -> int:
        return len(self.tasks)

    def subset(self, index) -> "ClipData":
        idx = torch.as_tensor(index, dtype=torch.long)
        pick = idx.tolist()
        return ClipData(self.video[idx], self.instruction_ids[idx], self.instruction_mask[idx], self.labels[idx],
                        [self.tasks[i] for i in pick], [self.tags[i] for i in pick], [self.video_ids[i] for i in pick],
                        None if self.weights is None else self.weights[idx])

    def of_videos(self, videos) -> "ClipData":
        wanted = set(videos)
        return self.subset([i for i, v in enumerate(self.video_ids) if v in wanted])


def task_names(df: pd.DataFrame, processor) -> List[str]:
    """Canonical task names (the atlas may hold names or instructions)."""
    from ..model.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(processor.taxonomy)
    return [taxonomy.task(t).name for t in df["task"]]


def encode_atlas(df: pd.DataFrame, processor, video: torch.Tensor, max_tag_length: int) -> ClipData:
    """Tokenise instructions and targets of every row and pair them with `video` (row-aligned)."""
    tasks = task_names(df, processor)
    tags = [tags_of(t) for t in df["tags"]]
    try:
        enc = processor(text=tasks, tags=tags, max_tag_length=max_tag_length)
    except ValueError as err:  # name the row, so the atlas can be fixed
        for i, (task, tag) in enumerate(zip(tasks, tags)):
            try:
                processor(text=[task], tags=[tag], max_tag_length=max_tag_length)
            except ValueError as row_err:
                raise AtlasError(f"atlas row {i} (video {df['video_id'].iloc[i]}, task {task}): {row_err}; fix its "
                                 f"tags or the taxonomy") from err
        raise
    return ClipData(video, enc["instruction_ids"], enc["instruction_mask"], enc["labels"], tasks, tags,
                    [str(v) for v in df["video_id"]])
