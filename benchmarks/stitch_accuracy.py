"""Stitches and suturing time as the dashboard shows them, against the synthetic procedures' exact truth.

    python benchmarks/stitch_accuracy.py --videos 24 --minutes 2 --seed 301 [--model DIR] [--work DIR]

Renders `halsted synth WORK --videos N --minutes M --seed S`, maps every video (`full`), and compares each mapped
Timeline's suturing summary (mapping/timeline.py `suturing_summary`) with the one of its true Timeline: stitch
count error, drive-level recall and precision (a true drive is found when a mapped drive overlaps it, one to
one), suturing-time error in seconds and the high-proficiency share's error. One JSON line per video, then a
summary line (mean absolute count error, share exactly right, median time error), machine included.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit  # noqa: E402


def match_drives(true_drives, mapped_drives) -> int:
    """How many true drives a mapped drive overlaps, each mapped drive used once (in time order)."""
    used, found = set(), 0
    for t in true_drives:
        for i, m in enumerate(mapped_drives):
            if i not in used and min(t["end_s"], m["end_s"]) > max(t["start_s"], m["start_s"]):
                used.add(i)
                found += 1
                break
    return found


def compare(mapped, truth) -> dict:
    """One video's figures: mapped and true Timelines in, the errors out."""
    from halsted_hf.mapping.summaries import suturing_summary

    got, want = suturing_summary(mapped), suturing_summary(truth)
    found = match_drives(want["stitch_list"], got["stitch_list"])
    share = (None if got["high_proficiency_share"] is None or want["high_proficiency_share"] is None
             else got["high_proficiency_share"] - want["high_proficiency_share"])
    return {"stitches_true": want["stitches"], "stitches_mapped": got["stitches"],
            "count_error": got["stitches"] - want["stitches"], "drives_found": found,
            "suturing_s_true": round(want["suturing_time_s"], 1),
            "suturing_s_mapped": round(got["suturing_time_s"], 1),
            "suturing_time_error_s": round(got["suturing_time_s"] - want["suturing_time_s"], 1),
            "high_share_true": want["high_proficiency_share"], "high_share_mapped": got["high_proficiency_share"],
            "high_share_error": share}


def summarize(rows) -> dict:
    true_drives = sum(r["stitches_true"] for r in rows)
    mapped_drives = sum(r["stitches_mapped"] for r in rows)
    found = sum(r["drives_found"] for r in rows)
    shares = [abs(r["high_share_error"]) for r in rows if r["high_share_error"] is not None]
    return {"videos": len(rows), "count_mae": round(statistics.mean(abs(r["count_error"]) for r in rows), 3),
            "count_exact_share": round(sum(r["count_error"] == 0 for r in rows) / len(rows), 3),
            "drive_recall": round(found / true_drives, 3) if true_drives else None,
            "drive_precision": round(found / mapped_drives, 3) if mapped_drives else None,
            "suturing_time_abs_error_median_s": round(
                statistics.median(abs(r["suturing_time_error_s"]) for r in rows), 1),
            "high_share_abs_error_mean": round(statistics.mean(shares), 3) if shares else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled demo model)")
    ap.add_argument("--work", default=None, help="where the videos are rendered (reused when there)")
    args = ap.parse_args(argv)

    from halsted_hf.data.synthetic.build import render_atlas
    from halsted_hf.mapping.timeline import Timeline
    from halsted_hf.mapping.workflow import map_videos
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    work = args.work or tempfile.mkdtemp(prefix="halsted-stitches-")
    if not os.path.exists(os.path.join(work, "atlas.parquet")):
        render_atlas(work, args.videos, args.minutes, args.seed)
    videos = sorted(glob.glob(os.path.join(work, "videos", "*.mp4")))
    mapped = map_videos(videos, mapping="full", model=args.model or DEMO_MODEL_PATH)
    rows = []
    os.makedirs(os.path.join(work, "mapped"), exist_ok=True)
    for video, tl in zip(videos, mapped):
        name = os.path.splitext(os.path.basename(video))[0]
        tl.save(os.path.join(work, "mapped", name + ".json"))  # kept: counting rules can be compared without remapping
        truth = Timeline.load(os.path.join(work, "timelines", name + ".json"))
        row = {"video": name, **compare(tl, truth)}
        rows.append(row)
        print(json.dumps(row))
    emit({"benchmark": "stitch_accuracy", "seed": args.seed, "minutes": args.minutes, **summarize(rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
