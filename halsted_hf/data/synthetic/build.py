"""Build a synthetic atlas folder: videos, ground-truth timelines, the atlas table and a manifest.

    OUT/videos/<video_id>.mp4        H.264, yuv420p
    OUT/timelines/<video_id>.json    Timeline JSON (halsted_hf/mapping/timeline.py) of the ground truth
    OUT/atlas.parquet                ground-truth clip rows of all four tasks (video_path relative to OUT);
                                     training and evaluation read them as the mapping windows (data/windows.py)
    OUT/manifest.json                seed, arguments, generator version, per-video summary

Planning runs once in this process (one RNG through all videos, so coverage is shared); videos render
in parallel worker processes, one per core. Every file is written to a temp name and renamed, and the
manifest is written last: a folder with a manifest is complete.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, List, Optional, Tuple

from ...core.errors import HalstedError
from ...core.io import atomic_write_json
from ..atlas import to_frame, write_atlas
from .render import render_video
from .script import SYNTH_VERSION, VideoScript, WindowSpec, coverage, plan_atlas

DEFAULT_SIZE = (160, 120)
DEFAULT_FPS = 8.0


def write_json(path: str, data) -> str:
    """Write JSON atomically; key order is the (deterministic) insertion order: same data, same bytes."""
    return atomic_write_json(path, data, indent=1, ensure_ascii=False)


def check_args(videos: int, minutes: float, size: Tuple[int, int], fps: float) -> None:
    if int(videos) < 1:
        raise HalstedError(f"--videos must be at least 1, got {videos}")
    if not minutes or minutes * 60 < 2:
        raise HalstedError(f"--minutes must give at least 2 seconds of video, got {minutes}")
    w, h = size
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise HalstedError(f"--size must be even and at least 32x32 (H.264 yuv420p), got {w}x{h}")
    if not fps or fps <= 0 or fps > 60:
        raise HalstedError(f"--fps must be in (0, 60], got {fps}")


def _render_one(job) -> Tuple[str, float]:
    script, path, size, crf = job
    t0 = time.perf_counter()
    render_video(script, path, size=size, crf=crf)
    return script.video_id, time.perf_counter() - t0


def render_videos(scripts: List[VideoScript], out_dir: str, size: Tuple[int, int], workers: Optional[int] = None,
                  crf: int = 23, progress: Optional[Callable[[str, float], None]] = None) -> float:
    """Render every script to OUT/videos/<id>.mp4 with `workers` processes; returns wall seconds."""
    jobs = [(s, os.path.join(out_dir, "videos", f"{s.video_id}.mp4"), tuple(size), crf) for s in scripts]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    t0 = time.perf_counter()
    if workers == 1:
        results = map(_render_one, jobs)
        for vid, sec in results:
            if progress:
                progress(vid, sec)
    else:
        # fork where there is one: a spawned worker would re-import `halsted_hf`, which pulls in
        # transformers and torch (seconds per worker). Workers only use numpy and an ffmpeg pipe.
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
            for vid, sec in pool.map(_render_one, jobs):
                if progress:
                    progress(vid, sec)
    return time.perf_counter() - t0


def render_atlas(out_dir: str, videos: int, minutes: float, seed: int = 0, size: Tuple[int, int] = DEFAULT_SIZE,
                 fps: float = DEFAULT_FPS, workers: Optional[int] = None, crf: int = 23,
                 progress: Optional[Callable[[str, float], None]] = None) -> str:
    """Render `videos` synthetic procedures of `minutes` each into `out_dir`; returns the atlas path.

    The same arguments give byte-identical tables, timelines and manifest (and, with the same ffmpeg
    build, identical videos); another seed gives other videos.
    """
    size = (int(size[0]), int(size[1]))
    check_args(videos, minutes, size, fps)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise HalstedError(f"{out_dir} exists and is not a folder; choose another output folder")
    scripts = plan_atlas(int(videos), float(minutes), int(seed), float(fps))
    render_videos(scripts, out_dir, size, workers, crf, progress)
    rows = []
    for s in scripts:
        write_json(os.path.join(out_dir, "timelines", f"{s.video_id}.json"), s.to_timeline())
        rows += s.atlas_rows(f"videos/{s.video_id}.mp4")
    atlas_path = write_atlas(to_frame(rows), os.path.join(out_dir, "atlas.parquet"))
    counts = coverage(scripts)
    manifest = {
        "generator": "halsted synthetic surgery", "version": SYNTH_VERSION, "seed": int(seed),
        "args": {"videos": int(videos), "minutes": float(minutes), "size": f"{size[0]}x{size[1]}", "fps": float(fps),
                 "crf": int(crf)},
        "videos": [{"id": s.video_id, "procedures": s.procedures, "frames": s.n_frames,
                    "duration_s": round(s.duration_s, 6), "video": f"videos/{s.video_id}.mp4",
                    "timeline": f"timelines/{s.video_id}.json"} for s in scripts],
        "clips": {task: int(sum(1 for r in rows if r["task"] == task)) for task in
                  ("macro-activity", "micro-activity", "proficiency", "context")},
        "missing_categories": {tag: [c for c, n in cats.items() if n == 0] for tag, cats in counts.items()
                               if any(n == 0 for n in cats.values())},
    }
    # no timings in the manifest: they would break byte-identical outputs (progress reports them)
    write_json(os.path.join(out_dir, "manifest.json"), manifest)
    return atlas_path


def resample_atlas(folder: str, out_name: str = "atlas-dense.parquet", spec: WindowSpec = WindowSpec()) -> str:
    """Write FOLDER/OUT_NAME: the atlas of an already rendered synthetic folder with sliding sub-windows
    per segment (`WindowSpec`), without re-rendering. The plan is re-made from the manifest's seed and
    arguments (planning is deterministic), so the labels are the videos' ground truth. Returns the path.
    Training reads any atlas as the mapping windows (data/windows.py), which merges overlapping rows of one
    label first: a dense atlas trains on the same clips as the plain one (kept for probes on sub-windows)."""
    path = os.path.join(folder, "manifest.json")
    if not os.path.exists(path):
        raise HalstedError(f"{folder} has no manifest.json: render it first with `halsted synth {folder} ...`")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("version") != SYNTH_VERSION:
        raise HalstedError(f"{folder} was made by generator version {manifest.get('version')}, this is "
                           f"{SYNTH_VERSION}: re-render it so that the plan matches the videos")
    args = manifest["args"]
    scripts = plan_atlas(int(args["videos"]), float(args["minutes"]), int(manifest["seed"]), float(args["fps"]))
    rows = []
    for s in scripts:
        rows += s.atlas_rows(f"videos/{s.video_id}.mp4", windows=spec)
    return write_atlas(to_frame(rows), os.path.join(folder, out_name))
