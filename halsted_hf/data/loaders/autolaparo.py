"""AutoLaparo task 1, workflow recognition (21 laparoscopic hysterectomies), as atlas rows.

Layout read (a copy laid out otherwise needs its files moved or renamed to this)::

    ROOT/videos/01.mp4 ... 21.mp4        the videos
    ROOT/labels/label_01.txt ...         `Frame	Phase` rows, phase ids 1-7, one per second (label_fps = 1;
                                         pass the rate of a copy labelled otherwise)

Phases 1-7: preparation, dividing ligament and peritoneum, dividing uterine vessels and ligament,
transecting the vagina, specimen removal, suturing, washing. Clips are non-overlapping windows of
`window_s` seconds with the window's majority phase. Published split (column `split`): videos 1-10
train, 11-14 val, 15-21 test.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pandas as pd

from ..atlas import to_frame
from ._common import DatasetError, load_builtin_taxonomy, require_path
from .phase_files import PhaseDataset, PhaseLabels, read_phase_file, split_of

SPLITS = {"train": range(1, 11), "val": range(11, 15), "test": range(15, 22)}
LABEL_NAME = re.compile(r"^label_(\d+)\.txt$")


def autolaparo_taxonomy():
    """The 7 AutoLaparo phases as a one-task taxonomy (data: `taxonomies/autolaparo.json`)."""
    return load_builtin_taxonomy("autolaparo")


def find_autolaparo_videos(root: str) -> List[Tuple[int, str, str]]:
    """[(number, video file, label file)] for every labels/label_NN.txt, sorted by number."""
    root = require_path(root, "AutoLaparo folder")
    labels_dir = os.path.join(root, "labels")
    if not os.path.isdir(labels_dir):
        raise DatasetError(f"{labels_dir}: missing; an AutoLaparo task-1 folder holds videos/NN.mp4 and "
                           f"labels/label_NN.txt")
    found = []
    for name in sorted(os.listdir(labels_dir)):
        match = LABEL_NAME.match(name)
        if match:
            number = int(match.group(1))
            found.append((number, os.path.join(root, "videos", f"{match.group(1)}.mp4"),
                          os.path.join(labels_dir, name)))
    if not found:
        raise DatasetError(f"{labels_dir}: no label_NN.txt files")
    return sorted(found)


def _videos(root: str, splits: Optional[Sequence[str]]):
    unknown = sorted(set(splits or ()) - set(SPLITS))
    if unknown:
        raise DatasetError(f"splits {unknown}: AutoLaparo's published split has only {list(SPLITS)}")
    for number, video, label_file in find_autolaparo_videos(root):
        split = split_of(number, SPLITS, label_file)
        if splits is None or split in splits:
            yield number, split, video, label_file


def _labels(number: int, label_file: str, label_fps: float) -> PhaseLabels:
    phases = autolaparo_taxonomy().task("phase").tags["phase"]
    times, ids = read_phase_file(label_file, {}, label_fps, first_id=1, num_phases=len(phases))
    return PhaseLabels(f"{number:02d}", times, ids, tuple(phases))


def autolaparo_phase_labels(root: str, splits: Optional[Sequence[str]] = None,
                            label_fps: float = 1.0) -> Dict[str, PhaseLabels]:
    """{"15": PhaseLabels} for the videos of `splits` (all by default); no video is opened."""
    return {f"{n:02d}": _labels(n, f, label_fps) for n, _, _, f in _videos(root, splits)}


def iter_autolaparo_rows(root: str, window_s: float = 16.0, splits: Optional[Sequence[str]] = None,
                         label_fps: float = 1.0, tolerance_s: float = 1.0) -> Iterator[dict]:
    """Atlas rows (task "phase") for the videos of `splits`. Each video is probed with ffprobe: labels more
    than `tolerance_s` past its end raise a DatasetError naming both files, as does a missing video."""
    dataset = PhaseDataset("autolaparo", autolaparo_taxonomy(), "gynecology", "laparoscopic hysterectomy")
    for number, split, video, label_file in _videos(root, splits):
        yield from dataset.video_rows(_labels(number, label_file, label_fps), label_file, video, split, window_s,
                                      tolerance_s)[2]


def load_autolaparo(root: str, **kwargs) -> pd.DataFrame:
    """All AutoLaparo task-1 clips under ROOT as an atlas DataFrame (see `iter_autolaparo_rows` for the options)."""
    return to_frame(iter_autolaparo_rows(root, **kwargs))
