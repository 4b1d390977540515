"""What the phase-recognition datasets (Cholec80, M2CAI16-workflow, AutoLaparo) share: per-frame
`Frame<TAB>Phase` label files, the per-frame phase sequence the field's evaluation protocol scores, and
fixed windows with the majority phase as atlas clips.

A label file has one row per labelled frame, `frame<TAB>phase` (spaces also separate), with an optional
header line (`Frame	Phase`). The phase is a name (Cholec80, M2CAI16: `CalotTriangleDissection`) or an
integer id (AutoLaparo: 1-7). Frame numbers index the video at the dataset's label rate and must increase.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..atlas import make_row
from ._common import DatasetError, probe_duration, require_path


@dataclass(frozen=True)
class PhaseLabels:
    """One video's phase labels: the time of each labelled frame (seconds, increasing) and its phase index
    (into `phases`, the taxonomy's phase categories in the dataset's id order)."""

    video: str
    times_s: np.ndarray
    phase_ids: np.ndarray
    phases: Tuple[str, ...]

    def at_rate(self, fps: float) -> "PhaseLabels":
        """The labels that fall on whole ticks of `fps` per second: frames 0, 25, 50, ... of 25-fps labels
        at 1 fps, which is how the field subsamples Cholec80 and M2CAI16 before scoring."""
        if not fps > 0:
            raise DatasetError(f"fps={fps}: the evaluation rate must be positive")
        ticks = self.times_s * fps
        keep = np.isclose(ticks, np.round(ticks), atol=1e-6)
        return PhaseLabels(self.video, self.times_s[keep], self.phase_ids[keep], self.phases)


def words_of(name: str) -> str:
    """A CamelCase file name as the taxonomy's words: "CalotTriangleDissection" -> "calot triangle dissection"."""
    return " ".join(re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)).lower()


def read_phase_file(path: str, names: Dict[str, int], fps: float, first_id: Optional[int] = None,
                    num_phases: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(times_s, phase ids) from one `frame<TAB>phase` file; `names` maps a file's phase names (as words,
    see `words_of`) to ids; with `first_id` the file holds integer ids from `first_id` instead. A bad row
    raises a DatasetError naming the file and the line."""
    require_path(path, "phase label file")
    frames: List[int] = []
    ids: List[int] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or (number == 1 and line.lower().startswith("frame")):  # blank lines, the header
                continue
            parts = line.split()
            if len(parts) != 2:
                raise DatasetError(f"{path}, line {number}: expected `frame<TAB>phase` (two columns), got {line!r}")
            try:
                frame = int(parts[0])
            except ValueError:
                raise DatasetError(f"{path}, line {number}: frame {parts[0]!r} is not an integer")
            ids.append(_phase_id(parts[1], names, first_id, num_phases, f"{path}, line {number}"))
            if frames and frame <= frames[-1]:
                raise DatasetError(f"{path}, line {number}: frame {frame} does not come after frame {frames[-1]}; "
                                   f"frames must increase")
            frames.append(frame)
    if not frames:
        raise DatasetError(f"{path}: no `frame<TAB>phase` rows; is it the right label file?")
    return np.asarray(frames, dtype=float) / fps, np.asarray(ids, dtype=int)


def _phase_id(value: str, names: Dict[str, int], first_id: Optional[int], num_phases: int, where: str) -> int:
    if first_id is None:
        if words_of(value) not in names:
            known = ", ".join(sorted(names))
            raise DatasetError(f"{where}: phase {value!r} is not one of this dataset's phases ({known})")
        return names[words_of(value)]
    try:
        phase = int(value) - first_id
    except ValueError:
        raise DatasetError(f"{where}: phase {value!r} is not an integer id")
    if not 0 <= phase < num_phases:
        raise DatasetError(f"{where}: phase id {value} is not one of {first_id}..{first_id + num_phases - 1}")
    return phase


@dataclass(frozen=True)
class PhaseDataset:
    """What every clip of a phase dataset carries besides its window and tags."""

    name: str
    taxonomy: object
    specialty: str
    procedure: str

    def video_rows(self, labels: PhaseLabels, label_file: str, video: str, split: str, window_s: float,
                   tolerance_s: float) -> Tuple[float, dict, Iterator[dict]]:
        """(the video's duration, the fields its clips share, its phase rows), after checking that the
        video exists, is readable (ffprobe) and holds the labels' times."""
        if not os.path.isfile(video):
            raise DatasetError(f"{video}: missing; the label file {label_file} needs its video")
        duration = probe_duration(video)
        check_within_video(label_file, labels.times_s, video, duration, tolerance_s)
        common = dict(video_id=f"{self.name}-{labels.video}", video_path=video, specialty=self.specialty,
                      procedure=self.procedure, annotation_source="manual", dataset=self.name, split=split,
                      taxonomy=self.taxonomy.name)
        return duration, common, phase_rows(labels, window_s, duration, self.taxonomy.task("phase"), common)


def check_within_video(path: str, times_s: np.ndarray, video: str, duration_s: float, tolerance_s: float) -> None:
    """Labels running past the video's end mean the label file (or its rate) does not match the video."""
    if times_s[-1] > duration_s + tolerance_s:
        raise DatasetError(f"{path}: labels run to {times_s[-1]:.1f} s but {video} lasts {duration_s:.1f} s; "
                           f"the label file does not match its video")


def window_majority(times_s: np.ndarray, ids: np.ndarray, window_s: float, num_ids: int) -> Dict[int, int]:
    """{window index: majority id} over windows [k w, (k+1) w) that hold a label; ties: the lower id."""
    windows = np.floor(np.asarray(times_s) / window_s + 1e-9).astype(int)
    counts = np.zeros((windows.max() + 1, num_ids), dtype=int)
    np.add.at(counts, (windows, ids), 1)
    return {int(k): int(counts[k].argmax()) for k in np.flatnonzero(counts.sum(axis=1))}


def phase_rows(labels: PhaseLabels, window_s: float, duration_s: float, task, common: dict) -> Iterator[dict]:
    """Atlas rows of a phase task: one per window with a label, tagged with the window's majority phase,
    clamped to the video's end."""
    if not window_s > 0:
        raise DatasetError(f"window_s={window_s}: a window needs a positive length")
    for k, phase in sorted(window_majority(labels.times_s, labels.phase_ids, window_s, len(labels.phases)).items()):
        start, end = k * window_s, min((k + 1) * window_s, duration_s)
        if end > start:
            yield make_row(start_s=start, end_s=end, task=task.name, instruction=task.instruction,
                           tags={"phase": labels.phases[phase]}, **common)


def split_of(number: int, scheme: Dict[str, Sequence[int]], where: str) -> str:
    """The split a video number belongs to under a published scheme ({split: numbers})."""
    for split, numbers in scheme.items():
        if number in numbers:
            return split
    raise DatasetError(f"{where}: video number {number} is in none of the published splits; "
                       f"is it this dataset's video?")
