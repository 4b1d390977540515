"""Cholec80 (80 laparoscopic cholecystectomies): phases on every frame at 25 fps, tools at 1 fps, as atlas rows.

Layout (as released; the files may also lie together in ROOT)::

    ROOT/videos/video01.mp4 ... video80.mp4           25 fps
    ROOT/phase_annotations/video01-phase.txt          `Frame	Phase` rows for every frame (25 fps):
                                                      `0	Preparation`, ..., `CalotTriangleDissection`, ...
    ROOT/tool_annotations/video01-tool.txt            `Frame	Grasper	Bipolar	Hook	Scissors	Clipper
                                                      Irrigator	SpecimenBag` rows, one every 25 frames (1 fps), 0/1

Clips are non-overlapping windows of `window_s` seconds: task "phase" takes the window's majority phase;
task "tool-presence" marks each tool present when it is on at least half of the window's tool labels.
Published splits (column `split`): "40/40" (Twinanda et al.'s EndoNet: videos 1-40 train, 41-80 test) and
"32/8/40" (the phase papers' train 1-32, validation 33-40, test 41-80).
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..atlas import make_row, to_frame
from ._common import DatasetError, load_builtin_taxonomy, require_path
from .phase_files import PhaseDataset, PhaseLabels, check_within_video, read_phase_file, split_of

LABEL_FPS = 25.0
SPLIT_SCHEMES = {"40/40": {"train": range(1, 41), "test": range(41, 81)},
                 "32/8/40": {"train": range(1, 33), "val": range(33, 41), "test": range(41, 81)}}
# The phase files' CamelCase names, as words, -> the taxonomy's categories where they are not the same words.
FILE_PHASES = {"clipping cutting": "clipping and cutting", "cleaning coagulation": "cleaning and coagulation"}
FILE_TOOLS = ("Grasper", "Bipolar", "Hook", "Scissors", "Clipper", "Irrigator", "SpecimenBag")
VIDEO_NAME = re.compile(r"^video(\d+)-phase\.txt$")


def cholec80_taxonomy():
    """Cholec80's 7 phases and 7 tools as a two-task taxonomy (data: `taxonomies/cholec80.json`)."""
    return load_builtin_taxonomy("cholec80")


def phase_names(phases: Sequence[str], aliases: Dict[str, str]) -> Dict[str, int]:
    """{a phase file's name as words: phase id} for the taxonomy's `phases` and the files' own spellings."""
    names = {p: i for i, p in enumerate(phases)}
    names.update({alias: phases.index(category) for alias, category in aliases.items()})
    return names


def _in_root_or(root: str, sub: str, name: str) -> str:
    """ROOT/sub/name where that exists, else ROOT/name (a copy with every file in one folder)."""
    nested = os.path.join(root, sub, name)
    return nested if os.path.exists(nested) else os.path.join(root, name)


def find_cholec80_videos(root: str) -> List[Tuple[int, str, str, str]]:
    """[(number, video file, phase file, tool file)] for every videoNN-phase.txt, sorted by number."""
    root = require_path(root, "Cholec80 folder")
    phase_dir = os.path.join(root, "phase_annotations")
    phase_dir = phase_dir if os.path.isdir(phase_dir) else root
    found = []
    for name in sorted(os.listdir(phase_dir)):
        match = VIDEO_NAME.match(name)
        if match:
            stem = f"video{match.group(1)}"
            found.append((int(match.group(1)), _in_root_or(root, "videos", f"{stem}.mp4"),
                          os.path.join(phase_dir, name), _in_root_or(root, "tool_annotations", f"{stem}-tool.txt")))
    if not found:
        raise DatasetError(f"{root}: no videoNN-phase.txt files (in phase_annotations/ or the folder itself); "
                           f"point to the Cholec80 root folder")
    return sorted(found)


def read_tool_file(path: str, fps: float = LABEL_FPS) -> Tuple[np.ndarray, np.ndarray]:
    """(times_s, presence (n, 7) of 0/1) from one `videoNN-tool.txt`; a bad line raises naming file and line."""
    require_path(path, "Cholec80 tool file")
    times: List[float] = []
    rows: List[List[int]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, 1):
            parts = raw.split()
            if not parts:
                continue
            if number == 1 and parts[0].lower() == "frame":
                if [p.lower() for p in parts[1:]] != [t.lower() for t in FILE_TOOLS]:
                    raise DatasetError(f"{path}, line 1: tool columns {parts[1:]} are not Cholec80's "
                                       f"{list(FILE_TOOLS)}")
                continue
            try:
                values = [int(p) for p in parts]
            except ValueError:
                values = []
            if len(values) != 1 + len(FILE_TOOLS) or any(v not in (0, 1) for v in values[1:]):
                raise DatasetError(f"{path}, line {number}: expected a frame and {len(FILE_TOOLS)} values 0/1, "
                                   f"got {raw.strip()!r}")
            if times and values[0] / fps <= times[-1]:
                raise DatasetError(f"{path}, line {number}: frame {values[0]} does not come after the previous one; "
                                   f"frames must increase")
            times.append(values[0] / fps)
            rows.append(values[1:])
    if not rows:
        raise DatasetError(f"{path}: no tool rows; is it the right label file?")
    return np.asarray(times), np.asarray(rows, dtype=int)


def tool_rows(path: str, window_s: float, duration_s: float, task, common: dict, video: str,
              tolerance_s: float) -> Iterator[dict]:
    """Atlas rows of "tool-presence": per window, each tool present on at least half of its labels."""
    times, presence = read_tool_file(path)
    check_within_video(path, times, video, duration_s, tolerance_s)
    tags = list(task.tags)
    windows = np.floor(times / window_s + 1e-9).astype(int)
    for k in np.unique(windows):
        start, end = k * window_s, min((k + 1) * window_s, duration_s)
        if end > start:
            share = presence[windows == k].mean(axis=0)
            yield make_row(start_s=start, end_s=end, task=task.name, instruction=task.instruction,
                           tags={tag: "present" if s >= 0.5 else "absent" for tag, s in zip(tags, share)}, **common)


def _videos(root: str, splits: Optional[Sequence[str]], split_scheme: str):
    """(number, split, video, phase file, tool file) of the videos in `splits` (all by default)."""
    scheme = SPLIT_SCHEMES.get(split_scheme)
    if scheme is None:
        raise DatasetError(f"split_scheme={split_scheme!r}: Cholec80's published splits are {list(SPLIT_SCHEMES)}")
    unknown = sorted(set(splits or ()) - set(scheme))
    if unknown:
        raise DatasetError(f"splits {unknown}: the {split_scheme} scheme has only {list(scheme)}")
    for number, video, phase_file, tool_file in find_cholec80_videos(root):
        split = split_of(number, scheme, phase_file)
        if splits is None or split in splits:
            yield number, split, video, phase_file, tool_file


def _phase_labels(number: int, phase_file: str) -> PhaseLabels:
    phases = cholec80_taxonomy().task("phase").tags["phase"]
    times, ids = read_phase_file(phase_file, phase_names(phases, FILE_PHASES), LABEL_FPS)
    return PhaseLabels(f"video{number:02d}", times, ids, tuple(phases))


def cholec80_phase_labels(root: str, splits: Optional[Sequence[str]] = None,
                          split_scheme: str = "40/40") -> Dict[str, PhaseLabels]:
    """{"video41": PhaseLabels at 25 fps} for the videos of `splits` (all by default); no video is opened."""
    return {f"video{number:02d}": _phase_labels(number, phase_file)
            for number, _, _, phase_file, _ in _videos(root, splits, split_scheme)}


def iter_cholec80_rows(root: str, window_s: float = 16.0, split_scheme: str = "40/40",
                       splits: Optional[Sequence[str]] = None, tools: bool = True,
                       tolerance_s: float = 1.0) -> Iterator[dict]:
    """Atlas rows ("phase", and "tool-presence" unless `tools=False`) for the videos of `splits`.

    Each video is probed with ffprobe: labels more than `tolerance_s` past its end raise a DatasetError
    naming both files, as does a missing video or tool file.
    """
    taxonomy = cholec80_taxonomy()
    dataset = PhaseDataset("cholec80", taxonomy, "general", "laparoscopic cholecystectomy")
    for number, split, video, phase_file, tool_file in _videos(root, splits, split_scheme):
        labels = _phase_labels(number, phase_file)
        duration, common, rows = dataset.video_rows(labels, phase_file, video, split, window_s, tolerance_s)
        yield from rows
        if tools:
            yield from tool_rows(tool_file, window_s, duration, taxonomy.task("tool-presence"), common, video,
                                 tolerance_s)


def load_cholec80(root: str, **kwargs) -> pd.DataFrame:
    """All Cholec80 clips under ROOT as an atlas DataFrame (see `iter_cholec80_rows` for the options)."""
    return to_frame(iter_cholec80_rows(root, **kwargs))
