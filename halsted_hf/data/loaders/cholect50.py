"""CholecT50 (laparoscopic cholecystectomy): frames at 1 fps, phase and action-triplet labels, as atlas rows.

Layout::

    ROOT/videos/VID68/000000.png ...     frame N = second N of the video (1 fps); .jpg also read
    ROOT/labels/VID68.json               {"categories": {...}, "video": 68, "fps": 1,
                                          "annotations": {"N": [[triplet, instrument, conf, x, y, w, h,
                                                                  verb, target, conf, x, y, w, h, phase], ...]}}

A frame may carry several triplets (rows) but one phase. Clips are non-overlapping windows of
`window_s` seconds (16 by default: 16 frames, what the encoder takes) with at least one labelled frame:

- task "phase": the majority phase of the window's labelled frames (ties: the earlier phase id);
- task "action-triplet" (tags instrument, verb, target): by default the window's *primary* triplet, the
  one on the most labelled frames (ties: a non-null verb first, then the first seen), because one clip
  with several contradictory targets teaches nothing; `triplets="all"` gives one row per distinct
  triplet instead (a multi-label view). Windows with no triplet give no action row.

Category names are the label files' own, with underscores and dashes read as spaces (the files'
"carlot" read as "calot"), checked against the taxonomy in `taxonomies/cholect50.json`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..atlas import make_row, to_frame
from ._common import DatasetError, load_builtin_taxonomy, require_path

FRAME_PATTERN = re.compile(r"^(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)
ALIASES = {"carlot triangle dissection": "calot triangle dissection"}
# Column of each component in a label row (CholecT50 JSON, release 2.0).
TRIPLET, INSTRUMENT, VERB, TARGET, PHASE = 0, 1, 7, 8, 14
Triplet = Tuple[str, str, str]  # (instrument, verb, target)


def cholect50_taxonomy():
    """Phases and action triplets as a two-task taxonomy (data: `taxonomies/cholect50.json`)."""
    return load_builtin_taxonomy("cholect50")


def category_name(raw: str) -> str:
    """A label file's category ("cystic_plate", "carlot-triangle-dissection") as a taxonomy category."""
    name = " ".join(raw.replace("_", " ").replace("-", " ").split()).lower()
    return ALIASES.get(name, name)


@dataclass
class FrameLabels:
    """Labels of one annotated frame: its second, phase (or None) and triplets (possibly none)."""

    frame: int
    phase: Optional[str]
    triplets: List[Triplet] = field(default_factory=list)


def read_cholect50_labels(path: str) -> Tuple[int, List[FrameLabels]]:
    """(video number, frames sorted by second) from one `labels/VIDxx.json`, names mapped to the taxonomy."""
    require_path(path, "CholecT50 label file")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        categories, annotations = data["categories"], data["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{path}: not a CholecT50 label file (JSON with 'categories' and 'annotations'): {err}")
    taxonomy = cholect50_taxonomy()
    known = {tag: set(cats) for task in taxonomy.tasks for tag, cats in task.tags.items()}
    names: Dict[str, Dict[int, str]] = {}
    for component in ("instrument", "verb", "target", "phase"):
        if component not in categories:
            raise DatasetError(f"{path}: 'categories' has no {component!r}; is it a CholecT50 label file?")
        names[component] = {int(k): category_name(v) for k, v in categories[component].items()}
        unknown = sorted(set(names[component].values()) - known[component])
        if unknown:
            raise DatasetError(f"{path}: {component} categories {unknown} are not in the CholecT50 taxonomy "
                               f"(halsted_hf/data/loaders/taxonomies/cholect50.json); add them there")
    frames: List[FrameLabels] = []
    for key, rows in annotations.items():
        try:
            frame = FrameLabels(int(key), None)
            for row in rows:
                if int(row[PHASE]) >= 0:
                    frame.phase = names["phase"][int(row[PHASE])]
                if int(row[TRIPLET]) >= 0:  # -1: no action on this frame (the phase still counts)
                    triplet = (names["instrument"][int(row[INSTRUMENT])], names["verb"][int(row[VERB])],
                               names["target"][int(row[TARGET])])
                    if triplet not in frame.triplets:
                        frame.triplets.append(triplet)
        except (ValueError, IndexError, KeyError, TypeError) as err:
            raise DatasetError(f"{path}: frame {key!r} has a malformed label row ({err!r}); expected 15 numbers "
                               f"[triplet, instrument, conf, box*4, verb, target, conf, box*4, phase]")
        frames.append(frame)
    if not frames:
        raise DatasetError(f"{path}: no annotated frames")
    video = data.get("video")
    return (int(video) if video is not None else -1), sorted(frames, key=lambda fr: fr.frame)


def list_frames(folder: str) -> Dict[int, str]:
    """{second: image path} of a frame folder (`000123.png` or `.jpg`, one frame per second)."""
    require_path(folder, "frame folder")
    frames = {}
    for name in os.listdir(folder):
        match = FRAME_PATTERN.match(name)
        if match:
            frames[int(match.group(1))] = os.path.join(folder, name)
    if not frames:
        raise DatasetError(f"{folder}: no frame images (000000.png or 000000.jpg ...) in this folder")
    return frames


def primary_triplet(frames: Sequence[FrameLabels]) -> Optional[Triplet]:
    """The triplet on the most frames; ties go to a real verb over "null verb", then to the first seen."""
    counts: Counter = Counter(t for fr in frames for t in fr.triplets)
    if not counts:
        return None
    order = {t: i for i, t in enumerate(dict.fromkeys(t for fr in frames for t in fr.triplets))}
    return min(counts, key=lambda t: (-counts[t], t[1] == "null verb", order[t]))


def majority_phase(frames: Sequence[FrameLabels], phases: Sequence[str]) -> Optional[str]:
    counts = Counter(fr.phase for fr in frames if fr.phase is not None)
    if not counts:
        return None
    return min(counts, key=lambda p: (-counts[p], phases.index(p)))


def find_cholect50_videos(root: str) -> List[Tuple[str, str, str]]:
    """[(video name, frame folder, label file)] for every labels/VIDxx.json under ROOT, sorted by name."""
    root = require_path(root, "CholecT50 folder")
    labels_dir, videos_dir = os.path.join(root, "labels"), os.path.join(root, "videos")
    for d in (labels_dir, videos_dir):
        if not os.path.isdir(d):
            raise DatasetError(f"{d}: missing; a CholecT50 folder holds videos/VIDxx/ frames and labels/VIDxx.json")
    found = []
    for name in sorted(os.listdir(labels_dir)):
        if name.endswith(".json"):
            video = name[:-5]
            found.append((video, os.path.join(videos_dir, video), os.path.join(labels_dir, name)))
    if not found:
        raise DatasetError(f"{labels_dir}: no VIDxx.json label files")
    return found


def iter_cholect50_rows(root: str, window_s: int = 16, triplets: str = "primary",
                        videos: Optional[Sequence[str]] = None, split: Optional[str] = None) -> Iterator[dict]:
    """Atlas rows for the "phase" and "action-triplet" tasks; `video_path` is the video's frame folder.

    `videos` restricts to some names ("VID68"); `split`, if given, fills the split column. A label file
    must match its frame folder: same video number as the folder name, and an image for every
    labelled frame; otherwise a DatasetError names both.
    """
    if triplets not in ("primary", "all"):
        raise DatasetError(f"triplets={triplets!r}: use 'primary' (one clip per window) or 'all' (one per triplet)")
    if window_s < 1:
        raise DatasetError(f"window_s={window_s}: a window needs at least 1 second (one frame)")
    taxonomy = cholect50_taxonomy()
    phase_task, action_task = taxonomy.task("phase"), taxonomy.task("action-triplet")
    phases = phase_task.tags["phase"]
    extra = {"dataset": "cholect50", "taxonomy": taxonomy.name}
    if split is not None:
        extra["split"] = split
    for name, folder, label_file in find_cholect50_videos(root):
        if videos is not None and name not in videos:
            continue
        number, frames = read_cholect50_labels(label_file)
        digits = re.sub(r"\D", "", name)
        if number >= 0 and digits and int(digits) != number:
            raise DatasetError(f"{label_file}: labels are for video {number}, not {name}; the label file does not "
                               f"match its frame folder")
        if not os.path.isdir(folder):
            raise DatasetError(f"{folder}: missing frame folder for {label_file}")
        images = list_frames(folder)
        missing = [fr.frame for fr in frames if fr.frame not in images]
        if missing:
            raise DatasetError(f"{label_file}: {len(missing)} labelled frame(s) have no image in {folder} "
                               f"(first: {missing[:5]}); the label file does not match its frames")
        end_of_video = max(max(images), frames[-1].frame) + 1  # frame N covers second [N, N+1)
        windows: Dict[int, List[FrameLabels]] = {}
        for fr in frames:
            windows.setdefault(fr.frame // window_s, []).append(fr)
        common = dict(video_id=f"cholect50-{name}", video_path=folder, specialty="general",
                      procedure="laparoscopic cholecystectomy", annotation_source="manual", **extra)
        for k in sorted(windows):
            start, end = k * window_s, min((k + 1) * window_s, end_of_video)
            phase = majority_phase(windows[k], phases)
            if phase is not None:
                yield make_row(start_s=start, end_s=end, task=phase_task.name, instruction=phase_task.instruction,
                               tags={"phase": phase}, **common)
            if triplets == "primary":
                chosen = [t for t in [primary_triplet(windows[k])] if t is not None]
            else:
                chosen = list(dict.fromkeys(t for fr in windows[k] for t in fr.triplets))
            for instrument, verb, target in chosen:
                yield make_row(start_s=start, end_s=end, task=action_task.name, instruction=action_task.instruction,
                               tags={"instrument": instrument, "verb": verb, "target": target}, **common)


def load_cholect50(root: str, **kwargs) -> pd.DataFrame:
    """All CholecT50 clips under ROOT as an atlas DataFrame (see `iter_cholect50_rows` for the options)."""
    return to_frame(iter_cholect50_rows(root, **kwargs))


def pick_frames(seconds, start_s: float, end_s: float, num_frames: int, folder: str = "") -> np.ndarray:
    """The frame seconds a clip of `num_frames` over [start_s, end_s) shows, from the available `seconds`: each
    of T evenly spaced times takes the nearest frame inside the window (repeats when the window holds fewer).
    Shared by `read_frame_clip` and per-frame feature caches, so both pick the same frames."""
    if not end_s > start_s:
        raise DatasetError(f"{folder}: clip window [{start_s}, {end_s}) is empty; end_s must exceed start_s")
    inside = np.array(sorted(s for s in seconds if s + 1 > start_s and s < end_s))  # frames overlapping the window
    if inside.size == 0:
        raise DatasetError(f"{folder}: no frame image between {start_s:g} s and {end_s:g} s; "
                           f"pick a window that holds at least one frame")
    # times at the centres of T equal slots; frame N is shown during second [N, N+1), centre N + 0.5
    times = start_s + (np.arange(num_frames) + 0.5) * (end_s - start_s) / num_frames
    return inside[np.abs(inside[None, :] + 0.5 - times[:, None]).argmin(axis=1)]


def read_frame_clip(folder: str, start_s: float, end_s: float, num_frames: int = 16,
                    size: Tuple[int, int] = (224, 224)) -> np.ndarray:
    """`num_frames` frames spread evenly over [start_s, end_s) of a 1 fps frame folder: (T, H, W, 3) uint8.

    `size` is (height, width). Each of the T evenly spaced times takes the nearest frame image inside the
    window, so a window with fewer images than `num_frames` (16 s at 1 fps holds 16; a sparse copy fewer)
    repeats frames rather than leaving the clip short. A window with no image raises a DatasetError.
    """
    from PIL import Image

    images = list_frames(folder)
    picks = pick_frames(images, start_s, end_s, num_frames, folder)
    height, width = size
    decoded: Dict[int, np.ndarray] = {}
    for second in dict.fromkeys(picks.tolist()):
        try:
            with Image.open(images[second]) as im:
                decoded[second] = np.asarray(im.convert("RGB").resize((width, height), Image.BILINEAR))
        except OSError as err:
            raise DatasetError(f"{images[second]}: not a readable image ({err}); re-extract this frame")
    return np.stack([decoded[s] for s in picks.tolist()])
