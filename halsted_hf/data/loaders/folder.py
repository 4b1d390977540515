"""A generic atlas folder: videos plus an `atlas.parquet` (or `atlas.csv`) table, e.g. what `halsted synth`
writes or what a team exports from its own annotations. Relative `video_path`s are relative to the folder."""

from __future__ import annotations

import os
from typing import Iterator

import pandas as pd

from ..atlas import AtlasError, read_atlas
from ._common import DatasetError, probe_duration, require_path


def load_atlas_folder(path: str, probe: bool = False, tolerance_s: float = 0.5) -> pd.DataFrame:
    """The folder's atlas table with absolute video paths, after checking every video it names exists.

    `path` is the folder or the table itself. A `video_path` may be a file or a frame folder. With
    `probe=True` every video file is also opened with ffprobe (an unreadable one raises VideoError) and
    a clip ending more than `tolerance_s` after its video's end raises a DatasetError: the table does
    not match its video. Probing reads only headers, but costs a process per video.
    """
    require_path(path, "atlas folder or table")
    try:
        df = read_atlas(path)
    except AtlasError as err:
        raise DatasetError(str(err)) from err
    table = path if os.path.isfile(path) else next(
        os.path.join(path, n) for n in ("atlas.parquet", "atlas.csv") if os.path.exists(os.path.join(path, n)))
    for video in _unique(df["video_path"]):
        if not os.path.exists(video):
            n = int((df["video_path"] == video).sum())
            raise DatasetError(f"{video}: video not found ({n} clip(s) of {table} use it); copy the video there "
                               f"or fix video_path in the table")
    if probe:
        ends = df.groupby("video_path")["end_s"].max()
        for video, last_end in ends.items():
            if os.path.isdir(video):  # a frame folder: nothing to probe
                continue
            duration = probe_duration(video)
            if last_end > duration + tolerance_s:
                raise DatasetError(f"{table}: clips of {video} run to {last_end:.2f} s but the video lasts "
                                   f"{duration:.2f} s; the table does not match its video")
    return df


def _unique(values) -> Iterator[str]:
    return iter(dict.fromkeys(values))
