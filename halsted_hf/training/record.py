"""The training record saved beside a model's weights: which videos trained it and how often each category
occurred in its training clips.

    MODEL/training_record.json   {"train_videos": [...], "val_videos": [...], "clips": {task: n},
                                  "category_counts": {tag: {category: n}}, "clip_windows_s": {task: s}}

Why: `halsted evaluate --model DIR` scores any model folder on any atlas, where the training videos are
usually not in the atlas. The majority baseline (always answer the training clips' most frequent category)
then comes from these counts; without the file the report says that baseline is not available. The video
ids also let the evaluation warn when a test video trained the model.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Dict, Iterable, Optional, Sequence

from ..core.io import atomic_write_text

TRAINING_RECORD = "training_record.json"


def category_counts(tags: Iterable[Dict[str, str]]) -> Dict[str, Dict[str, int]]:
    """{tag: {category: number of clips}} over clips' tag dicts (None categories are skipped)."""
    counts: Dict[str, Counter] = {}
    for t in tags:
        for tag, cat in t.items():
            if cat is not None:
                counts.setdefault(tag, Counter())[cat] += 1
    return {tag: dict(sorted(c.items())) for tag, c in sorted(counts.items())}


def majority_of_counts(counts: Dict[str, Dict[str, int]]) -> Dict[str, str]:
    """{tag: most frequent category} (ties: alphabetical, for determinism)."""
    return {tag: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for tag, c in counts.items() if c}


def training_record(tags: Sequence[Dict[str, str]], tasks: Sequence[str], train_videos: Sequence[str],
                    val_videos: Sequence[str] = ()) -> dict:
    from ..data.windows import window_lengths

    return {"train_videos": sorted(set(train_videos)), "val_videos": sorted(set(val_videos)),
            "clips": dict(sorted(Counter(tasks).items())), "category_counts": category_counts(tags),
            "clip_windows_s": window_lengths()}


def write_training_record(model_dir: str, record: dict) -> str:
    path = os.path.join(model_dir, TRAINING_RECORD)
    return atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False))


def read_training_record(model_dir: str) -> Optional[dict]:
    """The record of a model folder, or None when it has none (or it is unreadable: the report says so)."""
    path = os.path.join(model_dir, TRAINING_RECORD)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record.get("category_counts"), dict) else None
