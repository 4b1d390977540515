"""SAR-RARP50 (robot-assisted radical prostatectomy, urethrovesical anastomosis): action segments and clips.

Layout (as released)::

    ROOT/train1/video_01/video_left.avi    60 fps stereo-left video
    ROOT/train1/video_01/action_discrete.txt   `frame,class` rows, one every 6th frame (10 Hz)
    ROOT/train2/video_*/...                 train1 + train2 = the 40 training videos
    ROOT/test/video_*/...                   the 10 test videos

Labels become rows of the atlas in three steps: runs of one class are action segments; a segment
longer than `max_clip_s` (20 s, the paper's longest clip) is cut into equal clips of at most 20 s;
a segment shorter than `min_clip_s` (1 s) is dropped, because merging it into a neighbour would give
that neighbour a label it does not have for part of the clip.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import pandas as pd

from ..atlas import make_row, to_frame
from ._common import DatasetError, load_builtin_taxonomy, probe_duration, require_path

VIDEO_FPS = 60.0      # the label file's frame numbers index the 60 fps video
LABEL_STEP = 6        # one label every 6th frame: 10 Hz
SUBSETS = {"train1": "train", "train2": "train", "test": "test"}
OFFICIAL_COUNTS = {"train": 40, "test": 10}
VIDEO_NAME = "video_left.avi"
LABEL_NAME = "action_discrete.txt"
TASK = "suturing-action"


def rarp50_taxonomy():
    """The 8 SAR-RARP50 actions as a one-task taxonomy (data: `taxonomies/rarp50.json`)."""
    return load_builtin_taxonomy("rarp50")


@dataclass(frozen=True)
class Segment:
    """A run of one action class; seconds from the start of the video; `label` is the class id 0-7."""

    start_s: float
    end_s: float
    label: int


def read_action_labels(path: str, num_classes: int = 8) -> List[Tuple[int, int]]:
    """Parse `action_discrete.txt` into [(frame, class)], checking that frames increase and classes exist."""
    require_path(path, "label file (action_discrete.txt)")
    rows: List[Tuple[int, int]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or (number == 1 and not line[0].isdigit()):  # blank lines, an optional header
                continue
            parts = [p.strip() for p in line.replace(";", ",").split(",")]
            try:
                frame, label = int(parts[0]), int(parts[1])
            except (ValueError, IndexError):
                raise DatasetError(f"{path}, line {number}: expected `frame,class` (two integers), got {line!r}")
            if not 0 <= label < num_classes:
                raise DatasetError(f"{path}, line {number}: class {label} is not one of 0..{num_classes - 1}")
            if rows and frame <= rows[-1][0]:
                raise DatasetError(f"{path}, line {number}: frame {frame} does not come after frame {rows[-1][0]}; "
                                   f"frames must increase")
            rows.append((frame, label))
    if not rows:
        raise DatasetError(f"{path}: no `frame,class` rows; is it the right label file?")
    return rows


def action_segments(labels: Sequence[Tuple[int, int]], video_fps: float = VIDEO_FPS,
                    label_step: int = LABEL_STEP) -> List[Segment]:
    """Runs of one class. A label holds for `label_step` frames (0.1 s), so a run ends one step after its
    last labelled frame; a gap in the frame numbers ends the run at the gap (unlabelled time is no action)."""
    segments: List[Segment] = []
    start, last, label = labels[0][0], labels[0][0], labels[0][1]
    for frame, cls in list(labels[1:]) + [(None, None)]:
        if frame is not None and cls == label and frame - last <= label_step:
            last = frame
            continue
        segments.append(Segment(round(start / video_fps, 6), round((last + label_step) / video_fps, 6), label))
        if frame is not None:
            start, last, label = frame, frame, cls
    return segments


def split_segment(seg: Segment, min_clip_s: float = 1.0, max_clip_s: float = 20.0) -> List[Tuple[float, float]]:
    """Clip windows of one segment: [] if shorter than `min_clip_s`, else ceil(d / max) equal pieces."""
    duration = seg.end_s - seg.start_s
    if duration < min_clip_s:
        return []
    n = max(1, math.ceil(duration / max_clip_s - 1e-9))
    edges = [round(seg.start_s + duration * k / n, 6) for k in range(n + 1)]
    return list(zip(edges[:-1], edges[1:]))


def find_rarp50_videos(root: str) -> List[Tuple[str, str]]:
    """[(subset, video folder)] under ROOT/{train1,train2,test}/video_*, sorted; at least one subset must exist."""
    root = require_path(root, "SAR-RARP50 folder")
    subsets = [s for s in SUBSETS if os.path.isdir(os.path.join(root, s))]
    if not subsets:
        raise DatasetError(f"{root}: no train1/, train2/ or test/ folder; point to the SAR-RARP50 root folder")
    found, seen = [], {}
    for subset in subsets:
        base = os.path.join(root, subset)
        for name in sorted(os.listdir(base)):
            folder = os.path.join(base, name)
            if not (name.startswith("video_") and os.path.isdir(folder)):
                continue
            if name in seen:  # video ids must be unique, or cross-validation would leak a video
                raise DatasetError(f"{folder}: {name} also appears in {seen[name]}; each video must appear once")
            seen[name] = folder
            found.append((subset, folder))
    if not found:
        raise DatasetError(f"{root}: no video_* folders under {', '.join(subsets)}")
    return found


def iter_rarp50_rows(root: str, subsets: Optional[Sequence[str]] = None, min_clip_s: float = 1.0,
                     max_clip_s: float = 20.0, tolerance_s: float = 1.0) -> Iterator[dict]:
    """Atlas rows (task "suturing-action", tag "action") for every clip of every video under ROOT.

    `subsets` restricts to some of train1/train2/test. Each video is probed with ffprobe: a label file
    whose last label lies more than `tolerance_s` past the video's end is a mismatch (wrong or cut
    video) and raises a DatasetError naming both files. Clips never extend past the video's end.
    """
    unknown = sorted(set(subsets or ()) - set(SUBSETS))
    if unknown:
        raise DatasetError(f"subsets {unknown}: SAR-RARP50 has only {list(SUBSETS)}")
    taxonomy = rarp50_taxonomy()
    task = taxonomy.task(TASK)
    actions = task.tags["action"]
    for subset, folder in find_rarp50_videos(root):
        if subsets is not None and subset not in subsets:
            continue
        video = os.path.join(folder, VIDEO_NAME)
        label_file = os.path.join(folder, LABEL_NAME)
        if not os.path.isfile(video):
            raise DatasetError(f"{video}: missing; every SAR-RARP50 video folder needs {VIDEO_NAME}")
        labels = read_action_labels(label_file, len(actions))
        duration = probe_duration(video)
        last_s = labels[-1][0] / VIDEO_FPS
        if last_s > duration + tolerance_s:
            raise DatasetError(f"{label_file}: labels run to {last_s:.1f} s (frame {labels[-1][0]} at 60 fps) but "
                               f"{video} lasts {duration:.1f} s; the label file does not match its video")
        video_id = f"rarp50-{os.path.basename(folder)}"
        for seg in action_segments(labels):
            seg = Segment(seg.start_s, min(seg.end_s, round(duration, 6)), seg.label)
            for start, end in split_segment(seg, min_clip_s, max_clip_s):
                yield make_row(video_id, video, start, end, task.name, task.instruction,
                               {"action": actions[seg.label]}, specialty="urology", procedure="prostatectomy",
                               annotation_source="manual", dataset="sar-rarp50", split=SUBSETS[subset],
                               taxonomy=taxonomy.name)


def load_rarp50(root: str, **kwargs) -> pd.DataFrame:
    """All SAR-RARP50 clips under ROOT as an atlas DataFrame (see `iter_rarp50_rows` for the options).

    The `split` column carries the official split: train1 + train2 -> "train", test -> "test".
    """
    return to_frame(iter_rarp50_rows(root, **kwargs))
