"""`halsted archive-summary OUT`: tables over a mapped archive, from its Parquet files alone.

Each table is a pandas DataFrame, written to OUT/summary/<name>.parquet (pandas, DuckDB, Spark read it
as is). A video's procedure is the one `procedure_summary` gives for its whole Timeline (the
duration-weighted majority), recorded at mapping time, so a video counts under one procedure.
"""

from __future__ import annotations

import glob
import os
from typing import Dict, Optional

import pandas as pd
import pyarrow.parquet as pq

from ..core.errors import HalstedError
from .store import SEGMENT_SCHEMA, UNKNOWN, ArchiveStore, RECORD_SCHEMA

TABLES = ("status", "procedures", "step_time", "phase_time", "proficiency")


def load(out: str):
    """(videos, segments) DataFrames of the archive in `out`: every record, and every mapped segment
    with its video's procedure."""
    store = ArchiveStore(out)
    if not os.path.exists(store.path("archive.json")):
        raise HalstedError(f"{out}: not a Halsted archive (no archive.json); map one with `halsted map-archive`")
    videos = pd.DataFrame(list(store.records().values()), columns=RECORD_SCHEMA.names)
    files = sorted(glob.glob(store.path("segments", "*", "*.parquet")))
    # Read the files, not the folder: the partition folder only repeats the record's procedure.
    segments = (pq.ParquetDataset(files, schema=SEGMENT_SCHEMA).read().to_pandas() if files
                else SEGMENT_SCHEMA.empty_table().to_pandas())
    ok = videos[videos["status"] == "ok"]
    segments = segments.merge(ok[["content_hash", "procedure"]].rename(columns={"procedure": "video_procedure"}),
                              on="content_hash", how="inner")  # rows of a video with no ok record: none
    segments["video_procedure"] = segments["video_procedure"].fillna(UNKNOWN)
    return videos, segments


def summarize(out: str) -> Dict[str, pd.DataFrame]:
    videos, segments = load(out)
    ok = videos[videos["status"] == "ok"].copy()
    ok["procedure"] = ok["procedure"].fillna(UNKNOWN)
    tables: Dict[str, pd.DataFrame] = {}

    tables["status"] = (videos.groupby("status", dropna=False)
                        .agg(videos=("content_hash", "size"), video_h=("duration_s", lambda s: s.sum() / 3600))
                        .reset_index())

    per = ok.groupby("procedure")
    procedures = per.agg(videos=("content_hash", "size"), video_h=("duration_s", lambda s: s.sum() / 3600),
                         stitches=("stitches", "sum"), rated=("stitches_with_proficiency", "sum"),
                         high=("high_proficiency_stitches", "sum")).reset_index()
    procedures["stitches_per_video"] = procedures["stitches"] / procedures["videos"]
    procedures["stitches_per_hour"] = procedures["stitches"] / procedures["video_h"].where(procedures["video_h"] > 0)
    procedures["high_proficiency_share"] = procedures["high"] / procedures["rated"].where(procedures["rated"] > 0)
    tables["procedures"] = procedures.drop(columns=["rated", "high"])

    n_videos = ok.groupby("procedure").size()
    for name, tag, stage in (("step_time", "step", 1), ("phase_time", "phase", 2)):
        rows = segments[(segments["stage"] == stage) & segments[tag].notna()]
        t = rows.groupby(["video_procedure", tag])["duration_s"].sum().rename("total_s").reset_index()
        t = t.rename(columns={"video_procedure": "procedure"})
        # astype: with no rows (an archive without suturing has no phases) the mapped column keeps the
        # procedure's string type, and dividing by it fails
        t["mean_s_per_video"] = t["total_s"] / t["procedure"].map(n_videos).astype("float64")
        t["share"] = t["total_s"] / t.groupby("procedure")["total_s"].transform("sum")
        tables[name] = t.sort_values(["procedure", "total_s"], ascending=[True, False]).reset_index(drop=True)

    prof = procedures[["procedure"]].copy()
    rated = per["stitches_with_proficiency"].sum().values
    high = per["high_proficiency_stitches"].sum().values
    prof["high"], prof["low"] = high, rated - high
    prof = prof.melt(id_vars="procedure", var_name="proficiency", value_name="stitches")
    prof["share"] = prof["stitches"] / prof.groupby("procedure")["stitches"].transform("sum").where(lambda s: s > 0)
    tables["proficiency"] = prof.sort_values(["procedure", "proficiency"]).reset_index(drop=True)
    return tables


def write_summary(out: str, tables: Optional[Dict[str, pd.DataFrame]] = None) -> Dict[str, str]:
    """Write each table (computed if not given) to OUT/summary/<name>.parquet; returns name -> path."""
    from ..core.io import atomic_path

    store = ArchiveStore(out)
    paths = {}
    for name, df in (tables if tables is not None else summarize(out)).items():
        path = store.path("summary", f"{name}.parquet")
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        paths[name] = path
    return paths
