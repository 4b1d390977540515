"""Training on several atlases and choosing rows by annotation source (`halsted train --atlas A --atlas B
--sources human,self-label --source-weight self-label=0.5`).

Several atlases are combined into RUN/atlas.parquet (rows that are the same in two atlases kept once, e.g.
atlas v1 and a self-labelled v2 that copied it), so run.json still names one atlas and evaluation, the
baseline and self-labelling read the run as before. "human" stands for every human source (manual, surgeon).
A source weight scales the loss of that source's rows (1 by default).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import pandas as pd

from ..data.atlas import ANNOTATION_SOURCES, ATLAS_COLUMNS, HUMAN_SOURCES, read_atlas, to_frame, write_atlas
from ..core.errors import HalstedError


def split_list(values: Sequence[str]) -> List[str]:
    """["a,b", "c"] -> ["a", "b", "c"] (repeated flags and comma lists both work)."""
    return [v.strip() for item in values or [] for v in str(item).split(",") if v.strip()]


def expand_sources(names: Sequence[str]) -> List[str]:
    out = []
    for name in split_list(names):
        if name == "human":
            out += list(HUMAN_SOURCES)
        elif name in ANNOTATION_SOURCES:
            out.append(name)
        else:
            raise HalstedError(f"unknown annotation source {name!r}; "
                               f"use human or one of {', '.join(ANNOTATION_SOURCES)}")
    return list(dict.fromkeys(out))


def parse_weights(items: Sequence[str]) -> Dict[str, float]:
    """["self-label=0.5", "human=1"] -> {source: weight} (human expanded)."""
    out: Dict[str, float] = {}
    for item in split_list(items):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not weight >= 0:
            raise HalstedError(f"--source-weight {item!r}: "
                               "write SOURCE=WEIGHT with a weight >= 0, e.g. self-label=0.5")
        for source in expand_sources([name]):
            out[source] = weight
    return out


def combine_atlases(paths: Sequence[str], sources: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """The rows of every atlas (duplicates once), only of `sources` when given."""
    frames = [read_atlas(p) for p in paths]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    key = df[ATLAS_COLUMNS].astype(str).agg("|".join, axis=1)
    df = df.loc[~key.duplicated()].reset_index(drop=True)
    if sources:
        df = df[df["annotation_source"].isin(list(sources))].reset_index(drop=True)
        if df.empty:
            raise HalstedError(f"{', '.join(paths)}: no row has annotation source {', '.join(sources)}")
    return df


def prepare_atlas(paths: Sequence[str], out_dir: str, sources: Optional[Sequence[str]] = None) -> str:
    """One atlas path for training: the atlas itself when one is given unfiltered, else RUN/atlas.parquet."""
    paths = split_list(paths)
    if not paths:
        raise HalstedError("--atlas: give at least one atlas")
    if len(paths) == 1 and not sources:
        return paths[0]
    df = combine_atlases(paths, sources)
    os.makedirs(out_dir, exist_ok=True)
    return write_atlas(to_frame(df.to_dict("records")), os.path.join(out_dir, "atlas.parquet"))


def row_weights(df: pd.DataFrame, weights: Optional[Dict[str, float]]) -> Optional[List[float]]:
    """Per-row loss weights, or None when every row weighs 1."""
    if not weights:
        return None
    w = [float(weights.get(s, 1.0)) for s in df["annotation_source"]]
    return None if all(x == 1.0 for x in w) else w


def split_videos(df: pd.DataFrame) -> List[str]:
    """Videos that may be validation or test videos: those with human labels (machine labels are scored
    against nothing). When an atlas has no human rows at all, every video."""
    human = df[df["annotation_source"].isin(HUMAN_SOURCES)]["video_id"]
    return sorted(set(map(str, human))) or sorted(set(map(str, df["video_id"])))
