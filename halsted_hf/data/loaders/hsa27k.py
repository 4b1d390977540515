"""HSA-27k (the paper's surgical atlas) through `datasets.load_dataset`, with a configurable column mapping.

The dataset's exact columns are not known here, so `ColumnMapping` says which column fills which atlas
field. Each field holds one column name or a tuple of candidates (the first one the dataset has wins);
the defaults guess common names. Tags come from, in this order of preference:

1. a tags column: a dict {tag: category} (a struct column; missing tags as None) or its JSON text;
2. a target-text column in the model's format: "<action> hook </action> <arm> left </arm>";
3. one column per tag of the taxonomy ("action", "arm", ...), when neither of the above exists.

The task comes from a task column (name or instruction), else an instruction column, else from the
tags themselves (all of a row's tags belong to one task). docs/datasets.md documents all of this.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Dict, Iterator, Optional, Tuple, Union

import pandas as pd

from ...model.taxonomy import Task, Taxonomy, load_taxonomy, parse_tags
from ..atlas import ANNOTATION_SOURCES, make_row, to_frame
from ._common import DatasetError

Columns = Union[None, str, Tuple[str, ...]]
TAG_MARKUP = re.compile(r"(</?[^<>\s]+>)")


@dataclass
class ColumnMapping:
    """Dataset column(s) for each atlas field: a name, a tuple of candidate names, or None (absent)."""

    video_path: Columns = ("video_path", "video", "path", "file_name", "filename", "video_file")
    video_id: Columns = ("video_id", "video_name", "case_id", "case")
    start_s: Columns = ("start_s", "start", "start_time", "begin", "t_start")
    end_s: Columns = ("end_s", "end", "end_time", "stop", "t_end")
    task: Columns = ("task", "task_name")
    instruction: Columns = ("instruction", "prompt", "question")
    tags: Columns = ("tags", "labels", "label")
    target: Columns = ("target", "target_text", "answer", "output", "response", "text")
    specialty: Columns = ("specialty", "speciality")
    procedure: Columns = ("procedure", "procedure_type")
    annotation_source: Columns = ("annotation_source", "source")
    split: Columns = ("split", "fold")
    time_scale: float = 1.0  # multiplies start/end into seconds: 0.001 for milliseconds

    def resolve(self, columns) -> Dict[str, Optional[str]]:
        """{field: the dataset column it reads, or None}, over the dataset's actual `columns`."""
        present = set(columns)
        out: Dict[str, Optional[str]] = {}
        for f in fields(self):
            if f.name == "time_scale":
                continue
            spec = getattr(self, f.name)
            candidates = (spec,) if isinstance(spec, str) else tuple(spec or ())
            if isinstance(spec, str) and spec not in present:
                raise DatasetError(f"ColumnMapping({f.name}={spec!r}): the dataset has no column {spec!r}; "
                                   f"its columns are {sorted(present)}")
            out[f.name] = next((c for c in candidates if c in present), None)
        return out


def open_hf_dataset(name_or_path: Any, split: str = "train", **load_kwargs):
    """A `datasets.Dataset` from a Hub name, a folder written by `save_to_disk`, or a CSV/JSON/Parquet file.

    Anything else `datasets.load_dataset(name_or_path, split=split)` accepts works too (a local loading
    script folder, a Hub id with `name=`/`revision=` in `load_kwargs`).
    """
    import datasets

    if isinstance(name_or_path, datasets.Dataset):
        return name_or_path
    path = str(name_or_path)
    builders = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
    try:
        if os.path.isdir(path) and any(os.path.exists(os.path.join(path, f))
                                       for f in ("state.json", "dataset_dict.json")):
            data = datasets.load_from_disk(path)
            if isinstance(data, datasets.DatasetDict):
                if split not in data:
                    raise DatasetError(f"{path}: no split {split!r}; it has {sorted(data)}")
                data = data[split]
            return data
        ext = os.path.splitext(path)[1].lower()
        if os.path.isfile(path) and ext in builders:
            return datasets.load_dataset(builders[ext], data_files=path, split="train", **load_kwargs)
        if not os.path.exists(path) and (path.startswith(("/", "./", "../", "~")) or ext in builders):
            raise DatasetError(f"{path}: no such file or folder; give a Hub dataset id, a save_to_disk folder "
                               f"or a CSV/JSON/Parquet file")
        return datasets.load_dataset(path, split=split, **load_kwargs)
    except DatasetError:
        raise
    except Exception as err:  # datasets raises many kinds (network, format, missing split)
        raise DatasetError(f"{path}: could not load it with datasets ({type(err).__name__}: {err}); without the "
                           f"Hub, pass a local copy (save_to_disk folder, CSV/JSON/Parquet file)") from err


def _category(task: Task, tag: str, value: Any) -> Optional[str]:
    """The taxonomy's spelling of `value` for `tag` (case and spacing ignored), or None if unknown."""
    if tag not in task.tags or value is None:
        return None
    key = " ".join(str(value).split()).lower()
    return next((c for c in task.tags[tag] if c.lower() == key), None)


def _raw_tags(value: Any, columns: Dict[str, Any]) -> Dict[str, Any]:
    """Tags of one row before validation, from a dict, JSON text, target text or per-tag columns."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            return {k: v for k, v in json.loads(text).items() if v is not None}
        return parse_tags(TAG_MARKUP.sub(r" \1 ", text).split())
    return {k: v for k, v in columns.items() if v is not None and not (isinstance(v, float) and v != v)}


def iter_hsa27k_rows(name_or_path: Any, split: str = "train", mapping: Optional[ColumnMapping] = None,
                     taxonomy: "Optional[str | dict | Taxonomy]" = None, video_root: Optional[str] = None,
                     check_videos: bool = True, on_invalid: str = "error", dataset_name: str = "hsa-27k",
                     **load_kwargs) -> Iterator[dict]:
    """Atlas rows from HSA-27k (or any dataset with one clip per row) through `datasets`.

    `video_root` resolves relative video paths (default: the folder of a local dataset path).
    `check_videos` makes every referenced video file a must (a DatasetError names the first missing
    one). `on_invalid="skip"` drops rows whose task or tags the taxonomy does not know, instead of
    raising; a row whose times are not a window (end <= start) always raises.
    """
    if on_invalid not in ("error", "skip"):
        raise DatasetError(f"on_invalid={on_invalid!r}: use 'error' or 'skip'")
    taxonomy = load_taxonomy(taxonomy)
    mapping = mapping or ColumnMapping()
    data = open_hf_dataset(name_or_path, split, **load_kwargs)
    source = str(name_or_path) if isinstance(name_or_path, (str, os.PathLike)) else dataset_name
    cols = mapping.resolve(data.column_names)
    tag_columns = [t for t in taxonomy.all_tags if t in data.column_names]
    need = {"video_path": cols["video_path"] or cols["video_id"], "start_s": cols["start_s"], "end_s": cols["end_s"],
            "tags": cols["tags"] or cols["target"] or (tag_columns or None)}
    missing = [k for k, v in need.items() if v is None]
    if missing:
        raise DatasetError(f"{source}: no column for {missing} (columns: {data.column_names}); pass "
                           f"ColumnMapping({missing[0]}='<column>') (see docs/datasets.md)")
    if video_root is None and isinstance(name_or_path, (str, os.PathLike)) and os.path.exists(str(name_or_path)):
        path = str(name_or_path)
        video_root = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    checked: Dict[str, bool] = {}

    def invalid(index: int, why: str) -> None:
        if on_invalid == "error":
            raise DatasetError(f"{source}, row {index}: {why}; fix the row, pass a taxonomy that has it, "
                               f"or on_invalid='skip'")

    for index, record in enumerate(data):
        get = lambda name: record[cols[name]] if cols[name] else None  # noqa: E731
        raw = _raw_tags(get("tags") if cols["tags"] else get("target"), {t: record[t] for t in tag_columns})
        key = get("task") or get("instruction")
        try:
            task = taxonomy.task(str(key)) if key else taxonomy.task_of_tag(next(iter(raw)))
        except (KeyError, StopIteration):
            invalid(index, f"unknown task {key!r}" if key else f"no task column and no known tag in {raw}")
            continue
        tags = {tag: _category(task, tag, value) for tag, value in raw.items()}
        bad = {tag: raw[tag] for tag, cat in tags.items() if cat is None}
        if bad or not tags:
            invalid(index, f"tags {bad or raw} are not categories of task {task.name!r}")
            continue
        start, end = (float(get(k)) * mapping.time_scale for k in ("start_s", "end_s"))
        if not end > start:
            raise DatasetError(f"{source}, row {index}: end {end} s is not after start {start} s; check the "
                               f"start/end columns and ColumnMapping.time_scale")
        video = get("video_path") if cols["video_path"] else get("video_id")
        video = video.get("path") if isinstance(video, dict) else str(video)
        if video_root and not os.path.isabs(video):
            video = os.path.normpath(os.path.join(video_root, video))
        if check_videos and video not in checked:
            checked[video] = os.path.exists(video)
            if not checked[video]:
                raise DatasetError(f"{video}: video file not found (row {index} of {source}); set video_root to "
                                   f"the folder holding the videos, or check_videos=False")
        video_id = get("video_id") or os.path.splitext(os.path.basename(video))[0]
        procedure = get("procedure") or ""
        specialty = get("specialty") or taxonomy.specialty_of_procedure.get(procedure, "")
        annotation = str(get("annotation_source") or "manual").lower()
        if annotation not in ANNOTATION_SOURCES:
            raise DatasetError(f"{source}, row {index}: annotation source {annotation!r} is not one of "
                               f"{ANNOTATION_SOURCES}")
        yield make_row(video_id, video, start, end, task.name, task.instruction, tags, specialty=specialty,
                       procedure=procedure, annotation_source=annotation, dataset=dataset_name,
                       split=str(get("split") or split), taxonomy=taxonomy.name)


def load_hsa27k(name_or_path: Any, split: str = "train", **kwargs) -> pd.DataFrame:
    """HSA-27k as an atlas DataFrame (see `iter_hsa27k_rows` for the options)."""
    return to_frame(iter_hsa27k_rows(name_or_path, split, **kwargs))
