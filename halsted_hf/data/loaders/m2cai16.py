"""M2CAI16-workflow (the MICCAI 2016 workflow challenge: 41 laparoscopic cholecystectomies), as atlas rows.

Layout (as released)::

    ROOT/train_dataset/workflow_video_01.mp4 ... _27.mp4       the 27 training videos, 25 fps
    ROOT/train_dataset/workflow_video_01.txt                   `Frame	Phase` rows for every frame (25 fps):
                                                               `0	TrocarPlacement`, `1	TrocarPlacement`, ...
    ROOT/test_dataset/test_workflow_video_01.mp4 ... _14.mp4   the 14 test videos, labels beside them

Eight phases: Cholec80's seven after trocar placement. Clips are non-overlapping windows of `window_s`
seconds with the window's majority phase. Split (column `split`): the folders, train_dataset -> "train",
test_dataset -> "test" (the challenge's 27 / 14).
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pandas as pd

from ..atlas import to_frame
from ._common import DatasetError, load_builtin_taxonomy, require_path
from .cholec80 import FILE_PHASES, phase_names
from .phase_files import PhaseDataset, PhaseLabels, read_phase_file

SUBSETS = {"train_dataset": "train", "test_dataset": "test"}


def m2cai16_taxonomy():
    """The 8 M2CAI16-workflow phases as a one-task taxonomy (data: `taxonomies/m2cai16.json`)."""
    return load_builtin_taxonomy("m2cai16")


def find_m2cai16_videos(root: str) -> List[Tuple[str, str, str]]:
    """[(split, video file, label file)] for every `*workflow_video_NN.txt` under ROOT's two folders."""
    root = require_path(root, "M2CAI16-workflow folder")
    subsets = [s for s in SUBSETS if os.path.isdir(os.path.join(root, s))]
    if not subsets:
        raise DatasetError(f"{root}: no train_dataset/ or test_dataset/ folder; point to the M2CAI16-workflow root")
    found = []
    for subset in subsets:
        folder = os.path.join(root, subset)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".txt") and "workflow_video_" in name and not name.endswith("_timestamp.txt"):
                found.append((SUBSETS[subset], os.path.join(folder, name[:-4] + ".mp4"), os.path.join(folder, name)))
    if not found:
        raise DatasetError(f"{root}: no workflow_video_NN.txt label files in {', '.join(subsets)}")
    return found


def _labels(label_file: str, label_fps: float) -> PhaseLabels:
    phases = m2cai16_taxonomy().task("phase").tags["phase"]
    times, ids = read_phase_file(label_file, phase_names(phases, FILE_PHASES), label_fps)
    return PhaseLabels(os.path.basename(label_file)[:-4], times, ids, tuple(phases))


def _check_splits(splits: Optional[Sequence[str]]) -> None:
    unknown = sorted(set(splits or ()) - set(SUBSETS.values()))
    if unknown:
        raise DatasetError(f"splits {unknown}: M2CAI16-workflow has only {sorted(SUBSETS.values())}")


def m2cai16_phase_labels(root: str, splits: Optional[Sequence[str]] = None,
                         label_fps: float = 25.0) -> Dict[str, PhaseLabels]:
    """{"test_workflow_video_01": PhaseLabels} for the videos of `splits` (all by default); no video is opened."""
    _check_splits(splits)
    labels = [_labels(f, label_fps) for split, _, f in find_m2cai16_videos(root) if splits is None or split in splits]
    return {lab.video: lab for lab in labels}


def iter_m2cai16_rows(root: str, window_s: float = 16.0, splits: Optional[Sequence[str]] = None,
                      label_fps: float = 25.0, tolerance_s: float = 1.0) -> Iterator[dict]:
    """Atlas rows (task "phase") for the videos of `splits`. Each video is probed with ffprobe: labels more
    than `tolerance_s` past its end raise a DatasetError naming both files, as does a missing video."""
    _check_splits(splits)
    dataset = PhaseDataset("m2cai16", m2cai16_taxonomy(), "general", "laparoscopic cholecystectomy")
    for split, video, label_file in find_m2cai16_videos(root):
        if splits is None or split in splits:
            yield from dataset.video_rows(_labels(label_file, label_fps), label_file, video, split, window_s,
                                          tolerance_s)[2]


def load_m2cai16(root: str, **kwargs) -> pd.DataFrame:
    """All M2CAI16-workflow clips under ROOT as an atlas DataFrame (see `iter_m2cai16_rows` for the options)."""
    return to_frame(iter_m2cai16_rows(root, **kwargs))
