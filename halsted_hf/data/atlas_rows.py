"""An own atlas, checked row by row: what can be derived is filled in, what is wrong is one line naming the file
and the row.

The least an atlas needs is six columns: video_id, video_path, start_s, end_s, task, tags (a CSV example:
docs/atlas-example.csv). The other required columns follow from them: `instruction` from the task, `procedure`
and `specialty` from the row's tags or, for a fine-task row, from its video's macro-activity rows (`specialty`
from the taxonomy's procedure list too), `annotation_source` is "manual".

Checks, in two steps: `read_atlas` refuses what no taxonomy is needed to see (tags that are not a JSON object,
times that are not numbers, end_s <= start_s); `check_rows` (`halsted features` and `halsted train`) refuses
what the model's taxonomy does not know (a task, a tag of the task, a category of the tag) and clips that end
after their video does.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import pandas as pd

from ..core.errors import AtlasError, HalstedError

MINIMAL_COLUMNS = ["video_id", "video_path", "start_s", "end_s", "task", "tags"]
_SHOWN = 3  # bad rows named in full; the rest are counted


def _refuse(source: str, problems: List[str]) -> None:
    if problems:
        more = f"; {len(problems) - _SHOWN} more bad row(s)" if len(problems) > _SHOWN else ""
        raise AtlasError(f"{source}: " + "; ".join(problems[:_SHOWN]) + more + ". Fix the rows and run again")


def _where(df: pd.DataFrame, i: int) -> str:
    """A row as a person finds it: its number in the table (a CSV's line is that + 2) and its video."""
    return f"row {i} (video {df['video_id'].iloc[i]!s})"


def parse_tags(df: pd.DataFrame, source: str) -> List[dict]:
    """Each row's tags as a dict; every row whose tags are not a JSON object is refused, named."""
    out, problems = [], []
    for i, value in enumerate(df["tags"]):
        try:
            tags = value if isinstance(value, dict) else json.loads(value)
        except (TypeError, ValueError) as err:
            problems.append(f"{_where(df, i)}: tags are not JSON ({err}): write them as {{\"tag\": \"category\"}}")
            continue
        if not isinstance(tags, dict):
            problems.append(f"{_where(df, i)}: tags must be a JSON object {{\"tag\": \"category\"}}, got {value!r}")
        out.append(tags)
    _refuse(source, problems)
    return out


def check_times(df: pd.DataFrame, source: str) -> None:
    problems = []
    for i, (a, b) in enumerate(zip(df["start_s"], df["end_s"])):
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            problems.append(f"{_where(df, i)}: start_s and end_s must be seconds, got {a!r}, {b!r}")
            continue
        if not b > a:
            problems.append(f"{_where(df, i)}: end_s {b:g} is not after start_s {a:g}")
    _refuse(source, problems)


def complete(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Fill in the derivable columns an atlas lacks (see the module docstring); -> the same rows."""
    from ..model.taxonomy import HALSTED_TAXONOMY

    missing = [c for c in MINIMAL_COLUMNS if c not in df.columns]
    if missing:
            raise AtlasError(f"{source}: missing column(s) {missing}; an atlas needs at least {MINIMAL_COLUMNS} "
                         f"(example: docs/atlas-example.csv)")
    df = df.copy()
    check_times(df, source)
    tags = parse_tags(df, source)
    if "instruction" not in df.columns:
        df["instruction"] = [_instruction(t, HALSTED_TAXONOMY) for t in df["task"]]
    if "procedure" not in df.columns or "specialty" not in df.columns:
        procedure = _per_video(df, tags, "procedure")
        specialty = _per_video(df, tags, "specialty")
        if "procedure" not in df.columns:
            df["procedure"] = [t.get("procedure") or procedure.get(v, "") for t, v in zip(tags, df["video_id"])]
        if "specialty" not in df.columns:
            df["specialty"] = [t.get("specialty") or specialty.get(v) or
                               HALSTED_TAXONOMY.specialty_of_procedure.get(p, "")
                               for t, v, p in zip(tags, df["video_id"], df["procedure"])]
    if "annotation_source" not in df.columns:
        df["annotation_source"] = "manual"
    return df


def _instruction(task: str, taxonomy) -> str:
    try:
        return taxonomy.task(task).instruction
    except (KeyError, ValueError):
        return str(task)  # another taxonomy's task: check_rows judges it against the model's


def _per_video(df: pd.DataFrame, tags: List[dict], tag: str) -> Dict[str, str]:
    """video_id -> the value of `tag` its rows give (the macro-activity rows name the procedure)."""
    out: Dict[str, str] = {}
    for t, v in zip(tags, df["video_id"]):
        if t.get(tag):
            out.setdefault(v, t[tag])
    return out


def check_rows(df: pd.DataFrame, source: str, taxonomy, durations: Optional[Dict[str, float]] = None) -> None:
    """Refuse rows the model cannot learn from: an unknown task, tag or category (judged by `taxonomy`), a clip
    that ends after its video (`durations`: video_path -> seconds; None probes each video file)."""
    tags = parse_tags(df, source)
    problems = []
    for i, (task_text, row_tags) in enumerate(zip(df["task"], tags)):
        try:
            task = taxonomy.task(task_text)
        except (KeyError, ValueError):
            problems.append(f"{_where(df, i)}: task {task_text!r} is not one of this model's tasks "
                            f"{taxonomy.task_names}")
            continue
        try:
            task.format_target(row_tags)
        except ValueError as err:
            problems.append(f"{_where(df, i)}: {err}")
    if durations is None:
        durations = video_durations(df["video_path"])
    for i, (path, end) in enumerate(zip(df["video_path"], df["end_s"])):
        length = durations.get(path)
        if length is not None and float(end) > length + 0.5:  # half a second: containers round durations
            problems.append(f"{_where(df, i)}: the clip ends at {float(end):g} s, after its video {path} "
                            f"({length:.2f} s)")
    _refuse(source, problems)


def video_durations(paths) -> Dict[str, float]:
    """path -> duration (s) of every distinct video file; frame folders and unreadable files are left out
    (reading the clips says what is wrong with those)."""
    from ..video.probe import probe_video

    out = {}
    for path in sorted(set(paths)):
        if os.path.isfile(path):
            try:
                out[path] = float(probe_video(path).duration_s)
            except HalstedError:
                continue
    return out


def untrained_tasks(df: pd.DataFrame, train_videos) -> Dict[str, List[str]]:
    """task -> the videos labelling it, for each task of `df` that no training video labels."""
    train = set(map(str, train_videos))
    out = {}
    for task, videos in df.groupby("task")["video_id"]:
        ids = sorted(set(map(str, videos)))
        if not train & set(ids):
            out[str(task)] = ids
    return out
