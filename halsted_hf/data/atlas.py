"""The atlas: one row per clip sample (a video window, a task, and the tags an annotator gave it).

Rows are ground truth and may have any length; training and evaluation read them as the mapping
workflow's fixed windows (`windows.read_windows`), so a clip's length never tells its label.

Every loader (own atlas folders, HSA-27k, SAR-RARP50, CholecT50, synthetic surgery) yields rows with
these columns, so training, evaluation and the feature cache never care where clips came from.
`tags` is stored as JSON text ({tag: category}) so the table stays a flat Parquet file.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List

import pandas as pd

from ..core.errors import AtlasError
from ..core.io import atomic_path

ATLAS_COLUMNS = [
    "video_id",           # stable id of the source video (whole videos are held out together)
    "video_path",         # path of the video file, or of a frame folder for frame datasets (CholecT50)
    "start_s",            # clip window, seconds from the start of the video
    "end_s",
    "task",               # task name of the taxonomy ("micro-activity", ...)
    "instruction",        # the task's instruction ("map dissection activity")
    "tags",               # JSON {tag: category}
    "specialty",
    "procedure",
    "annotation_source",  # "manual" | "ai" | "self-label" | "surgeon" (ANNOTATION_SOURCES)
]
OPTIONAL_COLUMNS = ["dataset", "split", "confidence", "taxonomy"]
# "ai": machine labels that came with a dataset; "self-label": written by `halsted self-label` (with the
# labelling model's id, threshold and probability); "surgeon": a surgeon's correction in the dashboard.
ANNOTATION_SOURCES = ("manual", "ai", "self-label", "surgeon")
HUMAN_SOURCES = ("manual", "surgeon")  # what headline evaluation numbers and validation videos are scored on


def make_row(video_id: str, video_path: str, start_s: float, end_s: float, task: str, instruction: str,
             tags: Dict[str, str], specialty: str = "", procedure: str = "", annotation_source: str = "manual",
             **extra) -> dict:
    row = {
        "video_id": str(video_id), "video_path": str(video_path), "start_s": float(start_s), "end_s": float(end_s),
        "task": task, "instruction": instruction, "tags": json.dumps(tags, ensure_ascii=False, sort_keys=True),
        "specialty": specialty or "", "procedure": procedure or "", "annotation_source": annotation_source,
    }
    row.update(extra)
    return row


def to_frame(rows: Iterable[dict]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    if df.empty:
        df = pd.DataFrame(columns=ATLAS_COLUMNS)
    validate(df)
    ordered = ATLAS_COLUMNS + [c for c in df.columns if c not in ATLAS_COLUMNS]
    return df[ordered].reset_index(drop=True)


def validate(df: pd.DataFrame, source: str = "atlas") -> None:
    missing = [c for c in ATLAS_COLUMNS if c not in df.columns]
    if missing:
        raise AtlasError(f"{source}: missing column(s) {missing}; an atlas needs {ATLAS_COLUMNS}")
    if len(df):
        bad = df[~df["annotation_source"].isin(ANNOTATION_SOURCES)]
        if len(bad):
            raise AtlasError(f"{source}: annotation_source must be one of {ANNOTATION_SOURCES}, "
                             f"got {sorted(set(bad['annotation_source']))[:5]}")
        if (df["end_s"] <= df["start_s"]).any():
            raise AtlasError(f"{source}: some clips have end_s <= start_s")


def tags_of(row) -> Dict[str, str]:
    value = row["tags"] if not isinstance(row, str) else row
    return value if isinstance(value, dict) else json.loads(value)


def write_atlas(df: pd.DataFrame, path: str) -> str:
    """Write atomically (tmp file + rename), so an interrupted write never leaves half a table."""
    validate(df, path)
    with atomic_path(path) as tmp:
        if path.endswith(".csv"):
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    return path


def read_atlas(path: str) -> pd.DataFrame:
    """Read an atlas table (.parquet or .csv), or the `atlas.parquet` inside an atlas folder.

    Six columns are enough (atlas_rows.py derives the rest); a row with unreadable tags or times is refused,
    named. Relative `video_path`s are resolved against the table's folder.
    """
    if os.path.isdir(path):
        for name in ("atlas.parquet", "atlas.csv"):
            if os.path.exists(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise AtlasError(f"{path}: no atlas.parquet or atlas.csv in this folder")
    if not os.path.exists(path):
        raise AtlasError(f"{path}: no such atlas file")
    try:
        df = pd.read_csv(path) if path.endswith(".csv") else pd.read_parquet(path)
    except Exception as err:  # pyarrow raises many kinds
        raise AtlasError(f"{path}: not a readable atlas table ({err})") from err
    from .atlas_rows import complete

    df = complete(df, path)  # the six-column minimum is enough: the rest is derived
    validate(df, path)
    root = os.path.dirname(os.path.abspath(path))
    df["video_path"] = [p if os.path.isabs(p) else os.path.normpath(os.path.join(root, p)) for p in df["video_path"]]
    return df


def videos(df: pd.DataFrame) -> List[str]:
    return sorted(df["video_id"].unique().tolist())
